/**
 * bench:agent — contacts through the Campaign Agent in a real n8n against the SendGrid simulator,
 * from a CSV file on disk (Read/Write Files from Disk → the agent; n8n keeps the file on disk and the
 * agent reads it as a stream) and from a Postgres table (a query read through a cursor).
 *
 *   npm run bench:agent                              100,000 contacts
 *   npm run bench:agent -- --contacts 1000000        100,000 and 1,000,000 side by side
 *   npm run bench:agent -- --run-in main             the agent in n8n's main thread (default: its worker thread)
 *
 * In the same run: the five stage nodes on (at most) 100,000 contacts from an uploaded CSV (the
 * baseline: they hold every contact in n8n's items), and the same graph in a plain Node 24 process
 * (bench/plainAgent.ts). n8n's RSS is every n8n process, sampled every 100 ms; idle is measured
 * after a 1,000-contact warm-up run of each source, so module loading is not counted as list growth.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { CampaignRig, CampaignRun, agentParameters, campaignRig, ours, publish, runCampaign, timedRun, webhook } from './n8nCampaign';
import { runPlainAgent } from './plainAgent';
import { writeContactsCsv } from '../test/helpers/fixtures';
import { arg, report } from './common';

const N = Number(arg('contacts') ?? process.env.BENCH_CONTACTS ?? 100_000);
const BASE = Math.min(N, 100_000);
/** `--sources csv` runs one source only (both by default). */
const SOURCES = (arg('sources') ?? 'csv,postgres').split(',').filter((x): x is 'csv' | 'postgres' => x === 'csv' || x === 'postgres');

/** `--run-in main` runs the agent in n8n's main thread; by default in its worker thread (Run Agent In → Worker Thread). */
const RUN_IN = arg('run-in') === 'main' ? 'main' : 'worker';

type Source = { kind: 'csv'; path: string } | { kind: 'postgres'; table: string };

/** Webhook → (Read/Write Files from Disk →) Campaign Agent, one workflow per run (its own path and campaign). */
function agentWorkflow(tag: string, source: Source) {
	const hook = { ...webhook(`bench-agent-${tag}`), parameters: { httpMethod: 'POST', path: `bench-agent-${tag}`, responseMode: 'lastNode', options: {} } };
	const agentSource =
		source.kind === 'csv'
			? { contactSource: 'csvBinary', binaryPropertyName: 'data' }
			: { contactSource: 'postgres', contactsQuery: `SELECT email, first_name FROM ${source.table} ORDER BY id`, contactsQueryParameters: '', emailField: 'email' };
	const agent = { id: 'a', name: 'Campaign Agent', type: ours('campaignAgent'), typeVersion: 1, position: [440, 0], parameters: { ...agentParameters(`bench-agent-${tag}`), ...agentSource, runIn: RUN_IN } };
	const read = { id: 'r', name: 'Read CSV', type: 'n8n-nodes-base.readWriteFile', typeVersion: 1.1, position: [220, 0], parameters: { operation: 'read', fileSelector: source.kind === 'csv' ? source.path : '', options: {} } };
	const nodes = source.kind === 'csv' ? [hook, read, agent] : [hook, agent];
	const chain = nodes.map((n) => n.name);
	return {
		id: `benchAgent${tag}`.replace(/[^A-Za-z0-9]/g, '').padEnd(16, '0').slice(0, 16),
		name: `bench: campaign agent ${tag}`,
		nodes,
		connections: Object.fromEntries(chain.slice(0, -1).map((from, i) => [from, { main: [[{ node: chain[i + 1], type: 'main', index: 0 }]] }])),
	};
}

async function contactsTable(rig: CampaignRig, table: string, n: number, domain: string): Promise<void> {
	const { host, port, user, database } = rig.db.connection;
	const pg = new Client({ host, port, user, database });
	await pg.connect();
	try {
		await pg.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, email text NOT NULL, first_name text)`);
		await pg.query(`INSERT INTO ${table} (email, first_name) SELECT 'user' || g || '@${domain}', 'User' || g FROM generate_series(0, $1::int - 1) g`, [n]);
		await pg.query(`ANALYZE ${table}`);
	} finally {
		await pg.end();
	}
}

interface AgentRun extends CampaignRun {
	source: string;
	contacts: number;
	summary: Record<string, unknown>;
}

async function agentRun(rig: CampaignRig, dir: string, source: 'csv' | 'postgres', n: number): Promise<AgentRun> {
	const tag = `${source}${n}`;
	const domain = `${tag}.bench.example`;
	const src: Source = source === 'csv' ? { kind: 'csv', path: join(dir, `${tag}.csv`) } : { kind: 'postgres', table: `bench_contacts_${n}` };
	if (src.kind === 'csv') await writeContactsCsv(src.path, n, domain);
	else await contactsTable(rig, src.table, n, domain);
	const url = await publish(rig, agentWorkflow(tag, src) as unknown as Record<string, unknown>, `bench-agent-${tag}`);
	const run = await timedRun(rig, `agent (${tag})`, url, 'POST', '{}', 'application/json');
	const summary = (Array.isArray(run.response) ? run.response[0] : run.response) as Record<string, unknown>;
	if (src.kind === 'csv') rmSync(src.path, { force: true });
	const line = `${source.padEnd(8)} ${String(n).padStart(9)} contacts: ${run.wall_s} s, ${run.requests} requests, ${run.accepted} accepted, n8n RSS ${run.idle_rss_mb} → ${run.peak_rss_mb} MB (+${run.peak_rss_mb - run.idle_rss_mb})`;
	console.log(line);
	if (process.env.BENCH_DEBUG) console.log(JSON.stringify(summary).slice(0, 2000));
	return { ...run, source, contacts: n, summary };
}

async function main() {
	const dir = mkdtempSync(join(tmpdir(), 'eca-bench-agent-'));
	// BENCH_N8N_NODE_OPTIONS: Node options for n8n's processes (a --require'd probe, a heap limit).
	const rig = await campaignRig(20, { env: { N8N_RESTRICT_FILE_ACCESS_TO: dir, ...(process.env.BENCH_N8N_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_N8N_NODE_OPTIONS } : {}) } });
	try {
		// Warm-up: the package's modules, the store's pool and the webhook paths are loaded before idle is read.
		for (const source of SOURCES) await agentRun(rig, dir, source, 1_000);
		const idle = rig.n8n.rssMb();
		const runs: AgentRun[] = [];
		for (const n of N > BASE ? [BASE, N] : [N]) for (const source of SOURCES) runs.push(await agentRun(rig, dir, source, n));
		const stages = await runCampaign(rig, 'pipeline', BASE);
		console.log(`five stage nodes ${BASE} contacts: ${stages.wall_s} s, ${stages.requests} requests, n8n RSS peak ${stages.peak_rss_mb} MB`);
		// The same package n8n runs (its nodes folder), so both measure the same code.
		const packageDir = join(rig.n8n.nodesFolder, 'node_modules', 'n8n-nodes-email-campaign-agent');
		// The same run outside n8n, in the same thread arrangement as the agent's runs (and, for a worker run, in the main thread too).
		const plain = await runPlainAgent({ simBaseUrl: rig.sim.baseUrl, db: rig.db.connection, contacts: BASE, simStats: () => rig.sim.stats(), packageDir, runIn: RUN_IN });
		console.log(`plain Node 24 ${BASE} contacts (${RUN_IN} thread): ${plain.wall_s} s (graph ${plain.agent_s} s)`);
		const plainMain = RUN_IN === 'main' ? plain : await runPlainAgent({ simBaseUrl: rig.sim.baseUrl, db: rig.db.connection, contacts: BASE, simStats: () => rig.sim.stats(), packageDir, runIn: 'main' });
		if (plainMain !== plain) console.log(`plain Node 24 ${BASE} contacts (main thread): ${plainMain.wall_s} s`);

		const stats = await rig.sim.stats();
		const lost = runs.reduce((sum, r) => sum + (r.contacts - r.accepted), 0);
		const at = (source: string, n: number) => runs.find((r) => r.source === source && r.contacts === n);
		const main = at(SOURCES[0], N)!;
		const base = at(SOURCES[0], BASE)!;
		const growth = (r: AgentRun) => r.peak_rss_mb - idle;
		const figures = (r: AgentRun | undefined) => r && ({ wall_s: r.wall_s, requests: r.requests, accepted: r.accepted, peak_rss_mb: r.peak_rss_mb, rss_growth_mb: growth(r), us_per_contact: Math.round((r.wall_s * 1e6) / r.contacts) });
		if (lost !== 0 || stats.duplicates.length !== 0) console.error(`LOST ${lost}, DUPLICATES ${stats.duplicates.length}`);
		report({
			bench: 'agent',
			run_in: RUN_IN,
			contacts: N,
			requests: main.requests,
			wall_s: main.wall_s,
			peak_rss_mb: Math.max(...runs.map((r) => r.peak_rss_mb)),
			idle_rss_mb: idle,
			rss_growth_mb: Math.max(...runs.map(growth)),
			duplicates: stats.duplicates.length,
			lost,
			source: SOURCES[0],
			csv: figures(at('csv', N)),
			postgres: figures(at('postgres', N)),
			...(N > BASE ? { [`csv_${BASE}`]: figures(at('csv', BASE)), [`postgres_${BASE}`]: figures(at('postgres', BASE)), time_per_contact_ratio: Math.round((main.wall_s / N / (base.wall_s / BASE)) * 100) / 100 } : {}),
			baseline_contacts: BASE,
			baseline_wall_s: stages.wall_s,
			baseline_peak_rss_mb: stages.peak_rss_mb,
			plain_node_wall_s: plain.wall_s,
			plain_node_main_thread_wall_s: plainMain.wall_s,
			in_n8n_vs_plain: Math.round((base.wall_s / plain.wall_s) * 100) / 100,
			stage_nodes_vs_agent: Math.round((stages.wall_s / base.wall_s) * 100) / 100,
		});
	} finally {
		await rig.close();
		rmSync(dir, { recursive: true, force: true });
	}
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
