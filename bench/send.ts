/**
 * bench:send — 100,000 recipients through the Send Email stage against the SendGrid simulator
 * (20 ms per request), batched (1,000 per request) vs. one request per recipient, in the same run.
 * The per-recipient baseline is measured on a slice (100,000 requests at 20 ms would take minutes)
 * and scaled linearly; the JSON says how many recipients it measured.
 */
import { SimulatorProcess, startSimulatorProcess } from '../test/simulators/serve';
import { createSendGridTransport } from '../lib/sendgrid/client';
import { sendEmailWithSendgrid } from '../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../lib/stages/buildEmailPayload';
import { parseCampaign } from '../lib/stages/loadCampaignContent';
import { getCampaignStore, closeAllStores } from '../lib/store';
import { TokenBucketLimiter } from '../lib/sendgrid/rateLimiter';
import { createTestDatabase } from '../test/helpers/services';
import { campaignInput, contacts } from '../test/helpers/fixtures';
import { PeakRss, report, seconds } from './common';

const RECIPIENTS = Number(process.env.BENCH_RECIPIENTS ?? 100_000);
const BASELINE_SLICE = Number(process.env.BENCH_BASELINE_RECIPIENTS ?? 2_000);
const LATENCY = 20;

async function run(n: number, batchSize: number, id: string, sim: SimulatorProcess) {
	const db = await createTestDatabase('eca_bench');
	const store = await getCampaignStore({ postgres: db.connection });
	const transport = createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl });
	const campaign = parseCampaign(campaignInput({ id }));
	const payloads = buildEmailPayloads(campaign, contacts(n, `${id}.example`), `run-${id}`, { step: 1, batchSize });
	const before = (await sim.stats()).requests;
	const t0 = performance.now();
	const batches = await sendEmailWithSendgrid(payloads, { transport, store, limiter: new TokenBucketLimiter({ requestsPerSecond: 0, emailsPerSecond: 0 }) }, { concurrency: 8 });
	const wall = performance.now() - t0;
	const sent = batches.reduce((k, b) => k + b.results.filter((r) => r.status === 'sent').length, 0);
	await closeAllStores();
	await db.drop();
	return { wall, requests: (await sim.stats()).requests - before, sent };
}

async function main() {
	const sim = await startSimulatorProcess({ latencyMs: LATENCY });
	const rss = new PeakRss();
	const batched = await run(RECIPIENTS, 1000, 'bench-batched', sim);
	const peak = rss.stop();
	const baseline = await run(BASELINE_SLICE, 1, 'bench-single', sim);
	await sim.stop();
	if (batched.sent !== RECIPIENTS || baseline.sent !== BASELINE_SLICE) throw new Error(`not every recipient was sent: ${batched.sent}/${RECIPIENTS}, ${baseline.sent}/${BASELINE_SLICE}`);
	const baselineWall = baseline.wall * (RECIPIENTS / BASELINE_SLICE);
	console.log(`batched: ${RECIPIENTS} recipients, ${batched.requests} requests, ${seconds(batched.wall)} s, peak RSS ${peak} MB`);
	console.log(`one request per recipient: ${baseline.requests} requests for ${BASELINE_SLICE} recipients in ${seconds(baseline.wall)} s → ${seconds(baselineWall)} s for ${RECIPIENTS}`);
	report({
		bench: 'send',
		recipients: RECIPIENTS,
		requests: batched.requests,
		wall_s: seconds(batched.wall),
		recipients_per_s: Math.round(RECIPIENTS / (batched.wall / 1000)),
		peak_rss_mb: peak,
		baseline_requests: RECIPIENTS,
		baseline_measured_recipients: BASELINE_SLICE,
		baseline_wall_s: seconds(baselineWall),
		ratio: Math.round((baselineWall / batched.wall) * 10) / 10,
	});
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
