/**
 * The SendGrid lists a node's delivery options pick from: unsubscribe groups (load options), verified
 * senders and IP pools (resource locators). Every node that shows deliveryProperties or
 * combinedDeliveryProperties registers these methods.
 */
import type { ILoadOptionsFunctions, INodeListSearchItems, INodeListSearchResult, INodePropertyOptions } from 'n8n-workflow';
import { fromValue, listIpPools, listVerifiedSenders } from '../../lib/sendgrid/senders';
import { listDynamicTemplates } from '../../lib/sendgrid/templates';
import { CampaignInputError } from '../../lib/schemas';
import { CREDENTIALS, sendGrid } from './context';

const matches = (filter: string | undefined, ...texts: Array<string | undefined>) => {
	const f = filter?.trim().toLowerCase();
	return !f || texts.some((t) => t?.toLowerCase().includes(f));
};

export async function getUnsubscribeGroups(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
	const { transport } = await sendGrid(this);
	const res = await transport.request('GET', '/v3/asm/groups');
	const groups = Array.isArray(res.body) ? (res.body as Array<{ id: number; name: string; description?: string }>) : [];
	return [{ name: "Campaign's Group", value: '' }, ...groups.map((g) => ({ name: g.name, value: String(g.id), description: g.description }))];
}

/** Verified Sender Identities only: SendGrid refuses mail from one not yet verified (403). Value: "Name <address>". */
export async function searchVerifiedSenders(this: ILoadOptionsFunctions, filter?: string): Promise<INodeListSearchResult> {
	const { transport } = await sendGrid(this);
	const senders = await listVerifiedSenders(transport);
	const results: INodeListSearchItems[] = senders
		.filter((s) => s.verified && matches(filter, s.nickname, s.from_email, s.from_name))
		.map((s) => ({ name: `${s.nickname ? `${s.nickname}: ` : ''}${fromValue(s)}`, value: fromValue(s) }));
	return { results };
}

export async function searchIpPools(this: ILoadOptionsFunctions, filter?: string): Promise<INodeListSearchResult> {
	const { transport } = await sendGrid(this);
	const pools = await listIpPools(transport);
	return { results: pools.filter((p) => matches(filter, p)).map((p) => ({ name: p, value: p })) };
}

/**
 * The account's dynamic templates for a step's template (value: the d-… id). Templates without an
 * active version are listed last and say so: SendGrid sends a template's active version.
 */
export async function getDynamicTemplates(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
	const none = { name: 'None (Inline Copy)', value: '', description: 'The copy is sent as the message itself, with no SendGrid template' };
	if (!this.getNode().credentials?.[CREDENTIALS.sendGrid])
		throw new CampaignInputError('Select a SendGrid credential on this node to list its dynamic templates, or enter a template ID (d-…) as an expression', 'Credential to connect with');
	const { transport } = await sendGrid(this);
	const templates = await listDynamicTemplates(transport);
	const ready = templates.filter((t) => t.activeVersion).sort((a, b) => a.name.localeCompare(b.name));
	const inactive = templates.filter((t) => !t.activeVersion).sort((a, b) => a.name.localeCompare(b.name));
	return [
		none,
		...ready.map((t) => ({ name: t.name, value: t.id, description: t.activeVersion!.subject ? `Subject: ${t.activeVersion!.subject}` : t.id })),
		...inactive.map((t) => ({ name: `${t.name} (no active version)`, value: t.id, description: 'SendGrid sends the active version: make one active before sending with it' })),
	];
}

/** The `methods` entries of a node with SendGrid delivery options. */
export const sendGridListMethods = {
	loadOptions: { getUnsubscribeGroups, getDynamicTemplates },
	listSearch: { searchVerifiedSenders, searchIpPools },
};
