/**
 * Stage `log_campaign_result`: per-recipient delivery rows and the run's summary into the store.
 * Idempotent: logging the same results twice writes nothing new, and a sent row is never downgraded.
 */
import { RESULT_MEANING } from '../delivery/states';
import { DeliveryResult, deliveryResult, describeIssues, CampaignInputError } from '../schemas';
import type { CampaignStore, RunCounts } from '../store';

export interface RunSummary {
	campaign_id: string;
	run_id: string;
	steps: number[];
	recipients: number;
	sent: number;
	failed: number;
	/** Not sent in this run on purpose: already sent before, suppressed, or claimed earlier and unconfirmed. */
	skipped: number;
	deferred: number;
	retry: number;
	dry_run: number;
	sandbox: number;
	unconfirmed: number;
	suppressed: number;
	already_sent: number;
	/** Not sent because the campaign or its account is paused; `paused_reason` says why. */
	paused: number;
	paused_reason?: string;
	rows_written: number;
	/** Results the store refused: a newer run holds the row, or the row has moved on (see errors). */
	not_written?: number;
	/** Counts of the whole run as the store has them (across every execution that logged into it). */
	stored_counts?: RunCounts;
	errors: Array<{ email: string; status: string; error: string }>;
}

export function parseResults(rows: unknown[]): DeliveryResult[] {
	return rows.map((row, i) => {
		const r = deliveryResult.safeParse(row);
		if (!r.success) throw new CampaignInputError(`Result ${i + 1} is not a delivery result: ${describeIssues(r.error)}`, 'results');
		return r.data;
	});
}

export function summarize(results: DeliveryResult[]): RunSummary[] {
	const byRun = new Map<string, RunSummary>();
	for (const r of results) {
		let s = byRun.get(r.run_id);
		if (!s) {
			s = {
				campaign_id: r.campaign_id,
				run_id: r.run_id,
				steps: [],
				recipients: 0,
				sent: 0,
				failed: 0,
				skipped: 0,
				deferred: 0,
				retry: 0,
				dry_run: 0,
				sandbox: 0,
				unconfirmed: 0,
				suppressed: 0,
				already_sent: 0,
				paused: 0,
				rows_written: 0,
				errors: [],
			};
			byRun.set(r.run_id, s);
		}
		if (!s.steps.includes(r.step)) s.steps.push(r.step);
		s.recipients++;
		s[r.status]++;
		if (RESULT_MEANING[r.status].skipped) s.skipped++;
		if (r.status === 'paused' && !s.paused_reason) s.paused_reason = r.error;
		if (r.error && (r.status === 'failed' || r.status === 'retry') && s.errors.length < 100) s.errors.push({ email: r.email, status: r.status, error: r.error });
	}
	return [...byRun.values()];
}

export async function logCampaignResult(
	results: DeliveryResult[],
	deps: { store?: CampaignStore },
	options: { finishRun?: boolean; llmCalls?: number; llmTokens?: number } = {},
): Promise<RunSummary[]> {
	const summaries = summarize(results);
	if (!deps.store) return summaries;
	for (const s of summaries) {
		const mode = s.dry_run > 0 ? 'dry_run' : s.sandbox > 0 ? 'sandbox' : 'live';
		await deps.store.startRun({ runId: s.run_id, campaignId: s.campaign_id, step: s.steps[0], mode, total: s.recipients });
	}
	const { written, refused } = await deps.store.recordResults(results);
	const perRun = new Map(summaries.map((s) => [s.run_id, s]));
	if (summaries.length === 1) summaries[0].rows_written = written;
	// A result the store did not take (another run holds the row now, or it moved on): reported, never forced.
	for (const x of refused) {
		const s = perRun.get(x.run_id);
		if (!s) continue;
		s.not_written = (s.not_written ?? 0) + 1;
		if (s.errors.length < 100)
			s.errors.push({ email: x.email, status: x.status, error: `not written: the store has it ${x.stored_status}${x.stored_run_id !== x.run_id ? ` in run ${x.stored_run_id}` : ''}` });
	}
	for (const s of perRun.values()) {
		// A run stopped by a pause ends 'paused' with the reason: the dashboard shows why, and a run after Resume sends the rest.
		const paused = s.paused > 0 && (options.finishRun ?? true);
		s.stored_counts = await deps.store.refreshRun(s.run_id, {
			finished: options.finishRun ?? true,
			llmCalls: summaries.length === 1 ? options.llmCalls : 0,
			llmTokens: summaries.length === 1 ? options.llmTokens : 0,
			...(paused ? { outcome: 'paused' as const, error: s.paused_reason ?? 'paused' } : {}),
		});
	}
	return summaries;
}
