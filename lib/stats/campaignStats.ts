/** What the dashboard shows, straight from the store: campaigns, runs with progress, rates per step and variant, A/B results, recent deliveries. */
import type { CampaignStore } from '../store';
import { redactSecrets } from '../redact';

export interface RateRow {
	campaign_id: string;
	step: number;
	variant: string;
	sent: number;
	delivered: number;
	opened: number;
	clicked: number;
	bounced: number;
	unsubscribed: number;
	spam: number;
	failed: number;
	rates: { delivered: number; open: number; click: number; bounce: number; unsubscribe: number };
}

export interface CampaignStats {
	generated_at: string;
	campaigns: Array<{ id: string; name: string | null; status: string; created_at: string }>;
	runs: Array<{ run_id: string; campaign_id: string; step: number | null; mode: string; status: string; total: number; counts: Record<string, number>; progress: Record<string, unknown>; started_at: string; finished_at: string | null; llm_calls: number; llm_tokens: number }>;
	steps: RateRow[];
	ab: Array<Record<string, unknown>>;
	recent: Array<{ email: string; campaign_id: string; step: number; variant: string; status: string; error: string | null; updated_at: string }>;
	suppressions: Array<{ reason: string; n: number }>;
}

const rate = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 10_000) / 10_000 : 0);

export async function campaignStats(store: CampaignStore, filter: { campaignId?: string; recent?: number } = {}): Promise<CampaignStats> {
	const c = filter.campaignId ?? null;
	const q = <T>(sql: string, params: unknown[] = [c]) => store.db.query<T>(sql, params).then((r) => r.rows);
	const [campaigns, runs, steps, ab, recent, suppressions] = await Promise.all([
		q<CampaignStats['campaigns'][number]>(`SELECT id, name, status, created_at::text FROM eca_campaigns WHERE $1::text IS NULL OR id = $1 ORDER BY created_at DESC LIMIT 200`),
		q<CampaignStats['runs'][number]>(
			`SELECT run_id, campaign_id, step, mode, status, total, counts, progress, started_at::text, finished_at::text, llm_calls, llm_tokens
			 FROM eca_runs WHERE $1::text IS NULL OR campaign_id = $1 ORDER BY started_at DESC LIMIT 50`,
		),
		q<Omit<RateRow, 'rates'>>(
			`SELECT campaign_id, step, variant,
				count(*) FILTER (WHERE status = 'sent')::int AS sent,
				count(*) FILTER (WHERE delivered_at IS NOT NULL)::int AS delivered,
				count(*) FILTER (WHERE open_count > 0)::int AS opened,
				count(*) FILTER (WHERE click_count > 0)::int AS clicked,
				count(*) FILTER (WHERE bounced_at IS NOT NULL OR dropped_at IS NOT NULL)::int AS bounced,
				count(*) FILTER (WHERE unsubscribed_at IS NOT NULL)::int AS unsubscribed,
				count(*) FILTER (WHERE spam_reported_at IS NOT NULL)::int AS spam,
				count(*) FILTER (WHERE status = 'failed')::int AS failed
			 FROM eca_deliveries WHERE mode = 'live' AND ($1::text IS NULL OR campaign_id = $1)
			 GROUP BY campaign_id, step, variant ORDER BY campaign_id, step, variant`,
		),
		q<Record<string, unknown>>(`SELECT * FROM eca_ab_decisions WHERE $1::text IS NULL OR campaign_id = $1 ORDER BY decided_at DESC LIMIT 50`),
		q<CampaignStats['recent'][number]>(
			`SELECT email, campaign_id, step, variant, status, error, updated_at::text FROM eca_deliveries
			 WHERE mode = 'live' AND ($1::text IS NULL OR campaign_id = $1) ORDER BY updated_at DESC, id DESC LIMIT $2`,
			[c, filter.recent ?? 50],
		),
		q<{ reason: string; n: number }>(`SELECT reason, count(*)::int AS n FROM eca_suppressions GROUP BY reason ORDER BY n DESC`, []),
	]);
	return {
		generated_at: new Date().toISOString(),
		campaigns,
		runs,
		steps: steps.map((s) => ({
			...s,
			rates: {
				delivered: rate(s.delivered, s.sent),
				open: rate(s.opened, s.delivered || s.sent),
				click: rate(s.clicked, s.delivered || s.sent),
				bounce: rate(s.bounced, s.sent),
				unsubscribe: rate(s.unsubscribed, s.delivered || s.sent),
			},
		})),
		ab,
		// Rows written before errors were redacted at the store may still hold a secret: never show one.
		recent: recent.map((r) => ({ ...r, error: r.error === null ? null : redactSecrets(r.error) })),
		suppressions,
	};
}
