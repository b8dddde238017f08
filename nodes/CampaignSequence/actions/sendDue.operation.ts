/** Send Due Steps: run from a Schedule Trigger; sends every due step once and moves contacts on. */
import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { sendDueSteps } from '../../../lib/sequences/runner';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';
import { combinedCopyProperties, combinedDeliveryProperties } from '../../shared/properties';
import { readCombinedCopyAndDelivery } from '../../shared/readers';
import { asOf, campaignRef, readAsOf, readCampaignRef } from './common';
import { runFailed, runFinished, runStarted } from '../../../lib/observability/logLines';
import { log, sendStatsCollector } from '../../shared/logging';
import { reportRunFailure } from '../../shared/sentryReport';

const properties: INodeProperties[] = [
	campaignRef,
	asOf,
	{
		displayName: 'Max Contacts per Run',
		name: 'maxContacts',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 100000,
		description: 'Due contacts handled by one run; the rest go in the next run',
	},
	{ displayName: 'Batch Size', name: 'batchSize', type: 'number', typeOptions: { minValue: 1, maxValue: 1000 }, default: 1000 },
	...combinedCopyProperties,
	...combinedDeliveryProperties,
];

export const description = updateDisplayOptions({ show: { operation: ['sendDue'] } }, properties);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	const now = readAsOf(this);
	const { copy, delivery, deps } = await readCombinedCopyAndDelivery(this, store);
	const node = 'Campaign Sequence: Send Due Steps';
	const campaignId = readCampaignRef(this) || undefined;
	const started = Date.now();
	const sendStats = sendStatsCollector();
	// The send stage tells each run's 429s, retries and limiter wait (SendDeps.onRunStats) for the finish lines.
	Object.assign(deps.send, { onRunStats: sendStats.onRunStats });
	// The tick itself is a debug line (a Schedule Trigger runs it every few minutes); each run it made gets its info line.
	log(this, { ...runStarted({ node, campaign_id: campaignId, dry_run: !!delivery.dryRun }), level: 'debug' });
	let summaries;
	try {
		summaries = await sendDueSteps(store, deps, {
			now,
			campaignId,
			limit: this.getNodeParameter('maxContacts', 0, 100000) as number,
			batchSize: this.getNodeParameter('batchSize', 0, 1000) as number,
			copy: copy.options,
			send: delivery.options,
		});
	} catch (e) {
		log(this, runFailed({ node, campaign_id: campaignId, duration_ms: Date.now() - started }, e));
		await reportRunFailure(this, e, { campaignId });
		throw e;
	}
	for (const s of summaries) log(this, runFinished({ node, campaign_id: s.campaign_id, run_id: s.run_id, step: s.step, recipients: s.due, counts: s.counts, ...sendStats.of(s.run_id), duration_ms: Date.now() - started, dry_run: !!delivery.dryRun }));
	if (summaries.length === 0) log(this, { ...runFinished({ node, campaign_id: campaignId, runs: 0, recipients: 0, duration_ms: Date.now() - started }), level: 'debug' });
	return toItems(summaries.length ? summaries : [{ due: 0, message: 'No sequence step is due' }]);
}
