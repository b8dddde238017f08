/**
 * The two ways the campaign store reaches PostgreSQL: a real server through `pg`, or an embedded
 * PGlite database in a folder. Both speak the same SQL, so the store is written once.
 */
import type { Pool, PoolClient } from 'pg';

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
}

/** Never echo the password: errors from pg can include the connection string in some paths. */
function redact(message: string, secret: string | undefined): string {
	return secret ? message.split(secret).join('***') : message;
}

export class StoreConnectionError extends Error {
	constructor(message: string) {
		super(message);
		this.name = 'StoreConnectionError';
	}
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
	const pool: Pool = new PgPool({
		host: conn.host,
		port: conn.port,
		database: conn.database,
		user: conn.user,
		password: conn.password,
		ssl,
		max: conn.max ?? 10,
		connectionTimeoutMillis: 10_000,
		idleTimeoutMillis: 30_000,
		options: conn.schema ? `-c search_path=${conn.schema.replace(/[^A-Za-z0-9_]/g, '')},public` : undefined,
	});
	// An idle client's error (e.g. the server restarting) must not crash the n8n process.
	pool.on('error', () => undefined);
	const describe = (e: unknown) =>
		new StoreConnectionError(
			`Campaign database ${conn.user}@${conn.host}:${conn.port}/${conn.database}: ${redact((e as Error).message, conn.password)}`,
		);
	const query = async <T>(sql: string, params?: unknown[]) => {
		try {
			const r = await pool.query(sql, params as unknown[]);
			return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
		} catch (e) {
			throw wrapSqlError(e, describe);
		}
	};
	return {
		kind: 'postgres',
		query,
		exec: async (sql: string) => {
			await query(sql);
		},
		async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
			// A deadlock or serialization failure rolls everything back, so running again is safe.
			for (let attempt = 1; ; attempt++) {
				try {
					return await once(fn);
				} catch (e) {
					const code = (e as { code?: string }).code;
					if ((code === '40P01' || code === '40001') && attempt < 4) {
						await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 50));
						continue;
					}
					throw e;
				}
			}
		},
		close: () => pool.end(),
	};

	async function once<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
		let client: PoolClient;
		try {
			client = await pool.connect();
		} catch (e) {
			throw describe(e);
		}
		try {
			await client.query('BEGIN');
			const tx: Queryable = {
				async query<R>(sql: string, params?: unknown[]) {
					const r = await client.query(sql, params as unknown[]);
					return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
				},
				async exec(sql: string) {
					await client.query(sql);
				},
			};
			const result = await fn(tx);
			await client.query('COMMIT');
			return result;
		} catch (e) {
			await client.query('ROLLBACK').catch(() => undefined);
			throw wrapSqlError(e, describe);
		} finally {
			client.release();
		}
	}
}

/** SQL errors (constraint, syntax) pass through; connection failures get the database named. */
function wrapSqlError(e: unknown, describe: (e: unknown) => Error): Error {
	const err = e as { code?: string; message?: string };
	if (err && typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) && !err.code.startsWith('08') && !err.code.startsWith('57'))
		return e as Error;
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
		close: () => db.close(),
	};
}
