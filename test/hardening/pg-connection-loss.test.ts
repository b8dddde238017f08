/**
 * n8n must outlive its database: every pg client the package holds loses its connection — idle in
 * the pool, checked out inside a transaction between statements, mid-query, mid-claim — in a plain
 * Node process of its own (as n8n's main process or a worker would run the package). An unheard
 * 'error' event would end that process; here it must finish, report each fault as a clear error,
 * and leave only whole rows behind.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { createTestDatabase } from '../helpers/services';
import { recordTally } from '../helpers/tally';

jest.setTimeout(5 * 60_000);

const ROUNDS = Number(process.env.ECA_CONNLOSS_ROUNDS ?? 3);
const LOST = /^StoreConnectionError: Campaign database .* the database went away or cannot be reached .*run the workflow again/;

it(`the store loses its connections at every point ${ROUNDS} times over; the process lives on and says what happened`, async () => {
	let faults = 0;
	for (let round = 0; round < ROUNDS; round++) {
		const db = await createTestDatabase('eca_connloss');
		try {
			const child = spawnSync(join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx'), [join(__dirname, 'fixtures', 'pg-connection-loss.ts')], {
				env: { ...process.env, NODE_OPTIONS: '', ECA_PG_CONNECTION: JSON.stringify(db.connection) },
				encoding: 'utf8',
				timeout: 120_000,
			});
			expect({ status: child.status, stderr: child.stderr.slice(0, 2000) }).toEqual({ status: 0, stderr: '' });
			const r = JSON.parse(child.stdout.trim().split('\n').pop()!);
			faults += 4 + r.claims.length;
			expect(r.idleTerminated).toBeGreaterThan(0);
			expect(r.afterIdle).toBe('ok'); // the pool replaces idle connections it lost
			for (const k of ['betweenStatements', 'midQuery', 'awaitingElsewhere']) expect(r[k]).toMatch(LOST);
			for (const c of r.claims) if (c !== 'ok') expect(c).toMatch(LOST);
			expect(r.after).toBe('ok');
			// A claim is one transaction: all of its 200 rows or none of them.
			const { host, port, user, database } = db.connection;
			const pg = new Client({ host, port, user, database });
			await pg.connect();
			const runs = (await pg.query(`SELECT run_id, count(*)::int AS n FROM eca_deliveries GROUP BY run_id`)).rows;
			await pg.end();
			for (const run of runs) expect(run.n).toBe(200);
		} finally {
			await db.drop();
		}
	}
	recordTally({ suite: 'faults: pg connection loss', faults, inputs: ROUNDS });
});
