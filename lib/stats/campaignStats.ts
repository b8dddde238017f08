/** What the dashboard shows, straight from the store: campaigns, runs with progress, rates per step and variant, A/B results, recent deliveries. */
import {
	accountsOfCampaign,
	listAbDecisions,
	listCampaigns,
	listHolds,
	listRuns,
	recentDeliveries,
	stepCounts,
	suppressionCounts,
	type CampaignStore,
	type RecentDelivery,
	type RunListRow,
	type StepCounts,
} from '../store';
import { type Hold, accountScope, campaignScope, describeHold } from '../guard/breaker';
import { redactSecrets } from '../redact';
import { eventOutcomes, type EventOutcome } from '../store/events';

/** A step's counts (as the store reads them) with the rates the dashboard shows. */
export interface RateRow extends StepCounts {
	rates: { delivered: number; open: number; click: number; bounce: number; drop: number; unsubscribe: number };
}

export interface CampaignStats {
	generated_at: string;
	campaigns: Array<{ id: string; name: string | null; status: string; created_at: string }>;
	runs: RunListRow[];
	steps: RateRow[];
	ab: Array<Record<string, unknown>>;
	recent: RecentDelivery[];
	suppressions: Array<{ reason: string; n: number }>;
	/** Deferral responses, bounce classifications (with type: bounce or blocked) and drop reasons, most frequent first. */
	outcomes?: EventOutcome[];
	/** Paused campaigns and SendGrid accounts (reputation guard or a user), each with what it means and how to resume. */
	paused?: Array<Hold & { message: string }>;
}

const rate = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 10_000) / 10_000 : 0);

export async function campaignStats(store: CampaignStore, filter: { campaignId?: string; recent?: number } = {}): Promise<CampaignStats> {
	const c = filter.campaignId ?? null;
	const holdScopes = c === null ? undefined : [campaignScope(c), ...(await accountsOfCampaign(store, c)).map(accountScope)];
	const [campaigns, runs, steps, ab, recent, suppressions, outcomes, holds] = await Promise.all([
		listCampaigns(store, c),
		listRuns(store, c),
		stepCounts(store, c),
		listAbDecisions(store, c),
		recentDeliveries(store, c, filter.recent ?? 50),
		suppressionCounts(store),
		eventOutcomes(store, c),
		listHolds(store, holdScopes),
	]);
	const held = new Set(holds.map((h) => h.scope));
	return {
		generated_at: new Date().toISOString(),
		// The campaign row's own status is not where pauses live any more: holds are.
		campaigns: campaigns.map((x) => ({ ...x, status: held.has(campaignScope(x.id)) ? 'paused' : 'active' })),
		paused: holds.map((h) => ({ ...h, reason: redactSecrets(h.reason), message: redactSecrets(describeHold(h)) })),
		runs: runs.map((r) => ({ ...r, error: r.error === null ? null : redactSecrets(r.error) })),
		steps: steps.map((s) => ({
			...s,
			rates: {
				delivered: rate(s.delivered, s.sent),
				open: rate(s.opened, s.delivered || s.sent),
				click: rate(s.clicked, s.delivered || s.sent),
				bounce: rate(s.bounced, s.sent),
				drop: rate(s.dropped, s.sent),
				unsubscribe: rate(s.unsubscribed, s.delivered || s.sent),
			},
		})),
		ab,
		// Rows written before errors were redacted at the store may still hold a secret: never show one.
		recent: recent.map((r) => ({ ...r, error: r.error === null ? null : redactSecrets(r.error) })),
		suppressions,
		outcomes,
	};
}
