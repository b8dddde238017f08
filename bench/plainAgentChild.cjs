'use strict';
/**
 * The child of bench/plainAgent.ts: one Campaign Agent run in a plain Node process, from the package's
 * built dist/ (the same files n8n loads), with the I/O the node builds (Postgres store, SendGrid
 * transport, shared rate limiter, StoreCheckpointSaver) and the CSV file read as a stream in 64 KiB
 * chunks, as the node reads an uploaded file n8n keeps on disk. Config: JSON in PLAIN_AGENT_CONFIG.
 * Prints one JSON line on stdout.
 */
const { createReadStream, statSync } = require('node:fs');
const { join } = require('node:path');

async function main() {
	const started = performance.now();
	const cfg = JSON.parse(process.env.PLAIN_AGENT_CONFIG);
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
	const result = await runCampaignAgent(
		{
			campaign: cfg.campaign,
			contacts: { kind: 'csv', data, options: { ...cfg.csvOptions, sizeBytes } },
			steps: undefined,
			batchSize: cfg.batchSize,
			copy: cfg.copy,
			sendOptions: { ...cfg.sendOptions, account },
			keepRows: false,
			audience: cfg.audience,
		},
		{ store, send: { transport, store, limiter }, generate: { chat: undefined, store } },
		{ runId, resume: false, checkpointer: cfg.noCheckpointer ? undefined : new StoreCheckpointSaver(store) },
	);
	const done = performance.now();
	const cpu = process.cpuUsage(cpu0);
	await closeAllStores();
	process.stdout.write(
		`${JSON.stringify({
			run_id: result.runId,
			contacts: result.total,
			counts: result.counts,
			invalid: result.invalid.length,
			agent_ms: result.durationMs,
			execute_ms: Math.round(done - loaded),
			cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
			load_ms: Math.round(loaded - started),
			node: process.version,
		})}\n`,
	);
}

main().catch((e) => {
	process.stderr.write(`${(e && e.stack) || e}\n`);
	process.exit(1);
});
