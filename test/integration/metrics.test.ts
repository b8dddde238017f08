/**
 * Campaign metrics (issue 24): the Prometheus text of the metrics endpoint, parsed back with a
 * text-format parser, against a Postgres store with known sends (through the SendGrid simulator,
 * answering 429 and 500), events, suppressions and runs. Values equal the store's; HELP and TYPE
 * lines are there; a hostile campaign id cannot break the format; the campaign cap holds; no
 * address or secret appears; the dashboard answers ?view=metrics only to its users.
 */
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import { hostname } from 'node:os';
import { SendGridSimulator } from '../simulators/sendgridServer';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import { TokenBucketLimiter } from '../../lib/sendgrid/rateLimiter';
import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { campaignMetrics, METRICS_PREFIX, NO_STEP } from '../../lib/observability/metrics';
import { campaignMetricsData, METRICS_CAMPAIGN_LIMIT } from '../../lib/store/metrics';
import { handleDashboard } from '../../lib/dashboard/router';
import { getCampaignStore, type CampaignStore } from '../../lib/store';
import { recordSendStats } from '../../lib/store/metrics';
import { campaignInput, contacts } from '../helpers/fixtures';
import { sql } from '../helpers/sql';
import { useSimulatorAndStore } from '../helpers/simulatorStore';

jest.setTimeout(120_000);

const API_KEY = 'SG.metrics-secret-key-0123456789';
let sim: SendGridSimulator;
let store: CampaignStore;
const env = useSimulatorAndStore({ dbPrefix: 'eca_metrics', simulator: { apiKeys: [API_KEY] } });
beforeAll(() => ({ sim, store } = env));

const transport = () => createSendGridTransport({ apiKey: API_KEY, baseUrl: sim.baseUrl, timeoutMs: 5000 });
const twoSteps = () => {
	const [one] = campaignInput().steps!;
	return [one, { ...one, step: 2, delayHours: 48, subject: 'Still there, {{first_name|there}}?' }];
};
const payloadsFor = (id: string, n: number, step = 1, batchSize = 5) =>
	buildEmailPayloads(parseCampaign(campaignInput({ id, unsubscribeUrl: 'https://acme.example/unsub', steps: twoSteps() })), contacts(n, `${id}.example`), `run-${id}-${step}`, { step, batchSize });

const p = (name: string) => `${METRICS_PREFIX}${name}`;
function family(parsed: ParsedFamily[], name: string): ParsedFamily {
	const f = parsed.find((x) => x.name === name);
	if (!f) throw new Error(`no metric family ${name}`);
	return f;
}
/** name → "label=value,..." → value, for samples whose labels include `where`. */
function samples(parsed: ParsedFamily[], name: string, where: Record<string, string> = {}): Map<string, number> {
	const out = new Map<string, number>();
	for (const m of family(parsed, name).metrics) {
		const labels = m.labels ?? {};
		if (Object.entries(where).some(([k, v]) => labels[k] !== v)) continue;
		const key = Object.keys(labels)
			.filter((k) => !(k in where))
			.sort()
			.map((k) => `${k}=${labels[k]}`)
			.join(',');
		out.set(key, Number(m.value));
	}
	return out;
}

describe('the metrics endpoint on a store with known sends', () => {
	const C = 'metrics-c1';
	let text: string;
	let parsed: ParsedFamily[];
	let sim429 = 0;
	let sim500 = 0;

	beforeAll(async () => {
		// Step 1: 30 recipients in batches of 5, through the simulator answering 429 and 500 (seeded); step 2: 4 recipients.
		sim.reset();
		sim.setFaults({ rate429: 0.4, rate500: 0.25, omitResetHeader: true, seed: 11 });
		const limiter = new TokenBucketLimiter({ requestsPerSecond: 0, emailsPerSecond: 0 });
		const backoff = { baseDelayMs: 20, maxDelayMs: 60, maxRetries: 20, maxRateLimitRetries: 50 };
		await sendEmailWithSendgrid(payloadsFor(C, 30, 1), { transport: transport(), store, limiter }, { concurrency: 2, backoff });
		sim.setFaults(undefined);
		await sendEmailWithSendgrid(payloadsFor(C, 4, 2), { transport: transport(), store, limiter }, { backoff });
		sim429 = sim.requests.filter((r) => r.status === 429).length;
		sim500 = sim.requests.filter((r) => r.status === 500).length;
		// The run of step 1 ends with its LLM usage; the run of step 2 stays running.
		await store.refreshRun(`run-${C}-1`, { finished: true, llmCalls: 3, llmTokens: 1234 });
		// Events of step 1 (delivered ×3, open ×2, click ×1) and one without a step; suppressions with two reasons.
		const ev = [
			['delivered', 1],
			['delivered', 1],
			['delivered', 1],
			['open', 1],
			['open', 1],
			['click', 1],
			['bounce', null],
		] as const;
		let k = 0;
		for (const [event, step] of ev)
			await sql(store).query(`INSERT INTO eca_events (sg_event_id, event, email, ts, campaign_id, step, payload) VALUES ($1, $2, $3, now(), $4, $5, '{}')`, [
				`ev-${++k}`,
				event,
				`user${k}@${C}.example`,
				C,
				step,
			]);
		await store.addSuppressions([
			{ email: `user1@${C}.example`, scope: 'global', reason: 'bounce', source: 'test' },
			{ email: `user2@${C}.example`, scope: 'global', reason: 'bounce', source: 'test' },
			{ email: `user3@${C}.example`, scope: 'global', reason: 'unsubscribe', source: 'test' },
		]);
		const m = await campaignMetrics(store);
		text = m.text;
		expect(m.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
		parsed = parsePrometheusTextFormat(text);
	});

	it('the simulator did answer 429 and 500, and the run rows counted exactly those answers and the retries', async () => {
		expect(sim429).toBeGreaterThan(0);
		expect(sim500).toBeGreaterThan(0);
		const runs = await sql(store).query<{ run_id: string; sg_rate_limited: number; sg_retries: number; limiter_wait_ms: string }>(
			`SELECT run_id, sg_rate_limited, sg_retries, limiter_wait_ms FROM eca_runs WHERE campaign_id = $1 ORDER BY run_id`,
			[C],
		);
		const [one, two] = runs.rows;
		expect(one).toMatchObject({ run_id: `run-${C}-1`, sg_rate_limited: sim429, sg_retries: sim429 + sim500 });
		expect(two).toMatchObject({ run_id: `run-${C}-2`, sg_rate_limited: 0, sg_retries: 0 });
		// After each 429 the shared limiter is paused (jittered backoff, up to 60 ms): the next acquire waited.
		expect(Number(one.limiter_wait_ms)).toBeGreaterThan(0);
	});

	it('every family has its HELP and TYPE line, and the parser reads every sample line', () => {
		for (const name of ['deliveries', 'events_total', 'runs', 'llm_calls_total', 'llm_tokens_total', 'sendgrid_rate_limited_total', 'sendgrid_retries_total', 'limiter_wait_seconds_total', 'suppressions', 'runs_in_progress']) {
			const f = family(parsed, p(name));
			expect(f.help.length).toBeGreaterThan(10);
			expect(text).toContain(`# HELP ${p(name)} `);
			expect(text).toContain(`# TYPE ${p(name)} ${name.endsWith('_total') ? 'counter' : 'gauge'}`);
			expect(f.type).toBe(name.endsWith('_total') ? 'COUNTER' : 'GAUGE');
		}
		const sampleLines = text.split('\n').filter((l) => l && !l.startsWith('#'));
		expect(parsed.reduce((n, f) => n + f.metrics.length, 0)).toBe(sampleLines.length);
	});

	it("deliveries per step and status equal the store's rows", async () => {
		const rows = await sql(store).query<{ step: number; status: string; n: number }>(
			`SELECT step, status, count(*)::int AS n FROM eca_deliveries WHERE campaign_id = $1 AND mode = 'live' GROUP BY 1, 2`,
			[C],
		);
		const expected = new Map(rows.rows.map((r) => [`status=${r.status},step=${r.step}`, r.n]));
		expect(samples(parsed, p('deliveries'), { campaign_id: C })).toEqual(expected);
		expect(expected.get('status=sent,step=1')).toBe(30);
		expect(expected.get('status=sent,step=2')).toBe(4);
	});

	it('events per step and type; runs by outcome; LLM calls and tokens; 429s, retries and wait per run step', async () => {
		expect(samples(parsed, p('events_total'), { campaign_id: C })).toEqual(
			new Map([
				['event=click,step=1', 1],
				['event=delivered,step=1', 3],
				['event=open,step=1', 2],
				[`event=bounce,step=${NO_STEP}`, 1],
			]),
		);
		expect(samples(parsed, p('runs'), { campaign_id: C })).toEqual(new Map([['outcome=finished,step=1', 1], ['outcome=running,step=2', 1]]));
		expect(samples(parsed, p('llm_calls_total'), { campaign_id: C })).toEqual(new Map([['step=1', 3], ['step=2', 0]]));
		expect(samples(parsed, p('llm_tokens_total'), { campaign_id: C })).toEqual(new Map([['step=1', 1234], ['step=2', 0]]));
		expect(samples(parsed, p('sendgrid_rate_limited_total'), { campaign_id: C })).toEqual(new Map([['step=1', sim429], ['step=2', 0]]));
		expect(samples(parsed, p('sendgrid_retries_total'), { campaign_id: C })).toEqual(new Map([['step=1', sim429 + sim500], ['step=2', 0]]));
		const waitMs = Number((await sql(store).query<{ w: string }>(`SELECT limiter_wait_ms AS w FROM eca_runs WHERE run_id = $1`, [`run-${C}-1`])).rows[0].w);
		expect(samples(parsed, p('limiter_wait_seconds_total'), { campaign_id: C }).get('step=1')).toBeCloseTo(waitMs / 1000, 6);
	});

	it('suppressions by reason, runs in progress per worker (this process: host:pid)', () => {
		expect(samples(parsed, p('suppressions'))).toEqual(new Map([['reason=bounce', 2], ['reason=unsubscribe', 1]]));
		expect(samples(parsed, p('runs_in_progress'))).toEqual(new Map([[`worker=${hostname()}:${process.pid}`, 1]]));
	});

	it('no address or secret appears in the text', () => {
		expect(text).not.toContain('@');
		expect(text).not.toContain(API_KEY);
		expect(text).not.toContain('metrics-secret');
		expect(text).not.toMatch(/user\d/);
	});

	it('the dashboard answers ?view=metrics with the same text to a signed-in user, 401 and no numbers to anyone else', async () => {
		const access = { users: new Map([['prom', 'scrape-pass']]), allowedActors: [] };
		const refused = await handleDashboard(store, { query: { view: 'metrics' }, headers: {} }, { access });
		expect(refused.status).toBe(401);
		expect(refused.headers['www-authenticate']).toMatch(/^Basic /);
		expect(refused.body).not.toContain(METRICS_PREFIX);
		const wrong = await handleDashboard(store, { query: { view: 'metrics' }, headers: { authorization: `Basic ${Buffer.from('prom:nope').toString('base64')}` } }, { access });
		expect(wrong.status).toBe(401);
		const ok = await handleDashboard(store, { query: { view: 'metrics' }, headers: { authorization: `Basic ${Buffer.from('prom:scrape-pass').toString('base64')}` } }, { access });
		expect(ok).toMatchObject({ status: 200, kind: 'metrics', headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' } });
		expect(samples(parsePrometheusTextFormat(ok.body), p('deliveries'), { campaign_id: C })).toEqual(samples(parsed, p('deliveries'), { campaign_id: C }));
	});
});

describe('labels and cardinality', () => {
	it('a campaign id with quotes, backslashes and newlines is escaped: the parser reads it back whole and nothing else changes', async () => {
		const evil = 'evil"} 99\nemail_campaign_deliveries{campaign_id="forged\\';
		await sql(store).query(`INSERT INTO eca_campaigns (id, definition) VALUES ($1, '{}')`, [evil]);
		await sql(store).query(`INSERT INTO eca_deliveries (delivery_id, campaign_id, run_id, step, email, status) VALUES ('evil-d1', $1, 'evil-run', 1, 'x@evil.example', 'sent')`, [evil]);
		const { text } = await campaignMetrics(store);
		const parsed = parsePrometheusTextFormat(text);
		expect(samples(parsed, p('deliveries'), { campaign_id: evil })).toEqual(new Map([['status=sent,step=1', 1]]));
		expect([...samples(parsed, p('deliveries')).keys()].some((k) => k.includes('campaign_id=forged'))).toBe(false);
		// One sample line per sample: the newline inside the id did not start a line.
		const sampleLines = text.split('\n').filter((l) => l && !l.startsWith('#'));
		expect(parsed.reduce((n, f) => n + f.metrics.length, 0)).toBe(sampleLines.length);
		expect(text).toContain('campaign_id="evil\\"} 99\\nemail_campaign_deliveries{campaign_id=\\"forged\\\\"');
	});

	it(`at most ${METRICS_CAMPAIGN_LIMIT} campaigns are exported, the most recently created or run; the known total is said`, async () => {
		// 230 campaigns created after everything else, each with one delivery and one event.
		await sql(store).query(
			`INSERT INTO eca_campaigns (id, definition, created_at) SELECT 'cap-' || lpad(i::text, 3, '0'), '{}', now() + i * interval '1 second' FROM generate_series(1, 230) i`,
		);
		await sql(store).query(
			`INSERT INTO eca_deliveries (delivery_id, campaign_id, run_id, step, email, status) SELECT 'cap-d' || i, 'cap-' || lpad(i::text, 3, '0'), 'cap-run', 1, 'c' || i || '@cap.example', 'sent' FROM generate_series(1, 230) i`,
		);
		await sql(store).query(
			`INSERT INTO eca_events (sg_event_id, event, ts, campaign_id, step, payload) SELECT 'cap-e' || i, 'open', now(), 'cap-' || lpad(i::text, 3, '0'), 1, '{}' FROM generate_series(1, 230) i`,
		);
		const known = Number((await sql(store).query<{ n: string }>(`SELECT count(DISTINCT id) AS n FROM (SELECT id FROM eca_campaigns UNION SELECT campaign_id FROM eca_runs) x`)).rows[0].n);
		const { text } = await campaignMetrics(store);
		const parsed = parsePrometheusTextFormat(text);
		const campaignsIn = (name: string) => new Set(family(parsed, p(name)).metrics.map((m) => m.labels?.campaign_id));
		const expected = new Set(Array.from({ length: METRICS_CAMPAIGN_LIMIT }, (_, i) => `cap-${String(230 - i).padStart(3, '0')}`));
		expect(campaignsIn('deliveries')).toEqual(expected);
		expect(campaignsIn('events_total')).toEqual(expected);
		expect(samples(parsed, p('metrics_campaigns_exported')).get('')).toBe(METRICS_CAMPAIGN_LIMIT);
		expect(samples(parsed, p('metrics_campaigns_known')).get('')).toBe(known);
		expect(known).toBeGreaterThan(230);
		// A smaller cap is honoured too.
		expect((await campaignMetricsData(store, { limit: 3 })).campaigns).toEqual(['cap-230', 'cap-229', 'cap-228']);
	});
});

describe('on embedded PGlite', () => {
	it('the same reads and text: deliveries, events, runs with their send stats, the worker', async () => {
		const lite = await getCampaignStore({ inMemory: true });
		await lite.startRun({ runId: 'lite-run', campaignId: 'lite', step: 1, mode: 'live', worker: 'w-1' });
		await recordSendStats(lite, 'lite-run', { rate_limited: 2, retries: 3, limiter_wait_ms: 1500 });
		await sql(lite).query(`INSERT INTO eca_deliveries (delivery_id, campaign_id, run_id, step, email, status) VALUES ('l1', 'lite', 'lite-run', 1, 'a@lite.example', 'sent'), ('l2', 'lite', 'lite-run', 1, 'b@lite.example', 'failed')`);
		await sql(lite).query(`INSERT INTO eca_events (sg_event_id, event, ts, campaign_id, step, payload) VALUES ('le1', 'open', now(), 'lite', 1, '{}')`);
		const parsed = parsePrometheusTextFormat((await campaignMetrics(lite)).text);
		expect(samples(parsed, p('deliveries'), { campaign_id: 'lite' })).toEqual(new Map([['status=failed,step=1', 1], ['status=sent,step=1', 1]]));
		expect(samples(parsed, p('events_total'), { campaign_id: 'lite' })).toEqual(new Map([['event=open,step=1', 1]]));
		expect(samples(parsed, p('runs'), { campaign_id: 'lite' })).toEqual(new Map([['outcome=running,step=1', 1]]));
		expect(samples(parsed, p('sendgrid_rate_limited_total'), { campaign_id: 'lite' })).toEqual(new Map([['step=1', 2]]));
		expect(samples(parsed, p('sendgrid_retries_total'), { campaign_id: 'lite' })).toEqual(new Map([['step=1', 3]]));
		expect(samples(parsed, p('limiter_wait_seconds_total'), { campaign_id: 'lite' })).toEqual(new Map([['step=1', 1.5]]));
		expect(samples(parsed, p('runs_in_progress'))).toEqual(new Map([['worker=w-1', 1]]));
	});
});
