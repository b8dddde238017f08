import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { logCampaignResult, parseResults } from '../../lib/stages/logCampaignResult';
import { campaignStore, nodeError } from '../shared/context';
import { STORE_NOTICE, campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { resultsFromItems } from '../shared/items';
import { campaignStats } from '../../lib/stats/campaignStats';
import { renderDashboard } from '../../lib/stats/dashboardHtml';

export class LogCampaignResult implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Log Campaign Result',
		name: 'logCampaignResult',
		icon: 'file:logCampaignResult.svg',
		group: ['output'],
		version: 1,
		description: 'Write one delivery row per recipient and the run summary into the campaign store',
		defaults: { name: 'Log Campaign Result' },
		usableAsTool: true,
		inputs: ['main'],
		outputs: ['main'],
		credentials: [{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Log Results', value: 'log', action: 'Log delivery results', description: 'Write delivery rows and the run summary' },
					{ name: 'Get Campaign Stats', value: 'stats', action: 'Get campaign stats', description: 'Runs with progress, rates per step and variant, A/B results, recent deliveries' },
				],
				default: 'log',
			},
			{
				displayName: 'Campaign ID',
				name: 'statsCampaignId',
				type: 'string',
				default: '',
				displayOptions: { show: { operation: ['stats'] } },
				description: 'Leave empty for every campaign',
			},
			{
				displayName: 'Format',
				name: 'format',
				type: 'options',
				options: [
					{ name: 'JSON', value: 'json' },
					{ name: 'HTML Dashboard Page', value: 'html', description: 'A self-contained page (inline SVG charts) for Respond to Webhook' },
				],
				default: 'json',
				displayOptions: { show: { operation: ['stats'] } },
			},
			{
				displayName: 'Recent Deliveries',
				name: 'recent',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 1000 },
				default: 50,
				displayOptions: { show: { operation: ['stats'] } },
			},
			{
				displayName: STORE_NOTICE,
				name: 'storeNotice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Output',
				name: 'outputMode',
				displayOptions: { show: { operation: ['log'] } },
				type: 'options',
				options: [
					{ name: 'Run Summary', value: 'summary', description: 'One item per run: sent, failed, skipped, deferred and dry-run counts' },
					{ name: 'Run Summary and Delivery Rows', value: 'rows', description: 'The summary followed by one item per recipient' },
				],
				default: 'summary',
			},
			{
				displayName: 'Mark Run Finished',
				name: 'finishRun',
				displayOptions: { show: { operation: ['log'] } },
				type: 'boolean',
				default: true,
				description: 'Whether this node ends the run (turn off when more batches of the same run are logged later)',
			},
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		try {
			if (this.getNodeParameter('operation', 0, 'log') === 'stats') {
				const store = await campaignStore(this);
				const stats = await campaignStats(store, {
					campaignId: (this.getNodeParameter('statsCampaignId', 0, '') as string).trim() || undefined,
					recent: this.getNodeParameter('recent', 0, 50) as number,
				});
				const json = this.getNodeParameter('format', 0) === 'html' ? { html: renderDashboard(stats) } : stats;
				return [[{ json: json as unknown as INodeExecutionData['json'] }]];
			}
			const results = parseResults(resultsFromItems(this.getInputData()));
			const store = await campaignStore(this);
			const copyStats = (this.getInputData()[0]?.json?.copy_stats ?? undefined) as { llm_calls?: number; prompt_tokens?: number; completion_tokens?: number } | undefined;
			const summaries = await logCampaignResult(results, { store }, {
				finishRun: this.getNodeParameter('finishRun', 0) as boolean,
				llmCalls: copyStats?.llm_calls,
				llmTokens: copyStats ? (copyStats.prompt_tokens ?? 0) + (copyStats.completion_tokens ?? 0) : undefined,
			});
			const out: INodeExecutionData[] = summaries.map((s) => ({ json: { ...s, store: store.kind } as unknown as INodeExecutionData['json'] }));
			if (this.getNodeParameter('outputMode', 0) === 'rows') for (const r of results) out.push({ json: r as unknown as INodeExecutionData['json'] });
			return [out];
		} catch (e) {
			throw nodeError(node, e);
		}
	}
}
