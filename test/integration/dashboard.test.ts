/** The dashboard's reads (lib/store/dashboard.ts) on small data, against Postgres and embedded PGlite. */
import { CampaignStore, getCampaignStore, closeAllStores, stepCounts } from '../../lib/store';
import { campaignTimeline, csvCell, deliveriesCsv, deliveriesPage, linkClicks, listCampaignOverviews, suppressionsCaused, type DeliveryRow } from '../../lib/store/dashboard';
import { CampaignError } from '../../lib/errors';
import { createTestDatabase } from '../helpers/services';
import { sql } from '../helpers/sql';

jest.setTimeout(60_000);

type Backend = { name: string; open: () => Promise<{ store: CampaignStore; cleanup: () => Promise<void> }> };

const backends: Backend[] = [
	{
		name: 'postgres',
		open: async () => {
			const db = await createTestDatabase('eca_dash');
			const store = await getCampaignStore({ postgres: db.connection });
			return { store, cleanup: async () => (await closeAllStores(), await db.drop()) };
		},
	},
	{
		name: 'pglite',
		open: async () => {
			const store = await getCampaignStore({ inMemory: true });
			return { store, cleanup: () => closeAllStores() };
		},
	},
];

interface Seed {
	campaign: string;
	email: string;
	step?: number;
	variant?: string;
	status?: string;
	mode?: string;
	error?: string | null;
	delivered?: string | null;
	opened?: string | null;
	clicked?: string | null;
	bounced?: string | null;
	dropped?: string | null;
	unsubscribed?: string | null;
	spam?: string | null;
}

let seq = 0;
async function addDeliveries(store: CampaignStore, rows: Seed[]): Promise<void> {
	for (const r of rows) {
		seq++;
		await sql(store).query(
			`INSERT INTO eca_deliveries (delivery_id, campaign_id, run_id, step, variant, email, mode, status, error, sent_at,
				delivered_at, opened_at, open_count, clicked_at, click_count, bounced_at, bounce_reason, dropped_at, unsubscribed_at, spam_reported_at)
			 VALUES ($1, $2, 'run-' || $2, $3, $4, $5, $6, $7, $8, '2026-01-01T00:00:00Z',
				$9, $10, CASE WHEN $10::timestamptz IS NULL THEN 0 ELSE 2 END, $11, CASE WHEN $11::timestamptz IS NULL THEN 0 ELSE 1 END, $12,
				CASE WHEN $12::timestamptz IS NULL THEN NULL ELSE 'mailbox full' END, $13, $14, $15)`,
			[
				`d${seq}`,
				r.campaign,
				r.step ?? 1,
				r.variant ?? 'A',
				r.email,
				r.mode ?? 'live',
				r.status ?? 'sent',
				r.error ?? null,
				r.delivered ?? null,
				r.opened ?? null,
				r.clicked ?? null,
				r.bounced ?? null,
				r.dropped ?? null,
				r.unsubscribed ?? null,
				r.spam ?? null,
			],
		);
	}
}

let ev = 0;
async function addEvent(store: CampaignStore, e: { campaign: string; event: string; ts: string; email: string; step?: number; variant?: string; url?: string; id?: string }): Promise<string> {
	const id = e.id ?? `ev${++ev}`;
	await sql(store).query(
		`INSERT INTO eca_events (sg_event_id, event, email, ts, campaign_id, step, variant, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		[id, e.event, e.email, e.ts, e.campaign, e.step ?? 1, e.variant ?? 'A', JSON.stringify(e.url ? { url: e.url } : {})],
	);
	return id;
}

const T = '2026-03-10T';
const SECRET = 'SG.abcdefghijklmnopqrstuv.wxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabc';

describe.each(backends)('dashboard reads on $name', ({ open }) => {
	let store: CampaignStore;
	let cleanup: () => Promise<void>;
	beforeAll(async () => {
		({ store, cleanup } = await open());
		const q = sql(store);
		await q.query(`INSERT INTO eca_campaigns (id, name, definition, created_at) VALUES
			('c-alpha', 'Alpha Launch', '{}', '2026-03-01T00:00:00Z'), ('c-beta', 'Beta', '{}', '2026-03-02T00:00:00Z'), ('c-gamma', NULL, '{}', '2026-03-03T00:00:00Z')`);
		await q.query(`INSERT INTO eca_holds (scope, cause, reason, held_by) VALUES ('campaign:c-gamma', 'manual', 'paused by a user', 'test')`);
		await q.query(`INSERT INTO eca_runs (run_id, campaign_id, step, status, started_at, finished_at) VALUES
			('r-old', 'c-alpha', 1, 'finished', '2026-03-05T00:00:00Z', '2026-03-05T00:10:00Z'),
			('r-new', 'c-alpha', 2, 'failed', '2026-03-06T00:00:00Z', NULL)`);
		await q.query(`INSERT INTO eca_enrollments (campaign_id, email, status, next_step, next_send_at) VALUES
			('c-alpha', 'e1@x.io', 'active', 2, '2026-04-01T09:00:00Z'), ('c-alpha', 'e2@x.io', 'active', 2, '2026-04-02T09:00:00Z'),
			('c-alpha', 'e3@x.io', 'active', 3, '2026-04-03T09:00:00Z'), ('c-alpha', 'e4@x.io', 'completed', NULL, NULL)`);
		await addDeliveries(store, [
			{ campaign: 'c-alpha', email: 'ann@x.io', delivered: `${T}10:05:00Z`, opened: `${T}10:20:00Z`, clicked: `${T}10:21:00Z` },
			{ campaign: 'c-alpha', email: 'anna@x.io', delivered: `${T}10:06:00Z`, opened: `${T}11:00:00Z`, clicked: `${T}11:30:00Z`, unsubscribed: `${T}11:05:00Z` },
			{ campaign: 'c-alpha', email: 'bob@x.io', variant: 'B', delivered: `${T}10:07:00Z`, opened: '2026-03-11T09:00:00Z' },
			{ campaign: 'c-alpha', email: 'carl@x.io', variant: 'B', bounced: `${T}10:08:00Z` },
			{ campaign: 'c-alpha', email: 'dan@x.io', dropped: `${T}10:09:00Z` },
			{ campaign: 'c-alpha', email: 'eve@x.io', status: 'failed', error: `400 from SendGrid, key ${SECRET}` },
			{ campaign: 'c-alpha', email: 'fay@x.io', status: 'cancelled' },
			{ campaign: 'c-alpha', email: 'gus@x.io', step: 2, delivered: `${T}12:00:00Z`, spam: `${T}13:00:00Z` },
			{ campaign: 'c-alpha', email: 'ann@x.io', step: 2, status: 'claimed' },
			// A rehearsal row never counts nor shows.
			{ campaign: 'c-alpha', email: 'zed@x.io', mode: 'dry_run', delivered: `${T}10:05:00Z` },
			{ campaign: 'c-beta', email: 'ann@x.io', delivered: `${T}10:05:00Z` },
		]);
		// Events of alpha: opens and clicks over two hours and two days, a delivered and a bounce; one of beta.
		await addEvent(store, { campaign: 'c-alpha', event: 'delivered', ts: `${T}10:05:00Z`, email: 'ann@x.io' });
		await addEvent(store, { campaign: 'c-alpha', event: 'open', ts: `${T}10:20:00Z`, email: 'ann@x.io' });
		await addEvent(store, { campaign: 'c-alpha', event: 'open', ts: `${T}10:50:00Z`, email: 'ann@x.io' });
		await addEvent(store, { campaign: 'c-alpha', event: 'open', ts: `${T}11:00:00Z`, email: 'anna@x.io' });
		await addEvent(store, { campaign: 'c-alpha', event: 'click', ts: `${T}10:21:00Z`, email: 'ann@x.io', url: 'https://a.example/pricing' });
		await addEvent(store, { campaign: 'c-alpha', event: 'click', ts: `${T}10:22:00Z`, email: 'ann@x.io', url: 'https://a.example/pricing' });
		await addEvent(store, { campaign: 'c-alpha', event: 'click', ts: `${T}11:30:00Z`, email: 'anna@x.io', url: 'https://a.example/pricing' });
		await addEvent(store, { campaign: 'c-alpha', event: 'click', ts: `${T}11:31:00Z`, email: 'anna@x.io', url: 'https://a.example/docs' });
		await addEvent(store, { campaign: 'c-alpha', event: 'open', ts: '2026-03-11T09:00:00Z', email: 'bob@x.io', variant: 'B' });
		const bounce = await addEvent(store, { campaign: 'c-alpha', event: 'bounce', ts: `${T}10:08:00Z`, email: 'carl@x.io', variant: 'B' });
		const spam = await addEvent(store, { campaign: 'c-alpha', event: 'spamreport', ts: `${T}13:00:00Z`, email: 'gus@x.io', step: 2 });
		const betaBounce = await addEvent(store, { campaign: 'c-beta', event: 'bounce', ts: `${T}10:08:00Z`, email: 'x@x.io' });
		await addEvent(store, { campaign: 'c-beta', event: 'click', ts: `${T}10:21:00Z`, email: 'ann@x.io', url: 'https://b.example/' });
		const annaDelivery = (await q.query<{ delivery_id: string }>(`SELECT delivery_id FROM eca_deliveries WHERE email = 'anna@x.io'`)).rows[0].delivery_id;
		const betaDelivery = (await q.query<{ delivery_id: string }>(`SELECT delivery_id FROM eca_deliveries WHERE campaign_id = 'c-beta'`)).rows[0].delivery_id;
		await q.query(`INSERT INTO eca_suppressions (email, scope, reason, source) VALUES
			('carl@x.io', 'global', 'bounce', 'sendgrid:' || $1::text), ('gus@x.io', 'global', 'spamreport', 'sendgrid:' || $2::text),
			('anna@x.io', 'global', 'unsubscribe', 'link:' || $3::text), ('x@x.io', 'global', 'bounce', 'sendgrid:' || $4::text),
			('y@x.io', 'global', 'unsubscribe', 'link:' || $5::text), ('z@x.io', 'global', 'manual', NULL)`, [bounce, spam, annaDelivery, betaBounce, betaDelivery]);
	});
	afterAll(() => cleanup());

	it('lists campaigns with totals and rates that agree with stepCounts (campaignStats), last run, next step, enrollments', async () => {
		const all = await listCampaignOverviews(store);
		expect(all.map((c) => c.id)).toEqual(['c-gamma', 'c-beta', 'c-alpha']);
		const alpha = all.find((c) => c.id === 'c-alpha')!;
		expect(alpha.totals).toEqual({ sent: 6, delivered: 4, opened: 3, clicked: 2, bounced: 1, dropped: 1, unsubscribed: 1, spam: 1, failed: 1, cancelled: 1 });
		// Rates as campaignStats: delivered/sent, opens/clicks/unsubscribes over delivered, bounces over sent.
		expect(alpha.rates).toEqual({ delivered: 0.6667, open: 0.75, click: 0.5, bounce: 0.1667, unsubscribe: 0.25, drop: 0.1667 });
		const steps = await stepCounts(store, 'c-alpha');
		const sum = (k: 'sent' | 'delivered' | 'opened' | 'clicked' | 'bounced' | 'dropped' | 'unsubscribed' | 'spam' | 'failed') => steps.reduce((a, s) => a + s[k], 0);
		for (const k of ['sent', 'delivered', 'opened', 'clicked', 'bounced', 'dropped', 'unsubscribed', 'spam', 'failed'] as const) expect(alpha.totals[k]).toBe(sum(k));
		expect(alpha.status).toBe('active');
		expect(alpha.name).toBe('Alpha Launch');
		expect(alpha.created_at).toBe('2026-03-01T00:00:00.000Z');
		expect(alpha.last_run).toMatchObject({ run_id: 'r-new', status: 'failed', started_at: '2026-03-06T00:00:00.000Z', finished_at: null });
		expect(alpha.next_step).toEqual({ step: 2, at: '2026-04-01T09:00:00.000Z', contacts: 2 });
		expect(alpha.enrolled_active).toBe(3);
		expect(alpha.enrolled_total).toBe(4);
		const gamma = all.find((c) => c.id === 'c-gamma')!;
		expect(gamma).toMatchObject({ status: 'paused', last_run: null, next_step: null, enrolled_active: 0 });
		expect(gamma.totals.sent).toBe(0);
		expect(gamma.rates.open).toBe(0);
		expect(all.find((c) => c.id === 'c-beta')!.totals).toMatchObject({ sent: 1, delivered: 1 });
	});

	it('filters campaigns by search (id or name, any case), status, and limit', async () => {
		const ids = async (f: Parameters<typeof listCampaignOverviews>[1]) => (await listCampaignOverviews(store, f)).map((c) => c.id);
		expect(await ids({ search: 'LAUNCH' })).toEqual(['c-alpha']);
		expect(await ids({ search: 'c-BE' })).toEqual(['c-beta']);
		expect(await ids({ search: '%' })).toEqual([]);
		expect(await ids({ status: 'paused' })).toEqual(['c-gamma']);
		expect(await ids({ status: 'active' })).toEqual(['c-beta', 'c-alpha']);
		expect(await ids({ limit: 1 })).toEqual(['c-gamma']);
		expect(await ids({ id: 'c-alpha' })).toEqual(['c-alpha']);
		expect(await ids({ id: 'c-alph' })).toEqual([]);
		expect(await ids({ id: 'c-alpha', status: 'paused' })).toEqual([]);
		expect(await ids({ limit: 10_000 })).toHaveLength(3);
		await expect(listCampaignOverviews(store, { status: 'stopped' as 'active' })).rejects.toMatchObject({ field: 'status' });
		await expect(listCampaignOverviews(store, { limit: 0 })).rejects.toMatchObject({ field: 'limit' });
	});

	it('buckets opens, clicks, deliveries and bounces per hour and day (UTC), per step and variant; unique = first open / click in the bucket', async () => {
		const hours = await campaignTimeline(store, 'c-alpha', { bucket: 'hour', since: new Date(`${T}00:00:00Z`), until: new Date('2026-03-12T00:00:00Z') });
		expect(hours).toEqual([
			{ bucket: `${T}10:00:00.000Z`, step: 1, variant: 'A', opens: 2, unique_opens: 1, clicks: 2, unique_clicks: 1, delivered: 1, bounces: 0 },
			{ bucket: `${T}10:00:00.000Z`, step: 1, variant: 'B', opens: 0, unique_opens: 0, clicks: 0, unique_clicks: 0, delivered: 0, bounces: 1 },
			{ bucket: `${T}11:00:00.000Z`, step: 1, variant: 'A', opens: 1, unique_opens: 1, clicks: 2, unique_clicks: 1, delivered: 0, bounces: 0 },
			{ bucket: '2026-03-11T09:00:00.000Z', step: 1, variant: 'B', opens: 1, unique_opens: 1, clicks: 0, unique_clicks: 0, delivered: 0, bounces: 0 },
		]);
		const days = await campaignTimeline(store, 'c-alpha', { bucket: 'day', since: new Date('2026-03-01T00:00:00Z'), until: new Date('2026-03-20T00:00:00Z') });
		expect(days).toEqual([
			{ bucket: `${T}00:00:00.000Z`, step: 1, variant: 'A', opens: 3, unique_opens: 2, clicks: 4, unique_clicks: 2, delivered: 1, bounces: 0 },
			{ bucket: `${T}00:00:00.000Z`, step: 1, variant: 'B', opens: 0, unique_opens: 0, clicks: 0, unique_clicks: 0, delivered: 0, bounces: 1 },
			{ bucket: '2026-03-11T00:00:00.000Z', step: 1, variant: 'B', opens: 1, unique_opens: 1, clicks: 0, unique_clicks: 0, delivered: 0, bounces: 0 },
		]);
		// First opens and clicks add up over the buckets to the campaign's opened and clicked totals.
		const alpha = (await listCampaignOverviews(store, { search: 'c-alpha' }))[0];
		expect(days.reduce((n, p) => n + p.unique_opens, 0)).toBe(alpha.totals.opened);
		expect(days.reduce((n, p) => n + p.unique_clicks, 0)).toBe(alpha.totals.clicked);
		// The window is [since, until): until at 11:00 leaves the 11:00 hour out.
		const upTo11 = await campaignTimeline(store, 'c-alpha', { bucket: 'hour', since: new Date(`${T}10:00:00Z`), until: new Date(`${T}11:00:00Z`) });
		expect(upTo11.map((p) => p.bucket)).toEqual([`${T}10:00:00.000Z`, `${T}10:00:00.000Z`]);
		// At most 1,000 buckets: a window from 2020 keeps its last 1,000 hours, which end before March 11 09:00's... plus it.
		const capped = await campaignTimeline(store, 'c-alpha', { bucket: 'hour', since: new Date('2020-01-01T00:00:00Z'), until: new Date('2026-03-11T10:00:00Z') });
		expect(capped.map((p) => p.bucket)).toContain('2026-03-11T09:00:00.000Z');
		const far = await campaignTimeline(store, 'c-alpha', { bucket: 'hour', since: new Date('2020-01-01T00:00:00Z'), until: new Date('2026-05-01T00:00:00Z') });
		// 1,000 hours before May 1 start on March 20: March 10 and 11 are outside the capped window.
		expect(far).toEqual([]);
		// The default window ends now: the last 72 hours (hour) or 14 days (day); the March events are outside it.
		await addEvent(store, { campaign: 'c-now', event: 'open', ts: new Date(Date.now() - 3_600_000).toISOString(), email: 'now@x.io' });
		await addEvent(store, { campaign: 'c-now', event: 'open', ts: new Date(Date.now() - 80 * 3_600_000).toISOString(), email: 'then@x.io' });
		await addEvent(store, { campaign: 'c-now', event: 'open', ts: new Date(Date.now() - 15 * 86_400_000).toISOString(), email: 'long-ago@x.io' });
		const sumOpens = (p: Array<{ opens: number }>) => p.reduce((a, x) => a + x.opens, 0);
		expect(sumOpens(await campaignTimeline(store, 'c-now', { bucket: 'hour' }))).toBe(1);
		expect(sumOpens(await campaignTimeline(store, 'c-now', { bucket: 'day' }))).toBe(2);
		expect(await campaignTimeline(store, 'c-alpha', { bucket: 'day' })).toEqual([]);
		await expect(campaignTimeline(store, 'c-alpha', { bucket: 'week' as 'day' })).rejects.toMatchObject({ field: 'bucket' });
		await expect(campaignTimeline(store, 'c-alpha', { bucket: 'day', since: new Date('nope') })).rejects.toMatchObject({ field: 'since' });
		await expect(campaignTimeline(store, 'c-alpha', { bucket: 'day', since: new Date('2026-03-02'), until: new Date('2026-03-01') })).rejects.toMatchObject({ field: 'since' });
	});

	it('counts clicks per link with unique clickers, most clicked first, only the campaign asked', async () => {
		expect(await linkClicks(store, 'c-alpha')).toEqual([
			{ url: 'https://a.example/pricing', clicks: 3, unique_clickers: 2 },
			{ url: 'https://a.example/docs', clicks: 1, unique_clickers: 1 },
		]);
		expect(await linkClicks(store, 'c-alpha', 1)).toHaveLength(1);
		expect(await linkClicks(store, 'c-beta')).toEqual([{ url: 'https://b.example/', clicks: 1, unique_clickers: 1 }]);
		expect(await linkClicks(store, 'c-none')).toEqual([]);
	});

	it('counts the suppressions a campaign caused (its events and its unsubscribe links), not others', async () => {
		expect(await suppressionsCaused(store, 'c-alpha')).toEqual([
			{ reason: 'bounce', n: 1 },
			{ reason: 'spamreport', n: 1 },
			{ reason: 'unsubscribe', n: 1 },
		]);
		expect(await suppressionsCaused(store, 'c-beta')).toEqual([
			{ reason: 'bounce', n: 1 },
			{ reason: 'unsubscribe', n: 1 },
		]);
		expect(await suppressionsCaused(store, 'c-gamma')).toEqual([]);
	});

	async function walk(q: Parameters<typeof deliveriesPage>[1], between?: () => Promise<void>): Promise<DeliveryRow[]> {
		const out: DeliveryRow[] = [];
		let after: string | undefined;
		for (let i = 0; i < 100; i++) {
			const page = await deliveriesPage(store, { ...q, after });
			expect(page.rows.length).toBeLessThanOrEqual(q.limit ?? 50);
			out.push(...page.rows);
			if (!page.next) return out;
			after = page.next;
			await between?.();
		}
		throw new Error('no last page');
	}

	it('pages every live delivery once, newest first, by keyset; rows inserted meanwhile shift nothing', async () => {
		const live = (await sql(store).query<{ id: string }>(`SELECT d.id::text AS id FROM eca_deliveries d WHERE mode = 'live' ORDER BY d.id DESC`)).rows.map((r) => r.id);
		const rows = await walk({ limit: 3 });
		expect(rows.map((r) => r.id)).toEqual(live);
		const first = await deliveriesPage(store, { limit: 100 });
		expect(first.next).toBeNull();
		expect(first.rows).toHaveLength(live.length);
		// Concurrent inserts between pages (newer ids): the walk still returns each row that existed once, and no new row.
		let n = 0;
		const during = await walk({ campaignId: 'c-alpha', limit: 2 }, async () => addDeliveries(store, [{ campaign: 'c-alpha', email: `new${++n}@x.io`, step: 3 }]));
		const ids = during.map((r) => r.id);
		expect(new Set(ids).size).toBe(ids.length);
		expect(during.map((r) => r.email)).not.toContain('new1@x.io');
		expect(during).toHaveLength(9);
		await sql(store).query(`DELETE FROM eca_deliveries WHERE email LIKE 'new%'`);
		// Rows as shown: ISO times, errors redacted.
		const eve = rows.find((r) => r.email === 'eve@x.io')!;
		expect(eve.error).toContain('400 from SendGrid');
		expect(eve.error).not.toContain(SECRET);
		const ann = rows.find((r) => r.email === 'ann@x.io' && r.step === 1 && r.campaign_id === 'c-alpha')!;
		expect(ann).toMatchObject({ campaign_id: 'c-alpha', variant: 'A', status: 'sent', attempts: 0, delivered_at: `${T}10:05:00.000Z`, clicked_at: `${T}10:21:00.000Z`, bounced_at: null });
		expect(typeof ann.id).toBe('string');
		expect(ann.updated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
		expect(rows.map((r) => r.email)).not.toContain('zed@x.io');
	});

	it('filters deliveries by campaign, status, step and address (exact or prefix*), across pages', async () => {
		const emails = async (q: Parameters<typeof deliveriesPage>[1]) => (await walk({ limit: 2, ...q })).map((r) => `${r.campaign_id}/${r.step}/${r.email}`);
		expect(await emails({ campaignId: 'c-beta' })).toEqual(['c-beta/1/ann@x.io']);
		expect(await emails({ campaignId: 'c-alpha', status: 'failed' })).toEqual(['c-alpha/1/eve@x.io']);
		expect(await emails({ status: 'cancelled' })).toEqual(['c-alpha/1/fay@x.io']);
		expect(await emails({ campaignId: 'c-alpha', step: 2 })).toEqual(['c-alpha/2/ann@x.io', 'c-alpha/2/gus@x.io']);
		expect(await emails({ step: 2, status: 'claimed' })).toEqual(['c-alpha/2/ann@x.io']);
		expect(await emails({ email: 'ANN@x.io' })).toEqual(['c-beta/1/ann@x.io', 'c-alpha/2/ann@x.io', 'c-alpha/1/ann@x.io']);
		// A prefix walks by address, then id.
		expect(await emails({ email: 'an*' })).toEqual(['c-alpha/1/ann@x.io', 'c-alpha/2/ann@x.io', 'c-beta/1/ann@x.io', 'c-alpha/1/anna@x.io']);
		expect(await emails({ email: 'an*', campaignId: 'c-alpha', step: 1 })).toEqual(['c-alpha/1/ann@x.io', 'c-alpha/1/anna@x.io']);
		expect(await emails({ email: 'zz*' })).toEqual([]);
		expect(await emails({ campaignId: 'c-none' })).toEqual([]);
	});

	it('refuses unknown states, bad steps and limits, and any cursor it did not make for these filters (field after)', async () => {
		await expect(deliveriesPage(store, { status: 'opened' })).rejects.toMatchObject({ field: 'status' });
		await expect(deliveriesPage(store, { status: "sent' OR 1=1 --" })).rejects.toMatchObject({ field: 'status' });
		for (const step of [0, -1, 1.5, Number.NaN]) await expect(deliveriesPage(store, { step })).rejects.toMatchObject({ field: 'step' });
		await expect(deliveriesPage(store, { limit: 0 })).rejects.toMatchObject({ field: 'limit' });
		await expect(deliveriesPage(store, { email: '*' })).rejects.toMatchObject({ field: 'email' });
		await expect(deliveriesPage(store, { email: 'a*b*' })).rejects.toMatchObject({ field: 'email' });
		expect((await deliveriesPage(store, { limit: 10_000 })).rows.length).toBeGreaterThan(0);
		const page = await deliveriesPage(store, { campaignId: 'c-alpha', limit: 2 });
		const good = page.next!;
		const decoded = JSON.parse(Buffer.from(good, 'base64url').toString('utf8'));
		const enc = (x: unknown) => Buffer.from(JSON.stringify(x)).toString('base64url');
		const bad = [
			'not a cursor!',
			'%%%',
			good.slice(0, -3),
			enc([1, 2]),
			enc(null),
			enc({ ...decoded, id: '1; DROP TABLE eca_deliveries' }),
			enc({ ...decoded, id: 12 }),
			enc({ ...decoded, id: '99999999999999999999' }),
			enc({ ...decoded, o: 'email' }),
			enc({ ...decoded, f: 'x' }),
			Buffer.from('{"id":').toString('base64url'),
		];
		for (const after of bad) {
			const e = await deliveriesPage(store, { campaignId: 'c-alpha', after, limit: 2 }).catch((x) => x);
			expect(e).toBeInstanceOf(CampaignError);
			expect(e.field).toBe('after');
		}
		// A good cursor under other filters is refused too.
		await expect(deliveriesPage(store, { campaignId: 'c-beta', after: good })).rejects.toMatchObject({ field: 'after' });
		await expect(deliveriesPage(store, { campaignId: 'c-alpha', status: 'sent', after: good })).rejects.toMatchObject({ field: 'after' });
		// A cursor with a smaller id (made by us, the same filters) is simply a later page.
		expect((await deliveriesPage(store, { campaignId: 'c-alpha', after: enc({ ...decoded, id: '1' }) })).rows).toEqual([]);
	});

	it('exports CSV: header, CRLF lines, formula cells escaped with a quote, RFC 4180 quoting, every page', async () => {
		await addDeliveries(store, [
			{ campaign: 'c-csv', email: '=cmd@x.io', error: '=HYPERLINK("http://evil","x")' },
			{ campaign: 'c-csv', email: '+1@x.io', error: '+SUM(1,2)' },
			{ campaign: 'c-csv', email: '-2@x.io', error: '-2+3' },
			{ campaign: 'c-csv', email: '@me@x.io', error: '@SUM(A1)' },
			{ campaign: 'c-csv', email: 'tab@x.io', error: '\tx' },
			{ campaign: 'c-csv', email: 'nl@x.io', error: 'line1\r\nline2, "quoted"' },
		]);
		await sql(store).query(
			`INSERT INTO eca_deliveries (delivery_id, campaign_id, run_id, step, variant, email, status) SELECT 'bulk' || g, 'c-bulk', 'r', 1, 'A', 'bulk' || g || '@x.io', 'sent' FROM generate_series(1, 1100) g`,
		);
		let text = '';
		for await (const chunk of deliveriesCsv(store, { campaignId: 'c-csv' })) text += chunk;
		const lines = text.split('\r\n');
		expect(lines[0]).toBe('id,email,campaign_id,step,variant,status,error,attempts,sent_at,delivered_at,opened_at,clicked_at,bounced_at,bounce_reason,updated_at');
		expect(lines[lines.length - 1]).toBe('');
		const body = text.slice(lines[0].length + 2);
		expect(body).toContain(`,'=cmd@x.io,c-csv,`);
		expect(body).toContain(`,"'=HYPERLINK(""http://evil"",""x"")",`);
		expect(body).toContain(`,'+1@x.io,c-csv,1,A,sent,"'+SUM(1,2)",`);
		expect(body).toContain(`,'-2@x.io,c-csv,1,A,sent,'-2+3,`);
		expect(body).toContain(`,'@me@x.io,c-csv,1,A,sent,'@SUM(A1),`);
		expect(body).toContain(`,tab@x.io,c-csv,1,A,sent,'\tx,`);
		expect(body).toContain(`,"line1\r\nline2, ""quoted""",`);
		// Newest first, one line per row (the quoted CRLF aside).
		expect(body.split('\r\n').filter((l) => /^\d+,/.test(l))).toHaveLength(6);
		// Streaming by pages of 500: 1,100 rows come in 3 row chunks after the header.
		const chunks: string[] = [];
		for await (const chunk of deliveriesCsv(store, { campaignId: 'c-bulk' })) chunks.push(chunk);
		expect(chunks).toHaveLength(4);
		const bulk = chunks.join('').split('\r\n').slice(1, -1);
		expect(bulk).toHaveLength(1100);
		expect(new Set(bulk.map((l) => l.split(',')[1])).size).toBe(1100);
		// A bad query is refused before anything is written.
		const it = deliveriesCsv(store, { status: 'nope' })[Symbol.asyncIterator]();
		await expect(it.next()).rejects.toMatchObject({ field: 'status' });
	});
});

describe('csvCell', () => {
	it('escapes formula starters and quotes per RFC 4180', () => {
		expect(csvCell('=1+1')).toBe("'=1+1");
		expect(csvCell('+1')).toBe("'+1");
		expect(csvCell('-1')).toBe("'-1");
		expect(csvCell('@x')).toBe("'@x");
		expect(csvCell('\t=x')).toBe("'\t=x");
		expect(csvCell('\r=x')).toBe(`"'\r=x"`);
		expect(csvCell('a,b')).toBe('"a,b"');
		expect(csvCell('say "hi"')).toBe('"say ""hi"""');
		expect(csvCell('=a,"b"')).toBe(`"'=a,""b"""`);
		expect(csvCell('a\nb')).toBe('"a\nb"');
		expect(csvCell(null)).toBe('');
		expect(csvCell(3)).toBe('3');
		expect(csvCell('plain')).toBe('plain');
	});
});
