/** The delivery engine against the SendGrid simulator over HTTP with @sendgrid/mail: rules, limits, faults. */
import { SendGridSimulator } from '../simulators/sendgridServer';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { TokenBucketLimiter } from '../../lib/sendgrid/rateLimiter';
import type { CampaignStore } from '../../lib/store';
import { campaignInput, contacts } from '../helpers/fixtures';
import { sql } from '../helpers/sql';
import { useSimulatorAndStore } from '../helpers/simulatorStore';

jest.setTimeout(180_000);

let sim: SendGridSimulator;
let store: CampaignStore;
const env = useSimulatorAndStore();
beforeAll(() => ({ sim, store } = env));
beforeEach(() => {
	sim.reset();
	sim.setFaults(undefined);
	sim.setRateLimit(undefined);
});

const transport = () => createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 5000 });
const payloadsFor = (id: string, n: number, overrides = {}, batchSize = 1000) =>
	buildEmailPayloads(parseCampaign(campaignInput({ id, unsubscribeUrl: 'https://acme.example/unsub', categories: ['spring'], ...overrides })), contacts(n, `${id}.example`), `run-${id}`, { step: 1, batchSize });

describe('sending through the simulator', () => {
	it.each([999, 1000, 1001])('%i recipients: every one accepted once, in ceil(n/1000) requests, with merge fields applied', async (n) => {
		const out = await sendEmailWithSendgrid(payloadsFor(`b${n}`, n), { transport: transport(), store });
		expect(out.flatMap((b) => b.results).every((r) => r.status === 'sent' && r.message_id)).toBe(true);
		expect(sim.requests.filter((r) => r.status === 202)).toHaveLength(Math.ceil(n / 1000));
		expect(sim.accepted).toHaveLength(n);
		expect(sim.duplicateRecipients()).toEqual([]);
		const m = sim.deliveriesTo(`user7@b${n}.example`)[0];
		expect(m.subject).toBe('Hi User7, spring deals inside');
		expect(m.html).toContain('Hello User7');
		expect(m.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
		expect(m.customArgs).toMatchObject({ campaign_id: `b${n}`, step: '1', variant: 'A', delivery_id: expect.any(String) });
	});

	it('a SendGrid 400 for a request is what the simulator says SendGrid says; the engine splits and sends the rest', async () => {
		const payloads = payloadsFor('bad1', 5);
		payloads[0].recipients[3].email = 'bad@@example'; // slipped past validation (plain items)
		const out = await sendEmailWithSendgrid(payloads, { transport: transport(), store });
		const results = out[0].results;
		expect(results.filter((r) => r.status === 'sent')).toHaveLength(4);
		expect(results[3]).toMatchObject({ status: 'failed', http_status: 400, error: expect.stringMatching(/valid address/) });
		expect(sim.accepted.map((m) => m.to)).not.toContain('bad@@example');
	});

	it('waits for X-RateLimit-Reset when the account limit is hit', async () => {
		sim.setRateLimit({ limit: 2, windowMs: 1000 });
		const t0 = Date.now();
		const out = await sendEmailWithSendgrid(payloadsFor('rl', 500, {}, 100), { transport: transport(), store }, { concurrency: 2 });
		expect(out.flatMap((b) => b.results).filter((r) => r.status === 'sent')).toHaveLength(500);
		expect(sim.requests.some((r) => r.status === 429)).toBe(true);
		expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
		expect(sim.accepted).toHaveLength(500);
	});

	it('10,000 recipients under 30 % 429, 5 % 500 and 2 % dropped connections: each accepted exactly once and logged once', async () => {
		sim.setFaults({ rate429: 0.3, rate500: 0.05, rateDrop: 0.02, omitResetHeader: true, seed: 42 });
		const limiter = new TokenBucketLimiter({ requestsPerSecond: 0, emailsPerSecond: 0 });
		const out = await sendEmailWithSendgrid(payloadsFor('faults', 10_000, {}, 100), { transport: transport(), store, limiter }, // The simulator drops these connections before accepting, so retrying them is safe here; the
		// hardening suite covers the default (no blind re-send) with slow answers that were accepted.
		{ concurrency: 8, onAmbiguousFailure: 'retry', backoff: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 10, maxRateLimitRetries: 50 } });
		const results = out.flatMap((b) => b.results);
		expect(results.filter((r) => r.status === 'sent')).toHaveLength(10_000);
		expect(sim.accepted).toHaveLength(10_000);
		expect(sim.duplicateRecipients()).toEqual([]);
		const injected = sim.requests.filter((r) => r.status !== 202).length;
		expect(injected).toBeGreaterThan(20);
		const rows = await sql(store).query<{ n: number; sent: number }>(`SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'sent')::int AS sent FROM eca_deliveries WHERE campaign_id = 'faults'`);
		expect(rows.rows[0]).toEqual({ n: 10_000, sent: 10_000 });
	});

	it('sandbox mode is validated but delivers nothing and claims nothing', async () => {
		const p = payloadsFor('sandbox', 3).map((x) => ({ ...x, sandbox: true }));
		const out = await sendEmailWithSendgrid(p, { transport: transport(), store });
		expect(out[0].results.map((r) => r.status)).toEqual(['sandbox', 'sandbox', 'sandbox']);
		expect(sim.accepted).toHaveLength(0);
		expect(await store.deliveries({ campaignId: 'sandbox' })).toHaveLength(0);
	});

	it('a wrong API key stops the run with a clear message and no key in it', async () => {
		const bad = createSendGridTransport({ apiKey: 'SG.wrong-secret-key', baseUrl: sim.baseUrl });
		const err = (await sendEmailWithSendgrid(payloadsFor('badkey', 2), { transport: bad, store }).then(
			() => new Error('expected a refusal'),
			(e: Error) => e,
		)) as Error;
		expect(err.message).toMatch(/SendGrid refused the API key \(401\)/);
		expect(err.message).not.toContain('wrong-secret');
	});
});
