/** The dashboard's reads: campaigns, runs, delivery counts per step and variant, A/B decisions, recent deliveries, suppressions. */
import { driverOf, type CampaignStore } from './campaignStore';

export interface CampaignListRow {
	id: string;
	name: string | null;
	status: string;
	created_at: string;
}

export interface RunListRow {
	run_id: string;
	campaign_id: string;
	step: number | null;
	mode: string;
	/** running, finished, failed (see error) or interrupted (resumable; see error). */
	status: string;
	error: string | null;
	total: number;
	counts: Record<string, number>;
	progress: Record<string, unknown>;
	started_at: string;
	finished_at: string | null;
	llm_calls: number;
	llm_tokens: number;
	/** A run sent with send_at: its SendGrid batch id, its earliest send_at, and a pause or cancellation set on it (Campaign Sequence): 'pause', 'cancel' or null. */
	batch_id: string | null;
	send_at: string | null;
	scheduled_status: string | null;
	/** An interrupted run someone asked (on the dashboard) to resume: when and who; the Campaign Agent takes it up. */
	resume_requested_at: string | null;
	resume_requested_by: string | null;
}

/** Live deliveries of one campaign step and variant, counted by what happened to them. */
export interface StepCounts {
	campaign_id: string;
	step: number;
	variant: string;
	sent: number;
	delivered: number;
	opened: number;
	clicked: number;
	bounced: number;
	/** Dropped by SendGrid without a bounce (unsubscribed, spam-reported or bounced earlier, invalid...): not a bounce. */
	dropped: number;
	unsubscribed: number;
	spam: number;
	failed: number;
}

export interface RecentDelivery {
	email: string;
	campaign_id: string;
	step: number;
	variant: string;
	status: string;
	error: string | null;
	updated_at: string;
}

export interface SuppressionCount {
	reason: string;
	n: number;
}

/** Campaign ids are optional in every read: null means every campaign. */
async function rows<T>(store: CampaignStore, sql: string, params: unknown[]): Promise<T[]> {
	return (await driverOf(store).query<T>(sql, params)).rows;
}

/** The newest 200 campaigns (or the one asked for). */
export function listCampaigns(store: CampaignStore, campaignId: string | null): Promise<CampaignListRow[]> {
	return rows(store, `SELECT id, name, status, created_at::text FROM eca_campaigns WHERE $1::text IS NULL OR id = $1 ORDER BY created_at DESC LIMIT 200`, [campaignId]);
}

/** The newest 50 runs. */
export function listRuns(store: CampaignStore, campaignId: string | null): Promise<RunListRow[]> {
	return rows(
		store,
		`SELECT run_id, campaign_id, step, mode, status, error, total, counts, progress, started_at::text, finished_at::text, llm_calls, llm_tokens,
				batch_id, send_at_first::text AS send_at, scheduled_status, resume_requested_at::text, resume_requested_by
			 FROM eca_runs WHERE $1::text IS NULL OR campaign_id = $1 ORDER BY started_at DESC LIMIT 50`,
		[campaignId],
	);
}

/** Live delivery counts per campaign, step and variant; drops are counted apart from bounces. */
export function stepCounts(store: CampaignStore, campaignId: string | null): Promise<StepCounts[]> {
	return rows(
		store,
		`SELECT campaign_id, step, variant,
				count(*) FILTER (WHERE status = 'sent')::int AS sent,
				count(*) FILTER (WHERE delivered_at IS NOT NULL)::int AS delivered,
				count(*) FILTER (WHERE open_count > 0)::int AS opened,
				count(*) FILTER (WHERE click_count > 0)::int AS clicked,
				count(*) FILTER (WHERE bounced_at IS NOT NULL)::int AS bounced,
				count(*) FILTER (WHERE dropped_at IS NOT NULL AND bounced_at IS NULL)::int AS dropped,
				count(*) FILTER (WHERE unsubscribed_at IS NOT NULL)::int AS unsubscribed,
				count(*) FILTER (WHERE spam_reported_at IS NOT NULL)::int AS spam,
				count(*) FILTER (WHERE status = 'failed')::int AS failed
			 FROM eca_deliveries WHERE mode = 'live' AND ($1::text IS NULL OR campaign_id = $1)
			 GROUP BY campaign_id, step, variant ORDER BY campaign_id, step, variant`,
		[campaignId],
	);
}

/** The newest 50 A/B decisions, as stored. */
export function listAbDecisions(store: CampaignStore, campaignId: string | null): Promise<Array<Record<string, unknown>>> {
	return rows(store, `SELECT * FROM eca_ab_decisions WHERE $1::text IS NULL OR campaign_id = $1 ORDER BY decided_at DESC LIMIT 50`, [campaignId]);
}

/** The most recently changed live deliveries. */
export function recentDeliveries(store: CampaignStore, campaignId: string | null, limit: number): Promise<RecentDelivery[]> {
	return rows(
		store,
		`SELECT email, campaign_id, step, variant, status, error, updated_at::text FROM eca_deliveries
			 WHERE mode = 'live' AND ($1::text IS NULL OR campaign_id = $1) ORDER BY updated_at DESC, id DESC LIMIT $2`,
		[campaignId, limit],
	);
}

/** Suppressed addresses per reason, most first (every campaign). */
export function suppressionCounts(store: CampaignStore): Promise<SuppressionCount[]> {
	return rows(store, `SELECT reason, count(*)::int AS n FROM eca_suppressions GROUP BY reason ORDER BY n DESC`, []);
}
