/**
 * One scheduler tick: claim due enrollments, send each due step once (the same stage functions as
 * the pipeline), move contacts on. A/B sample mode: the held-out contacts get the winning variant
 * once the test has a winner (lib/ab: a sequential test, valid at every tick) or its fallback applies;
 * the tick that sends the variants under test reports their power (ab_power).
 */
import { decideAbTest, StoredDecision, variantStats } from '../ab/decide';
import { campaignPowerCheck, type PowerCheck } from '../ab/power';
import { newRunId } from '../ids';
import type { Campaign, Contact, DeliveryResult } from '../schemas';
import { buildEmailPayloads } from '../stages/buildEmailPayload';
import { GenerateDeps, GenerateOptions, generateEmailCopy } from '../stages/generateEmailCopy';
import { logCampaignResult } from '../stages/logCampaignResult';
import { SendDeps, SendOptions, sendEmailWithSendgrid } from '../stages/sendEmailWithSendgrid';
import { activeHold, type CampaignStore } from '../store';
import { accountScope, campaignScope, describeHold } from '../guard/breaker';
import { Enrollment, HOLDOUT, advanceEnrollments, claimDueEnrollments, releaseEnrollments } from './enrollments';
import { countByStatus } from '../delivery/states';
import { describeFinding } from '../preview/preflight';

export interface DueStepSummary {
	campaign_id: string;
	step: number;
	run_id: string;
	due: number;
	counts: Record<string, number>;
	enrollments: Record<string, number>;
	ab?: StoredDecision;
	waiting_for_winner?: number;
	/**
	 * A/B test steps, when this tick sent variants under test (the sample, or a split): power for a 20 %
	 * relative lift at the recipients per variant sent so far, with a warning (and the recipients
	 * needed) below 80 %, and the opens caveat when the metric is opens.
	 */
	ab_power?: PowerCheck;
	/** Preflight warnings of what this tick sent (errors stop the tick before anything is sent). */
	preflight_warnings?: string[];
	/** The campaign or its SendGrid account is paused: what and why. Its contacts stay due and go out after Resume. */
	paused?: string;
}

export interface RunDueOptions {
	now: number;
	worker?: string;
	campaignId?: string;
	limit?: number;
	batchSize?: number;
	/** Contact field with each contact's copy language (default `language`; '' = the campaign's language for all). */
	languageField?: string;
	copy: GenerateOptions;
	send: SendOptions;
}

export async function sendDueSteps(store: CampaignStore, deps: { send: SendDeps; generate: GenerateDeps }, options: RunDueOptions): Promise<DueStepSummary[]> {
	const worker = options.worker ?? `worker-${process.pid}`;
	const due = await claimDueEnrollments(store, { now: options.now, worker, limit: options.limit, campaignId: options.campaignId });
	const groups = new Map<string, Enrollment[]>();
	for (const e of due) {
		const key = `${e.campaign_id}\n${e.next_step}`;
		let g = groups.get(key);
		if (!g) groups.set(key, (g = []));
		g.push(e);
	}
	const runId = newRunId(new Date(options.now));
	const out: DueStepSummary[] = [];
	for (const rows of groups.values()) {
		const campaign = await store.getCampaign(rows[0].campaign_id);
		const step = rows[0].next_step!;
		const summary: DueStepSummary = { campaign_id: rows[0].campaign_id, step, run_id: runId, due: rows.length, counts: {}, enrollments: {} };
		out.push(summary);
		if (!campaign) {
			await releaseEnrollments(store, rows[0].campaign_id, rows.map((r) => r.email));
			summary.enrollments.missing_campaign = rows.length;
			continue;
		}
		// Paused since the enrollments were claimed (or its account is): no copy is written, nobody is sent, the contacts stay due.
		const hold = await activeHold(store, [campaignScope(campaign.id), ...(options.send.account ? [accountScope(options.send.account)] : [])]);
		if (hold) {
			await releaseEnrollments(store, campaign.id, rows.map((r) => r.email));
			summary.paused = describeHold(hold);
			summary.enrollments.waiting = rows.length;
			continue;
		}
		let sendable = rows;
		const holdout = rows.filter((r) => r.variant === HOLDOUT);
		const variantOf = new Map(rows.map((r) => [r.email, r.variant]));
		if (holdout.length > 0) {
			// Hours since the step became due for the earliest enrolled contact (the sample went out then).
			const delay = campaign.steps.find((x) => x.step === step)?.delayHours ?? 0;
			const waited = (options.now - Math.min(...rows.map((r) => Date.parse(r.enrolled_at)))) / 3_600_000 - delay;
			const decision = await decideAbTest(store, campaign, step, waited);
			summary.ab = decision;
			if (decision.send) for (const r of holdout) variantOf.set(r.email, decision.send);
			else {
				await releaseEnrollments(store, campaign.id, holdout.map((r) => r.email), options.now + 3_600_000);
				summary.waiting_for_winner = holdout.length;
				sendable = rows.filter((r) => r.variant !== HOLDOUT);
			}
		}
		if (sendable.length === 0) continue;
		const { results, warnings, paused } = await sendStep(store, deps, campaign, step, sendable, variantOf, runId, options);
		if (warnings.length > 0) summary.preflight_warnings = warnings;
		if (paused) summary.paused = paused;
		summary.counts = countByStatus(results.values());
		summary.enrollments = await advanceEnrollments(store, campaign, step, sendable, results, options.now);
		const ab = campaign.abTest;
		if (ab && ab.metric !== 'manual' && campaign.variants > 1 && sendable.some((r) => r.variant !== HOLDOUT)) {
			const sent = await variantStats(store, campaign.id, step, ab.metric);
			summary.ab_power = campaignPowerCheck(campaign, sent.map((s) => s.sent));
		}
	}
	return out;
}

async function sendStep(
	store: CampaignStore,
	deps: { send: SendDeps; generate: GenerateDeps },
	campaign: Campaign,
	step: number,
	rows: Enrollment[],
	variantOf: Map<string, string>,
	runId: string,
	options: RunDueOptions,
): Promise<{ results: Map<string, DeliveryResult>; warnings: string[]; paused?: string }> {
	const contacts: Contact[] = rows.map((r) => ({ ...r.fields, email: r.email }));
	// Each contact's language from their enrolled fields: one copy per language, one language per request. The contact's
	// time zone already placed the step (next_send_at), so no send_at here.
	const built = buildEmailPayloads(campaign, contacts, runId, { step, batchSize: options.batchSize, variantOf: (c) => variantOf.get(c.email)!, languageField: options.languageField });
	const copy = await generateEmailCopy(built, options.copy, deps.generate);
	const batches = await sendEmailWithSendgrid(copy.payloads, deps.send, options.send);
	const results = batches.flatMap((b) => b.results);
	await logCampaignResult(results, { store }, { llmCalls: copy.llmCalls, llmTokens: copy.usage.prompt_tokens + copy.usage.completion_tokens });
	const warnings = batches.flatMap((b) => b.preflight ?? []).map(describeFinding);
	const hold = batches.find((b) => b.paused)?.paused;
	return { results: new Map(results.map((r) => [r.email, r])), warnings, ...(hold ? { paused: describeHold(hold) } : {}) };
}
