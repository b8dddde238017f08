/**
 * The Campaign Agent's run outside n8n: the same graph (lib/agent/graph.ts runCampaignAgent) with the
 * config the Campaign Agent node builds from the benchmark workflow's parameters (template copy, live
 * send with the same limits, batch 1000, Postgres store, StoreCheckpointSaver), in a plain Node 24
 * child process that runs the package's built dist/ — by default the package exactly as n8n gets it
 * (packed from a clean clone and installed as n8n's installer does: same files, same dependency tree).
 * The contacts are a CSV file read as a stream, as the node reads an upload n8n keeps on disk.
 *
 * The parent (this file, under tsx) computes the config with the node's own readers over a stand-in
 * of n8n's execute context; the child (plainAgentChild.cjs) opens the I/O and runs the graph.
 *
 * CLI: `npx tsx bench/plainAgent.ts [--contacts 100000] [--runs 1] [--cpu-prof <dir>] [--package <dir>] [--no-checkpointer]
 * [--ballast-mb N] [--worker-old-mb M [--worker-young-mb Y]] [--run-in worker]` starts the simulator (20 ms/request) and a test database itself.
 * --ballast-mb keeps N MB of long-lived objects in the child before the run (n8n's heap stands behind the
 * node's run); --worker-old-mb runs the graph in a worker thread whose heap is capped at M MB old + Y MB
 * young; --run-in worker runs it as the node's Run Agent In → Worker Thread does (the package's own
 * runAgentInWorker). Each run prints the child's RSS growth over its idle.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { IExecuteFunctions } from 'n8n-workflow';
import { ensureNode24, installedPackage, packPackage } from '../scripts/n8n';
import { campaignFromParameters } from '../nodes/shared/campaignFields';
import { STREAM_LIMITS, readCombinedCopyAndDelivery } from '../nodes/shared/readers';
import { postgresFromCredentials } from '../nodes/shared/context';
import { audienceOptionsOf } from '../nodes/shared/audienceFields';
import { parseColumnMap } from '../lib/contacts/loadContacts';
import type { CampaignStore } from '../lib/store';
import { contacts as makeContacts, csvOf } from '../test/helpers/fixtures';
import { agentParameters } from './n8nCampaign';
import { arg } from './common';

export interface PlainAgentOptions {
	simBaseUrl: string;
	db: { host: string; port: number; database: string; user: string };
	/** The contacts CSV; written there (same rows as bench/n8nCampaign.ts) when the file does not exist. Default: a temporary file. */
	csvPath?: string;
	contacts: number;
	/** Campaign id (default: a new one per call, so claims of an earlier run never skip anyone). */
	campaignId?: string;
	/** The simulator's counters (SimulatorProcess.stats), to count the requests it received. */
	simStats?: () => Promise<{ requests: number; accepted: number }>;
	/** The installed package whose dist/ runs (default: the package as the n8n benchmarks install it). */
	packageDir?: string;
	/** Extra Node arguments for the child, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
	nodeArgs?: string[];
	/** Run the graph without a checkpointer (to measure what checkpoints cost; the node always has one). */
	noCheckpointer?: boolean;
	/** Live heap (MB of long-lived objects) the child keeps before the run, standing in for n8n's own. */
	ballastMb?: number;
	/** Run the graph in a worker thread with these heap limits (an experiment: its own heap, apart from the main isolate's). */
	worker?: { maxOldMb: number; maxYoungMb: number };
	/** 'worker': as the node's Run Agent In → Worker Thread (the package's runAgentInWorker); default: the main thread. */
	runIn?: 'main' | 'worker';
}

export interface PlainAgentResult {
	/** From the child's modules loaded (n8n has them loaded already) to the run's end: store, CSV stream, graph. */
	wall_s: number;
	/** The graph's own duration (runCampaignAgent's durationMs), comparable to the node's summary duration_ms. */
	agent_s: number;
	/** The child process from spawn to exit (Node start and module loading included). */
	process_wall_s: number;
	load_s: number;
	/** CPU time (user + system) of the child over the run (wall_s's span). */
	cpu_s: number;
	contacts: number;
	requests?: number;
	accepted?: number;
	counts: Record<string, number>;
	node: string;
	/** The child's RSS: after the ballast, before the run; its peak during the run; the difference. */
	idle_rss_mb: number;
	peak_rss_mb: number;
	rss_growth_mb: number;
}

/** A stand-in for n8n's execute context over fixed parameters: what the node's readers call. */
function parametersContext(parameters: Record<string, unknown>, credentials: Record<string, Record<string, unknown>>): IExecuteFunctions {
	const ctx = {
		getNode: () => ({ name: 'Campaign Agent', credentials: Object.fromEntries(Object.keys(credentials).map((k) => [k, { id: k, name: k }])) }),
		getNodeParameter: (name: string, _i: number, fallback?: unknown) => (name in parameters ? parameters[name] : fallback),
		getCredentials: async (name: string) => credentials[name],
		getInputData: () => [{ json: {} }],
		getMode: () => 'webhook',
	};
	return ctx as unknown as IExecuteFunctions;
}

/** The bench workflow's Campaign Agent parameters (bench/n8nCampaign.ts), as the node reads them. */
async function agentConfig(opts: PlainAgentOptions, campaignId: string) {
	const parameters: Record<string, unknown> = { ...agentParameters(campaignId), contactSource: 'csvBinary', binaryPropertyName: 'data' };
	const apiKey = 'SG.test-key';
	const ctx = parametersContext(parameters, { sendGridCampaignApi: { apiKey, region: 'custom', baseUrl: opts.simBaseUrl } });
	const { copy, delivery } = await readCombinedCopyAndDelivery(ctx, {} as CampaignStore);
	const raw = campaignFromParameters(ctx, 0) as Record<string, unknown>;
	if (delivery.unsubscribeGroupId) raw.unsubscribeGroupId = delivery.unsubscribeGroupId;
	const { account: _account, ...sendOptions } = delivery.options;
	const l = parameters.limits as Record<string, unknown>;
	return {
		apiKey,
		simBaseUrl: opts.simBaseUrl,
		timeoutMs: Number(l.timeoutMs ?? 30000),
		rates: { requestsPerSecond: Number(l.requestsPerSecond ?? 20), emailsPerSecond: Number(l.emailsPerSecond ?? 0) },
		postgres: postgresFromCredentials({ ...opts.db, password: '', schema: 'public', ssl: 'disable' }),
		campaign: raw,
		copy: copy.options,
		sendOptions,
		batchSize: parameters.batchSize as number,
		// The node's streamed sources' limits (nodes/shared/readers.ts STREAM_LIMITS), as the agent gets them in n8n.
		csvOptions: { columnMap: parseColumnMap(undefined), ...STREAM_LIMITS },
		audience: audienceOptionsOf({}),
	};
}

export async function runPlainAgent(opts: PlainAgentOptions): Promise<PlainAgentResult> {
	const nodeBin = await ensureNode24();
	const packageDir = opts.packageDir ?? installedPackage(packPackage()).dir;
	if (!existsSync(join(packageDir, 'dist', 'lib', 'agent', 'graph.js'))) throw new Error(`${packageDir} has no dist/lib/agent/graph.js (build or pack the package first)`);
	const campaignId = opts.campaignId ?? `bench-plain-${randomBytes(3).toString('hex')}`;
	const tmp = opts.csvPath ? undefined : mkdtempSync(join(tmpdir(), 'eca-plain-'));
	const csvPath = opts.csvPath ?? join(tmp!, 'contacts.csv');
	try {
		if (!existsSync(csvPath)) writeFileSync(csvPath, csvOf(makeContacts(opts.contacts, 'plain.bench')));
		const config = { ...(await agentConfig(opts, campaignId)), packageDir, csvPath, noCheckpointer: opts.noCheckpointer === true, ballastMb: opts.ballastMb ?? 0, worker: opts.worker, runIn: opts.runIn ?? 'main' };
		const before = await opts.simStats?.();
		const t0 = performance.now();
		const out = await new Promise<string>((done, fail) => {
			const child = spawn(nodeBin, [...(opts.nodeArgs ?? []), join(__dirname, 'plainAgentChild.cjs')], {
				env: { PATH: process.env.PATH, HOME: process.env.HOME, LANG: process.env.LANG ?? 'C.UTF-8', PLAIN_AGENT_CONFIG: JSON.stringify(config) },
				stdio: ['ignore', 'pipe', 'pipe'],
			});
			let stdout = '';
			let stderr = '';
			child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
			child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
			child.on('error', fail);
			child.on('exit', (code) => (code === 0 ? done(stdout) : fail(new Error(`plain agent child exited ${code}: ${stderr.slice(-3000)}`))));
		});
		const processWall = performance.now() - t0;
		const after = await opts.simStats?.();
		const r = JSON.parse(out.trim().split('\n').pop()!) as {
			contacts: number;
			counts: Record<string, number>;
			agent_ms: number;
			execute_ms: number;
			cpu_ms: number;
			load_ms: number;
			node: string;
			idle_rss_mb: number;
			peak_rss_mb: number;
			rss_growth_mb: number;
		};
		return {
			wall_s: r.execute_ms / 1000,
			agent_s: r.agent_ms / 1000,
			process_wall_s: Math.round(processWall) / 1000,
			load_s: r.load_ms / 1000,
			cpu_s: r.cpu_ms / 1000,
			contacts: r.contacts,
			requests: before && after ? after.requests - before.requests : r.counts.requests,
			...(before && after ? { accepted: after.accepted - before.accepted } : {}),
			counts: r.counts,
			node: r.node,
			idle_rss_mb: r.idle_rss_mb,
			peak_rss_mb: r.peak_rss_mb,
			rss_growth_mb: r.rss_growth_mb,
		};
	} finally {
		if (tmp) rmSync(tmp, { recursive: true, force: true });
	}
}

async function cli() {
	const { startSimulatorProcess } = await import('../test/simulators/serve');
	const { createTestDatabase, ensurePostgres } = await import('../test/helpers/services');
	const n = Number(arg('contacts') ?? 100_000);
	const prof = arg('cpu-prof');
	const runs = Number(arg('runs') ?? 1);
	await ensurePostgres();
	const sim = await startSimulatorProcess({ latencyMs: 20 });
	const db = await createTestDatabase('eca_bench_plain');
	try {
		const c = db.connection;
		for (let i = 0; i < runs; i++) {
			const r = await runPlainAgent({
				simBaseUrl: sim.baseUrl,
				db: { host: c.host, port: c.port, database: c.database, user: c.user },
				contacts: n,
				simStats: () => sim.stats(),
				packageDir: arg('package') ? resolve(arg('package')!) : undefined,
				nodeArgs: prof ? ['--cpu-prof', `--cpu-prof-dir=${resolve(prof)}`] : undefined,
				noCheckpointer: process.argv.includes('--no-checkpointer'),
				ballastMb: Number(arg('ballast-mb') ?? 0),
				runIn: arg('run-in') === 'worker' ? 'worker' : 'main',
				worker: arg('worker-old-mb') ? { maxOldMb: Number(arg('worker-old-mb')), maxYoungMb: Number(arg('worker-young-mb') ?? 8) } : undefined,
			});
			console.log(JSON.stringify({ bench: 'plain-agent', ...r }));
		}
	} finally {
		await sim.stop();
		await db.drop();
	}
}

if (require.main === module)
	cli().catch((e) => {
		console.error(e);
		process.exit(1);
	});
