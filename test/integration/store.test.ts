/** The same store suite against the real Postgres server and against embedded PGlite. */
import { CampaignStore, getCampaignStore, closeAllStores, connectPostgres, openPglite } from '../../lib/store';
import { migrate, MIGRATIONS } from '../../lib/store/migrations';
import { createTestDatabase } from '../helpers/services';
import type { DeliveryResult } from '../../lib/schemas';
import { sql } from '../helpers/sql';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

jest.setTimeout(60_000);

type Backend = { name: string; open: () => Promise<{ store: CampaignStore; cleanup: () => Promise<void> }> };

const backends: Backend[] = [
	{
		name: 'postgres',
		open: async () => {
			const db = await createTestDatabase();
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

const claimRows = (emails: string[]) => emails.map((email, i) => ({ email, delivery_id: `d${i}-${email}`, variant: 'A' }));

describe.each(backends)('campaign store on $name', ({ open }) => {
	let store: CampaignStore;
	let cleanup: () => Promise<void>;
	beforeAll(async () => ({ store, cleanup } = await open()));
	afterAll(() => cleanup());

	it('applies each migration once, also when migrate runs again', async () => {
		expect(await store.migrate()).toEqual([]);
		const rows = await sql(store).query<{ version: number }>('SELECT version FROM eca_schema_migrations ORDER BY version');
		expect(rows.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
	});

	it('claims a delivery once per campaign, step and address (case-insensitive)', async () => {
		const first = await store.claimDeliveries('c1', 'run1', 1, claimRows(['a@x.io', 'B@x.io']));
		expect(first.claimed.map((c) => c.email.toLowerCase())).toEqual(['a@x.io', 'b@x.io']);
		await store.recordOutcome({ runId: 'run1', ids: [first.claimed[0].id], status: 'sent', message_id: 'msg-1' });
		const second = await store.claimDeliveries('c1', 'run2', 1, claimRows(['a@x.io', 'b@x.io', 'c@x.io']));
		expect(second.claimed.map((c) => c.email)).toEqual(['c@x.io']);
		const byEmail = Object.fromEntries(second.existing.map((e) => [e.email, e.status]));
		// a was confirmed; b was claimed by run1 and never confirmed: reported, never re-sent.
		expect(byEmail).toEqual({ 'a@x.io': 'sent', 'b@x.io': 'unconfirmed' });
		const other = await store.claimDeliveries('c1', 'run3', 2, claimRows(['a@x.io']));
		expect(other.claimed).toHaveLength(1);
	});

	it('claim, suppression and outcome lists (sent as JSON text) keep every value exactly: quotes, backslashes, commas, braces, "NULL", non-ASCII, lone surrogates as U+FFFD', async () => {
		const odd = ['q"uote@x.io', 'back\\slash@x.io', 'com,ma@x.io', '{brace}@x.io', 'NULL@x.io', 'sp ace@x.io', 'ü@bücher.example', 'x\\ud800@x.io'];
		const rows = odd.map((email, i) => ({ email, delivery_id: `d"${i}\\,{}`, variant: 'A', reply_message_id: i % 2 ? undefined : `<m${i}."q"\\@x.io>` }));
		// Addresses are validated (ASCII local part, IDN domain) before they get here; ids and Message-IDs are not.
		rows.push({ email: 'lone@x.io', delivery_id: 'lone\udc00', variant: 'A', reply_message_id: '<r\ud800@x.io>' });
		await store.addSuppressions([{ email: 'com,ma@x.io', scope: 'global', reason: 'bounce' }]);
		const claim = await store.claimDeliveries('json-lists', 'rj', 1, rows);
		expect([...claim.suppressed.keys()]).toEqual(['com,ma@x.io']);
		expect(claim.claimed).toHaveLength(rows.length - 1);
		const stored = await sql(store).query<{ email: string; delivery_id: string; reply_message_id: string | null }>(
			"SELECT email, delivery_id, reply_message_id FROM eca_deliveries WHERE campaign_id = 'json-lists' ORDER BY id",
		);
		const want = rows
			.filter((r) => r.email !== 'com,ma@x.io')
			.map((r) => ({ email: r.email, delivery_id: r.delivery_id.replace(/\udc00/g, '\ufffd'), reply_message_id: r.reply_message_id?.replace(/\ud800/g, '\ufffd') ?? null }));
		expect(stored.rows.sort((a, b) => a.email.localeCompare(b.email))).toEqual(want.sort((a, b) => a.email.localeCompare(b.email)));
		expect(await store.suppressedAmong(['COM,MA@x.io', 'q"uote@x.io', 'x\ud800@x.io'])).toEqual(new Map([['com,ma@x.io', 'bounce']]));
		// Outcomes by id list: every claimed row moves, none is reported refused.
		await store.recordOutcome({ runId: 'rj', ids: claim.claimed.map((c) => c.id), status: 'sent', message_id: 'm-json' });
		const sent = await sql(store).query<{ n: string }>("SELECT count(*)::text AS n FROM eca_deliveries WHERE campaign_id = 'json-lists' AND status = 'sent'");
		expect(Number(sent.rows[0].n)).toBe(rows.length - 1);
		// A second claim of the same rows finds them all existing (the list of others goes the same way).
		const again = await store.claimDeliveries('json-lists', 'rj2', 1, rows);
		expect(again.claimed).toEqual([]);
		expect(again.existing.map((e) => e.status)).toEqual(Array(rows.length - 1).fill('sent'));
	});

	it('lets a later run claim deferred and retry rows, never sent or failed ones', async () => {
		const { claimed } = await store.claimDeliveries('c2', 'r1', 1, claimRows(['d@x.io', 'e@x.io', 'f@x.io', 'g@x.io']));
		const id = (email: string) => claimed.find((c) => c.email === email)!.id;
		await store.recordOutcome({ runId: 'r1', ids: [id('d@x.io')], status: 'deferred' });
		await store.recordOutcome({ runId: 'r1', ids: [id('e@x.io')], status: 'retry', error: '503' });
		await store.recordOutcome({ runId: 'r1', ids: [id('f@x.io')], status: 'failed', error: 'bad address', http_status: 400 });
		await store.recordOutcome({ runId: 'r1', ids: [id('g@x.io')], status: 'sent', message_id: 'm' });
		const again = await store.claimDeliveries('c2', 'r2', 1, claimRows(['d@x.io', 'e@x.io', 'f@x.io', 'g@x.io']));
		expect(again.claimed.map((c) => c.email).sort()).toEqual(['d@x.io', 'e@x.io']);
		expect(again.existing.map((e) => e.status).sort()).toEqual(['failed', 'sent']);
	});

	it('never lets two concurrent claimers take the same address', async () => {
		const emails = Array.from({ length: 200 }, (_, i) => `p${i}@x.io`);
		const [a, b] = await Promise.all([
			store.claimDeliveries('c3', 'ra', 1, claimRows(emails)),
			store.claimDeliveries('c3', 'rb', 1, claimRows([...emails].reverse())),
		]);
		expect(a.claimed.length + b.claimed.length).toBe(200);
		const both = new Set(a.claimed.map((c) => c.email));
		for (const c of b.claimed) expect(both.has(c.email)).toBe(false);
	});

	it('records results idempotently and never downgrades a sent row', async () => {
		const base = { campaign_id: 'c4', run_id: 'r4', step: 1, variant: 'A', attempts: 1 };
		const results: DeliveryResult[] = [
			{ ...base, delivery_id: 'x1', email: 'h@x.io', status: 'sent', message_id: 'm1' },
			{ ...base, delivery_id: 'x2', email: 'i@x.io', status: 'failed', error: 'bad' },
			{ ...base, delivery_id: 'x3', email: 'j@x.io', status: 'dry_run' },
		];
		expect(await store.recordResults(results)).toEqual({ written: 3, refused: [] });
		expect(await store.recordResults(results)).toEqual({ written: 0, refused: [] });
		// sent is final: a later report of the same run cannot move it, and says so.
		expect((await store.recordResults([{ ...results[0], status: 'deferred' }])).refused).toEqual([
			{ email: 'h@x.io', status: 'deferred', run_id: 'r4', stored_status: 'sent', stored_run_id: 'r4' },
		]);
		const rows = await store.deliveries({ campaignId: 'c4' });
		expect(rows.map((r) => [r.email, r.status, r.mode])).toEqual([
			['h@x.io', 'sent', 'live'],
			['i@x.io', 'failed', 'live'],
			['j@x.io', 'dry_run', 'dry_run'],
		]);
		// A rehearsal row does not block the real send.
		expect((await store.claimDeliveries('c4', 'r5', 1, claimRows(['j@x.io']))).claimed).toHaveLength(1);
	});

	it('keeps suppressions per scope and lifts them', async () => {
		await store.addSuppressions([
			{ email: 'K@x.io', scope: 'global', reason: 'bounce' },
			{ email: 'l@x.io', scope: 'group:7', reason: 'group_unsubscribe' },
		]);
		expect([...(await store.suppressedAmong(['k@x.io', 'l@x.io', 'm@x.io'])).keys()]).toEqual(['k@x.io']);
		expect([...(await store.suppressedAmong(['k@x.io', 'l@x.io'], 7)).keys()].sort()).toEqual(['k@x.io', 'l@x.io']);
		await store.liftSuppression('l@x.io', 'group:7');
		expect((await store.suppressedAmong(['l@x.io'], 7)).size).toBe(0);
	});

	it('shares one daily cap between concurrent reservations', async () => {
		const grants = await Promise.all(Array.from({ length: 10 }, () => store.reserveDailyQuota('acct', 30, 100, '2026-11-23')));
		expect(grants.reduce((a, b) => a + b, 0)).toBe(100);
		expect(await store.reserveDailyQuota('acct', 5, 100, '2026-11-24')).toBe(5);
	});

	it('counts a run from its delivery rows', async () => {
		await store.startRun({ runId: 'r4', campaignId: 'c4', mode: 'live', total: 3 });
		const counts = await store.refreshRun('r4', { finished: true });
		expect(counts).toEqual({ sent: 1, failed: 1, dry_run: 1 });
		expect((await store.getRun('r4'))?.status).toBe('finished');
	});
});

describe('migrations under concurrent starts', () => {
	it('apply once when several processes migrate a fresh Postgres database at the same time', async () => {
		const db = await createTestDatabase();
		const drivers = await Promise.all(Array.from({ length: 4 }, () => connectPostgres({ ...db.connection, max: 2 })));
		try {
			const applied = await Promise.all(drivers.map((d) => migrate(d)));
			expect(applied.flat()).toEqual(MIGRATIONS.map((m) => m.version));
		} finally {
			await Promise.all(drivers.map((d) => d.close()));
			await db.drop();
		}
	});

	it('persist in an embedded PGlite folder across reopen', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'eca-pglite-'));
		const a = await openPglite(dir);
		expect(await migrate(a)).toEqual(MIGRATIONS.map((m) => m.version));
		await a.close();
		const b = await openPglite(dir);
		expect(await migrate(b)).toEqual([]);
		await b.close();
	});
});

describe('a statement picked as a deadlock victim', () => {
	it('runs again instead of failing the run: two runs updating the same rows in another order both finish', async () => {
		const db = await createTestDatabase('eca_deadlock');
		const driver = await connectPostgres(db.connection);
		const other = new (await import('pg')).Client({ host: db.connection.host, port: db.connection.port, user: db.connection.user, database: db.connection.database });
		await other.connect();
		try {
			// Row 2 first on disk: the store's statement scans (and locks) 2, then waits for 1.
			await driver.exec('CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (2, 0), (1, 0)');
			await other.query('BEGIN');
			// The other session waits longer before looking for a deadlock, so the store's statement is the victim.
			await other.query(`SET LOCAL deadlock_timeout = '10s'`);
			await other.query('UPDATE t SET v = 1 WHERE id = 1');
			const stored = driver.query('UPDATE t SET v = v + 10 WHERE id IN (1, 2)');
			await new Promise((r) => setTimeout(r, 300));
			// Now each waits for the other: Postgres aborts the store's statement after 1 s.
			await other.query('UPDATE t SET v = 1 WHERE id = 2');
			await other.query('COMMIT');
			await expect(stored).resolves.toMatchObject({ rowCount: 2 });
			const rows = (await driver.query<{ id: number; v: number }>('SELECT id, v FROM t ORDER BY id')).rows;
			expect(rows).toEqual([
				{ id: 1, v: 11 },
				{ id: 2, v: 11 },
			]);
		} finally {
			await other.end();
			await driver.close();
			await db.drop();
		}
	});
});
