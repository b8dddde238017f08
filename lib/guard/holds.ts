/**
 * Pausing and resuming by hand (Campaign Sequence's Pause and Resume, the dashboard later): a pause is
 * a hold on the campaign like the breaker's, so every claim everywhere stops; resuming lifts the holds
 * asked for and records who did it. Nothing resumes on its own.
 */
import { accountsOfCampaign, activeHold, liftHolds, listHolds, placeHold, holdLog, type CampaignStore, type HoldLogEntry } from '../store';
import { type Hold, accountScope, campaignScope } from './breaker';

export async function pauseCampaign(store: CampaignStore, campaignId: string, by: string, reason = 'paused by a user'): Promise<{ hold: Hold; already: boolean }> {
	const scope = campaignScope(campaignId);
	const placed = await placeHold(store, { scope, cause: 'manual', reason, by });
	if (placed) return { hold: placed, already: false };
	const existing = await activeHold(store, [scope]);
	// Lifted between the two statements: hold it again.
	return existing ? { hold: existing, already: true } : pauseCampaign(store, campaignId, by, reason);
}

/**
 * Lifts the campaign's hold and, when asked, the holds of the SendGrid accounts the campaign was sent
 * with (or of one account key); returns what was lifted.
 */
export async function resumeSending(store: CampaignStore, target: { campaignId?: string; account?: string; accountsOfCampaign?: boolean }, by: string): Promise<Hold[]> {
	const accounts = [...(target.account ? [target.account] : []), ...(target.accountsOfCampaign && target.campaignId ? await accountsOfCampaign(store, target.campaignId) : [])];
	const scopes = [...(target.campaignId ? [campaignScope(target.campaignId)] : []), ...accounts.map(accountScope)];
	return liftHolds(store, scopes, by);
}

/** The holds on a campaign (and on an account, when given) and who paused and resumed them lately. */
export async function holdsOf(store: CampaignStore, campaignId: string): Promise<{ holds: Hold[]; log: HoldLogEntry[] }> {
	const scopes = [campaignScope(campaignId), ...(await accountsOfCampaign(store, campaignId)).map(accountScope)];
	return { holds: await listHolds(store, scopes), log: await holdLog(store, scopes, 10) };
}
