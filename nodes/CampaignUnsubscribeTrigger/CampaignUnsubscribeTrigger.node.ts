import type { IDataObject, INodeType, INodeTypeDescription, IWebhookFunctions, IWebhookResponseData } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { receiveUnsubscribe } from '../../lib/unsubscribe/flow';
import type { UnsubscribeScope } from '../../lib/store';
import { redactSecrets } from '../../lib/redact';
import { campaignStore } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';

/** The token travels in the URL: no referrer leaves the page, nothing loads from elsewhere, no framing. */
const PAGE_HEADERS = {
	'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
	'Referrer-Policy': 'no-referrer',
	'Cache-Control': 'no-store',
	'X-Content-Type-Options': 'nosniff',
};

// eslint-disable-next-line @n8n/community-nodes/webhook-lifecycle-complete -- no service registers this URL: each campaign's Unsubscribe URL (List-Unsubscribe) carries it
export class CampaignUnsubscribeTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Campaign Unsubscribe Trigger',
		name: 'campaignUnsubscribeTrigger',
		icon: 'file:campaignUnsubscribeTrigger.svg',
		group: ['trigger'],
		version: 1,
		subtitle: '={{"unsubscribe from: " + $parameter["scope"]}}',
		description: "Receive one-click unsubscribes (RFC 8058) and the footer link's page for the campaigns this store sends",
		defaults: { name: 'Campaign Unsubscribe Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		webhooks: [
			// GET: the page a person sees (changes nothing, so link scanners unsubscribe nobody); POST: the one-click unsubscribe.
			{ name: 'setup', httpMethod: 'GET', responseMode: 'onReceived', path: 'unsubscribe' },
			{ name: 'default', httpMethod: 'POST', responseMode: 'onReceived', path: 'unsubscribe' },
		],
		properties: [
			{
				displayName:
					"Publish this workflow, then set each campaign's Unsubscribe URL (Load Campaign Content → Campaign Options) to this node's Production URL. Every live message then carries a signed List-Unsubscribe link: mailbox providers POST it (Gmail's and Yahoo's unsubscribe button), people open it from the footer. Use the same Campaign Database credential as the sending workflow.",
				name: 'setupNotice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Unsubscribe From',
				name: 'scope',
				type: 'options',
				options: [
					{ name: "The Campaign's Unsubscribe Group, Else Everything", value: 'auto', description: 'The SendGrid unsubscribe group (ASM) the campaign sends under; without one, every campaign of this store' },
					{ name: 'This Campaign Only', value: 'campaign', description: "The campaign's later steps and sequences; other campaigns still reach the contact" },
					{ name: 'Everything From This Sender', value: 'global', description: 'Every campaign of this store' },
				],
				default: 'auto',
			},
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const res = this.getResponseObject();
		const req = this.getRequestObject();
		const raw = (this.getBodyData() ?? {}) as IDataObject;
		// n8n hands multipart posts over as { data: fields, files }.
		const body = raw.data && typeof raw.data === 'object' ? raw.data : raw;
		try {
			const scope = this.getNodeParameter('scope', 'auto') as UnsubscribeScope;
			const answer = await receiveUnsubscribe({ method: req.method, query: (this.getQueryData() ?? {}) as IDataObject, body }, await campaignStore(this), { scope });
			res.status(answer.status).set({ ...PAGE_HEADERS, 'Content-Type': answer.contentType }).send(answer.body);
			return answer.item ? { noWebhookResponse: true, workflowData: [[{ json: answer.item as IDataObject }]] } : { noWebhookResponse: true };
		} catch (e) {
			// A provider retries a 5xx; nothing was changed half-way (each change is one transaction).
			// The public is told only to retry; the cause goes to n8n's log, secrets redacted.
			res.status(503).set({ ...PAGE_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' }).send('The unsubscribe could not be recorded just now. Please try again in a few minutes.');
			this.logger.error(`Campaign Unsubscribe Trigger: ${redactSecrets((e as Error).message)}`);
			return { noWebhookResponse: true };
		}
	}
}
