/** A/B decisions from the store's delivery rows, stored once per campaign step. */
import type { Campaign } from '../schemas';
import type { CampaignStore } from '../store';
import { WinnerDecision, decideWinner, VariantStats } from './stats';

export interface StoredDecision extends WinnerDecision {
	campaign_id: string;
	step: number;
	/** The variant the rest of the list gets (winner, or the leader when the fallback applies). */
	send: string | undefined;
	decided_at?: string;
}

/** Unique conversions per variant among sent deliveries: clicks, or human opens (machine opens are never counted). */
export async function variantStats(store: CampaignStore, campaignId: string, step: number, metric: string): Promise<VariantStats[]> {
	const col = metric === 'unique_open_rate' ? 'open_count' : 'click_count';
	const r = await store.db.query<{ variant: string; sent: number; conversions: number }>(
		`SELECT variant, count(*)::int AS sent, count(*) FILTER (WHERE ${col} > 0)::int AS conversions
		 FROM eca_deliveries WHERE mode = 'live' AND campaign_id = $1 AND step = $2 AND status = 'sent' AND variant <> 'holdout'
		 GROUP BY variant ORDER BY variant`,
		[campaignId, step],
	);
	return r.rows;
}

export async function storedDecision(store: CampaignStore, campaignId: string, step: number): Promise<StoredDecision | undefined> {
	const r = await store.db.query<Record<string, unknown>>('SELECT * FROM eca_ab_decisions WHERE campaign_id = $1 AND step = $2', [campaignId, step]);
	const row = r.rows[0];
	if (!row) return undefined;
	return {
		campaign_id: campaignId,
		step,
		metric: row.metric as string,
		confidence: row.confidence as number,
		decided: row.decided as boolean,
		winner: (row.winner as string) ?? undefined,
		leader: row.leader as string,
		reason: row.reason as string,
		pValue: row.p_value as number,
		variants: row.variants as WinnerDecision['variants'],
		send: (row.send_variant as string | null) ?? undefined,
		decided_at: String(row.decided_at),
	};
}

/**
 * Decides (or re-checks) the winner of a step. Returns what to send to the held-out contacts, or
 * send undefined while the test should keep waiting.
 */
export async function decideAbTest(store: CampaignStore, campaign: Campaign, step: number, waitedHours: number): Promise<StoredDecision> {
	const existing = await storedDecision(store, campaign.id, step);
	if (existing?.send) return existing;
	const ab = campaign.abTest ?? { metric: 'unique_click_rate', confidence: 0.95, fallback: 'send_leader', maxWaitHours: 48 };
	let decision: WinnerDecision;
	if (ab.metric === 'manual') {
		const stats = await variantStats(store, campaign.id, step, 'unique_click_rate');
		const base = decideWinner(stats.length ? stats : [{ variant: 'A', sent: 0, conversions: 0 }], 'manual', ab.confidence);
		const chosen = campaign.abTest?.manualWinner;
		decision = chosen ? { ...base, decided: true, winner: chosen, reason: 'manual choice' } : { ...base, decided: false, winner: undefined, reason: 'waiting for a manual choice (abTest.manualWinner)' };
	} else decision = decideWinner(await variantStats(store, campaign.id, step, ab.metric), ab.metric, ab.confidence);
	let send = decision.winner;
	if (!decision.decided && ab.metric !== 'manual') {
		if (ab.fallback === 'send_leader' || waitedHours >= ab.maxWaitHours) {
			send = decision.leader;
			decision = { ...decision, reason: `${decision.reason}; fallback: sending the leading variant ${decision.leader}` };
		}
	}
	await store.db.query(
		`INSERT INTO eca_ab_decisions (campaign_id, step, metric, confidence, decided, winner, leader, send_variant, reason, p_value, variants)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		 ON CONFLICT (campaign_id, step) DO UPDATE SET decided = EXCLUDED.decided, winner = EXCLUDED.winner, leader = EXCLUDED.leader,
			send_variant = EXCLUDED.send_variant, reason = EXCLUDED.reason, p_value = EXCLUDED.p_value, variants = EXCLUDED.variants, decided_at = now()`,
		[campaign.id, step, decision.metric, decision.confidence, decision.decided, decision.winner ?? null, decision.leader, send ?? null, decision.reason, decision.pValue, JSON.stringify(decision.variants)],
	);
	return { ...decision, campaign_id: campaign.id, step, send };
}
