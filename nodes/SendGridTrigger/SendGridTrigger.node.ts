import type { IDataObject, INodeType, INodeTypeDescription, IWebhookFunctions, IWebhookResponseData } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { OutputMode, WebhookAnswer, receiveEventPost, receiveInboundPost } from '../../lib/events/webhookFlow';
import { describeHold, guardThresholds } from '../../lib/guard/breaker';
import { CREDENTIALS, campaignStore, optionalCredentials } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { triggerProperties } from './description';
import { webhookBatch } from '../../lib/observability/logLines';
import { log } from '../shared/logging';
import { campaignSentryDsnTest, reportTriggerProblem } from '../shared/sentryReport';
import { type RegistrationData, eventWebhookRegistration } from './registration';

export class SendGridTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'SendGrid Trigger',
		name: 'sendGridTrigger',
		icon: 'file:sendGridTrigger.svg',
		group: ['trigger'],
		version: 1,
		subtitle: '={{$parameter["events"].join(", ")}}',
		description: "Receive SendGrid's signed Event Webhook (and Inbound Parse replies), verify, de-duplicate and update the campaign store",
		defaults: { name: 'SendGrid Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			// Optional so that Manual registration can take the verification key from the credential; Automatic checks it is there.
			{ name: 'sendGridCampaignApi', required: false },
			{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' },
			// Optional: circuit-breaker pauses and refused posts reported to Sentry.
			{ name: 'campaignSentryApi', required: false, testedBy: 'campaignSentryDsnTest' },
		],
		webhooks: [
			{ name: 'default', httpMethod: 'POST', responseMode: 'onReceived', path: 'events' },
			{ name: 'setup', httpMethod: 'POST', responseMode: 'onReceived', path: 'inbound' },
		],
		properties: triggerProperties,
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest, campaignSentryDsnTest } };

	webhookMethods = { default: eventWebhookRegistration };

	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const req = this.getRequestObject() as unknown as { rawBody?: Buffer; readRawBody?: () => Promise<void>; body?: unknown; headers?: Record<string, string | undefined> };
		const options = this.getNodeParameter('options', {}) as IDataObject;
		const output = this.getNodeParameter('output', 'event') as OutputMode;
		const store = options.updateStore === false ? undefined : () => campaignStore(this);
		const headers = (this.getHeaderData() ?? {}) as Record<string, string | undefined>;
		let answer: WebhookAnswer;
		const started = Date.now();
		const inbound = this.getWebhookName() === 'setup';
		// The second webhook ('setup', n8n's only other webhook name) receives Inbound Parse replies.
		if (inbound) {
			if (options.binaryData === true && !req.rawBody && req.readRawBody) await req.readRawBody();
			// n8n hands multipart posts over as { data: fields, files }, each field already decoded as UTF-8.
			const body = (this.getBodyData() ?? {}) as Record<string, unknown>;
			const query = (this.getQueryData() ?? {}) as IDataObject;
			answer = await receiveInboundPost(
				{
					// The secret: the legacy token option when set, else the Inbound Parse Secret parameter (by default made of the node's random ids).
					expectedSecret: String(options.inboundToken || this.getNodeParameter('inboundSecret', '') || ''),
					givenSecrets: [query.secret, query.token, headers['x-inbound-secret']],
					rawBody: req.rawBody,
					contentType: req.headers?.['content-type'] ?? headers['content-type'],
					fields: (body.data && typeof body.data === 'object' ? body.data : body) as Record<string, unknown>,
					store,
				},
				{
					maxBodyMb: options.maxBodyMb as number | undefined,
					emitDuplicates: options.emitDuplicates === true,
					requireAuth: options.replyRequireAuth !== false,
					autoRepliesStop: options.autoRepliesStop === true,
					suppressGlobally: options.replySuppressesGlobally === true,
					output,
				},
			);
		} else {
			// n8n keeps the exact bytes it received: the signature is checked over them.
			if (!req.rawBody && req.readRawBody) await req.readRawBody();
			const credential = await optionalCredentials(this, CREDENTIALS.sendGrid).catch(() => undefined);
			// Limits out of range are answered 500 with the field named: SendGrid retries while the user fixes them.
			let guard;
			try {
				guard = this.getNodeParameter('reputationGuard', true) ? guardThresholds(this.getNodeParameter('reputationLimits', {}) as Record<string, never>) : undefined;
			} catch (e) {
				this.getResponseObject().status(500).json({ error: `Reputation Limits: ${(e as Error).message}` });
				log(this, webhookBatch({ node: 'SendGrid Trigger', kind: 'events', status: 500, error: `Reputation Limits: ${(e as Error).message}`, duration_ms: Date.now() - started }));
				return { noWebhookResponse: true };
			}
			answer = await receiveEventPost(
				{
					rawBody: req.rawBody ?? Buffer.from(typeof req.body === 'string' ? req.body : JSON.stringify(req.body ?? '')),
					headers,
					keys: {
						node: this.getNodeParameter('registration') === 'manual' ? this.getNodeParameter('publicKey', '') : undefined,
						credential: credential?.webhookPublicKey,
						registration: (this.getWorkflowStaticData('node') as RegistrationData).publicKey,
					},
					store,
				},
				{
					maxBodyMb: options.maxBodyMb as number | undefined,
					toleranceSeconds: options.toleranceSeconds as number | undefined,
					dropMachineOpens: options.dropMachineOpens as boolean | undefined,
					emitDuplicates: options.emitDuplicates === true,
					stopSequenceOnClick: options.stopSequenceOnClick === true,
					wanted: this.getNodeParameter('events', []) as string[],
					output,
					guard,
				},
			);
		}
		// One line per post: counts and duration, never an address or the body.
		const stats = 'stats' in answer ? answer.stats : undefined;
		log(
			this,
			webhookBatch({
				node: 'SendGrid Trigger',
				kind: inbound ? 'inbound' : 'events',
				status: answer.status,
				bytes: req.rawBody?.length,
				duration_ms: Date.now() - started,
				...('error' in answer
					? { error: answer.error }
					: { emitted: answer.items.length, ...(stats ? { ...stats, duplicates: stats.fresh === undefined ? undefined : stats.kept - stats.fresh } : {}) }),
			}),
		);
		if ('error' in answer) {
			this.getResponseObject().status(answer.status).json({ error: answer.error });
			// Not awaited: SendGrid gets its answer now; the report never throws.
			void reportTriggerProblem(this, { kind: 'webhook_refused', message: `SendGrid Trigger refused a ${inbound ? 'reply' : 'event'} post (${answer.status}): ${answer.error}`, httpStatus: answer.status });
			return { noWebhookResponse: true };
		}
		for (const h of answer.paused ?? [])
			void reportTriggerProblem(this, { kind: 'circuit_breaker', message: describeHold(h), campaignId: h.scope.startsWith('campaign:') ? h.scope.slice('campaign:'.length) : undefined });
		if (answer.items.length === 0) return { webhookResponse: 'OK' };
		return { webhookResponse: 'OK', workflowData: [answer.items.map((json) => ({ json: json as IDataObject }))] };
	}
}

