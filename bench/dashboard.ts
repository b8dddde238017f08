/**
 * bench:dashboard — the dashboard's page queries (lib/store/dashboard.ts) on a Postgres store of
 * 1,000,000 deliveries and 3,000,000 events (test/helpers/dashboardSeed.ts), each timed as the median
 * of a few runs, next to baselines measured in the same run on the same data:
 *   - a deep deliveries page by OFFSET (what keyset pagination replaces),
 *   - the campaigns' totals by the full-table GROUP BY of stepCounts (campaignStats' read),
 *   - the timeline as one GROUP BY with count(DISTINCT) per bucket (the obvious query, indexes allowed),
 *   - link clicks and a filtered deliveries page with index scans switched off (sequential scans);
 * and what migration 17's indexes cost the write path: the same updates and inserts with and without
 * them (each in a transaction rolled back; the indexes dropped inside it).
 * Last line: one JSON object.
 */
import { Client } from 'pg';
import { closeAllStores, getCampaignStore, type CampaignStore } from '../lib/store';
import { stepCounts } from '../lib/store/stats';
import { handleDashboard } from '../lib/dashboard/router';
import { campaignTimeline, deliveriesCsv, deliveriesPage, linkClicks, listCampaignOverviews, suppressionsCaused } from '../lib/store/dashboard';
import { createTestDatabase, ensurePostgres } from '../test/helpers/services';
import { SEED, bigSeqScans, captureQueries, dashboardIndexNames, explain, seedDashboardStore, type CapturedQuery } from '../test/helpers/dashboardSeed';
import { report, seconds } from './common';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

async function median(fn: () => Promise<unknown>, runs = RUNS): Promise<number> {
	await fn(); // warm the cache: every figure is a warm one
	const times: number[] = [];
	for (let i = 0; i < runs; i++) {
		const t = process.hrtime.bigint();
		await fn();
		times.push(Number(process.hrtime.bigint() - t) / 1e6);
	}
	times.sort((a, b) => a - b);
	return Math.round(times[Math.floor(times.length / 2)] * 10) / 10;
}

/** The same statement with index scans off: the planner has nothing but sequential scans of the big tables. */
async function withoutIndexes(db: Client, q: CapturedQuery): Promise<void> {
	await db.query('BEGIN');
	try {
		await db.query('SET LOCAL enable_indexscan = off; SET LOCAL enable_indexonlyscan = off; SET LOCAL enable_bitmapscan = off');
		await db.query(q.sql, q.params);
	} finally {
		await db.query('ROLLBACK');
	}
}

/** Writes the dashboard's indexes make dearer, each run in a transaction that is rolled back. */
const WRITES = [
	{ name: 'status change of 25,000 rows (claimed → sent)', sql: `UPDATE eca_deliveries SET status = 'unconfirmed', updated_at = now() WHERE campaign_id = 'c05' AND status = 'sent'` },
	{ name: 'first open of 25,000 rows (opened_at set)', sql: `UPDATE eca_deliveries SET opened_at = now(), open_count = open_count + 1 WHERE campaign_id = 'c06'` },
	{ name: 'repeat open of 25,000 rows (count only)', sql: `UPDATE eca_deliveries SET open_count = open_count + 1 WHERE campaign_id = 'c07'` },
	{
		name: 'insert of 100,000 events',
		sql: `INSERT INTO eca_events (sg_event_id, event, email, ts, campaign_id, step, variant, delivery_id, payload)
			SELECT 'w' || g, 'open', 'u' || g || '@w.example', now(), 'c05', 1, 'A', 'd' || g, '{}' FROM generate_series(1, 100000) g`,
	},
];

async function writeCost(db: Client, sql: string, withIndexes: boolean): Promise<number> {
	await db.query('BEGIN');
	try {
		if (!withIndexes) await db.query(`DROP INDEX ${dashboardIndexNames().join(', ')}`);
		const t = process.hrtime.bigint();
		await db.query(sql);
		return Number(process.hrtime.bigint() - t) / 1e6;
	} finally {
		await db.query('ROLLBACK');
	}
}

async function main(): Promise<void> {
	const started = Date.now();
	await ensurePostgres();
	const database = await createTestDatabase('eca_bench_dash');
	const { host, port, user, database: name } = database.connection;
	const db = new Client({ host, port, user, database: name });
	let store: CampaignStore | undefined;
	try {
		await db.connect();
		store = await getCampaignStore({ postgres: database.connection });
		console.log(`seeding ${SEED.deliveries.toLocaleString('en')} deliveries and ${SEED.events.toLocaleString('en')} events...`);
		const seeded = await seedDashboardStore(db);
		console.log(`  bulk insert ${seconds(seeded.insertMs)} s, dashboard indexes (migration) ${seconds(seeded.migrationMs)} s`);
		const s = store;
		const firstBig = await deliveriesPage(s, { campaignId: 'big', limit: 50 });
		// A cursor 300,000 rows deep into 'big' (the cursor of a page that far down): keyset against OFFSET.
		const deepId = (await db.query<{ id: string }>(`SELECT d.id::text AS id FROM eca_deliveries d WHERE campaign_id = 'big' AND mode = 'live' ORDER BY d.id DESC OFFSET 300000 LIMIT 1`)).rows[0].id;
		const deepCursor = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(firstBig.next!, 'base64url').toString()), id: deepId })).toString('base64url');
		const csvRows = async () => {
			let lines = 0;
			for await (const chunk of deliveriesCsv(s, { campaignId: 'c05', step: 2 })) lines += chunk.split('\r\n').length - 1;
			return lines;
		};
		const page = async (query: Record<string, string>) => {
			const r = await handleDashboard(s, { jwtPayload: { sub: 'bench' }, query }, { access: { allowedActors: [] } });
			if (r.status !== 200) throw new Error(`page ${JSON.stringify(query)} answered ${r.status}`);
		};
		const cases: Array<{ name: string; run: () => Promise<unknown> }> = [
			{ name: 'campaigns overview (25 campaigns)', run: () => listCampaignOverviews(s) },
			{ name: 'campaigns overview, search "c1"', run: () => listCampaignOverviews(s, { search: 'c1' }) },
			{ name: "timeline 'big', hourly, 72 h", run: () => campaignTimeline(s, 'big', { bucket: 'hour' }) },
			{ name: "timeline 'big', daily, 14 days", run: () => campaignTimeline(s, 'big', { bucket: 'day' }) },
			{ name: "timeline 'big', hourly, 1,000 h (30 days)", run: () => campaignTimeline(s, 'big', { bucket: 'hour', since: new Date(Date.now() - 2000 * 3_600_000) }) },
			{ name: "timeline 'c05', daily, 14 days", run: () => campaignTimeline(s, 'c05', { bucket: 'day' }) },
			{ name: "link clicks 'big'", run: () => linkClicks(s, 'big') },
			{ name: "link clicks 'c05'", run: () => linkClicks(s, 'c05') },
			{ name: "suppressions caused 'big'", run: () => suppressionsCaused(s, 'big') },
			{ name: 'deliveries, first page', run: () => deliveriesPage(s, {}) },
			{ name: "deliveries 'big', first page", run: () => deliveriesPage(s, { campaignId: 'big' }) },
			{ name: "deliveries 'big', 300,000 rows deep (keyset)", run: () => deliveriesPage(s, { campaignId: 'big', after: deepCursor }) },
			{ name: "deliveries 'big', status failed", run: () => deliveriesPage(s, { campaignId: 'big', status: 'failed' }) },
			{ name: "deliveries 'big', step 2", run: () => deliveriesPage(s, { campaignId: 'big', step: 2 }) },
			{ name: 'deliveries, status cancelled', run: () => deliveriesPage(s, { status: 'cancelled' }) },
			{ name: 'deliveries, address', run: () => deliveriesPage(s, { email: 'u123457@d57.example' }) },
			{ name: 'deliveries, address prefix u12345*', run: () => deliveriesPage(s, { email: 'u12345*' }) },
			{ name: "CSV export 'c05' step 2 (8,333 rows)", run: csvRows },
			// Whole pages as the Campaign Dashboard node answers them (every query of the page).
			{ name: 'page: campaigns', run: () => page({}) },
			{ name: "page: campaign 'big', daily", run: () => page({ view: 'campaign', id: 'big' }) },
			{ name: "page: campaign 'big', hourly", run: () => page({ view: 'campaign', id: 'big', bucket: 'hour' }) },
			{ name: "page: deliveries 'big'", run: () => page({ view: 'deliveries', campaign: 'big' }) },
		];
		const figures: Record<string, number> = {};
		const plansOk: Record<string, boolean> = {};
		for (const c of cases) {
			const captured = await captureQueries(s, c.run);
			const seq = (await Promise.all(captured.map((q) => explain(db, q)))).flatMap(bigSeqScans);
			plansOk[c.name] = seq.length === 0;
			figures[c.name] = await median(c.run);
			console.log(`  ${c.name.padEnd(48)} ${String(figures[c.name]).padStart(8)} ms${seq.length ? `  (Seq Scan on ${seq.join(', ')})` : ''}`);
		}
		// Baselines, same data, same run.
		const offsetSql = `SELECT d.id::text AS id, email, status FROM eca_deliveries d WHERE mode = 'live' AND campaign_id = 'big' ORDER BY d.id DESC OFFSET 300000 LIMIT 50`;
		const offsetMs = await median(() => db.query(offsetSql));
		const stepCountsMs = await median(() => stepCounts(s, null), 3);
		const oneGroupBy = {
			sql: `SELECT to_char(date_trunc('day', ts, 'UTC') AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS bucket, step, variant,
				count(*) FILTER (WHERE event = 'open') AS opens, count(DISTINCT email) FILTER (WHERE event = 'open') AS unique_opens,
				count(*) FILTER (WHERE event = 'click') AS clicks, count(DISTINCT email) FILTER (WHERE event = 'click') AS unique_clicks,
				count(*) FILTER (WHERE event = 'delivered') AS delivered, count(*) FILTER (WHERE event = 'bounce') AS bounces
			 FROM eca_events WHERE campaign_id = $1 AND event IN ('open', 'click', 'delivered', 'bounce') AND ts >= now() - interval '14 days' AND ts < now()
			 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
			params: ['big'],
		};
		const [clicksQ] = await captureQueries(s, () => linkClicks(s, 'c05'));
		const [pageQ] = await captureQueries(s, () => deliveriesPage(s, { campaignId: 'big', status: 'failed' }));
		const groupByTimelineMs = await median(() => db.query(oneGroupBy.sql, oneGroupBy.params), 3);
		const seqClicksMs = await median(() => withoutIndexes(db, clicksQ), 3);
		const seqPageMs = await median(() => withoutIndexes(db, pageQ), 3);
		const ratio = (a: number, b: number) => Math.round((a / b) * 10) / 10;
		const keysetDeep = figures["deliveries 'big', 300,000 rows deep (keyset)"];
		const overview = figures['campaigns overview (25 campaigns)'];
		console.log('baselines (same run, same data):');
		console.log(`  deep page by OFFSET 300000: ${offsetMs} ms — keyset ${keysetDeep} ms, ratio ${ratio(offsetMs, keysetDeep)}`);
		console.log(`  totals by stepCounts' full GROUP BY: ${stepCountsMs} ms — overview ${overview} ms, ratio ${ratio(stepCountsMs, overview)}`);
		console.log(`  timeline 'big' daily as one GROUP BY with count(DISTINCT): ${groupByTimelineMs} ms — ratio ${ratio(groupByTimelineMs, figures["timeline 'big', daily, 14 days"])}`);
		console.log(`  link clicks 'c05' with sequential scans: ${seqClicksMs} ms — ratio ${ratio(seqClicksMs, figures["link clicks 'c05'"])}`);
		console.log(`  deliveries 'big' failed with sequential scans: ${seqPageMs} ms — ratio ${ratio(seqPageMs, figures["deliveries 'big', status failed"])}`);
		console.log('write path, with / without migration 17 indexes (median of 3, rolled back):');
		const writes: Record<string, { with_ms: number; without_ms: number; ratio: number }> = {};
		for (const w of WRITES) {
			const a: number[] = [];
			const b: number[] = [];
			for (let i = 0; i < 3; i++) {
				a.push(await writeCost(db, w.sql, true));
				b.push(await writeCost(db, w.sql, false));
			}
			const mid = (x: number[]) => Math.round(x.sort((p, q) => p - q)[1]);
			writes[w.name] = { with_ms: mid(a), without_ms: mid(b), ratio: ratio(mid(a), mid(b)) };
			console.log(`  ${w.name.padEnd(48)} ${String(mid(a)).padStart(6)} ms / ${String(mid(b)).padStart(6)} ms, ratio ${writes[w.name].ratio}`);
		}
		const slowest = Math.max(...Object.values(figures));
		console.log(`slowest page query ${slowest} ms; sequential scans of the big tables in page plans: ${Object.values(plansOk).filter((x) => !x).length}`);
		report({
			bench: 'dashboard',
			deliveries: SEED.deliveries,
			events: SEED.events,
			campaigns: SEED.campaigns,
			seed_seconds: seconds(seeded.insertMs),
			index_migration_seconds: seconds(seeded.migrationMs),
			median_ms: figures,
			slowest_page_ms: slowest,
			plans_without_seq_scan: Object.values(plansOk).every(Boolean),
			baseline_offset_deep_page_ms: offsetMs,
			offset_vs_keyset_ratio: ratio(offsetMs, keysetDeep),
			baseline_stepcounts_group_by_ms: stepCountsMs,
			stepcounts_vs_overview_ratio: ratio(stepCountsMs, overview),
			baseline_group_by_timeline_ms: groupByTimelineMs,
			baseline_seq_link_clicks_ms: seqClicksMs,
			baseline_seq_deliveries_page_ms: seqPageMs,
			write_path: writes,
			seconds: (Date.now() - started) / 1000,
		});
	} finally {
		await db.end().catch(() => undefined);
		await closeAllStores();
		await database.drop();
	}
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
