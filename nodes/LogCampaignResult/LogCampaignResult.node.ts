import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { logCampaignResult, parseResults } from '../../lib/stages/logCampaignResult';
import { campaignStore, nodeError } from '../shared/context';
import { STORE_NOTICE, campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { resultsFromItems } from '../shared/items';

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
				displayName: STORE_NOTICE,
				name: 'storeNotice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Output',
				name: 'outputMode',
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
