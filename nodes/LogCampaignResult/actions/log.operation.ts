/** Log Results: one delivery row per recipient and the run summary; logging the same results twice changes nothing. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { logCampaignResult, parseResults } from '../../../lib/stages/logCampaignResult';
import { campaignStore } from '../../shared/context';
import { resultsFromItems } from '../../shared/items';
import { toItems } from '../../shared/operations';

export const description = updateDisplayOptions({ show: { operation: ['log'] } }, [
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
]);

type CopyStats = { llm_calls?: number; prompt_tokens?: number; completion_tokens?: number };

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const items = this.getInputData();
	const results = parseResults(resultsFromItems(items));
	const store = await campaignStore(this);
	// Generate Email Copy attaches what the copy cost; the run summary keeps it.
	const copyStats = (items[0]?.json?.copy_stats ?? undefined) as CopyStats | undefined;
	const summaries = await logCampaignResult(results, { store }, {
		finishRun: this.getNodeParameter('finishRun', 0) as boolean,
		llmCalls: copyStats?.llm_calls,
		llmTokens: copyStats ? (copyStats.prompt_tokens ?? 0) + (copyStats.completion_tokens ?? 0) : undefined,
	});
	const rows = this.getNodeParameter('outputMode', 0) === 'rows' ? results : [];
	return toItems([...summaries.map((s) => ({ ...s, store: store.kind })), ...rows]);
}
