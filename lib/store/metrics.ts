/**
 * What the metrics endpoint exports, read from the store (never from counters in this process: in
 * queue mode the scrape and the sends are different executions, often on different processes). Each read is shaped to an
 * index the dashboard already has, so a scrape walks indexes only:
 * - deliveries per campaign, step and status: eca_deliveries_dash_campaign_lang (campaign_id, id)
 *   INCLUDE (step, ..., status) WHERE mode = 'live' (index-only);
 * - events per campaign, step and type: eca_events_dash_timeline (campaign_id, event, ts) INCLUDE (step, ...);
 * - runs: eca_runs_campaign (campaign_id, started_at DESC); runs in progress: eca_runs_running (migration 20);
 * - suppressions by reason: the whole (small) suppression table, one row per address and scope.
 * Both big-table reads go campaign by campaign (a LATERAL subquery per id), so each walks its
 * campaign's index range; test/integration/metrics-scale.test.ts checks the plans on 1M deliveries and
 * 3M events. Campaigns exported are capped (the most recently created or run first): label cardinality stays bounded.
 */
import type { CampaignStore } from './campaignStore';
import { driverOf } from './campaignStore';

/** At most this many campaigns (and so label sets per metric) are exported. */
export const METRICS_CAMPAIGN_LIMIT = 200;
/** At most this many suppression reasons and workers. */
export const METRICS_GROUP_LIMIT = 100;

export interface SendStats {
	/** 429 answers from SendGrid. */
	rate_limited: number;
	/** Requests sent again (after a 429, a 5xx, a timeout or a connection error). */
	retries: number;
	/** Milliseconds spent waiting for the rate limiter (and for a 429's reset when no limiter is shared). */
	limiter_wait_ms: number;
}

/** Adds a send's 429s, retries and rate-limit waits to its run (the row must exist: startRun). */
export async function recordSendStats(store: CampaignStore, runId: string, stats: SendStats): Promise<void> {
	if (stats.rate_limited === 0 && stats.retries === 0 && stats.limiter_wait_ms === 0) return;
	await driverOf(store).query(
		`UPDATE eca_runs SET sg_rate_limited = sg_rate_limited + $2, sg_retries = sg_retries + $3, limiter_wait_ms = limiter_wait_ms + $4, updated_at = now() WHERE run_id = $1`,
		[runId, Math.max(0, Math.round(stats.rate_limited)), Math.max(0, Math.round(stats.retries)), Math.max(0, Math.round(stats.limiter_wait_ms))],
	);
}

export interface CampaignMetricsData {
	/** The campaigns exported (most recent first), and how many the store holds in all. */
	campaigns: string[];
	campaigns_total: number;
	deliveries: Array<{ campaign_id: string; step: number; status: string; n: number }>;
	events: Array<{ campaign_id: string; step: number | null; event: string; n: number }>;
	/** Per campaign and the run's step (its first step for a run over several; null when it has none). */
	runs: Array<{
		campaign_id: string;
		step: number | null;
		status: string;
		n: number;
		llm_calls: number;
		llm_tokens: number;
		sg_rate_limited: number;
		sg_retries: number;
		limiter_wait_ms: number;
	}>;
	suppressions: Array<{ reason: string; n: number }>;
	running: Array<{ worker: string; n: number }>;
}

export async function campaignMetricsData(store: CampaignStore, options: { limit?: number } = {}): Promise<CampaignMetricsData> {
	const limit = Math.max(1, Math.min(options.limit ?? METRICS_CAMPAIGN_LIMIT, 1000));
	const db = driverOf(store);
	// Campaigns created (Load Campaign Content, enrollments) or run (items built elsewhere may have no campaign row).
	const picked = await db.query<{ id: string; total: number }>(
		`SELECT id, count(*) OVER ()::int AS total FROM (
			SELECT id, created_at AS at FROM eca_campaigns
			UNION ALL
			SELECT campaign_id, max(started_at) FROM eca_runs GROUP BY campaign_id
		 ) c GROUP BY id ORDER BY max(at) DESC, id LIMIT $1`,
		[limit],
	);
	const campaigns = picked.rows.map((r) => r.id);
	const campaigns_total = picked.rows[0]?.total ?? 0;
	if (campaigns.length === 0) return { campaigns, campaigns_total, deliveries: [], events: [], runs: [], suppressions: await suppressionReasons(store), running: await runningPerWorker(store) };
	const [deliveries, events, runs] = await Promise.all([
		db.query<CampaignMetricsData['deliveries'][number]>(
			`SELECT c.id AS campaign_id, x.step, x.status, x.n FROM unnest($1::text[]) AS c(id)
			 CROSS JOIN LATERAL (SELECT step, status, count(*)::int AS n FROM eca_deliveries d WHERE d.campaign_id = c.id AND d.mode = 'live' GROUP BY step, status) x
			 ORDER BY 1, 2, 3`,
			[campaigns],
		),
		db.query<CampaignMetricsData['events'][number]>(
			`SELECT c.id AS campaign_id, x.step, x.event, x.n FROM unnest($1::text[]) AS c(id)
			 CROSS JOIN LATERAL (SELECT step, event, count(*)::int AS n FROM eca_events e WHERE e.campaign_id = c.id GROUP BY step, event) x
			 ORDER BY 1, 2, 3`,
			[campaigns],
		),
		db.query<CampaignMetricsData['runs'][number]>(
			`SELECT campaign_id, step, status, count(*)::int AS n,
				sum(llm_calls)::float8 AS llm_calls, sum(llm_tokens)::float8 AS llm_tokens,
				sum(sg_rate_limited)::float8 AS sg_rate_limited, sum(sg_retries)::float8 AS sg_retries, sum(limiter_wait_ms)::float8 AS limiter_wait_ms
			 FROM eca_runs WHERE campaign_id = ANY($1::text[]) GROUP BY campaign_id, step, status ORDER BY campaign_id, step, status`,
			[campaigns],
		),
	]);
	return {
		campaigns,
		campaigns_total,
		deliveries: deliveries.rows,
		events: events.rows,
		runs: runs.rows,
		suppressions: await suppressionReasons(store),
		running: await runningPerWorker(store),
	};
}

async function suppressionReasons(store: CampaignStore): Promise<CampaignMetricsData['suppressions']> {
	const r = await driverOf(store).query<{ reason: string; n: number }>(
		`SELECT reason, count(*)::int AS n FROM eca_suppressions GROUP BY reason ORDER BY n DESC, reason LIMIT $1`,
		[METRICS_GROUP_LIMIT],
	);
	return r.rows;
}

async function runningPerWorker(store: CampaignStore): Promise<CampaignMetricsData['running']> {
	const r = await driverOf(store).query<{ worker: string; n: number }>(
		`SELECT coalesce(worker, 'unknown') AS worker, count(*)::int AS n FROM eca_runs WHERE status = 'running' GROUP BY 1 ORDER BY n DESC, 1 LIMIT $1`,
		[METRICS_GROUP_LIMIT],
	);
	return r.rows;
}
