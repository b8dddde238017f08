/**
 * The two ways the campaign store reaches PostgreSQL: a real server through `pg`, or an embedded
 * PGlite database in a folder. Both speak the same SQL, so the store is written once.
 */
import type { Pool, PoolClient } from 'pg';
import { redactSecrets } from '../redact';
import { CampaignError } from '../errors';

export interface QueryResult<T> {
	rows: T[];
	rowCount: number;
}

export interface Queryable {
	query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
	/** Runs a script of several statements without parameters (migrations). */
	exec(sql: string): Promise<void>;
}

export interface SqlDriver extends Queryable {
	readonly kind: 'postgres' | 'pglite';
	/** Runs fn in one transaction: committed when it resolves, rolled back when it throws. */
	transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
	/**
	 * Runs fn on a connection of its own, inside a READ ONLY transaction with a statement timeout,
	 * then throws the connection away: nothing a query does (SET, a stray COMMIT) outlives it or
	 * reaches the store's pooled connections. Every statement goes through the extended protocol,
	 * so a statement can never carry a second one.
	 */
	readOnlySession<T>(fn: (q: Queryable) => Promise<T>, options: { statementTimeoutMs: number }): Promise<T>;
	close(): Promise<void>;
}

export interface PostgresConnection {
	host: string;
	port: number;
	database: string;
	user: string;
	password?: string;
	ssl?: boolean | 'require' | 'allow' | 'disable';
	/** Reject self-signed certificates (default true when ssl is on). */
	sslRejectUnauthorized?: boolean;
	max?: number;
	/** Postgres schema holding the tables (default public). */
	schema?: string;
	/** The connections' application_name in pg_stat_activity (the Campaign Agent's worker thread names its own). */
	applicationName?: string;
}

/** Never echo the password: errors from pg can include the connection string (a URL with userinfo) in some paths. */
function redact(message: string, secret: string | undefined): string {
	return redactSecrets(secret ? message.split(secret).join('***') : message, [secret]);
}

/** The campaign store could not be reached or refused: a service failure (n8n shows it as an API error). */
export class StoreConnectionError extends CampaignError {
	constructor(message: string) {
		super(message, { source: 'service', hint: 'Check the Campaign Database credential (host, port, database, user, SSL) and that Postgres is running' });
	}
}

/** A store schema name as Postgres keeps it: lower-case, unquoted, at most 63 bytes. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(schema: string): string {
	if (!SCHEMA_NAME.test(schema))
		throw new StoreConnectionError(
			`Campaign database schema "${schema.slice(0, 80)}" is not a plain schema name — use lower-case letters, digits and "_", starting with a letter or "_" (at most 63), e.g. "email_campaigns"`,
		);
	return schema;
}

/** Connection-level SQLSTATEs: the server went away (57P01 admin shutdown, 57P02 crash, 57P03 starting up). */
function connectionLost(e: unknown): boolean {
	const code = (e as { code?: unknown })?.code;
	// 08P01 (protocol violation, e.g. a wrong number of bind parameters) is the query's fault, not the link's.
	if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return (code.startsWith('08') && code !== '08P01') || code.startsWith('57P');
	return /Connection terminated|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|not queryable|timeout exceeded when trying to connect/i.test(`${String(code ?? '')} ${String((e as Error)?.message ?? '')}`);
}

export async function connectPostgres(conn: PostgresConnection): Promise<SqlDriver> {
	// Loaded lazily so the embedded path never pays for pg, and vice versa.
	const { Pool: PgPool } = await import('pg');
	const ssl =
		conn.ssl === true || conn.ssl === 'require'
			? { rejectUnauthorized: conn.sslRejectUnauthorized ?? true }
			: conn.ssl === 'allow'
				? { rejectUnauthorized: false }
				: undefined;
	const schema = conn.schema && conn.schema !== 'public' ? checkSchemaName(conn.schema) : undefined;
	const settings = {
		host: conn.host,
		port: conn.port,
		database: conn.database,
		user: conn.user,
		password: conn.password,
		ssl,
		connectionTimeoutMillis: 10_000,
		...(conn.applicationName ? { application_name: conn.applicationName } : {}),
	};
	// The store's schema comes first; public stays readable for contact tables (Contacts Query).
	const searchPath = schema ? `-c search_path=${schema},public` : '';
	const pool: Pool = new PgPool({ ...settings, max: conn.max ?? 10, idleTimeoutMillis: 30_000, options: searchPath || undefined });
	// An idle client's error (e.g. the server restarting) must not crash the n8n process.
	pool.on('error', () => undefined);
	const describe = (e: unknown) =>
		new StoreConnectionError(
			redact(`Campaign database ${conn.user}@${conn.host}:${conn.port}/${conn.database}: ${(e as Error).message}`, conn.password) +
				(connectionLost(e) ? ' — the database went away or cannot be reached (restart, failover?); run the workflow again once it is back: claimed recipients are reconciled, never sent twice' : ''),
		);
	const query = async <T>(sql: string, params?: unknown[]) => {
		// A statement on its own commits or rolls back whole: one Postgres picked as a deadlock's victim
		// (two runs updating the same rows in another order) had no effect and runs again, as a transaction does.
		for (let attempt = 1; ; attempt++) {
			try {
				const r = await pool.query(sql, params as unknown[]);
				return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
			} catch (e) {
				if (retriable(e) && attempt < RETRIES) {
					await retryPause(attempt);
					continue;
				}
				throw wrapSqlError(e, describe);
			}
		}
	};
	if (schema) await ensureSchema(schema);
	return {
		kind: 'postgres',
		query,
		exec: async (sql: string) => {
			await query(sql);
		},
		readOnlySession,
		async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
			// A deadlock or serialization failure rolls everything back, so running again is safe.
			for (let attempt = 1; ; attempt++) {
				try {
					return await once(fn);
				} catch (e) {
					if (retriable(e) && attempt < RETRIES) {
						await retryPause(attempt);
						continue;
					}
					throw e;
				}
			}
		},
		close: () => pool.end(),
	};

	/** A schema that does not exist is created; Postgres would otherwise put the tables in public without a word. */
	async function ensureSchema(name: string): Promise<void> {
		try {
			const found = await query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
			if (found.rowCount === 0) await query(`CREATE SCHEMA IF NOT EXISTS ${name}`);
		} catch (e) {
			await pool.end().catch(() => undefined);
			if (e instanceof StoreConnectionError) throw e;
			throw new StoreConnectionError(
				`Campaign database schema "${name}" does not exist and could not be created (${redact((e as Error).message, conn.password)}) — create it (CREATE SCHEMA ${name}) or set the credential's Schema to one that exists`,
			);
		}
	}

	async function readOnlySession<T>(fn: (q: Queryable) => Promise<T>, options: { statementTimeoutMs: number }): Promise<T> {
		const { Client } = await import('pg');
		const timeout = Math.max(1, Math.floor(options.statementTimeoutMs));
		const client = new Client({ ...settings, options: `${searchPath} -c default_transaction_read_only=on -c statement_timeout=${timeout}`.trim() });
		let lost: Error | undefined;
		client.on('error', (e: Error) => (lost ??= e));
		try {
			await client.connect();
		} catch (e) {
			throw describe(e);
		}
		const q: Queryable = {
			async query<R>(sql: string, params?: unknown[]) {
				if (lost) throw lost;
				const r = await client.query({ text: sql, values: params ?? [], queryMode: 'extended' } as never);
				return { rows: (r as { rows: R[] }).rows, rowCount: (r as { rowCount: number | null }).rowCount ?? 0 };
			},
			async exec() {
				throw new Error('readOnlySession runs single statements only');
			},
		};
		try {
			await client.query('BEGIN READ ONLY');
			const result = await fn(q);
			// Whatever the statement managed to do (a temp object, a large object) is never committed.
			await client.query('ROLLBACK');
			return result;
		} catch (e) {
			throw lost ? describe(lost) : wrapSqlError(e, describe);
		} finally {
			await client.end().catch(() => undefined);
		}
	}

	async function once<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
		let client: PoolClient;
		try {
			client = await pool.connect();
		} catch (e) {
			throw describe(e);
		}
		// The pool listens for errors of idle clients only: a checked-out client whose server goes away
		// (restart, failover, pg_terminate_backend) emits 'error', and an unheard 'error' crashes n8n.
		let lost: Error | undefined;
		const onError = (e: Error) => (lost ??= e);
		client.on('error', onError);
		const alive = () => {
			if (lost) throw lost;
		};
		try {
			await client.query('BEGIN');
			const tx: Queryable = {
				async query<R>(sql: string, params?: unknown[]) {
					alive();
					const r = await client.query(sql, params as unknown[]);
					return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
				},
				async exec(sql: string) {
					alive();
					await client.query(sql);
				},
			};
			const result = await fn(tx);
			alive();
			await client.query('COMMIT');
			return result;
		} catch (e) {
			if (!lost) await client.query('ROLLBACK').catch(() => undefined);
			throw wrapSqlError(lost ?? e, describe);
		} finally {
			// A client that lost its connection is destroyed, never handed to the next caller; the pool
			// puts its own idle listener back before this one goes, so no moment is left unheard.
			client.release(lost);
			// A destroyed client may still emit the server's FATAL (57P01 on pg_terminate_backend) after
			// release: it keeps a listener for good. A healthy one has the pool's idle listener back.
			if (!lost) client.removeListener('error', onError);
		}
	}
}

/** Tries of a statement or transaction that Postgres aborted as a deadlock's victim or a serialization failure. */
const RETRIES = 6;
const retriable = (e: unknown) => {
	const code = (e as { code?: string } | undefined)?.code;
	return code === '40P01' || code === '40001';
};
/** A growing, jittered pause, so the two parties of a deadlock do not meet again at once. */
const retryPause = (attempt: number) => new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 50 * attempt));

/** SQL errors (constraint, syntax) pass through; connection failures get the database named. */
function wrapSqlError(e: unknown, describe: (e: unknown) => Error): Error {
	const err = e as { code?: string; message?: string };
	if (err && typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) && !connectionLost(e)) return e as Error;
	if (e instanceof StoreConnectionError) return e;
	return describe(e);
}

export async function openPglite(dataDir: string | undefined): Promise<SqlDriver> {
	const { PGlite } = await import('@electric-sql/pglite');
	const db = dataDir ? new PGlite(dataDir) : new PGlite();
	await db.waitReady;
	// PGlite runs one statement at a time; a queue keeps transactions from interleaving with other queries.
	let chain: Promise<unknown> = Promise.resolve();
	const serial = <T>(fn: () => Promise<T>): Promise<T> => {
		const next = chain.then(fn, fn);
		chain = next.catch(() => undefined);
		return next;
	};
	const run = async <T>(q: { query: typeof db.query }, sql: string, params?: unknown[]) => {
		const r = await q.query<T>(sql, params as unknown[]);
		return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
	};
	return {
		kind: 'pglite',
		query: <T>(sql: string, params?: unknown[]) => serial(() => run<T>(db, sql, params)),
		exec: (sql: string) => serial(async () => void (await db.exec(sql))),
		transaction: <T>(fn: (tx: Queryable) => Promise<T>) =>
			serial(() =>
				db.transaction(async (t) => {
					const tx: Queryable = {
						query: <R>(sql: string, params?: unknown[]) => run<R>(t as never, sql, params),
						exec: async (sql: string) => void (await t.exec(sql)),
					};
					return fn(tx);
				}),
			),
		readOnlySession: async () => {
			throw new StoreConnectionError('This needs the Campaign Database credential (Postgres): the embedded store cannot run queries of your own');
		},
		close: () => db.close(),
	};
}
