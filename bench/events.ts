/**
 * bench:events — 100,000 signed SendGrid events in POSTs of 1,000 through a real n8n webhook into
 * Postgres: the SendGrid Trigger (verification + dedupe + store) next to n8n's generic approach
 * (Webhook → Split Out → Postgres insert with skip-on-conflict), measured in the same run. The
 * generic baseline is slow (hundreds of events/s), so it gets a slice of the events; the JSON says how many.
 * Then (unless BENCH_PROFILE=0) the same POSTs into a second, fresh n8n run under `node --cpu-prof`:
 * its main thread's CPU time over the POSTs (/proc), split into the package's share and n8n's by the
 * profile's samples (bench/eventsProfile.ts), per POST. The timed figures come from the first run, which is not profiled.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { type N8nInstance, startN8nWithPackage } from '../test/e2e/n8n';
import { SendGridSimulator, SendGridEvent } from '../test/simulators/sendgridServer';
import { createTestDatabase, ensurePostgres } from '../test/helpers/services';
import { eventually } from '../test/e2e/helpers';
import { report } from './common';
import { type ProfileSplit, mainThreadCpuMs, monotonicUs, profileFileOf, splitProfile } from './eventsProfile';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const BASELINE_EVENTS = Number(process.env.BENCH_BASELINE_EVENTS ?? 20_000);
const PER_POST = 1000;
const IN_FLIGHT = 4;
/** BENCH_PROFILE=0 skips the second, profiled run. */
const PROFILE = process.env.BENCH_PROFILE !== '0';
const PROFILE_INTERVAL_US = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function synthetic(n: number, campaign: string): SendGridEvent[] {
	const kinds = ['processed', 'delivered', 'open', 'click', 'deferred'];
	return Array.from({ length: n }, (_, i) => ({
		email: `user${i % 25_000}@bench.example`,
		event: kinds[i % kinds.length],
		timestamp: Math.floor(Date.now() / 1000),
		sg_event_id: randomBytes(16).toString('base64url'),
		sg_message_id: `msg${Math.floor(i / 1000)}.filter-${i}`,
		campaign_id: campaign,
		run_id: 'bench',
		step: '1',
		variant: 'A',
		delivery_id: `d${i % 25_000}`,
	}));
}

function percentile(xs: number[], p: number): number {
	const s = [...xs].sort((a, b) => a - b);
	return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]);
}

interface OursRun {
	wall_ms: number;
	ms: number[];
	stored: number;
	failed_posts: number;
	idle_rss_mb: number;
	peak_rss_mb: number;
	split?: ProfileSplit;
	/** CPU ms the n8n main thread used over the POSTs (profiled run). */
	cpu_ms?: number;
	baseline?: { wall_ms: number; ms: number[]; stored: number };
}

/** Samples n8n's resident memory (main process and its task runner) every 100 ms until stopped. */
function rssSampler(n8n: N8nInstance): { stop: () => number } {
	let peak = n8n.rssMb();
	const timer = setInterval(() => (peak = Math.max(peak, n8n.rssMb())), 100);
	return { stop: () => (clearInterval(timer), Math.max(peak, n8n.rssMb())) };
}

/**
 * One n8n with the two workflows; the SendGrid Trigger gets `events` in POSTs of PER_POST. With
 * `profileDir`, n8n runs under `node --cpu-prof` and the POSTs' window of its main thread is split
 * between the package and n8n (bench/eventsProfile.ts); the generic baseline runs only without it.
 */
async function run(sim: SendGridSimulator, events: SendGridEvent[], profileDir?: string): Promise<OursRun> {
	const db = await createTestDatabase('eca_bench_events');
	const n8n = await startN8nWithPackage(profileDir ? { env: { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir} --cpu-prof-interval=${PROFILE_INTERVAL_US}` } } : {});
	const pg = new Client({ host: db.connection.host, port: db.connection.port, user: db.connection.user, database: db.connection.database });
	let window: [number, number] | undefined;
	let pid: number | undefined;
	let result: OursRun | undefined;
	try {
		await pg.connect();
		const c = db.connection;
		const storeCred = { id: await n8n.createCredential('campaignDatabaseApi', 'bench store', { host: c.host, port: c.port, database: c.database, user: c.user, password: '', schema: 'public', ssl: 'disable' }), name: 'bench store' };
		const pgCred = { id: await n8n.createCredential('postgres', 'bench pg', { host: c.host, port: c.port, database: c.database, user: c.user, password: '', ssl: 'disable', allowUnauthorizedCerts: false, sshTunnel: false }), name: 'bench pg' };

		// Ours: SendGrid Trigger, manual registration with the simulator's key, one item per POST.
		const ours = await n8n.importWorkflow({
			id: 'benchEventsOurs1',
			name: 'bench events: SendGrid Trigger',
			nodes: [
				{ id: 't', name: 'SendGrid Trigger', type: 'n8n-nodes-email-campaign-agent.sendGridTrigger', typeVersion: 1, position: [0, 0], webhookId: '11111111-2222-4333-8444-555555555555', parameters: { registration: 'manual', publicKey: sim.publicKey, output: process.env.BENCH_OUTPUT ?? 'none', options: { binaryData: true } } },
				{ id: 'n', name: 'Done', type: 'n8n-nodes-base.noOp', typeVersion: 1, position: [220, 0], parameters: {} },
			],
			connections: { 'SendGrid Trigger': { main: [[{ node: 'Done', type: 'main', index: 0 }]] } },
		}, { campaignDatabaseApi: storeCred });
		// Generic: Webhook → Split Out → Postgres insert (skip on conflict), answering when written.
		await pg.query('CREATE TABLE bench_events (sg_event_id text PRIMARY KEY, event text, email text, timestamp bigint, sg_message_id text, campaign_id text, run_id text, step text, variant text, delivery_id text)');
		const generic = await n8n.importWorkflow({
			id: 'benchEventsGen01',
			name: 'bench events: generic',
			nodes: [
				{ id: 'w', name: 'Webhook', type: 'n8n-nodes-base.webhook', typeVersion: 2.1, position: [0, 0], webhookId: '66666666-7777-4888-8999-000000000000', parameters: { httpMethod: 'POST', path: 'generic-events', responseMode: 'lastNode', options: {} } },
				{ id: 's', name: 'Split Out', type: 'n8n-nodes-base.splitOut', typeVersion: 1, position: [220, 0], parameters: { fieldToSplitOut: 'body', options: {} } },
				{
					id: 'p',
					name: 'Postgres',
					type: 'n8n-nodes-base.postgres',
					typeVersion: 2.6,
					position: [440, 0],
					parameters: { operation: 'insert', schema: { __rl: true, mode: 'list', value: 'public' }, table: { __rl: true, mode: 'name', value: 'bench_events' }, columns: { mappingMode: 'autoMapInputData', value: {}, matchingColumns: [], schema: [] }, options: { skipOnConflict: true } },
					credentials: { postgres: pgCred },
				},
			],
			connections: { Webhook: { main: [[{ node: 'Split Out', type: 'main', index: 0 }]] }, 'Split Out': { main: [[{ node: 'Postgres', type: 'main', index: 0 }]] } },
		});
		await n8n.activate(ours.id);
		await n8n.activate(generic.id);
		const ourUrl = n8n.webhookUrl('11111111-2222-4333-8444-555555555555/events');
		await eventually(async () => (await fetch(ourUrl, { method: 'POST', body: '[]' })).status === 403, 'the trigger webhook to be live');
		await eventually(async () => (await fetch(n8n.webhookUrl('generic-events'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' })).status !== 404, 'the generic webhook to be live');
		// A first signed POST warms the store (connection pool, migrations) outside the measured window.
		const warm = await sim.postEvents(ourUrl, synthetic(PER_POST, 'bench-warmup'), { batchSize: PER_POST });
		if (warm[0].status !== 200) throw new Error(`the warm-up POST was answered ${warm[0].status}`);
		await sleep(2000);
		const idle = n8n.rssMb();
		const rss = rssSampler(n8n);

		const mainPid = n8n.pid('main')!;
		const cpu0 = mainThreadCpuMs(mainPid);
		const from = monotonicUs();
		const t0 = performance.now();
		const answers = await sim.postEvents(ourUrl, events, { batchSize: PER_POST, concurrency: IN_FLIGHT });
		const wall = performance.now() - t0;
		window = [from, monotonicUs()];
		const cpu = mainThreadCpuMs(mainPid) - cpu0;
		const replay = await sim.replayLastBatch();
		const stored = Number((await pg.query(`SELECT count(*) AS n FROM eca_events WHERE campaign_id = 'bench-ours'`)).rows[0].n);
		result = {
			wall_ms: wall,
			ms: answers.map((a) => a.ms),
			stored,
			failed_posts: answers.filter((a) => a.status !== 200).length + (replay.status === 200 ? 0 : 1),
			idle_rss_mb: idle,
			peak_rss_mb: 0,
			cpu_ms: cpu,
		};
		if (!profileDir) {
			const baselineEvents = synthetic(BASELINE_EVENTS, 'bench-generic');
			const t1 = performance.now();
			const baseAnswers = await sim.postEvents(n8n.webhookUrl('generic-events'), baselineEvents, { batchSize: PER_POST, concurrency: IN_FLIGHT });
			const baseWall = performance.now() - t1;
			const baseStored = Number((await pg.query('SELECT count(*) AS n FROM bench_events')).rows[0].n);
			result.baseline = { wall_ms: baseWall, ms: baseAnswers.map((a) => a.ms), stored: baseStored };
		}
		result.peak_rss_mb = rss.stop();
		pid = n8n.pid('main');
	} finally {
		await pg.end().catch(() => undefined);
		// n8n writes its profile when it exits (SIGTERM: a clean shutdown).
		await n8n.stop();
		await db.drop();
	}
	if (profileDir && result && window && pid) result.split = splitProfile(profileFileOf(profileDir, pid), n8n.nodesFolder, window[0], window[1]);
	return result!;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

async function main() {
	await ensurePostgres();
	const sim = new SendGridSimulator();
	const timed = await run(sim, synthetic(EVENTS, 'bench-ours'));
	const eventsPerS = Math.round(EVENTS / (timed.wall_ms / 1000));
	const baselinePerS = Math.round(BASELINE_EVENTS / (timed.baseline!.wall_ms / 1000));
	const posts = Math.ceil(EVENTS / PER_POST);
	console.log(`SendGrid Trigger: ${EVENTS} events in ${(timed.wall_ms / 1000).toFixed(1)} s (${eventsPerS}/s), p50 ${percentile(timed.ms, 50)} ms, p99 ${percentile(timed.ms, 99)} ms per ${PER_POST}-event POST, ${timed.stored} stored, ${timed.failed_posts} failed POSTs; n8n main thread ${round1(timed.cpu_ms! / posts)} ms CPU per POST; n8n RSS ${timed.idle_rss_mb} MB idle, ${timed.peak_rss_mb} MB peak`);
	console.log(`generic Webhook → Split Out → Postgres: ${BASELINE_EVENTS} events in ${(timed.baseline!.wall_ms / 1000).toFixed(1)} s (${baselinePerS}/s), p50 ${percentile(timed.baseline!.ms, 50)} ms, ${timed.baseline!.stored} stored`);

	let split: Record<string, unknown> = {};
	if (PROFILE) {
		// The same POSTs again into a fresh n8n and database, this time under --cpu-prof: its throughput is reported apart.
		const dir = mkdtempSync(join(tmpdir(), 'eca-bench-prof-'));
		try {
			const prof = await run(sim, synthetic(EVENTS, 'bench-ours'), dir);
			const s = prof.split!;
			// The samples are wall-clock slices (stretched while the thread waits for a core on this shared
			// machine): their shares split the main thread's measured CPU time between the package and n8n.
			const busy = s.ms.package + s.ms.n8n + s.ms.node_internal + s.ms.gc + s.ms.program;
			const cpuPerPost = prof.cpu_ms! / posts;
			const per = (x: number) => round1((cpuPerPost * x) / busy);
			const n8nMs = s.ms.n8n + s.ms.node_internal;
			console.log(
				`main thread per POST (profiled run, ${Math.round(EVENTS / (prof.wall_ms / 1000))} events/s): ${round1(cpuPerPost)} ms CPU, split by ${s.samples} samples over ${(s.window_ms / 1000).toFixed(1)} s: ` +
					`package ${per(s.ms.package)} ms, n8n ${per(n8nMs)} ms (of which Node internals outside any handler ${per(s.ms.node_internal)}), GC ${per(s.ms.gc)} ms, other native ${per(s.ms.program)} ms` +
					` (sampled wall time per POST: package ${round1(s.ms.package / posts)}, n8n ${round1(n8nMs / posts)}, idle ${round1(s.ms.idle / posts)} ms)`,
			);
			console.log('package, heaviest functions (sampled ms over the window):');
			for (const f of s.top_package) console.log(`  ${String(f.ms).padStart(6)}  ${f.fn}`);
			console.log('n8n, heaviest functions (sampled ms over the window):');
			for (const f of s.top_n8n) console.log(`  ${String(f.ms).padStart(6)}  ${f.fn}`);
			split = {
				main_cpu_ms_per_post: round1(cpuPerPost),
				package_ms_per_post: per(s.ms.package),
				n8n_ms_per_post: per(n8nMs),
				gc_ms_per_post: per(s.ms.gc),
				native_ms_per_post: per(s.ms.program),
				profiled_events_per_s: Math.round(EVENTS / (prof.wall_ms / 1000)),
				profiled_lost: Math.max(0, EVENTS - prof.stored),
			};
		} finally {
			if (!process.env.BENCH_KEEP_PROFILE) rmSync(dir, { recursive: true, force: true });
			else console.log(`profile kept in ${dir}`);
		}
	}
	report({
		bench: 'events',
		events: EVENTS,
		events_per_s: eventsPerS,
		p50_ms: percentile(timed.ms, 50),
		p99_ms: percentile(timed.ms, 99),
		duplicates: timed.stored > EVENTS ? timed.stored - EVENTS : 0,
		lost: Math.max(0, EVENTS - timed.stored),
		failed_posts: timed.failed_posts,
		main_cpu_ms_per_post_timed: round1(timed.cpu_ms! / posts),
		idle_rss_mb: timed.idle_rss_mb,
		peak_rss_mb: timed.peak_rss_mb,
		...split,
		baseline_events: BASELINE_EVENTS,
		baseline_events_per_s: baselinePerS,
		baseline_stored: timed.baseline!.stored,
		ratio: Math.round((eventsPerS / baselinePerS) * 10) / 10,
	});
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
