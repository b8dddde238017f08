import type { IBinaryData, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { type BatchResult, sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { campaignStore, nodeError } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { campaignRedisConnectionTest } from '../shared/redisCredential';
import { countByStatus, errorItem, failItems, inInputOrder } from '../shared/items';
import { RESULTS_FILE, jsonFile, payloadItemsWithFiles } from '../shared/batchFiles';
import { PreflightError, preflightRun } from '../../lib/preview/preflight';
import { deliveryProperties } from '../shared/properties';
import { readDelivery } from '../shared/readers';
import { sendGridListMethods } from '../shared/sendGridLists';
import { runFailed, runFinished, runStarted, sendRunFacts } from '../../lib/observability/logLines';
import type { SendStats } from '../../lib/store/metrics';
import { log } from '../shared/logging';
import { campaignSentryDsnTest, reportRunFailure } from '../shared/sentryReport';

const NODE = 'Send Email (SendGrid)';

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
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'sendGridCampaignApi', required: true, displayOptions: { show: { dryRun: [false] } } },
			{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' },
			{ name: 'campaignRedisApi', required: false, displayOptions: { show: { dryRun: [false] } }, testedBy: 'campaignRedisConnectionTest' },
			{ name: 'campaignSentryApi', required: false, testedBy: 'campaignSentryDsnTest' },
		],
		properties: [
			...deliveryProperties,
		],
	};

	methods = {
		credentialTest: { campaignDatabaseConnectionTest, campaignRedisConnectionTest, campaignSentryDsnTest },
		...sendGridListMethods,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		const cof = this.continueOnFail();
		const read = await payloadItemsWithFiles(this, this.getInputData());
		const { bad } = read;
		// An item that is not a payload fails on its own; the others are sent (Continue On Fail).
		if (bad.length > 0 && !cof) throw nodeError(node, bad[0].error, bad[0].item);
		const errors = bad.map((b) => errorItem(node, b.error, b.item));
		if (read.ok.length === 0 && errors.length > 0) return [errors];
		let todo = read.ok;
		// Only `todo` holds the payloads from here: a sent batch's recipients are let go (onBatchDone below).
		read.ok = [];
		try {
			const delivery = await readDelivery(this);
			if (delivery.unsubscribeGroupId) todo = todo.map((o) => ({ ...o, payload: { ...o.payload, asm_group_id: delivery.unsubscribeGroupId } }));
			if (cof && !delivery.dryRun) {
				// Preflight errors stop a whole run; with Continue On Fail only the items of the step and variant they concern fail.
				const live = todo.filter((o) => !o.payload.sandbox);
				const failing = preflightRun(live.map((o) => o.payload), { live: true }).filter((f) => f.level === 'error');
				if (failing.length > 0) {
					const of = (o: (typeof todo)[number]) =>
						failing.filter((f) => f.step === o.payload.step && f.variant === o.payload.variant && (f.language === undefined || f.language === o.payload.language));
					for (const o of live) if (of(o).length > 0) errors.push(errorItem(node, new PreflightError(of(o)), o.item));
					todo = todo.filter((o) => o.payload.sandbox || of(o).length === 0);
				}
			}
			const store = await campaignStore(this);
			const payloads = todo.map((o) => o.payload);
			// What the log lines need of each payload once its recipients are let go (a batch's are, once it is sent).
			const facts = payloads.map((p) => ({ campaign_id: p.campaign_id, run_id: p.run_id, step: p.step, recipients: new Array<undefined>(p.recipients.length) }));
			const started = Date.now();
			const stats = new Map<string, SendStats>();
			for (const f of sendRunFacts(NODE, facts, undefined, undefined, { dry_run: !!delivery.dryRun })) log(this, runStarted(f));
			const perRecipient = this.getNodeParameter('outputMode', 0) === 'recipient';
			// A batch whose recipients came in a file gets its results in a file too (`results_file`, `result_count`; the counts stay in JSON),
			// written as the batch ends: its results and its recipients are then let go, not held until the last batch is sent.
			const written = new Map<number, { binary: IBinaryData; counts: Record<string, number>; result_count: number }>();
			const onBatchDone =
				perRecipient || !todo.some((o) => o.file)
					? undefined
					: async (k: number, b: BatchResult): Promise<BatchResult> => {
							const entry = todo[k];
							todo[k] = { ...entry, payload: { ...entry.payload, recipients: [] } };
							payloads[k] = todo[k].payload;
							if (!entry.file) return b;
							const binary = await jsonFile(this, b.results, `results-${b.run_id}-step${b.step}-batch${b.batch}.json`);
							written.set(k, { binary, counts: countByStatus(b.results), result_count: b.results.length });
							return { ...b, results: [] };
						};
			const factsOf = (batches: Array<BatchResult | undefined>) =>
				batches.map((b, k) => (b && written.has(k) ? { ...b, results: countsAsResults(written.get(k)!.counts) } : b));
			let batches;
			try {
				batches = await sendEmailWithSendgrid(payloads, { transport: delivery.transport, store, limiter: delivery.limiter, onRunStats: (id, s) => stats.set(id, s), onBatchDone }, delivery.options);
			} catch (e) {
				for (const f of sendRunFacts(NODE, facts, undefined, stats, { duration_ms: Date.now() - started })) log(this, runFailed(f, e));
				await reportRunFailure(this, e);
				throw e;
			}
			for (const f of sendRunFacts(NODE, facts, factsOf(batches), stats, { duration_ms: Date.now() - started, dry_run: !!delivery.dryRun })) log(this, runFinished(f));
			// One batch result per payload, in order: each pairs with its input item, and so does each of its recipients.
			const out: INodeExecutionData[] = [];
			if (perRecipient)
				batches.forEach((b, k) => b.results.forEach((r) => out.push({ json: r as unknown as INodeExecutionData['json'], pairedItem: { item: todo[k].item } })));
			else
				for (const [k, b] of batches.entries()) {
					const done = written.get(k);
					if (done) {
						const { results: _r, ...rest } = b;
						out.push({
							json: { ...rest, counts: done.counts, results_file: RESULTS_FILE, result_count: done.result_count } as unknown as INodeExecutionData['json'],
							binary: { [RESULTS_FILE]: done.binary },
							pairedItem: { item: todo[k].item },
						});
						continue;
					}
					const counts = countByStatus(b.results);
					if (!todo[k].file) {
						out.push({ json: { ...b, counts } as unknown as INodeExecutionData['json'], pairedItem: { item: todo[k].item } });
						continue;
					}
					const { results, ...rest } = b;
					const binary = { [RESULTS_FILE]: await jsonFile(this, results, `results-${b.run_id}-step${b.step}-batch${b.batch}.json`) };
					out.push({ json: { ...rest, counts, results_file: RESULTS_FILE, result_count: results.length } as unknown as INodeExecutionData['json'], binary, pairedItem: { item: todo[k].item } });
				}
			return [errors.length ? inInputOrder([...out, ...errors]) : out];
		} catch (e) {
			return [inInputOrder([...errors, ...failItems(this, e, todo.map((o) => o.item))])];
		}
	}
}

/** A batch's counts per status as the status list the log lines count (one entry per recipient, nothing else). */
function countsAsResults(counts: Record<string, number>): Array<{ status: string }> {
	const out: Array<{ status: string }> = [];
	for (const [status, n] of Object.entries(counts)) for (let i = 0; i < n; i++) out.push({ status });
	return out;
}
