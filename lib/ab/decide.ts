/** A/B decisions from the store's delivery rows, stored once per campaign step. */
import type { Campaign } from '../schemas';
import { abDecisionOf, recordAbDecision, variantOutcomes, type CampaignStore } from '../store';
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
	return variantOutcomes(store, campaignId, step, metric === 'unique_open_rate' ? 'opens' : 'clicks');
}

export async function storedDecision(store: CampaignStore, campaignId: string, step: number): Promise<StoredDecision | undefined> {
	const row = await abDecisionOf(store, campaignId, step);
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
	});
	return { ...decision, campaign_id: campaign.id, step, send };
}
