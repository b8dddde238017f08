import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
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
		const { ok, bad } = await payloadItemsWithFiles(this, this.getInputData());
		// An item that is not a payload fails on its own; the others are sent (Continue On Fail).
		if (bad.length > 0 && !cof) throw nodeError(node, bad[0].error, bad[0].item);
		const errors = bad.map((b) => errorItem(node, b.error, b.item));
		let todo = ok;
		if (todo.length === 0 && errors.length > 0) return [errors];
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
			const started = Date.now();
			const stats = new Map<string, SendStats>();
			for (const f of sendRunFacts(NODE, payloads, undefined, undefined, { dry_run: !!delivery.dryRun })) log(this, runStarted(f));
			let batches;
			try {
				batches = await sendEmailWithSendgrid(payloads, { transport: delivery.transport, store, limiter: delivery.limiter, onRunStats: (id, s) => stats.set(id, s) }, delivery.options);
			} catch (e) {
				for (const f of sendRunFacts(NODE, payloads, undefined, stats, { duration_ms: Date.now() - started })) log(this, runFailed(f, e));
				await reportRunFailure(this, e);
				throw e;
			}
			for (const f of sendRunFacts(NODE, payloads, batches, stats, { duration_ms: Date.now() - started, dry_run: !!delivery.dryRun })) log(this, runFinished(f));
			// One batch result per payload, in order: each pairs with its input item, and so does each of its recipients.
			// A batch whose recipients came in a file gets its results in a file too (`results_file`, `result_count`; the counts stay in JSON).
			const out: INodeExecutionData[] = [];
			if (this.getNodeParameter('outputMode', 0) === 'recipient')
				batches.forEach((b, k) => b.results.forEach((r) => out.push({ json: r as unknown as INodeExecutionData['json'], pairedItem: { item: todo[k].item } })));
			else
				for (const [k, b] of batches.entries()) {
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
