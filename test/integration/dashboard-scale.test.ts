/**
 * The dashboard's page queries on a Postgres store of 1,000,000 deliveries and 3,000,000 events
 * (test/helpers/dashboardSeed.ts, a database of its own): every statement each page sends is
 * EXPLAINed and must not scan eca_deliveries or eca_events sequentially; none uses OFFSET. Times are
 * logged, not asserted (bench:dashboard measures them against baselines).
 */
import type { Client } from 'pg';
import { type CampaignStore, stepCounts } from '../../lib/store';
import { handleDashboard } from '../../lib/dashboard/router';
import { campaignTimeline, deliveriesCsv, deliveriesPage, languageBreakdown, linkClicks, listCampaignOverviews, suppressionsCaused } from '../../lib/store/dashboard';
import { SEED, bigSeqScans, captureQueries, explain, planNodes, useBigStore } from '../helpers/dashboardSeed';

jest.setTimeout(600_000);

describe('dashboard pages on 1,000,000 deliveries and 3,000,000 events (Postgres)', () => {
	const seeded = useBigStore('eca_dash_scale');
	let store: CampaignStore;
	let db: Client;
	let deepCursor: string;

	beforeAll(async () => {
		({ store, db } = seeded);
		const first = await deliveriesPage(store, { campaignId: 'big' });
		const deepId = (await db.query<{ id: string }>(`SELECT d.id::text AS id FROM eca_deliveries d WHERE campaign_id = 'big' AND mode = 'live' ORDER BY d.id DESC OFFSET 300000 LIMIT 1`)).rows[0].id;
		deepCursor = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(first.next!, 'base64url').toString()), id: deepId })).toString('base64url');
	});

	it('holds the seeded size', async () => {
		const n = await db.query<{ d: string; e: string }>(`SELECT (SELECT count(*) FROM eca_deliveries) AS d, (SELECT count(*) FROM eca_events) AS e`);
		expect(Number(n.rows[0].d)).toBe(SEED.deliveries);
		expect(Number(n.rows[0].e)).toBe(SEED.events);
	});

	it('finds a sequential scan where there is one (the check can fail)', async () => {
		const plan = await explain(db, { sql: `SELECT count(*) FROM eca_deliveries WHERE error LIKE $1`, params: ['%valid%'] });
		expect(bigSeqScans(plan)).toContain('eca_deliveries');
		const events = await explain(db, { sql: `SELECT count(*) FROM eca_events WHERE payload->>'url' = $1`, params: ['x'] });
		expect(bigSeqScans(events)).toContain('eca_events');
	});

	/** A dashboard page for a signed-in reader; anything but 200 fails the case. */
	const page200 = async (s: CampaignStore, query: Record<string, string>) => {
		const r = await handleDashboard(s, { jwtPayload: { sub: 'reader' }, query }, { access: { allowedActors: [] } });
		if (r.status !== 200) throw new Error(`page ${JSON.stringify(query)} answered ${r.status}: ${r.body.slice(0, 300)}`);
		return r;
	};
	const pages: Array<[string, (s: CampaignStore) => Promise<unknown>]> = [
		['campaigns overview', (s) => listCampaignOverviews(s)],
		['campaigns overview, search', (s) => listCampaignOverviews(s, { search: 'campaign 1' })],
		['campaigns overview, paused', (s) => listCampaignOverviews(s, { status: 'paused' })],
		["campaign 'big' header (id)", (s) => listCampaignOverviews(s, { id: 'big' })],
		["timeline 'big' hourly (72 h)", (s) => campaignTimeline(s, 'big', { bucket: 'hour' })],
		["timeline 'big' daily (14 days)", (s) => campaignTimeline(s, 'big', { bucket: 'day' })],
		["timeline 'big' hourly, 1,000 buckets", (s) => campaignTimeline(s, 'big', { bucket: 'hour', since: new Date(Date.now() - 2000 * 3_600_000) })],
		["timeline 'c05' daily", (s) => campaignTimeline(s, 'c05', { bucket: 'day' })],
		["link clicks 'big'", (s) => linkClicks(s, 'big')],
		["link clicks 'c05'", (s) => linkClicks(s, 'c05')],
		["suppressions caused 'big'", (s) => suppressionsCaused(s, 'big')],
		["per step, variant and language 'big'", (s) => languageBreakdown(s, 'big')],
		['deliveries, first page', (s) => deliveriesPage(s, {})],
		["deliveries 'big'", (s) => deliveriesPage(s, { campaignId: 'big' })],
		["deliveries 'big', 300,000 rows deep", (s) => deliveriesPage(s, { campaignId: 'big', after: deepCursor })],
		["deliveries 'big', failed", (s) => deliveriesPage(s, { campaignId: 'big', status: 'failed' })],
		["deliveries 'big', step 2", (s) => deliveriesPage(s, { campaignId: 'big', step: 2 })],
		["deliveries 'big', step 3, retry", (s) => deliveriesPage(s, { campaignId: 'big', step: 3, status: 'retry' })],
		['deliveries, cancelled', (s) => deliveriesPage(s, { status: 'cancelled' })],
		['deliveries, step 2', (s) => deliveriesPage(s, { step: 2 })],
		['deliveries, address', (s) => deliveriesPage(s, { email: 'U123457@d57.example' })],
		['deliveries, address prefix', (s) => deliveriesPage(s, { email: 'u12345*' })],
		["deliveries 'c05', address prefix", (s) => deliveriesPage(s, { campaignId: 'c05', email: 'u1*' })],
		// Whole pages as the Campaign Dashboard node answers them: every query each one makes.
		["page: campaigns", (s) => page200(s, {})],
		["page: campaign 'big', daily", (s) => page200(s, { view: 'campaign', id: 'big' })],
		["page: campaign 'big', hourly", (s) => page200(s, { view: 'campaign', id: 'big', bucket: 'hour' })],
		["page: deliveries 'big'", (s) => page200(s, { view: 'deliveries', campaign: 'big' })],
		["page: deliveries of an address", (s) => page200(s, { view: 'deliveries', email: 'u123457@d57.example' })],
		[
			"CSV 'c05' step 2 (about 8,300 rows)",
			async (s) => {
				for await (const chunk of deliveriesCsv(s, { campaignId: 'c05', step: 2 })) void chunk;
			},
		],
	];

	it.each(pages)('%s: no sequential scan of eca_deliveries or eca_events, no OFFSET', async (name, page) => {
		const t = Date.now();
		await page(store);
		const ms = Date.now() - t;
		const captured = await captureQueries(store, () => page(store));
		expect(captured.length).toBeGreaterThan(0);
		const scans: string[] = [];
		for (const q of captured) {
			expect(q.sql).not.toMatch(/\bOFFSET\b/i);
			const plan = await explain(db, q);
			expect({ query: q.sql.slice(0, 200), seqScans: bigSeqScans(plan) }).toEqual({ query: q.sql.slice(0, 200), seqScans: [] });
			for (const n of planNodes(plan)) if (n['Index Name']) scans.push(`${n['Node Type']} ${n['Index Name']}`);
		}
		expect(scans.length).toBeGreaterThan(0);
		console.log(`${name}: ${ms} ms (cold), ${[...new Set(scans)].join('; ')}`);
	});

	it('agrees with the full-table reads on the big store: totals, first opens, keyset walk', async () => {
		const [big] = await listCampaignOverviews(store, { search: 'big' });
		const steps = await stepCounts(store, 'big');
		for (const k of ['sent', 'delivered', 'opened', 'clicked', 'bounced', 'dropped', 'unsubscribed', 'spam', 'failed'] as const)
			expect(big.totals[k]).toBe(steps.reduce((a, s) => a + s[k], 0));
		expect(big.totals.sent).toBeGreaterThan(300_000);
		const expected = await db.query<{ id: string }>(`SELECT d.id::text AS id FROM eca_deliveries d WHERE campaign_id = 'c05' AND step = 2 AND mode = 'live' ORDER BY d.id DESC`);
		let csv = '';
		for await (const chunk of deliveriesCsv(store, { campaignId: 'c05', step: 2 })) csv += chunk;
		const ids = csv.split('\r\n').slice(1, -1).map((l) => l.split(',')[0]);
		expect(ids.length).toBeGreaterThan(5_000);
		expect(ids).toEqual(expected.rows.map((r) => r.id));
	});
});
