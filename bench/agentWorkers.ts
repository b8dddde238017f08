/**
 * bench:agent:workers — one campaign step on two queue-mode workers: n8n main + 2 workers (Redis,
 * Postgres, one execution per worker at a time), contacts from a Postgres table.
 *
 *   npm run bench:agent:workers [-- --contacts 100000]
 *
 * Baseline in the same run: the step of one campaign by one Campaign Agent execution (one worker).
 * Then the step of a second campaign (the same contacts) by two executions started at once, which
 * land on both workers and split the recipients through the store's row claims. Prints the speed-up
 * and checks 0 duplicates and 0 lost at the simulator.
 */
import { Client } from 'pg';
import { agentParameters, campaignRig, ours, publish, timedRun, webhook } from './n8nCampaign';
import { arg, report } from './common';

const N = Number(arg('contacts') ?? process.env.BENCH_CONTACTS ?? 100_000);
const TABLE = 'bench_worker_contacts';

function workflow(campaignId: string) {
	const path = `bench-workers-${campaignId}`;
	const hook = { ...webhook(path), parameters: { httpMethod: 'POST', path, responseMode: 'lastNode', options: {} } };
	const agent = {
		id: 'a',
		name: 'Campaign Agent',
		type: ours('campaignAgent'),
		typeVersion: 1,
		position: [220, 0],
		parameters: { ...agentParameters(campaignId), contactSource: 'postgres', contactsQuery: `SELECT email, first_name FROM ${TABLE} ORDER BY id`, contactsQueryParameters: '' },
	};
	return {
		id: `benchWorkers${campaignId.slice(-4)}`.padEnd(16, '0').slice(0, 16),
		name: `bench: agent on workers ${campaignId}`,
		nodes: [hook, agent],
		connections: { [hook.name]: { main: [[{ node: agent.name, type: 'main', index: 0 }]] } },
		path,
	};
}

async function main() {
	const rig = await campaignRig(20, { workers: 2, workerConcurrency: 1 });
	try {
		const { host, port, user, database } = rig.db.connection;
		const pg = new Client({ host, port, user, database });
		await pg.connect();
		await pg.query(`CREATE TABLE ${TABLE} (id serial PRIMARY KEY, email text NOT NULL, first_name text)`);
		await pg.query(`INSERT INTO ${TABLE} (email, first_name) SELECT 'user' || g || '@workers.bench.example', 'User' || g FROM generate_series(0, $1::int - 1) g`, [N]);
		await pg.end();

		// Warm-up on both workers (modules, pools), a small campaign of its own.
		const warm = workflow('warm');
		const warmUrl = await publish(rig, warm as unknown as Record<string, unknown>, warm.path);
		await Promise.all([timedRun(rig, 'warm-up', warmUrl, 'POST', '{}', 'application/json'), timedRun(rig, 'warm-up', warmUrl, 'POST', '{}', 'application/json')]);

		const single = workflow('one');
		const singleUrl = await publish(rig, single as unknown as Record<string, unknown>, single.path);
		const one = await timedRun(rig, 'one worker', singleUrl, 'POST', '{}', 'application/json');
		console.log(`one execution, one worker: ${N} contacts in ${one.wall_s} s, ${one.requests} requests, ${one.accepted} accepted`);

		const split = workflow('two');
		const splitUrl = await publish(rig, split as unknown as Record<string, unknown>, split.path);
		const started = (w: number) => [...rig.n8n.output(`worker${w}`).matchAll(/Worker started execution (\d+)/g)].length;
		const startedBefore = [started(0), started(1)];
		const before = await rig.sim.stats();
		const t0 = performance.now();
		const both = await Promise.all([0, 1].map(() => timedRun(rig, 'two workers', splitUrl, 'POST', '{}', 'application/json')));
		const wall = Math.round(performance.now() - t0) / 1000;
		const after = await rig.sim.stats();
		const summaries = both.map((r) => (Array.isArray(r.response) ? r.response[0] : r.response) as Record<string, number>);
		const accepted = after.accepted - before.accepted;
		const workers = [0, 1].filter((w) => started(w) > startedBefore[w]);
		console.log(`two executions at once: ${N} contacts in ${wall} s, ${after.requests - before.requests} requests, ${accepted} accepted; sent per execution ${summaries.map((s) => s.sent ?? 0).join(' + ')}; workers used ${workers.join(', ')}`);
		const duplicates = after.duplicates.length;
		const lost = N - accepted + (N - one.accepted);
		if (duplicates || lost) console.error(`DUPLICATES ${duplicates}, LOST ${lost}`);
		report({
			bench: 'agent_workers',
			contacts: N,
			workers: 2,
			workers_used: workers.length,
			wall_s: wall,
			baseline_wall_s: one.wall_s,
			speedup: Math.round((one.wall_s / wall) * 100) / 100,
			requests: after.requests - before.requests,
			sent_per_execution: summaries.map((s) => s.sent ?? 0),
			duplicates,
			lost,
			peak_rss_mb: Math.max(...both.map((r) => r.peak_rss_mb)),
			idle_rss_mb: Math.min(...both.map((r) => r.idle_rss_mb)),
		});
	} finally {
		await rig.close();
	}
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
