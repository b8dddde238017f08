/** Log Results: one delivery row per recipient and the run summary; logging the same results twice changes nothing. */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { logCampaignResult, parseResults } from '../../../lib/stages/logCampaignResult';
import type { DeliveryResult } from '../../../lib/schemas';
import type { CampaignError } from '../../../lib/errors';
import { campaignStore, nodeError } from '../../shared/context';
import { errorItem, failItems, inInputOrder, pairedWith } from '../../shared/items';
import { resultsOfItemWithFiles } from '../../shared/batchFiles';
import { runFailed, runFinished, runLogged } from '../../../lib/observability/logLines';
import { log } from '../../shared/logging';

const NODE = 'Log Campaign Result';

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

/**
 * All input items' results are logged together; an item whose results are not delivery results fails on
 * its own (Continue On Fail). Each run summary pairs with the items holding that run's results, each
 * delivery row with its item.
 */
export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const node = this.getNode();
	const items = this.getInputData();
	const results: DeliveryResult[] = [];
	const resultItem: number[] = [];
	const errors: INodeExecutionData[] = [];
	for (const [i, item] of items.entries()) {
		try {
			for (const r of parseResults(await resultsOfItemWithFiles(this, item, i))) {
				results.push(r);
				resultItem.push(i);
			}
		} catch (e) {
			const error = (e as CampaignError).atItem?.(i) ?? e;
			if (!this.continueOnFail()) throw nodeError(node, error, i);
			errors.push(errorItem(node, error, i));
		}
	}
	if (results.length === 0 && errors.length > 0) return errors;
	const used = [...new Set(resultItem)];
	try {
		const store = await campaignStore(this);
		// Generate Email Copy attaches what the copy cost; the run summary keeps it.
		const copyStats = (items[0]?.json?.copy_stats ?? undefined) as CopyStats | undefined;
		const finishRun = this.getNodeParameter('finishRun', 0) as boolean;
		const started = Date.now();
		let summaries;
		try {
			summaries = await logCampaignResult(results, { store }, {
				finishRun,
				llmCalls: copyStats?.llm_calls,
				llmTokens: copyStats ? (copyStats.prompt_tokens ?? 0) + (copyStats.completion_tokens ?? 0) : undefined,
			});
		} catch (e) {
			const runs = new Map(results.map((r) => [r.run_id, r.campaign_id]));
			for (const [run_id, campaign_id] of runs) log(this, runFailed({ node: NODE, campaign_id, run_id, duration_ms: Date.now() - started }, e));
			throw e;
		}
		for (const s of summaries) {
			const facts = {
				node: NODE,
				campaign_id: s.campaign_id,
				run_id: s.run_id,
				step: s.steps,
				recipients: s.recipients,
				counts: s.stored_counts ?? { sent: s.sent, failed: s.failed, deferred: s.deferred, unconfirmed: s.unconfirmed, suppressed: s.suppressed },
				llm_calls: copyStats?.llm_calls,
				llm_tokens: copyStats ? (copyStats.prompt_tokens ?? 0) + (copyStats.completion_tokens ?? 0) : undefined,
				duration_ms: Date.now() - started,
			};
			log(this, finishRun ? runFinished(facts) : runLogged(facts));
		}
		const itemsOfRun = new Map<string, Set<number>>();
		results.forEach((r, k) => {
			let set = itemsOfRun.get(r.run_id);
			if (!set) itemsOfRun.set(r.run_id, (set = new Set()));
			set.add(resultItem[k]);
		});
		const out: INodeExecutionData[] = summaries.map((s) => ({ json: { ...s, store: store.kind } as unknown as IDataObject, pairedItem: pairedWith(itemsOfRun.get(s.run_id) ?? used) }));
		if (this.getNodeParameter('outputMode', 0) === 'rows') results.forEach((r, k) => out.push({ json: r as unknown as IDataObject, pairedItem: { item: resultItem[k] } }));
		return [...out, ...errors];
	} catch (e) {
		return inInputOrder([...errors, ...failItems(this, e, used)]);
	}
}
