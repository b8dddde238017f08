'use strict';
/**
 * The child of bench/plainAgent.ts: one Campaign Agent run in a plain Node process, from the package's
 * built dist/ (the same files n8n loads), with the I/O the node builds (Postgres store, SendGrid
 * transport, shared rate limiter, StoreCheckpointSaver) and the CSV file read as a stream in 64 KiB
 * chunks, as the node reads an uploaded file n8n keeps on disk. Config: JSON in PLAIN_AGENT_CONFIG.
 * Prints one JSON line on stdout, with the process's RSS before and during the run. Experiments:
 * `ballastMb` keeps a live heap of that size first (n8n's own heap stands behind the node's run), and
 * `worker` runs the graph in a worker thread with its own capped heap.
 */
const { createReadStream, statSync } = require('node:fs');
const { join } = require('node:path');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

async function main(cfg) {
	const started = performance.now();
	const dist = join(cfg.packageDir, 'dist');
	const { runCampaignAgent } = require(join(dist, 'lib/agent/graph.js'));
	const { StoreCheckpointSaver } = require(join(dist, 'lib/agent/checkpointer.js'));
	const { getCampaignStore, closeAllStores } = require(join(dist, 'lib/store/index.js'));
	const { createSendGridTransport, sendGridBaseUrl } = require(join(dist, 'lib/sendgrid/client.js'));
	const { accountKey, sharedLimiter } = require(join(dist, 'lib/sendgrid/rateLimiter.js'));
	const { newRunId } = require(join(dist, 'lib/ids.js'));
	const loaded = performance.now();

	// What the node's execute does from here on: open the store, read copy and delivery, read the contact source, run.
	const store = await getCampaignStore({ postgres: cfg.postgres });
	const baseUrl = sendGridBaseUrl('custom', cfg.simBaseUrl);
	const transport = createSendGridTransport({ apiKey: cfg.apiKey, baseUrl, timeoutMs: cfg.timeoutMs });
	const account = accountKey(cfg.apiKey, baseUrl);
	const limiter = sharedLimiter(account, cfg.rates);
	const csvPath = cfg.csvPath;
	const sizeBytes = statSync(csvPath).size;
	const data = {
		async *[Symbol.asyncIterator]() {
			yield* createReadStream(csvPath, { highWaterMark: 64 * 1024 });
		},
	};
	const runId = cfg.runId || newRunId();
	const cpu0 = process.cpuUsage();
	const config = {
		campaign: cfg.campaign,
		contacts: { kind: 'csv', data, options: { ...cfg.csvOptions, sizeBytes } },
		steps: undefined,
		batchSize: cfg.batchSize,
		copy: cfg.copy,
		sendOptions: { ...cfg.sendOptions, account },
		keepRows: false,
		audience: cfg.audience,
	};
	let result;
	if (cfg.runIn === 'worker') {
		// The node's Run Agent In → Worker Thread: the package's own runAgentInWorker, the limiter and the file stream answered from here.
		const { runAgentInWorker, workerContactSource } = require(join(dist, 'lib/agent/agentWorker.js'));
		const { contacts, stream } = workerContactSource(config.contacts);
		const job = { config: { ...config, contacts }, postgres: cfg.postgres, sendgrid: { apiKey: cfg.apiKey, baseUrl, timeoutMs: cfg.timeoutMs }, limiter: true, runId, resume: false };
		result = await runAgentInWorker(job, { limiter }, stream);
	} else
		result = await runCampaignAgent(
			config,
			{ store, send: { transport, store, limiter }, generate: { chat: undefined, store } },
			{ runId, resume: false, checkpointer: cfg.noCheckpointer ? undefined : new StoreCheckpointSaver(store) },
		);
	const done = performance.now();
	const cpu = process.cpuUsage(cpu0);
	await closeAllStores();
	return {
			run_id: result.runId,
			contacts: result.total,
			counts: result.counts,
			invalid: result.invalid.length,
			agent_ms: result.durationMs,
			execute_ms: Math.round(done - loaded),
			cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
			load_ms: Math.round(loaded - started),
			node: process.version,
	};
}

/**
 * The process's RSS, sampled every 50 ms from the main thread: idle is taken after the ballast (a live
 * heap standing in for n8n's own) and before the run; the run's modules load inside it, as in n8n's first run.
 */
function rssSampler() {
	const mb = () => Math.round(process.memoryUsage.rss() / 1048576);
	const idle = mb();
	let peak = idle;
	const t = setInterval(() => (peak = Math.max(peak, mb())), 50);
	return () => (clearInterval(t), { idle_rss_mb: idle, peak_rss_mb: Math.max(peak, mb()), rss_growth_mb: Math.max(peak, mb()) - idle });
}

/** Long-lived objects of about `mb` MB, kept reachable for the whole run (n8n's heap is mostly such). */
function ballast(mb) {
	const keep = [];
	for (let i = 0; i < mb * 1024; i++) keep.push({ id: i, name: `ballast ${i}`, data: new Array(100).fill(i) });
	return keep;
}

async function top() {
	const cfg = JSON.parse(process.env.PLAIN_AGENT_CONFIG);
	const kept = ballast(cfg.ballastMb ?? 0);
	if (kept.length) await new Promise((r) => setTimeout(r, 500));
	const rss = rssSampler();
	let out;
	if (cfg.worker) {
		// The run in a worker thread with a heap of its own, capped by resourceLimits: its garbage never enters the main isolate's heap.
		out = await new Promise((done, fail) => {
			const w = new Worker(__filename, { workerData: cfg, resourceLimits: { maxOldGenerationSizeMb: cfg.worker.maxOldMb, maxYoungGenerationSizeMb: cfg.worker.maxYoungMb } });
			w.once('message', done);
			w.once('error', fail);
			w.once('exit', (code) => fail(new Error(`worker exited ${code} without a result`)));
		});
	} else out = await main(cfg);
	process.stdout.write(`${JSON.stringify({ ...out, ...rss(), ballast_objects: kept.length, worker: cfg.worker ?? null })}\n`);
}

if (isMainThread)
	top().catch((e) => {
		process.stderr.write(`${(e && e.stack) || e}\n`);
		process.exit(1);
	});
else main(workerData).then((r) => parentPort.postMessage(r));
