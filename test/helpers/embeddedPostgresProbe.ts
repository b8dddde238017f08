/**
 * Run by test/integration/embedded-postgres.test.ts in a child process (tsx), with
 * ECA_TEST_POSTGRES=embedded, to show the fallback end to end outside the test's own process:
 *   inprocess  ensurePostgres() as a script that is not jest does (benchmarks): starts the server itself
 *   setup      jest's global set-up, then a "worker" process on the same environment, then the teardown
 *   worker     what a test file does: a database, the store's migrations, a claim, a query
 * Prints one JSON line last.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { closeAllStores, getCampaignStore } from '../../lib/store';
import { sql } from './sql';
import { createTestDatabase, ensurePostgres, PG, PG_ENV } from './services';
import globalSetup from './globalSetup';
import globalTeardown from './globalTeardown';

const portOpen = (port: number) =>
	new Promise<boolean>((resolve) => {
		const s = net.connect({ port, host: '127.0.0.1' });
		s.once('connect', () => (s.destroy(), resolve(true)));
		s.once('error', () => resolve(false));
	});

async function worker() {
	const t0 = Date.now();
	await ensurePostgres();
	const db = await createTestDatabase('eca_embedded_probe');
	const store = await getCampaignStore({ postgres: db.connection });
	const driver = sql(store);
	const first = await store.claimDeliveries('c-probe', 'run-1', 1, [{ email: 'Ana@Example.io', delivery_id: 'd1', variant: 'A' }]);
	const again = await store.claimDeliveries('c-probe', 'run-2', 1, [{ email: 'ana@example.io', delivery_id: 'd2', variant: 'A' }]);
	const one = async (q: string) => Object.values((await driver.query<Record<string, unknown>>(q)).rows[0])[0];
	const out = {
		pid: process.pid,
		port: PG.port,
		source: process.env[PG_ENV.source],
		embeddedDir: process.env[PG_ENV.embeddedDir],
		dataDirectory: await one('SHOW data_directory'),
		version: await one('SHOW server_version'),
		encoding: await one('SHOW server_encoding'),
		migrations: Number(await one('SELECT count(*) FROM eca_schema_migrations')),
		claimed: first.claimed.length,
		claimedAgain: again.claimed.length,
		ms: Date.now() - t0,
	};
	await closeAllStores();
	await db.drop();
	return out;
}

async function main() {
	const mode = process.argv[2];
	if (mode === 'worker' || mode === 'inprocess') return worker();
	if (mode !== 'setup') throw new Error(`mode: inprocess | setup | worker, not ${mode}`);
	const t0 = Date.now();
	await globalSetup();
	const setupMs = Date.now() - t0;
	const child = spawnSync(process.execPath, [...process.execArgv, __filename, 'worker'], { encoding: 'utf8', env: process.env });
	const port = Number(process.env.PGPORT);
	const dir = process.env[PG_ENV.embeddedDir] ?? '';
	await globalTeardown();
	const lines = child.stdout.trim().split('\n');
	return {
		setupMs,
		worker: child.status === 0 ? JSON.parse(lines[lines.length - 1]) : { failed: child.stderr },
		afterTeardown: { portOpen: await portOpen(port), dirExists: existsSync(dir) },
	};
}

main().then(
	(r) => console.log(JSON.stringify(r)),
	(e: Error) => {
		console.error(e.stack);
		process.exit(1);
	},
);
