import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { reportFromErrorTrigger } from '../../lib/observability/errorReport';
import { buildEnvelope, parseDsn, postEnvelope, type ErrorReport } from '../../lib/observability/sentry';
import { perItem } from '../shared/items';
import { campaignSentryDsnTest } from '../shared/sentryReport';

// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool -- it reports a failed execution from an Error Trigger; an AI agent has no failed execution to hand it
export class CampaignErrorReport implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Campaign Error Report',
		name: 'campaignErrorReport',
		icon: 'file:campaignErrorReport.svg',
		group: ['output'],
		version: 1,
		subtitle: '={{$parameter["delivery"] === "request" ? "output the request" : "send to Sentry"}}',
		description: "Report a failed campaign execution (from n8n's Error Trigger) to Sentry: campaign, run, step, node, the error's field and hint; no secrets, no addresses",
		defaults: { name: 'Campaign Error Report' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'campaignSentryApi', required: true, testedBy: 'campaignSentryDsnTest' }],
		properties: [
			{
				displayName:
					"Put this node after an <b>Error Trigger</b> and choose this workflow as <b>Error Workflow</b> in the settings of your campaign workflows: each failed execution becomes one Sentry event. Only saved workflows that ran by themselves (schedule, webhook, form...) call their error workflow; a run from the editor does not.",
				name: 'notice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Delivery',
				name: 'delivery',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Send to Sentry', value: 'send', description: "POST the event to the credential's DSN" },
					{ name: 'Output the Request', value: 'request', description: 'Output URL, headers and body for an HTTP Request node (a proxy, a retry policy of your own)' },
				],
				default: 'send',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Level',
						name: 'level',
						type: 'options',
						options: [
							{ name: 'Fatal', value: 'fatal' },
							{ name: 'Error', value: 'error' },
							{ name: 'Warning', value: 'warning' },
						],
						default: 'error',
						description: "The Sentry event's level",
					},
					{
						displayName: 'Timeout (Ms)',
						name: 'timeoutMs',
						type: 'number',
						typeOptions: { minValue: 100, maxValue: 120000 },
						default: 10000,
						description: 'How long to wait for Sentry to answer',
					},
				],
			},
		],
	};

	methods = { credentialTest: { campaignSentryDsnTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const credential = (await this.getCredentials('campaignSentryApi')) as Record<string, unknown>;
		const dsn = parseDsn(credential.dsn);
		const delivery = this.getNodeParameter('delivery', 0) as 'send' | 'request';
		const settings = { environment: String(credential.environment ?? ''), release: String(credential.release ?? '') };
		const out = await perItem(this, async (i, item) => {
			const options = this.getNodeParameter('options', i, {}) as { level?: ErrorReport['level']; timeoutMs?: number };
			const report = { ...reportFromErrorTrigger(item.json), ...(options.level ? { level: options.level } : {}) };
			const req = buildEnvelope(dsn, report, settings);
			if (delivery === 'request') return { url: req.url, method: req.method, headers: req.headers, body: req.body, event_id: req.eventId, tags: req.tags } as IDataObject;
			const sent = await postEnvelope(req, { timeoutMs: options.timeoutMs });
			return { sent: true, event_id: sent.eventId, status: sent.status, tags: req.tags } as IDataObject;
		});
		return [out];
	}
}
