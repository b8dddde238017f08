/**
 * Contacts from a query of the user's own (Load Campaign Content → Contacts Source: Postgres Query).
 * The SQL is theirs, so it gets nothing of the store's: one statement, bound parameters, a connection
 * of its own in a READ ONLY transaction with a statement timeout, capped rows, and no read of the
 * store's own tables (suppressions, deliveries...), which would otherwise come back as "contacts".
 */
import { CampaignInputError } from '../schemas';
import type { Queryable, SqlDriver } from './driver';
import { driverOf, type CampaignStore } from './campaignStore';

export interface ContactsQueryOptions {
	/** Values for $1, $2, ... */
	params?: unknown[];
	statementTimeoutMs?: number;
	/** More rows than this fail the load (a clear error beats a run out of memory). */
	maxRows?: number;
}

export const CONTACTS_QUERY_DEFAULTS = { statementTimeoutMs: 60_000, maxRows: 250_000, maxSqlChars: 100_000, maxParams: 100 } as const;

const FIELD = 'contactsQuery';
const STARTS = new Set(['select', 'with', 'values', 'table']);

/** The first keyword after leading white space and comments, lower-cased; linear in the text. */
export function firstKeyword(sql: string): string {
	let i = 0;
	while (i < sql.length) {
		const c = sql[i];
		if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '(') i++;
		else if (c === '-' && sql[i + 1] === '-') {
			const end = sql.indexOf('\n', i);
			i = end < 0 ? sql.length : end + 1;
		} else if (c === '/' && sql[i + 1] === '*') {
			const end = sql.indexOf('*/', i + 2);
			i = end < 0 ? sql.length : end + 2;
		} else break;
	}
	let j = i;
	while (j < sql.length && /[A-Za-z]/.test(sql[j])) j++;
	return sql.slice(i, j).toLowerCase();
}

/** Drops trailing semicolons and white space ("SELECT ...;" is one statement too). */
function withoutTrailingSemicolons(sql: string): string {
	let end = sql.length;
	while (end > 0 && (sql[end - 1] === ';' || sql[end - 1] === ' ' || sql[end - 1] === '\n' || sql[end - 1] === '\r' || sql[end - 1] === '\t')) end--;
	return sql.slice(0, end);
}

/** Every table a plan reads (EXPLAIN shows views expanded, so a view over the store is caught too). */
function relationsIn(plan: unknown, out: Set<string> = new Set()): Set<string> {
	const stack: unknown[] = [plan];
	while (stack.length) {
		const node = stack.pop();
		if (Array.isArray(node)) stack.push(...node);
		else if (node && typeof node === 'object') {
			for (const [k, v] of Object.entries(node)) {
				if (k === 'Relation Name' && typeof v === 'string') out.add(v);
				else if (v && typeof v === 'object') stack.push(v);
			}
		}
	}
	return out;
}

/** Postgres' own words for a failed query, with what to change. */
function queryError(e: unknown): CampaignInputError {
	const err = e as { code?: string; message?: string };
	const msg = String(err?.message ?? e);
	const hint =
		err?.code === '25006'
			? ' — the Contacts Query runs read-only: it can only read contacts'
			: err?.code === '57014'
				? ' — the query ran past its timeout: add an index, narrow it, or raise Query Timeout'
				: err?.code === '42601' && (/multiple commands/i.test(msg) || msg.includes('";"'))
					? ' — the Contacts Query must be one statement'
					: err?.code === '08P01' || /bind message supplies/i.test(msg)
						? ' — give one Query Parameter for each $1, $2, ... in the query'
						: '';
	return new CampaignInputError(`Contacts Query failed: ${msg}${hint}`, FIELD);
}

/** The query checked and wrapped as a subquery (a second statement, or a data-modifying WITH, cannot stand inside one). */
function wrappedQuery(sql: string, params: unknown[], limit: number | undefined): string {
	if (typeof sql !== 'string' || sql.trim() === '') throw new CampaignInputError('Contacts Query is empty — write a SELECT that returns an email column', FIELD);
	if (sql.length > CONTACTS_QUERY_DEFAULTS.maxSqlChars)
		throw new CampaignInputError(`Contacts Query is ${sql.length} characters long (at most ${CONTACTS_QUERY_DEFAULTS.maxSqlChars})`, FIELD);
	if (params.length > CONTACTS_QUERY_DEFAULTS.maxParams)
		throw new CampaignInputError(`Contacts Query has ${params.length} Query Parameters (at most ${CONTACTS_QUERY_DEFAULTS.maxParams})`, 'contactsQueryParameters');
	const keyword = firstKeyword(sql);
	if (!STARTS.has(keyword))
		throw new CampaignInputError(
			`Contacts Query must be one SELECT statement; it starts with "${keyword.toUpperCase() || sql.trim().slice(0, 20)}" — put values in Query Parameters ($1, $2, ...) instead of building SQL`,
			FIELD,
		);
	return `SELECT * FROM (\n${withoutTrailingSemicolons(sql)}\n) AS contacts_query${limit === undefined ? '' : ` LIMIT ${limit}`}`;
}

/** Refuses a query whose plan reads one of the store's own tables. */
async function checkPlan(q: Queryable, wrapped: string, params: unknown[]): Promise<void> {
	const plan = await q.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${wrapped}`, params);
	const store = [...relationsIn(plan.rows[0]?.['QUERY PLAN'])].filter((r) => r.startsWith('eca_'));
	if (store.length)
		throw new CampaignInputError(
			`Contacts Query reads the campaign store's own table${store.length > 1 ? 's' : ''} ${store.join(', ')} — query your contacts table instead`,
			FIELD,
		);
}

function describedQueryError(e: unknown): unknown {
	if (e instanceof CampaignInputError) return e;
	if (e && typeof (e as { code?: unknown }).code === 'string') return queryError(e);
	return e;
}

export async function queryContacts(db: SqlDriver, sql: string, options: ContactsQueryOptions = {}): Promise<Array<Record<string, unknown>>> {
	const maxRows = options.maxRows ?? CONTACTS_QUERY_DEFAULTS.maxRows;
	const params = options.params ?? [];
	const wrapped = wrappedQuery(sql, params, maxRows + 1);
	const rows = await db
		.readOnlySession(
			async (q) => {
				await checkPlan(q, wrapped, params);
				return (await q.query<Record<string, unknown>>(wrapped, params)).rows;
			},
			{ statementTimeoutMs: options.statementTimeoutMs ?? CONTACTS_QUERY_DEFAULTS.statementTimeoutMs },
		)
		.catch((e) => {
			throw describedQueryError(e);
		});
	if (rows.length > maxRows)
		throw new CampaignInputError(`Contacts Query returned more than ${maxRows.toLocaleString('en-US')} rows — narrow it, or send in parts`, FIELD);
	return rows;
}

/**
 * The same query read through a cursor, `pageRows` rows at a time, on its own read-only connection
 * that stays open until the pages are read or the reader stops: memory holds one page, whatever the
 * number of rows. The timeout applies to each page's FETCH. Without ORDER BY the order is whatever
 * Postgres picks; a resumed run re-reads the query, so give it an ORDER BY when rows can change meanwhile.
 */
export async function* queryContactPages(db: SqlDriver, sql: string, options: ContactsQueryOptions & { pageRows?: number } = {}): AsyncGenerator<Array<Record<string, unknown>>> {
	const params = options.params ?? [];
	const wrapped = wrappedQuery(sql, params, options.maxRows === undefined ? undefined : options.maxRows + 1);
	const pageRows = Math.max(1, Math.floor(options.pageRows ?? 5000));
	let handOver!: (q: Queryable) => void;
	let finish!: () => void;
	const opened = new Promise<Queryable>((resolve) => (handOver = resolve));
	const finished = new Promise<void>((resolve) => (finish = resolve));
	// The session lives while the pages are read: its callback hands the connection over and waits for the end.
	const session = db.readOnlySession(
		async (q) => {
			await checkPlan(q, wrapped, params);
			await q.query(`DECLARE eca_contacts NO SCROLL CURSOR FOR ${wrapped}`, params);
			handOver(q);
			await finished;
		},
		{ statementTimeoutMs: options.statementTimeoutMs ?? CONTACTS_QUERY_DEFAULTS.statementTimeoutMs },
	);
	session.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
	try {
		const q = await Promise.race([opened, session.then(() => undefined)]);
		if (!q) return;
		let read = 0;
		for (;;) {
			const page = (await q.query<Record<string, unknown>>(`FETCH ${pageRows} FROM eca_contacts`)).rows;
			if (page.length === 0) break;
			read += page.length;
			if (options.maxRows !== undefined && read > options.maxRows)
				throw new CampaignInputError(`Contacts Query returned more than ${options.maxRows.toLocaleString('en-US')} rows — narrow it, or send in parts`, FIELD);
			yield page;
			if (page.length < pageRows) break;
		}
	} catch (e) {
		throw describedQueryError(e);
	} finally {
		finish();
		await session.catch((e) => {
			throw describedQueryError(e);
		});
	}
}

/** The user's contacts query against the campaign store's database (see queryContacts). */
export function contactsFromQuery(store: CampaignStore, sql: string, options: ContactsQueryOptions = {}): Promise<Array<Record<string, unknown>>> {
	return queryContacts(driverOf(store), sql, options);
}

/** The user's contacts query against the campaign store's database, a page at a time (see queryContactPages). */
export function contactPagesFromQuery(store: CampaignStore, sql: string, options: ContactsQueryOptions & { pageRows?: number } = {}): AsyncGenerator<Array<Record<string, unknown>>> {
	return queryContactPages(driverOf(store), sql, options);
}

/**
 * "Query Parameters" as n8n's Postgres node takes them: an array (from an expression) as is, or a
 * comma-separated string. Values are bound, never spliced into the SQL.
 */
export function parseQueryParameters(value: unknown): unknown[] {
	if (Array.isArray(value)) return value;
	if (value === undefined || value === null) return [];
	if (typeof value !== 'string') return [value];
	if (value.trim() === '') return [];
	return value.split(',').map((v) => v.trim());
}
