/**
 * Registering the trigger's URL with SendGrid's Event Webhook settings API (multiple webhooks) when the
 * workflow is published, and removing it when unpublished: n8n's webhook methods and the API calls they make.
 */
import type { IDataObject, IHookFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import type { SendGridTransport } from '../../lib/sendgrid/client';
import { CREDENTIALS, sendGrid } from '../shared/context';

/** What the trigger keeps between publishing and receiving: the registered webhook and its verification key. */
export type RegistrationData = { webhookId?: string; publicKey?: string };

/** n8n event names → the settings API's flags. */
const EVENT_FLAGS: Record<string, string> = {
	processed: 'processed',
	delivered: 'delivered',
	deferred: 'deferred',
	dropped: 'dropped',
	bounce: 'bounce',
	open: 'open',
	click: 'click',
	spamreport: 'spam_report',
	unsubscribe: 'unsubscribe',
	group_unsubscribe: 'group_unsubscribe',
	group_resubscribe: 'group_resubscribe',
};

interface WebhookSetting {
	id: string;
	url: string;
	enabled?: boolean;
}

function list(body: unknown): WebhookSetting[] {
	if (Array.isArray(body)) return body as WebhookSetting[];
	const b = body as { webhooks?: WebhookSetting[]; result?: WebhookSetting[] } | undefined;
	return b?.webhooks ?? b?.result ?? [];
}

async function findWebhook(sg: SendGridTransport, url: string): Promise<WebhookSetting | undefined> {
	const res = await sg.request('GET', '/v3/user/webhooks/event/settings/all');
	return list(res.body).find((w) => w.url === url);
}

async function signedPublicKey(sg: SendGridTransport, id: string, enable: boolean): Promise<string | undefined> {
	const res = enable
		? await sg.request('PATCH', `/v3/user/webhooks/event/settings/signed/${encodeURIComponent(id)}`, { enabled: true })
		: await sg.request('GET', `/v3/user/webhooks/event/settings/signed/${encodeURIComponent(id)}`);
	const key = (res.body as { public_key?: string } | undefined)?.public_key;
	return key || undefined;
}

async function createWebhook(sg: SendGridTransport, url: string, events: string[], name: string): Promise<{ id: string; publicKey?: string }> {
	const flags: Record<string, boolean> = {};
	for (const [event, flag] of Object.entries(EVENT_FLAGS)) flags[flag] = events.includes(event);
	const res = await sg.request('POST', '/v3/user/webhooks/event/settings', { enabled: true, url, friendly_name: name.slice(0, 100), ...flags });
	const id = String((res.body as { id?: string }).id ?? '');
	if (!id) throw new Error('SendGrid did not return an id for the new Event Webhook');
	return { id, publicKey: await signedPublicKey(sg, id, true) };
}

async function deleteWebhook(sg: SendGridTransport, id: string): Promise<void> {
	await sg.request('DELETE', `/v3/user/webhooks/event/settings/${encodeURIComponent(id)}`);
}

/** Automatic registration talks to SendGrid's API: say so clearly when no credential is selected. */
function assertHasSendGrid(ctx: IHookFunctions): void {
	if (!ctx.getNode().credentials?.[CREDENTIALS.sendGrid])
		throw new NodeOperationError(ctx.getNode(), 'Automatic registration needs a SendGrid Campaign API credential', {
			description: 'Select a SendGrid Campaign API credential, or set Registration to Manual and paste the verification key (on the node or in the credential).',
		});
}

/** Refuses to go live in a configuration that would answer 200 to every event and keep none of them. */
function assertKeepsEvents(ctx: IHookFunctions): void {
	const options = ctx.getNodeParameter('options', {}) as IDataObject;
	if (ctx.getNodeParameter('output', 'event') === 'none' && options.updateStore === false) {
		throw new NodeOperationError(ctx.getNode(), 'Output "Store Only" with "Update Campaign Store" off would accept every event and keep none', {
			description: 'Turn the option Update Campaign Store on, or set Output to One Item per Event or One Item per Request.',
		});
	}
}

/** n8n's webhook methods for the Event Webhook URL ('default'). */
export const eventWebhookRegistration = {
	async checkExists(this: IHookFunctions): Promise<boolean> {
		assertKeepsEvents(this);
		if (this.getNodeParameter('registration') !== 'auto') return true;
		assertHasSendGrid(this);
		const data = this.getWorkflowStaticData('node') as RegistrationData;
		const { transport } = await sendGrid(this);
		const found = await findWebhook(transport, this.getNodeWebhookUrl('default') as string);
		if (!found) return false;
		data.webhookId = found.id;
		data.publicKey = (await signedPublicKey(transport, found.id, false)) ?? (await signedPublicKey(transport, found.id, true));
		return true;
	},
	async create(this: IHookFunctions): Promise<boolean> {
		if (this.getNodeParameter('registration') !== 'auto') return true;
		assertHasSendGrid(this);
		const { transport } = await sendGrid(this);
		const events = this.getNodeParameter('events') as string[];
		const created = await createWebhook(transport, this.getNodeWebhookUrl('default') as string, events, `n8n ${this.getWorkflow().name ?? ''}`.trim());
		Object.assign(this.getWorkflowStaticData('node'), { webhookId: created.id, publicKey: created.publicKey } satisfies RegistrationData);
		return true;
	},
	async delete(this: IHookFunctions): Promise<boolean> {
		const data = this.getWorkflowStaticData('node') as RegistrationData;
		if (this.getNodeParameter('registration') === 'auto' && data.webhookId && this.getNode().credentials?.[CREDENTIALS.sendGrid]) {
			const { transport } = await sendGrid(this);
			await deleteWebhook(transport, data.webhookId).catch(() => undefined);
		}
		delete data.webhookId;
		delete data.publicKey;
		return true;
	},
};
