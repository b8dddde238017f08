/** A/B test SQL: what each variant of a step achieved, and the decision stored once per campaign step. */
import { driverOf, type CampaignStore } from './campaignStore';

export interface VariantOutcome {
	variant: string;
	sent: number;
	conversions: number;
}

/** The decision as recorded (one row per campaign step). */
export interface AbDecisionRecord {
	campaign_id: string;
	step: number;
	metric: string;
	confidence: number;
	decided: boolean;
	winner: string | null;
	leader: string;
	/** The variant the rest of the list gets, or null while the test waits. */
	send_variant: string | null;
	reason: string;
	p_value: number;
	variants: unknown;
	/** What the decision rests on (lift, interval, evidence, MDE, expected time, power) and the sequential rule's running state. */
	evidence?: unknown;
}

/**
 * Per variant of a live step: sent deliveries, and how many of them converted — at least one open
 * (`opens`) or one click (`clicks`). Held-out contacts are not a variant.
 */
export async function variantOutcomes(store: CampaignStore, campaignId: string, step: number, conversion: 'opens' | 'clicks'): Promise<VariantOutcome[]> {
	const col = conversion === 'opens' ? 'open_count' : 'click_count';
	const r = await driverOf(store).query<VariantOutcome>(
		`SELECT variant, count(*)::int AS sent, count(*) FILTER (WHERE ${col} > 0)::int AS conversions
		 FROM eca_deliveries WHERE mode = 'live' AND campaign_id = $1 AND step = $2 AND status = 'sent' AND variant <> 'holdout'
		 GROUP BY variant ORDER BY variant`,
		[campaignId, step],
	);
	return r.rows;
}

/** The stored decision row of a campaign step, as the database returns it. */
export async function abDecisionOf(store: CampaignStore, campaignId: string, step: number): Promise<Record<string, unknown> | undefined> {
	const r = await driverOf(store).query<Record<string, unknown>>('SELECT * FROM eca_ab_decisions WHERE campaign_id = $1 AND step = $2', [campaignId, step]);
	return r.rows[0];
}

/** Records (or re-records) a step's decision; metric and confidence stay as first recorded. */
export async function recordAbDecision(store: CampaignStore, d: AbDecisionRecord): Promise<void> {
	await driverOf(store).query(
		`INSERT INTO eca_ab_decisions (campaign_id, step, metric, confidence, decided, winner, leader, send_variant, reason, p_value, variants, evidence)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		 ON CONFLICT (campaign_id, step) DO UPDATE SET decided = EXCLUDED.decided, winner = EXCLUDED.winner, leader = EXCLUDED.leader,
			send_variant = EXCLUDED.send_variant, reason = EXCLUDED.reason, p_value = EXCLUDED.p_value, variants = EXCLUDED.variants,
			evidence = EXCLUDED.evidence, decided_at = now()`,
		[d.campaign_id, d.step, d.metric, d.confidence, d.decided, d.winner, d.leader, d.send_variant, d.reason, d.p_value, JSON.stringify(d.variants), d.evidence === undefined ? null : JSON.stringify(d.evidence)],
	);
}
