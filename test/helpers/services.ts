/**
 * Real Postgres and Redis for tests: started with the machine's own commands when they are down,
 * and a clear failure when they cannot be started.
 */
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Client } from 'pg';
import type { PostgresConnection } from '../../lib/store';

export const PG = { host: '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres' };
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
	return new Promise((resolve) => {
		const s = net.connect({ port, host });
		s.once('connect', () => (s.destroy(), resolve(true)));
		s.once('error', () => resolve(false));
		s.setTimeout(1000, () => (s.destroy(), resolve(false)));
	});
}

async function waitFor(port: number, ms: number): Promise<boolean> {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		if (await portOpen(port)) return true;
		await new Promise((r) => setTimeout(r, 250));
	}
	return false;
}

/** True once the server answers a query (an open port may still say "the database system is starting up"). */
async function acceptsQueries(): Promise<boolean> {
	const c = new Client({ ...PG, database: 'postgres', connectionTimeoutMillis: 2000 });
	c.on('error', () => undefined);
	try {
		await c.connect();
		await c.query('SELECT 1');
		return true;
	} catch {
		return false;
	} finally {
		await c.end().catch(() => undefined);
	}
}

export async function ensurePostgres(): Promise<void> {
	if (!(await portOpen(PG.port))) {
		try {
			execSync('pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start', { stdio: 'pipe', shell: '/bin/bash' });
		} catch (e) {
			throw new Error(`PostgreSQL is not running on 127.0.0.1:${PG.port} and could not be started: ${(e as Error).message}`);
		}
	}
	const end = Date.now() + 30_000;
	while (!(await acceptsQueries())) {
		if (Date.now() > end) throw new Error(`PostgreSQL was started but does not answer queries on 127.0.0.1:${PG.port}`);
		await new Promise((r) => setTimeout(r, 250));
	}
}

export async function ensureRedis(): Promise<void> {
	if (await portOpen(6379)) return;
	try {
		execSync(
			'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
			{ stdio: 'pipe' },
		);
	} catch (e) {
		throw new Error(`Redis is not running on 127.0.0.1:6379 and could not be started: ${(e as Error).message}`);
	}
	if (!(await waitFor(6379, 10_000))) throw new Error('Redis was started but does not answer on 127.0.0.1:6379');
}

/** A fresh database for one test file; drop() removes it. */
export async function createTestDatabase(prefix = 'eca_test'): Promise<{ connection: PostgresConnection; drop: () => Promise<void> }> {
	await ensurePostgres();
	const name = `${prefix}_${randomBytes(4).toString('hex')}`;
	const admin = new Client({ ...PG, database: 'postgres' });
	await admin.connect();
	await admin.query(`CREATE DATABASE ${name}`);
	await admin.end();
	return {
		connection: { ...PG, database: name },
		drop: async () => {
			const c = new Client({ ...PG, database: 'postgres' });
			await c.connect();
			await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
			await c.end();
		},
	};
}
