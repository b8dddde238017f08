import type { IExecuteFunctions, ILoadOptionsFunctions, INodeExecutionData, INodePropertyOptions, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { RateLimiter, sharedLimiter, sharedRedisLimiter } from '../../lib/sendgrid/rateLimiter';
import { campaignStore, nodeError, sendGrid } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { countByStatus, payloadsFromItems } from '../shared/items';
import type { EmailPayload } from '../../lib/schemas';

export class SendEmailSendGrid implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Send Email (SendGrid)',
		name: 'sendEmailSendGrid',
		icon: 'file:sendEmailSendGrid.svg',
		group: ['output'],
		version: 1,
		subtitle: '={{$parameter["dryRun"] ? "dry run" : "send"}}',
		description: 'Send campaign batches through SendGrid: throttled, retried, and at most once per recipient and step',
		defaults: { name: 'Send Email (SendGrid)' },
		usableAsTool: true,
		inputs: ['main'],
		outputs: ['main'],
		credentials: [
			{ name: 'sendGridCampaignApi', required: true, displayOptions: { show: { dryRun: [false] } } },
			{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' },
		],
		properties: [
			{
				displayName: 'Dry Run',
				name: 'dryRun',
				type: 'boolean',
				default: false,
				description: 'Whether to record what would be sent without calling SendGrid',
			},
			{
				displayName: 'Output',
				name: 'outputMode',
				type: 'options',
				options: [
					{ name: 'One Item per Batch', value: 'batch', description: 'Results of each SendGrid request grouped: fast for large campaigns' },
					{ name: 'One Item per Recipient', value: 'recipient' },
				],
				default: 'batch',
			},
			{
				displayName: 'Limits',
				name: 'limits',
				type: 'collection',
				placeholder: 'Add limit',
				default: {},
				displayOptions: { show: { dryRun: [false] } },
				options: [
					{ displayName: 'Daily Cap', name: 'dailyCap', type: 'number', default: 0, description: 'Emails per UTC day for this account (0 = no cap); the rest are reported as deferred and go out on the next run' },
					{ displayName: 'Max Emails per Second', name: 'emailsPerSecond', type: 'number', default: 0, description: '0 = no limit' },
					{ displayName: 'Max Requests per Second', name: 'requestsPerSecond', type: 'number', default: 20, description: 'Shared by every execution using this SendGrid account in this n8n process' },
					{ displayName: 'Max Retries', name: 'maxRetries', type: 'number', typeOptions: { minValue: 0, maxValue: 10 }, default: 5, description: 'Retries for 5xx answers, timeouts and connection errors (429s wait for the reset separately)' },
					{ displayName: 'Parallel Requests', name: 'concurrency', type: 'number', typeOptions: { minValue: 1, maxValue: 32 }, default: 4 },
					{
						displayName: 'Redis URL (Queue Mode)',
						name: 'redisUrl',
						type: 'string',
						default: '',
						placeholder: 'redis://redis:6379',
						description: 'Share the rate limit across all queue-mode workers through Redis',
					},
					{ displayName: 'Request Timeout (Ms)', name: 'timeoutMs', type: 'number', default: 30000 },
				],
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add option',
				default: {},
				displayOptions: { show: { dryRun: [false] } },
				options: [
					{
						displayName: 'On No Answer From SendGrid',
						name: 'onAmbiguousFailure',
						type: 'options',
						options: [
							{ name: 'Retry', value: 'retry', description: 'Retry after connection resets and timeouts (SendGrid rarely accepts a request it did not answer)' },
							{ name: 'Report as Unconfirmed', value: 'unconfirmed', description: "Never risk a duplicate: leave them for the SendGrid Trigger's processed events to confirm" },
						],
						default: 'retry',
					},
					{
						displayName: 'Unsubscribe Group Name or ID',
						name: 'unsubscribeGroupId',
						type: 'options',
						typeOptions: { loadOptionsMethod: 'getUnsubscribeGroups' },
						default: '',
						description: 'Overrides the campaign\'s unsubscribe group. Choose from the list, or specify an ID using an <a href="https://docs.n8n.io/code/expressions/">expression</a>.',
					},
				],
			},
		],
	};

	methods = {
		credentialTest: { campaignDatabaseConnectionTest },
		loadOptions: {
			async getUnsubscribeGroups(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
				const { transport } = await sendGrid(this);
				const res = await transport.request('GET', '/v3/asm/groups');
				const groups = Array.isArray(res.body) ? (res.body as Array<{ id: number; name: string; description?: string }>) : [];
				return [{ name: "Campaign's Group", value: '' }, ...groups.map((g) => ({ name: g.name, value: String(g.id), description: g.description }))];
			},
		},
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		try {
			let payloads: EmailPayload[] = payloadsFromItems(this.getInputData());
			const dryRun = this.getNodeParameter('dryRun', 0) as boolean;
			const limits = this.getNodeParameter('limits', 0, {}) as Record<string, unknown>;
			const options = this.getNodeParameter('options', 0, {}) as Record<string, unknown>;
			const group = Number(options.unsubscribeGroupId);
			if (group > 0) payloads = payloads.map((p) => ({ ...p, asm_group_id: group }));
			const store = await campaignStore(this);
			let transport;
			let account: string | undefined;
			let limiter: RateLimiter | undefined;
			if (!dryRun) {
				const sg = await sendGrid(this, Number(limits.timeoutMs ?? 30000));
				transport = sg.transport;
				account = sg.account;
				const rates = { requestsPerSecond: Number(limits.requestsPerSecond ?? 20), emailsPerSecond: Number(limits.emailsPerSecond ?? 0) };
				limiter = limits.redisUrl ? await sharedRedisLimiter(String(limits.redisUrl), account, rates) : sharedLimiter(account, rates);
			}
			const batches = await sendEmailWithSendgrid(
				payloads,
				{ transport, store, limiter },
				{
					dryRun,
					account,
					dailyCap: Number(limits.dailyCap ?? 0),
					concurrency: Number(limits.concurrency ?? 4),
					onAmbiguousFailure: (options.onAmbiguousFailure as 'retry' | 'unconfirmed') ?? 'retry',
					backoff: { maxRetries: Number(limits.maxRetries ?? 5) },
				},
			);
			if (this.getNodeParameter('outputMode', 0) === 'recipient')
				return [batches.flatMap((b) => b.results.map((r) => ({ json: r as unknown as INodeExecutionData['json'] })))];
			return [batches.map((b) => ({ json: { ...b, counts: countByStatus(b.results) } as unknown as INodeExecutionData['json'] }))];
		} catch (e) {
			throw nodeError(node, e);
		}
	}
}
