/** A/B decisions from the store's delivery rows, stored once per campaign step. */
import { CampaignInputError, type Campaign } from '../schemas';
import { abDecisionOf, recordAbDecision, variantOutcomes, type CampaignStore } from '../store';
import { OPENS_CAVEAT, abPowerCheck, type DecisionRule } from './power';
import { AbEvidence, decide, describeEvidence } from './sequential';
import { WinnerDecision, VariantStats } from './stats';

export interface StoredDecision extends WinnerDecision {
	campaign_id: string;
	step: number;
	/** The variant the rest of the list gets (winner, or the leader when the fallback applies). */
	send: string | undefined;
	decided_at?: string;
	/** Lift and its interval, evidence, minimum detectable lift, expected time to decide, power check; the sequential rule's running state. */
	evidence?: AbEvidence;
	/** The evidence in one sentence. */
	summary?: string;
	/** Power below 80 % for a 20 % lift; opens are unreliable (Apple Mail Privacy Protection). */
	warnings?: string[];
}

/** Unique conversions per variant among sent deliveries: clicks, or human opens (machine opens are never counted). */
export async function variantStats(store: CampaignStore, campaignId: string, step: number, metric: string): Promise<VariantStats[]> {
	return variantOutcomes(store, campaignId, step, metric === 'unique_open_rate' ? 'opens' : 'clicks');
}

function withReadout<T extends { metric: string; evidence?: AbEvidence }>(d: T): T & { summary?: string; warnings?: string[] } {
	if (!d.evidence) return d;
	const warnings = [d.evidence.power?.warning, d.evidence.caveat].filter((w): w is string => typeof w === 'string');
	return { ...d, summary: describeEvidence(d.evidence, d.metric), warnings };
}

export async function storedDecision(store: CampaignStore, campaignId: string, step: number): Promise<StoredDecision | undefined> {
	const row = await abDecisionOf(store, campaignId, step);
	if (!row) return undefined;
	return withReadout({
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
		evidence: (row.evidence as AbEvidence | null) ?? undefined,
	});
}

/**
 * Decides (or re-checks) the winner of a step. Returns what to send to the held-out contacts, or
 * send undefined while the test should keep waiting. waitedHours: hours since the sample went out.
 */
export async function decideAbTest(store: CampaignStore, campaign: Campaign, step: number, waitedHours: number): Promise<StoredDecision> {
	const existing = await storedDecision(store, campaign.id, step);
	if (existing?.send) return existing;
	const ab = campaign.abTest ?? { metric: 'unique_click_rate', confidence: 0.95, fallback: 'send_leader', maxWaitHours: 48, decisionRule: undefined, expectedRate: undefined, manualWinner: undefined };
	// Campaigns stored before decisionRule existed get the default, like a freshly parsed one.
	const rule: DecisionRule = ab.decisionRule ?? 'sequential';
	const measured = ab.metric === 'manual' ? 'unique_click_rate' : ab.metric;
	const stats = await variantStats(store, campaign.id, step, measured);
	let decision = decide(stats.length ? stats : [{ variant: 'A', sent: 0, conversions: 0 }], ab.metric, ab.confidence, {
		rule,
		previous: existing?.evidence,
		hoursElapsed: waitedHours,
		maxWaitHours: ab.maxWaitHours,
	});
	const power = abPowerCheck({
		recipientsPerVariant: stats.length ? Math.min(...stats.map((s) => s.sent)) : 0,
		metric: measured,
		baseRate: ab.expectedRate,
		confidence: ab.confidence,
		variants: Math.max(campaign.variants, stats.length),
		rule,
	});
	decision = { ...decision, evidence: { ...decision.evidence, power, ...(ab.metric === 'unique_open_rate' ? { caveat: OPENS_CAVEAT } : {}) } };
	if (ab.metric === 'manual') {
		const chosen = ab.manualWinner;
		decision = chosen ? { ...decision, decided: true, winner: chosen, reason: 'manual choice' } : { ...decision, decided: false, winner: undefined, reason: 'waiting for a manual choice (abTest.manualWinner)' };
	}
	let send = decision.winner;
	if (!decision.decided && ab.metric !== 'manual') {
		if (ab.fallback === 'send_leader' || waitedHours >= ab.maxWaitHours) {
			send = decision.leader;
			decision = { ...decision, reason: `${decision.reason}; fallback: sending the leading variant ${decision.leader}` };
		}
	}
	await recordAbDecision(store, {
		campaign_id: campaign.id,
		step,
		metric: decision.metric,
		confidence: decision.confidence,
		decided: decision.decided,
		winner: decision.winner ?? null,
		leader: decision.leader,
		send_variant: send ?? null,
		reason: decision.reason,
		p_value: decision.pValue,
		variants: decision.variants,
		evidence: decision.evidence,
	});
	return withReadout({ ...decision, campaign_id: campaign.id, step, send });
}

/**
 * A winner picked by hand (the dashboard): the rest of the step's list gets `variant` from the next
 * run on, whatever the test said. The evidence so far is kept beside the choice, and the reason names
 * who chose and what was to be sent before. Contacts already sent keep what they got.
 */
export async function pickWinnerByHand(store: CampaignStore, campaign: Campaign, step: number, variant: string, by: string): Promise<StoredDecision> {
	const stats = await variantStats(store, campaign.id, step, campaign.abTest?.metric ?? 'unique_click_rate');
	const known = new Set([...stats.map((s) => s.variant), ...Array.from({ length: campaign.variants }, (_, i) => String.fromCharCode(65 + i))]);
	if (!known.has(variant))
		throw new CampaignInputError(`Campaign "${campaign.id}" step ${step} has no variant "${variant}"; its variants are ${[...known].sort().join(', ')}`, 'variant');
	const existing = await storedDecision(store, campaign.id, step);
	const ab = campaign.abTest;
	const measured = ab?.metric === 'unique_open_rate' ? 'unique_open_rate' : 'unique_click_rate';
	const decision = decide(stats.length ? stats : [{ variant, sent: 0, conversions: 0 }], measured, ab?.confidence ?? 0.95, {
		rule: ab?.decisionRule ?? 'sequential',
		previous: existing?.evidence,
		hoursElapsed: Number.POSITIVE_INFINITY,
		maxWaitHours: ab?.maxWaitHours ?? 48,
	});
	const before = existing?.send ? ` (was ${existing.send})` : '';
	const reason = `picked by hand by ${by}${before}; the test said: ${decision.reason}`;
	await recordAbDecision(store, {
		campaign_id: campaign.id,
		step,
		metric: decision.metric,
		confidence: decision.confidence,
		decided: true,
		winner: variant,
		leader: decision.leader,
		send_variant: variant,
		reason,
		p_value: decision.pValue,
		variants: decision.variants,
		evidence: decision.evidence,
	});
	return withReadout({ ...decision, decided: true, winner: variant, reason, campaign_id: campaign.id, step, send: variant });
}
