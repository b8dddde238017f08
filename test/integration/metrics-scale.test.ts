/**
 * The metrics scrape (issue 24) on the dashboard's big store: 1,000,000 deliveries and 3,000,000
 * events in 25 campaigns (test/helpers/dashboardSeed.ts, a database of its own). Every statement a
 * scrape sends is EXPLAINed: no sequential scan of eca_deliveries or eca_events. Its numbers equal
 * plain GROUP BYs over the whole tables; the time of a warm scrape is logged, not asserted.
 */
import type { Client } from 'pg';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { CampaignStore } from '../../lib/store';
import { campaignMetrics } from '../../lib/observability/metrics';
import { SEED, bigSeqScans, captureQueries, explain, planNodes, useBigStore } from '../helpers/dashboardSeed';

jest.setTimeout(900_000);

describe('metrics on 1,000,000 deliveries and 3,000,000 events (Postgres)', () => {
	const seeded = useBigStore('eca_metrics_scale');
	let store: CampaignStore;
	let db: Client;
	beforeAll(() => ({ store, db } = seeded));

	it('a scrape walks indexes only: no sequential scan of the big tables in any of its statements', async () => {
		const queries = await captureQueries(store, () => campaignMetrics(store));
		expect(queries.length).toBeGreaterThanOrEqual(4);
		const big = queries.filter((q) => /eca_deliveries|eca_events/.test(q.sql));
		expect(big).toHaveLength(2);
		for (const q of queries) {
			const plan = await explain(db, q);
			expect({ query: q.sql.slice(0, 160), seqScans: bigSeqScans(plan) }).toEqual({ query: q.sql.slice(0, 160), seqScans: [] });
		}
		for (const q of big) {
			const indexes = planNodes(await explain(db, q))
				.map((n) => n['Index Name'])
				.filter(Boolean);
			expect(indexes.length).toBeGreaterThan(0);
			console.log(`${q.sql.includes('eca_deliveries') ? 'deliveries' : 'events'}: ${[...new Set(indexes)].join(', ')}`);
		}
	});

	it("the scrape's numbers are the tables' (plain GROUP BYs), and a warm scrape's time is logged", async () => {
		const t0 = Date.now();
		const { text } = await campaignMetrics(store);
		const ms = Date.now() - t0;
		console.log(`warm scrape of ${SEED.deliveries} deliveries and ${SEED.events} events: ${ms} ms, ${text.length} bytes`);
		const parsed = parsePrometheusTextFormat(text);
		const sum = (name: string, key: (l: Record<string, string>) => string) => {
			const out = new Map<string, number>();
			for (const m of parsed.find((f) => f.name === name)?.metrics ?? []) {
				const k = key(m.labels ?? {});
				out.set(k, (out.get(k) ?? 0) + Number(m.value));
			}
			return out;
		};
		const deliveries = await db.query<{ k: string; n: number }>(`SELECT campaign_id || '/' || step || '/' || status AS k, count(*)::int AS n FROM eca_deliveries WHERE mode = 'live' GROUP BY 1`);
		expect(sum('email_campaign_deliveries', (l) => `${l.campaign_id}/${l.step}/${l.status}`)).toEqual(new Map(deliveries.rows.map((r) => [r.k, r.n])));
		const events = await db.query<{ k: string; n: number }>(`SELECT campaign_id || '/' || step || '/' || event AS k, count(*)::int AS n FROM eca_events GROUP BY 1`);
		expect(sum('email_campaign_events_total', (l) => `${l.campaign_id}/${l.step}/${l.event}`)).toEqual(new Map(events.rows.map((r) => [r.k, r.n])));
		expect([...sum('email_campaign_deliveries', () => 'all').values()][0]).toBe(SEED.deliveries);
		expect([...sum('email_campaign_events_total', () => 'all').values()][0]).toBe(SEED.events);
	});
});
