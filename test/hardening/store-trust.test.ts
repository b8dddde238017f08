/**
 * The store's edges against a real Postgres: a Contacts Query of the user's own can read contacts
 * and nothing else (one statement, bound parameters, read-only, a timeout, none of the store's
 * tables), and a Campaign Database schema is used as named or refused, never replaced by public.
 */
import { Client } from 'pg';
import { CampaignStore, closeAllStores, getCampaignStore, queryContacts, queryContactPages, connectPostgres } from '../../lib/store';
import type { ContactsQueryOptions } from '../../lib/store/contactsQuery';
import { createTestDatabase } from '../helpers/services';
import { recordTally } from '../helpers/tally';
import { sql } from '../helpers/sql';

jest.setTimeout(120_000);

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let store: CampaignStore;
let admin: Client;
let attacks = 0;
let letIn = 0;
let rejected = 0;

beforeAll(async () => {
	db = await createTestDatabase('eca_store_trust');
	store = await getCampaignStore({ postgres: db.connection });
	const { host, port, user, database } = db.connection;
	admin = new Client({ host, port, user, database });
	await admin.connect();
	await admin.query(`CREATE TABLE contacts (email text, first_name text, segment text)`);
	await admin.query(`INSERT INTO contacts VALUES ('ada@example.org', 'Ada', 'spring'), ('bob@example.org', 'Bob', 'spring'), ('cy@example.org', 'Cy', 'fall')`);
	await store.addSuppressions([
		{ email: 'suppressed1@example.org', scope: 'global', reason: 'unsubscribe' },
		{ email: 'suppressed2@example.org', scope: 'global', reason: 'bounce' },
	]);
});
afterAll(async () => {
	recordTally({ suite: 'store: contacts query, schema', attacks, let_in: letIn, rejected, inputs: attacks });
	await admin?.end();
	await closeAllStores();
	await db?.drop();
});

/** The Campaign Agent's way: the same query through a cursor, a page at a time, every page collected. */
async function throughCursor(db: Parameters<typeof queryContacts>[0], query: string, options: ContactsQueryOptions = {}): Promise<Array<Record<string, unknown>>> {
	const rows: Array<Record<string, unknown>> = [];
	for await (const page of queryContactPages(db, query, { ...options, pageRows: 2 })) rows.push(...page);
	return rows;
}
const readers = [
	['all at once', queryContacts],
	['through a cursor', throughCursor],
] as const;

/** What an attack could change or read: the store's rows, fingerprinted. */
async function storeState(): Promise<string> {
	const r = await admin.query(
		`SELECT (SELECT string_agg(email || scope, ',' ORDER BY email, scope) FROM eca_suppressions) AS s,
		        (SELECT count(*) FROM eca_deliveries) AS d, (SELECT count(*) FROM eca_campaigns) AS c,
		        (SELECT count(*) FROM pg_tables WHERE schemaname = 'public') AS t`,
	);
	return JSON.stringify(r.rows[0]);
}

describe('Contacts Query (Postgres)', () => {
	it('reads contacts with bound query parameters; a value is data, never SQL', async () => {
		const rows = await queryContacts(sql(store), 'SELECT email, first_name FROM contacts WHERE segment = $1 ORDER BY email;', { params: ['spring'] });
		expect(rows).toEqual([
			{ email: 'ada@example.org', first_name: 'Ada' },
			{ email: 'bob@example.org', first_name: 'Bob' },
		]);
		const before = await storeState();
		attacks++;
		const none = await queryContacts(sql(store), 'SELECT email FROM contacts WHERE segment = $1', { params: ["spring'; DELETE FROM eca_suppressions; --"] });
		expect(none).toEqual([]);
		if ((await storeState()) !== before) letIn++;
		expect(await storeState()).toBe(before);
	});

	const hostile: Array<[string, string, RegExp]> = [
		['a stacked DELETE', `SELECT email FROM contacts; DELETE FROM eca_suppressions`, /one statement|multiple commands/i],
		['a stacked DELETE after a comment', `SELECT email FROM contacts /* x */ ; DELETE FROM eca_suppressions;`, /one statement|multiple commands/i],
		['a data-modifying WITH', `WITH d AS (DELETE FROM eca_suppressions RETURNING email) SELECT email FROM d`, /Contacts Query/],
		['a DELETE', `DELETE FROM eca_suppressions`, /must be one SELECT statement; it starts with "DELETE"/],
		['an UPDATE via a comment-led statement', `/* hi */ -- there\nUPDATE eca_suppressions SET scope = 'x'`, /must be one SELECT statement; it starts with "UPDATE"/],
		['a UNION reading suppressions', `SELECT email FROM contacts UNION SELECT email FROM eca_suppressions`, /campaign store's own table eca_suppressions/],
		['a subquery reading deliveries', `SELECT email FROM (SELECT email FROM eca_deliveries) x`, /eca_deliveries/],
		['a read-write toggle', `SELECT set_config('transaction_read_only', 'off', true), email FROM contacts`, /Contacts Query failed/],
		['nextval on the store', `SELECT nextval('eca_deliveries_id_seq') AS email`, /read-only/],
		['a row lock', `SELECT email FROM contacts FOR UPDATE`, /Contacts Query failed/],
		['a COMMIT', `COMMIT`, /must be one SELECT statement/],
		['a SET', `SET search_path TO nowhere`, /must be one SELECT statement/],
		['an escape from the wrapping', `SELECT email FROM contacts) AS q; DELETE FROM eca_suppressions; SELECT * FROM (SELECT 1`, /Contacts Query/],
		['a temp table', `SELECT email INTO TEMP stolen FROM contacts`, /Contacts Query failed/],
	];
	it.each(readers.flatMap(([how, read]) => hostile.map(([name, query, message]) => [`${name} (${how})`, query, message, read] as const)))('refuses %s with a clear error and changes nothing', async (_name, query, message, read) => {
		const before = await storeState();
		attacks++;
		let rows: unknown[] | undefined;
		await expect(
			read(sql(store), query).then((r) => {
				rows = r;
				return r;
			}),
		).rejects.toThrow(message);
		rejected++;
		const after = await storeState();
		if (after !== before || rows) letIn++;
		expect(after).toBe(before);
	});

	it('a session setting made by a query dies with its connection: the store keeps working', async () => {
		attacks++;
		const rows = await queryContacts(sql(store), `SELECT set_config('search_path', 'nowhere', false) AS sp, email FROM contacts WHERE segment = 'fall'`);
		expect(rows).toEqual([{ sp: 'nowhere', email: 'cy@example.org' }]);
		// Every pooled store connection still finds its tables.
		const counts = await Promise.all(Array.from({ length: 12 }, () => sql(store).query<{ n: number }>('SELECT count(*)::int AS n FROM eca_suppressions')));
		if (counts.some((c) => c.rows[0].n !== 2)) letIn++;
		expect(counts.map((c) => c.rows[0].n)).toEqual(Array(12).fill(2));
	});

	it('whatever a query manages to create inside its transaction is rolled back', async () => {
		const objects = async () => (await admin.query('SELECT count(*)::int AS n FROM pg_largeobject_metadata')).rows[0].n as number;
		const before = await objects();
		attacks++;
		await queryContacts(sql(store), `SELECT lo_import('/etc/hostname')::text AS email`).catch(() => undefined);
		if ((await objects()) !== before) letIn++;
		expect(await objects()).toBe(before);
	});

	it.each(readers)('runs under a statement timeout (%s)', async (_how, read) => {
		attacks++;
		await expect(read(sql(store), 'SELECT pg_sleep(5), email FROM contacts', { statementTimeoutMs: 300 })).rejects.toThrow(/timeout|statement timeout/i);
		rejected++;
	});

	it.each(readers)('caps the rows it returns, and names missing parameters (%s)', async (_how, read) => {
		attacks++;
		await expect(read(sql(store), 'SELECT g::text || \'@example.org\' AS email FROM generate_series(1, 50) g', { maxRows: 10 })).rejects.toThrow(/more than 10 rows/);
		rejected++;
		await expect(read(sql(store), 'SELECT email FROM contacts WHERE segment = $1')).rejects.toThrow(/Query Parameter/);
	});

	it('through a cursor: bound parameters, pages of the asked size, and its connection closed when the reader stops early', async () => {
		const connections = async () => (await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()`)).rows[0].n as number;
		const before = await connections();
		const pages: number[] = [];
		const query = `SELECT g::text || '@example.org' AS email, $1::text AS segment FROM generate_series(1, 25) g ORDER BY g`;
		for await (const page of queryContactPages(sql(store), query, { params: ['spring'], pageRows: 10 })) pages.push(page.length);
		expect(pages).toEqual([10, 10, 5]);
		const first: Array<Record<string, unknown>> = [];
		for await (const page of queryContactPages(sql(store), query, { params: ['fall'], pageRows: 3 })) {
			first.push(...page);
			break;
		}
		expect(first).toEqual([1, 2, 3].map((g) => ({ email: `${g}@example.org`, segment: 'fall' })));
		expect(await connections()).toBe(before);
	});
});

describe('Campaign Database schema', () => {
	it('a schema that does not exist is created and holds the tables (never public)', async () => {
		const other = await getCampaignStore({ postgres: { ...db.connection, schema: 'email_campaigns' } });
		await other.addSuppressions([{ email: 'in-schema@example.org', scope: 'global', reason: 'test' }]);
		const where = await admin.query(`SELECT schemaname FROM pg_tables WHERE tablename = 'eca_suppressions' ORDER BY schemaname`);
		expect(where.rows.map((r) => r.schemaname)).toEqual(['email_campaigns', 'public']);
		const inSchema = await admin.query(`SELECT email FROM email_campaigns.eca_suppressions`);
		expect(inSchema.rows).toEqual([{ email: 'in-schema@example.org' }]);
		const inPublic = await admin.query(`SELECT count(*)::int AS n FROM public.eca_suppressions WHERE email = 'in-schema@example.org'`);
		expect(inPublic.rows[0].n).toBe(0);
	});

	it.each(['My-Schema', 'campaigns; DROP TABLE contacts', 'x"y', '1abc', 'a'.repeat(64), 'pg schema'])('refuses the schema name %p with a clear error, creating nothing', async (bad) => {
		attacks++;
		const before = await admin.query(`SELECT count(*)::int AS n FROM pg_namespace`);
		await expect(connectPostgres({ ...db.connection, schema: bad })).rejects.toThrow(/is not a plain schema name — use lower-case letters/);
		rejected++;
		const after = await admin.query(`SELECT count(*)::int AS n FROM pg_namespace`);
		const contacts = await admin.query(`SELECT count(*)::int AS n FROM contacts`);
		if (after.rows[0].n !== before.rows[0].n || contacts.rows[0].n !== 3) letIn++;
		expect(after.rows[0].n).toBe(before.rows[0].n);
	});

	it('a schema the user may not create is refused naming the fix', async () => {
		await admin.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eca_limited') THEN CREATE ROLE eca_limited LOGIN; END IF; END $$`);
		await admin.query(`REVOKE CREATE ON DATABASE ${db.connection.database} FROM PUBLIC`);
		await expect(connectPostgres({ ...db.connection, user: 'eca_limited', schema: 'not_allowed_here' })).rejects.toThrow(
			/schema "not_allowed_here" does not exist and could not be created .*CREATE SCHEMA not_allowed_here/,
		);
		const exists = await admin.query(`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'not_allowed_here'`);
		expect(exists.rows[0].n).toBe(0);
	});
});
