/**
 * Test and benchmark only: a campaign store of dashboard size, made in SQL (generate_series) —
 * 1,000,000 live deliveries in 25 campaigns ('big' holds 40%, interleaved with the others as
 * concurrent runs write them), 3,000,000 events (a delivered, an open and one more event per
 * delivery: open, click, bounce or deferral, over the last 30 days), suppressions from bounces and
 * unsubscribe links, enrollments, runs and a paused campaign — and the page queries of
 * lib/store/dashboard.ts captured as they run, for EXPLAIN.
 */
import { Client as PgClient, type Client } from 'pg';
import { MIGRATIONS } from '../../lib/store/migrations';
import { closeAllStores, getCampaignStore, type CampaignStore } from '../../lib/store';
import { createTestDatabase } from './services';
import { sql } from './sql';

export const SEED = { deliveries: 1_000_000, events: 3_000_000, campaigns: 25 } as const;

/** The campaign of delivery g (an SQL expression over g): 40% 'big', the rest spread over c01..c24. */
const CAMPAIGN_OF = (g: string) => `CASE WHEN ${g} % 5 < 2 THEN 'big' ELSE 'c' || lpad((${g} % 24 + 1)::text, 2, '0') END`;

/** The migration that adds the dashboard's indexes: dropped before the bulk insert and applied after it (as on a store upgraded with data). */
export const DASHBOARD_MIGRATION = MIGRATIONS.find((m) => /^dashboard reads/.test(m.name))!;

export function dashboardIndexNames(): string[] {
	return [...DASHBOARD_MIGRATION.sql.matchAll(/CREATE INDEX IF NOT EXISTS (\w+)/g)].map((m) => m[1]);
}

/**
 * Fills a freshly migrated store (through its own pg connection). Returns how long the bulk insert
 * and the dashboard migration's index builds took, in ms.
 */
export async function seedDashboardStore(db: Client, n: { deliveries: number; events: number } = SEED): Promise<{ insertMs: number; migrationMs: number }> {
	const t0 = Date.now();
	for (const name of dashboardIndexNames()) await db.query(`DROP INDEX IF EXISTS ${name}`);
	const D = n.deliveries;
	await db.query(`INSERT INTO eca_campaigns (id, name, definition, created_at)
		SELECT 'big', 'The big launch', '{}'::jsonb, now() - interval '40 days'
		UNION ALL SELECT 'c' || lpad(i::text, 2, '0'), 'Campaign ' || i, '{}'::jsonb, now() - interval '40 days' + i * interval '1 hour' FROM generate_series(1, 24) i`);
	await db.query(`INSERT INTO eca_holds (scope, cause, reason, held_by) VALUES ('campaign:c07', 'manual', 'paused by a user', 'seed'), ('campaign:c13', 'bounce_rate', 'bounce rate over the limit', 'seed')`);
	await db.query(`INSERT INTO eca_runs (run_id, campaign_id, step, status, started_at, finished_at)
		SELECT c.id || '-run-' || s, c.id, s, CASE WHEN s = 3 THEN 'running' ELSE 'finished' END, now() - (40 - s * 10) * interval '1 day', CASE WHEN s = 3 THEN NULL ELSE now() - (40 - s * 10) * interval '1 day' + interval '1 hour' END
		FROM eca_campaigns c, generate_series(1, 3) s`);
	// r decides the status, q what happened after the send (both spread by multiplying g by a prime).
	await db.query(`INSERT INTO eca_deliveries (delivery_id, campaign_id, run_id, step, variant, email, mode, status, error, attempts, claimed_at, sent_at,
			delivered_at, opened_at, open_count, clicked_at, click_count, bounced_at, bounce_type, bounce_reason, dropped_at, unsubscribed_at, spam_reported_at, created_at, updated_at)
		SELECT 'd' || g, c, c || '-run-' || st, st, CASE WHEN g % 2 = 0 THEN 'A' ELSE 'B' END, 'u' || g || '@d' || (g % 100) || '.example', 'live',
			CASE WHEN r < 5 THEN 'failed' WHEN r < 10 THEN 'cancelled' WHEN r < 15 THEN 'retry' WHEN r < 20 THEN 'unconfirmed' ELSE 'sent' END,
			CASE WHEN r < 5 THEN '400 Bad Request: does not contain a valid address' END, 1, t, CASE WHEN r >= 20 THEN t END,
			CASE WHEN r >= 20 AND q >= 30 THEN t + interval '1 minute' END,
			CASE WHEN r >= 20 AND q >= 600 THEN t + interval '2 hours' END, CASE WHEN r >= 20 AND q >= 600 THEN 1 + q % 3 ELSE 0 END,
			CASE WHEN r >= 20 AND q >= 940 THEN t + interval '3 hours' END, CASE WHEN r >= 20 AND q >= 940 THEN 1 ELSE 0 END,
			CASE WHEN r >= 20 AND q < 20 THEN t + interval '2 minutes' END, CASE WHEN r >= 20 AND q < 20 THEN 'bounce' END,
			CASE WHEN r >= 20 AND q < 20 THEN '550 5.1.1 mailbox unavailable' END,
			CASE WHEN r >= 20 AND q >= 20 AND q < 30 THEN t + interval '1 minute' END,
			CASE WHEN r >= 20 AND q >= 995 THEN t + interval '1 day' END, CASE WHEN r >= 20 AND q = 31 THEN t + interval '1 day' END, t, t
		FROM (SELECT g, ${CAMPAIGN_OF('g')} AS c, 1 + (g / 7) % 3 AS st, (g::bigint * 7919) % 1000 AS r, (g::bigint * 104729) % 1000 AS q,
			now() - interval '30 days' + g * (interval '30 days' / ${D}) AS t FROM generate_series(1, ${D}) g) x`);
	// Three events per delivery: delivered, open, then an open (60%), click (30%), bounce (5%) or deferral (5%).
	await db.query(`INSERT INTO eca_events (sg_event_id, event, email, ts, sg_message_id, campaign_id, run_id, step, variant, delivery_id, payload)
		SELECT 'ev' || e, ev, 'u' || g || '@d' || (g % 100) || '.example', now() - interval '30 days' + g * (interval '30 days' / ${D}) + k * interval '20 minutes' + (e % 50) * interval '1 minute',
			'm' || g, ${CAMPAIGN_OF('g')}, ${CAMPAIGN_OF('g')} || '-run-' || (1 + (g / 7) % 3), 1 + (g / 7) % 3, CASE WHEN g % 2 = 0 THEN 'A' ELSE 'B' END, 'd' || g,
			CASE WHEN ev = 'click' THEN jsonb_build_object('url', 'https://shop.example/p/' || (g % 37) || '?utm_source=email')
			     WHEN ev = 'bounce' THEN jsonb_build_object('reason', '550 5.1.1 mailbox unavailable', 'type', 'bounce')
			     ELSE '{}'::jsonb END
		FROM (SELECT e, k, ((e - 1) % ${D}) + 1 AS g,
			CASE WHEN k = 0 THEN 'delivered' WHEN k = 1 THEN 'open' WHEN e % 20 < 12 THEN 'open' WHEN e % 20 < 18 THEN 'click' WHEN e % 20 < 19 THEN 'bounce' ELSE 'deferred' END AS ev
			FROM (SELECT e, (e - 1) / ${D} AS k FROM generate_series(1, ${n.events}) e) a) x`);
	await db.query(`INSERT INTO eca_suppressions (email, scope, reason, source, event_at)
		SELECT email, 'global', 'bounce', 'sendgrid:' || sg_event_id, ts FROM eca_events WHERE event = 'bounce' ON CONFLICT DO NOTHING`);
	await db.query(`INSERT INTO eca_suppressions (email, scope, reason, source, event_at)
		SELECT email, 'global', 'unsubscribe', 'link:' || delivery_id, unsubscribed_at FROM eca_deliveries WHERE unsubscribed_at IS NOT NULL ON CONFLICT DO NOTHING`);
	await db.query(`INSERT INTO eca_enrollments (campaign_id, email, status, next_step, next_send_at)
		SELECT ${CAMPAIGN_OF('g')}, 'u' || g || '@d' || (g % 100) || '.example', CASE WHEN g % 4 = 0 THEN 'completed' ELSE 'active' END,
			CASE WHEN g % 4 = 0 THEN NULL ELSE 2 + g % 2 END, CASE WHEN g % 4 = 0 THEN NULL ELSE now() + (g % 72) * interval '1 hour' END
		FROM generate_series(1, ${Math.round(D / 5)}) g`);
	const t1 = Date.now();
	await db.query(DASHBOARD_MIGRATION.sql);
	const t2 = Date.now();
	// What autovacuum does on a live store: statistics, and the visibility map index-only scans need.
	await db.query('VACUUM ANALYZE eca_deliveries, eca_events, eca_suppressions, eca_enrollments, eca_campaigns, eca_runs, eca_holds');
	return { insertMs: t1 - t0, migrationMs: t2 - t1 };
}

export interface CapturedQuery {
	sql: string;
	params: unknown[];
}

/** Runs fn and returns the statements it sent through the store's driver (test-only: the driver's query is wrapped for the call). */
export async function captureQueries(store: CampaignStore, fn: () => Promise<unknown>): Promise<CapturedQuery[]> {
	const driver = sql(store);
	const original = driver.query;
	const seen: CapturedQuery[] = [];
	driver.query = (async (text: string, params?: unknown[]) => {
		seen.push({ sql: text, params: params ?? [] });
		return original.call(driver, text, params);
	}) as typeof driver.query;
	try {
		await fn();
	} finally {
		driver.query = original;
	}
	return seen;
}

export interface PlanNode {
	'Node Type': string;
	'Relation Name'?: string;
	'Index Name'?: string;
	Plans?: PlanNode[];
	[k: string]: unknown;
}

/** Every node of an EXPLAIN (FORMAT JSON) plan. */
export function planNodes(root: PlanNode): PlanNode[] {
	const out: PlanNode[] = [];
	const walk = (n: PlanNode) => {
		out.push(n);
		for (const c of n.Plans ?? []) walk(c);
	};
	walk(root);
	return out;
}

export async function explain(db: Client, q: CapturedQuery): Promise<PlanNode> {
	const r = await db.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (FORMAT JSON) ${q.sql}`, q.params);
	return r.rows[0]['QUERY PLAN'][0].Plan;
}

export const BIG_TABLES = ['eca_deliveries', 'eca_events'];

/** The sequential scans of the big tables in a plan (the test wants none). */
export function bigSeqScans(plan: PlanNode): string[] {
	return planNodes(plan)
		.filter((n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.includes(n['Relation Name'] ?? ''))
		.map((n) => n['Relation Name'] as string);
}

/**
 * A test file's big store: a database of its own seeded with SEED (registered as that file's beforeAll
 * and afterAll); read `store` and `db` inside the tests.
 */
export function useBigStore(prefix: string): { store: CampaignStore; db: Client } {
	const env = {} as { store: CampaignStore; db: Client };
	let drop: (() => Promise<void>) | undefined;
	beforeAll(async () => {
		const database = await createTestDatabase(prefix);
		drop = database.drop;
		env.store = await getCampaignStore({ postgres: database.connection });
		const { host, port, user, database: name } = database.connection;
		env.db = new PgClient({ host, port, user, database: name });
		await env.db.connect();
		const t = await seedDashboardStore(env.db);
		console.log(`seeded in ${t.insertMs} ms, dashboard indexes built in ${t.migrationMs} ms`);
	});
	afterAll(async () => {
		await env.db?.end().catch(() => undefined);
		await closeAllStores();
		await drop?.();
	});
	return env;
}
