/**
 * Exactly once where runs overlap: the flaky-SendGrid fault run (429s, 500s, dropped connections,
 * slow answers) with two runs of the same step started at once on the same 10,000 recipients, and a
 * Log Campaign Result of an older run's results arriving late. Processed events confirm what SendGrid
 * took; a later run sends the rest. Every row must end in a state lib/delivery allows, none twice.
 */
import { SendGridSimulator } from '../simulators/sendgridServer';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { logCampaignResult } from '../../lib/stages/logCampaignResult';
import { TokenBucketLimiter } from '../../lib/sendgrid/rateLimiter';
import { applyEvents } from '../../lib/store/events';
import { normalizeEvent } from '../../lib/events/normalize';
import type { CampaignStore } from '../../lib/store';
import { DELIVERY_STATES, FINAL } from '../../lib/delivery/states';
import type { DeliveryResult } from '../../lib/schemas';
import { campaignInput, contacts } from '../helpers/fixtures';
import { recordTally } from '../helpers/tally';
import { useSimulatorAndStore } from '../helpers/simulatorStore';

jest.setTimeout(10 * 60_000);

let sim: SendGridSimulator;
let store: CampaignStore;
const env = useSimulatorAndStore({ dbPrefix: 'eca_overlap' });
beforeAll(() => ({ sim, store } = env));

const N = 10_000;
const ID = 'overlap';

function send(runId: string, resendAfter?: number) {
	return sendEmailWithSendgrid(
		buildEmailPayloads(parseCampaign(campaignInput({ id: ID })), contacts(N, 'overlap.example'), runId, { step: 1, batchSize: 100 }),
		{ transport: createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 3000 }), store, limiter: new TokenBucketLimiter({ requestsPerSecond: 0, emailsPerSecond: 0 }) },
		{ concurrency: 6, resendUnconfirmedAfterSeconds: resendAfter, backoff: { baseDelayMs: 5, maxDelayMs: 100, maxRetries: 12, maxRateLimitRetries: 60 } },
	).then((b) => b.flatMap((x) => x.results));
}

it('two overlapping runs under faults, a stale log and the reconciling run: each recipient accepted once, every row final', async () => {
	sim.reset();
	sim.setFaults({ rate429: 0.3, rate500: 0.05, rateDrop: 0.02, rateSlow: 0.05, slowMs: 4000, omitResetHeader: true, seed: 7 });
	const [a, b] = await Promise.all([send('run-overlap-a'), send('run-overlap-b')]);
	sim.setFaults(undefined);
	const faults = sim.requests.filter((r) => r.status !== 202).length;
	expect(faults).toBeGreaterThan(20);

	// Every recipient has one answer from each run; between them, nobody was sent by both.
	const byRun = (rs: DeliveryResult[], status: string) => new Set(rs.filter((r) => r.status === status).map((r) => r.email));
	const sentA = byRun(a, 'sent');
	const sentB = byRun(b, 'sent');
	expect([...sentA].filter((e) => sentB.has(e))).toEqual([]);
	expect(a).toHaveLength(N);
	expect(b).toHaveLength(N);

	// Run A's results are logged late, after run B wrote its own: a stale report changes nothing it does not hold.
	await logCampaignResult(b, { store });
	const stale = await logCampaignResult(a, { store });
	const before = new Map((await store.deliveries({ campaignId: ID })).map((r) => [String(r.email), `${r.status}/${r.run_id}`]));

	// SendGrid's processed events for what it took (after its slow answers have landed), then a run sends the rest.
	await new Promise((r) => setTimeout(r, 5000));
	const taken = sim.accepted.filter((m) => m.customArgs.campaign_id === ID);
	await applyEvents(store, taken.map((m, i) => normalizeEvent({ event: 'processed', email: m.to, sg_event_id: `ov-${i}`, sg_message_id: m.sgMessageId, ...m.customArgs, timestamp: Math.floor(Date.now() / 1000) })));
	const c = await send('run-overlap-c', 0);
	await logCampaignResult(c, { store });

	const accepted = sim.accepted.filter((m) => m.customArgs.campaign_id === ID);
	const unique = new Set(accepted.map((m) => m.to));
	const duplicates = accepted.length - unique.size;
	const lost = N - unique.size;
	recordTally({ suite: 'faults: overlapping runs', faults, inputs: N, duplicates, lost });
	expect(duplicates).toBe(0);
	expect(lost).toBe(0);
	// The late log of run A never wrote over a row run B held.
	for (const x of stale[0]?.errors ?? []) if (/not written/.test(x.error)) expect(before.get(x.email)).not.toMatch(/\/run-overlap-a$/);
	const rows = await store.deliveries({ campaignId: ID });
	expect(rows).toHaveLength(N);
	for (const r of rows) expect(DELIVERY_STATES).toContain(r.status);
	expect(rows.filter((r) => !FINAL.includes(r.status as never))).toEqual([]);
	expect(rows.every((r) => r.status === 'sent')).toBe(true);
});
