/**
 * The reputation guard against the SendGrid simulator and a real Postgres store: the circuit breaker
 * pauses a campaign (and its account) from the SendGrid Trigger's events before the next request,
 * every worker stops at its next claim or request, nothing claimed is lost, resume sends the rest
 * exactly once; an account refusal pauses the account; warm-up allowances over simulated days.
 */
import { SendGridSimulator, type SendGridEvent } from '../simulators/sendgridServer';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import type { RateLimiter } from '../../lib/sendgrid/rateLimiter';
import { type BatchResult, SendAbortedError, sendEmailWithSendgrid, type SendOptions } from '../../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { receiveEventPost } from '../../lib/events/webhookFlow';
import { DEFAULT_GUARD, guardThresholds, judge } from '../../lib/guard/breaker';
import { holdsOf, pauseCampaign, resumeSending } from '../../lib/guard/holds';
import { nextWarmupDay } from '../../lib/guard/warmup';
import { CampaignStore, getCampaignStore, listHolds, warmupHistory } from '../../lib/store';
import { applyEvents } from '../../lib/store/events';
import { normalizeEvent } from '../../lib/events/normalize';
import { runCampaignAgent } from '../../lib/agent/graph';
import { StoreCheckpointSaver } from '../../lib/agent/checkpointer';
import { campaignInput, contacts, csvOf } from '../helpers/fixtures';
import { useSimulatorAndStore } from '../helpers/simulatorStore';
import { countBy } from '../helpers/tally';
import { sql } from '../helpers/sql';
import { campaignStats } from '../../lib/stats/campaignStats';
import { renderDashboard } from '../../lib/stats/dashboardHtml';

jest.setTimeout(180_000);

const env = useSimulatorAndStore({ simulator: { apiKeys: ['SG.test-key', 'SG.other-key'] } });
let sim: SendGridSimulator;
let store: CampaignStore;
beforeAll(() => ({ sim, store } = env));
beforeEach(() => {
	sim.reset();
	sim.setVerifiedSenders(undefined);
});

const transport = (apiKey = 'SG.test-key') => createSendGridTransport({ apiKey, baseUrl: sim.baseUrl, timeoutMs: 5000 });
const payloadsFor = (id: string, n: number, runId = `run-${id}`, batchSize = 100) =>
	buildEmailPayloads(parseCampaign(campaignInput({ id })), contacts(n, `${id}.example`), runId, { step: 1, batchSize });
const fast: SendOptions['backoff'] = { sleep: async () => undefined };

/** SendGrid's Event Webhook post, signed, through the SendGrid Trigger's flow with the guard's default limits. */
async function postEvents(events: SendGridEvent[]) {
	const rawBody = Buffer.from(JSON.stringify(events));
	const { signature, timestamp } = sim.signPayload(rawBody);
	const answer = await receiveEventPost(
		{
			rawBody,
			headers: { 'x-twilio-email-event-webhook-signature': signature, 'x-twilio-email-event-webhook-timestamp': timestamp },
			keys: { node: sim.publicKey },
			store: async () => store,
		},
		{ wanted: ['processed', 'delivered', 'bounce', 'spamreport', 'open', 'click'], output: 'event', guard: DEFAULT_GUARD },
	);
	if (!('items' in answer)) throw new Error(`event post refused: ${answer.status} ${answer.error}`);
	return answer.items.filter((i) => i.event === 'campaign_paused');
}

/**
 * A limiter that lets `requests` requests through, then closes a gate: every later request waits there
 * until `workers` requests wait (one per worker: each worker's earlier requests have all been answered
 * by then), then `onClosed` runs (the events arrive) and the gate opens. So the hold is stored while
 * each worker has claimed a batch and not sent it: deterministic.
 */
function gateAfter(requests: number, workers: number, onClosed: () => Promise<void>): RateLimiter {
	let passed = 0;
	let queued = 0;
	let release!: () => void;
	const open = new Promise<void>((r) => (release = r));
	return {
		async acquire() {
			if (passed++ < requests) return;
			// Opens even when the post fails, so a failing test fails on its assertion instead of hanging.
			if (++queued === workers) void onClosed().finally(() => release());
			await open;
		},
		pauseUntil() {},
		setLimits() {},
	};
}

const statuses = (out: BatchResult[]) => countBy(out.flatMap((b) => b.results), (r) => r.status);

async function storedStatuses(campaignId: string): Promise<Record<string, number>> {
	const r = await sql(store).query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM eca_deliveries WHERE campaign_id = $1 AND mode = 'live' GROUP BY status`, [campaignId]);
	return Object.fromEntries(r.rows.map((x) => [x.status, x.n]));
}

describe('circuit breaker', () => {
	it.each([
		['8 % hard bounces after 300 sends', 'rg-bounce', { bounce: 24 }, 'hard_bounces', /hard bounces at 8\.0% of delivered \+ bounced \(24 of 300\)/],
		['a complaint spike (2 in 300)', 'rg-spam', { spamreport: 2 }, 'spam_reports', /spam complaints at 0\.67% of delivered \(2 of 300\)/],
	])('%s pauses the campaign before the next request; two workers stop; nothing claimed is lost; resume sends the rest once', async (_label, id, plan, cause, reason) => {
		const account = `acct-${id}`;
		await store.upsertCampaign(parseCampaign(campaignInput({ id })));
		const payloads = payloadsFor(id, 1000);
		let paused: Array<Record<string, unknown>> = [];
		const limiter = gateAfter(3, 2, async () => {
			const first = sim.accepted.slice(0, 300);
			const bounce = 'bounce' in plan ? first.slice(0, plan.bounce).map((m) => m.to) : undefined;
			const spamreport = 'spamreport' in plan ? first.slice(0, plan.spamreport).map((m) => m.to) : undefined;
			paused = await postEvents(sim.eventsFor(first, { bounce, spamreport }));
		});
		const options: SendOptions = { account, concurrency: 1, backoff: fast };
		const deps = { transport: transport(), store, limiter };
		const [a, b] = await Promise.all([sendEmailWithSendgrid(payloads.slice(0, 5), deps, options), sendEmailWithSendgrid(payloads.slice(5), deps, options)]);

		// The trigger paused the campaign and the account it sends with, and said so as items.
		expect(paused.map((p) => p.scope).sort()).toEqual([`account:${account}`, `campaign:${id}`]);
		expect(paused.find((p) => p.scope === `campaign:${id}`)).toMatchObject({ event: 'campaign_paused', campaign_id: id, cause, reason: expect.stringMatching(reason) });
		// Not one request after the pause: exactly the 300 accepted before it.
		expect(sim.accepted).toHaveLength(300);
		expect(sim.requests.filter((r) => r.path === '/v3/mail/send')).toHaveLength(3);
		// Both workers stopped with the reason in their output; every unsent recipient is paused, none lost.
		for (const out of [a, b]) expect(out.some((x) => x.paused?.scope === `account:${account}` || x.paused?.scope === `campaign:${id}`)).toBe(true);
		const all = statuses([...a, ...b]);
		expect(all).toEqual({ sent: 300, paused: 700 });
		const pausedResult = [...a, ...b].flatMap((x) => x.results).find((r) => r.status === 'paused')!;
		expect(pausedResult.error).toMatch(/is paused since .* by reputation guard: .*resume it with Campaign Sequence → Resume/);
		// The two batches claimed when the pause came were given back (retry), nothing stays claimed.
		expect(await storedStatuses(id)).toEqual({ sent: 300, retry: 200 });

		// The dashboard says what is paused and why.
		const stats = await campaignStats(store, { campaignId: id });
		expect(stats.campaigns).toEqual([expect.objectContaining({ id, status: 'paused' })]);
		expect(stats.paused?.map((h) => h.scope).sort()).toEqual([`account:${account}`, `campaign:${id}`]);
		expect(renderDashboard(stats)).toMatch(new RegExp(`<li data-scope="campaign:${id}"><strong>campaign:${id}</strong> \\(${cause}\\): campaign &quot;${id}&quot; is paused since`));
		// A third execution started now stops at its claim: it claims nobody.
		const late = await sendEmailWithSendgrid(payloadsFor(id, 1000, `run-${id}-late`), { transport: transport(), store }, { account, backoff: fast });
		expect(statuses(late)).toEqual({ paused: 1000 });
		expect(sim.accepted).toHaveLength(300);
		expect(await storedStatuses(id)).toEqual({ sent: 300, retry: 200 });

		// Resume (campaign and its account), recorded with who did it; the next run sends the rest exactly once.
		const lifted = await resumeSending(store, { campaignId: id, accountsOfCampaign: true }, 'ops@acme.example');
		expect(lifted.map((h) => h.scope).sort()).toEqual([`account:${account}`, `campaign:${id}`]);
		const { holds, log } = await holdsOf(store, id);
		expect(holds).toEqual([]);
		expect(log.filter((l) => l.action === 'resume').map((l) => l.actor)).toEqual(['ops@acme.example', 'ops@acme.example']);
		const rest = await sendEmailWithSendgrid(payloadsFor(id, 1000, `run-${id}-resume`), { transport: transport(), store }, { account, backoff: fast });
		// Who bounced or complained is suppressed now (and not sent again); everyone else got the message once.
		const gone = 'bounce' in plan ? plan.bounce : plan.spamreport;
		expect(statuses(rest)).toEqual({ already_sent: 300 - gone, suppressed: gone, sent: 700 });
		expect(sim.accepted).toHaveLength(1000);
		expect(sim.duplicateRecipients()).toEqual([]);
		expect(await storedStatuses(id)).toEqual({ sent: 1000 });
	});

	it('trips when later posts bring the window to the minimum sends: bounces in one post, the deliveries in the next ones', async () => {
		const id = 'rg-split';
		await sendEmailWithSendgrid(payloadsFor(id, 300), { transport: transport(), store }, { account: 'acct-split', backoff: fast });
		const events = sim.eventsFor(sim.accepted, { bounce: sim.accepted.slice(0, 24).map((m) => m.to) });
		// SendGrid's order: the bounces first (24 of 24 outcomes, but only 24 sends: no verdict yet)…
		const bounces = events.filter((e) => e.event === 'bounce' || sim.accepted.slice(0, 24).some((m) => m.to === e.email));
		expect(await postEvents(bounces)).toEqual([]);
		// …then the deliveries, in batches: the one that brings the window to 200 sends pauses (hard bounces 8 %).
		const rest = events.filter((e) => !bounces.includes(e));
		expect(await postEvents(rest.slice(0, 300))).toEqual([]);
		expect((await postEvents(rest.slice(300))).map((p) => p.scope).sort()).toEqual(['account:acct-split', `campaign:${id}`]);
	});

	it('stays closed below the limits, and before the minimum number of sends', async () => {
		const id = 'rg-healthy';
		await sendEmailWithSendgrid(payloadsFor(id, 300), { transport: transport(), store }, { account: 'acct-healthy', backoff: fast });
		// 4 % hard bounces (12 of 300): under 5 %.
		expect(await postEvents(sim.eventsFor(sim.accepted, { bounce: sim.accepted.slice(0, 12).map((m) => m.to) }))).toEqual([]);
		const small = 'rg-small';
		sim.reset();
		await sendEmailWithSendgrid(payloadsFor(small, 100), { transport: transport(), store }, { account: 'acct-small', backoff: fast });
		// 20 % bounces but only 100 sends: too few to judge.
		expect(await postEvents(sim.eventsFor(sim.accepted, { bounce: sim.accepted.slice(0, 20).map((m) => m.to) }))).toEqual([]);
		expect(await listHolds(store, ['campaign:rg-healthy', 'campaign:rg-small', 'account:acct-healthy', 'account:acct-small'])).toEqual([]);
	});

	it("events replayed by SendGrid count once; resuming a campaign starts its window again (not its account's)", async () => {
		const id = 'rg-replay';
		await sendEmailWithSendgrid(payloadsFor(id, 300), { transport: transport(), store }, { account: 'acct-replay', backoff: fast });
		const events = sim.eventsFor(sim.accepted, { bounce: sim.accepted.slice(0, 12).map((m) => m.to) });
		expect(await postEvents(events)).toEqual([]);
		// The same post again (SendGrid retries): still 12 of 300, not 24 of 600.
		expect(await postEvents(events)).toEqual([]);
		await pauseCampaign(store, id, 'jane@acme.example', 'checking the list');
		await resumeSending(store, { campaignId: id }, 'jane@acme.example');
		// After the campaign's resume its old counts are gone: 12 more bounces are 12 of 12 outcomes in a window
		// that starts again, below the minimum sends. The account was not resumed (it was never paused): for it
		// they make 24 of 312, 7.7 %, and the account is paused.
		const more = sim.eventsFor(sim.accepted.slice(12, 24), { bounce: sim.accepted.slice(12, 24).map((m) => m.to), noDelivery: true });
		expect(more.map((e) => e.event)).toEqual(Array(12).fill('bounce'));
		expect((await postEvents(more)).map((p) => p.scope)).toEqual(['account:acct-replay']);
		// Without the resume the same bounces trip it: shown on a twin campaign.
		sim.reset();
		await sendEmailWithSendgrid(payloadsFor('rg-replay-twin', 300), { transport: transport(), store }, { account: 'acct-replay-twin', backoff: fast });
		const twin = sim.eventsFor(sim.accepted, { bounce: sim.accepted.slice(0, 12).map((m) => m.to) });
		expect(await postEvents(twin)).toEqual([]);
		const twinMore = sim.eventsFor(sim.accepted.slice(12, 24), { bounce: sim.accepted.slice(12, 24).map((m) => m.to), noDelivery: true });
		expect((await postEvents(twinMore)).map((p) => p.scope).sort()).toEqual(['account:acct-replay-twin', 'campaign:rg-replay-twin']);
	});

	it('an account refusal (401) pauses the account: other campaigns on that key stop at their claim; a sender problem (403) pauses nothing', async () => {
		const bad = await sendEmailWithSendgrid(payloadsFor('rg-401', 200), { transport: transport('SG.revoked'), store }, { account: 'acct-revoked', backoff: fast }).catch((e) => e);
		expect(bad).toBeInstanceOf(SendAbortedError);
		expect(bad.message).toMatch(/SendGrid refused the API key \(401.*every campaign sent with this key is paused/);
		expect(await listHolds(store, ['account:acct-revoked'])).toEqual([expect.objectContaining({ cause: 'account_refused', held_by: 'run run-rg-401' })]);
		// Another campaign on the same account (its key fixed in SendGrid, same key): stops at its claim, nothing sent.
		const other = await sendEmailWithSendgrid(payloadsFor('rg-401b', 50), { transport: transport(), store }, { account: 'acct-revoked', backoff: fast });
		expect(statuses(other)).toEqual({ paused: 50 });
		expect(other[0].paused).toMatchObject({ scope: 'account:acct-revoked' });
		expect(sim.accepted).toHaveLength(0);
		// A different account is not affected.
		const fine = await sendEmailWithSendgrid(payloadsFor('rg-401c', 50), { transport: transport('SG.other-key'), store }, { account: 'acct-other', backoff: fast });
		expect(statuses(fine)).toEqual({ sent: 50 });
		// An unverified From address is the campaign's problem: the run stops, the account is not paused.
		sim.setVerifiedSenders(['@verified.example']);
		const sender = await sendEmailWithSendgrid(payloadsFor('rg-403', 20), { transport: transport(), store }, { account: 'acct-sender', backoff: fast }).catch((e) => e);
		expect(sender).toBeInstanceOf(SendAbortedError);
		expect(sender.message).toMatch(/403.*verified Sender Identity/);
		expect(await listHolds(store, ['account:acct-sender', 'campaign:rg-403'])).toEqual([]);
	});

	it('the Campaign Agent ends a paused run "paused" with the reason; resuming the same run sends the rest once', async () => {
		const id = 'rg-agent';
		const account = 'acct-agent';
		const config = {
			campaign: campaignInput({ id }),
			contacts: { kind: 'csv' as const, data: csvOf(contacts(600, `${id}.example`)) },
			batchSize: 100,
			chunkSize: 100,
			copy: { mode: 'template' as const },
			sendOptions: { account, backoff: fast },
		};
		const limiter = gateAfter(3, 1, async () => void (await postEvents(sim.eventsFor(sim.accepted.slice(0, 300), { bounce: sim.accepted.slice(0, 30).map((m) => m.to) }))));
		const checkpointer = new StoreCheckpointSaver(store);
		const runId = 'run-rg-agent';
		const first = await runCampaignAgent(config, { store, send: { transport: transport(), store, limiter }, generate: { store } }, { runId, checkpointer });
		expect(first.paused).toMatchObject({ cause: 'hard_bounces', message: expect.stringMatching(/paused since/) });
		expect(first.counts).toMatchObject({ sent: 300, paused: 100 });
		expect(sim.accepted).toHaveLength(300);
		expect(await store.getRun(runId)).toMatchObject({ status: 'paused', error: expect.stringMatching(/hard bounces at 10\.0%/) });
		await resumeSending(store, { campaignId: id, accountsOfCampaign: true }, 'ops@acme.example');
		const again = await runCampaignAgent(config, { store, send: { transport: transport(), store }, generate: { store } }, { runId, checkpointer, resume: true });
		expect(again.resumed).toBe(true);
		expect(again.paused).toBeUndefined();
		expect(sim.accepted).toHaveLength(600);
		expect(sim.duplicateRecipients()).toEqual([]);
		expect(await store.getRun(runId)).toMatchObject({ status: 'finished' });
	});
});

describe('warm-up', () => {
	const DAY = 86_400_000;
	const T0 = Date.parse('2026-12-01T09:00:00Z');

	it('over 5 simulated days sends the scheduled amounts across two campaigns, the rest deferred to the next day', async () => {
		const account = 'acct-warm';
		const warmup = { start: 50, growth: 1.5 };
		const perDay: number[] = [];
		for (let d = 0; d < 5; d++) {
			const before = sim.accepted.length;
			const now = () => T0 + d * DAY;
			for (const id of ['warm-a', 'warm-b']) {
				const out = await sendEmailWithSendgrid(payloadsFor(id, 400, `run-${id}-${d}`), { transport: transport(), store }, { account, warmup, now, backoff: fast });
				const deferred = out.flatMap((b) => b.results).find((r) => r.status === 'deferred');
				if (deferred) expect(deferred.error).toMatch(/^warm-up allowance of \d+ for 2026-12-0\d \(warm-up day \d\) reached; goes out on the next run/);
			}
			perDay.push(sim.accepted.length - before);
		}
		// 50, then ×1.5 each sending day, rounded: the same schedule computed independently here.
		const expected = [50];
		for (let d = 1; d < 5; d++) expected.push(Math.round(expected[d - 1] * 1.5));
		expect(expected).toEqual([50, 75, 113, 170, 255]);
		expect(perDay).toEqual(expected);
		expect(sim.duplicateRecipients()).toEqual([]);
		// Both campaigns shared one allowance: the first campaign finished on day 4, the second started then.
		expect(countBy(sim.accepted, (m) => m.customArgs.campaign_id)).toEqual({ 'warm-a': 400, 'warm-b': 263 });
		expect((await warmupHistory(store, account)).map((d) => [d.day, d.allowance, d.day_number])).toEqual(expected.map((n, i) => [`2026-12-0${i + 1}`, n, i + 1]));
	});

	it('growth holds while bounces since the last allowance are elevated, and resumes when they fall', async () => {
		const account = 'acct-warm-bounce';
		const warmup = { start: 100, growth: 1.5 };
		const day = async (d: number) => {
			sim.reset();
			await sendEmailWithSendgrid(payloadsFor('warm-c', 1000, `run-warm-c-${d}`), { transport: transport(), store }, { account, warmup, now: () => T0 + d * DAY, backoff: fast });
			return sim.accepted;
		};
		const d1 = await day(0);
		expect(d1).toHaveLength(100);
		// 4 hard bounces of 100 (4 %): elevated, not enough to pause anything (no guard here).
		await applyEvents(store, sim.eventsFor(d1, { bounce: d1.slice(0, 4).map((m) => m.to) }).map((e) => normalizeEvent(e)));
		expect(await day(1)).toHaveLength(100);
		const d2 = sim.accepted;
		await applyEvents(store, sim.eventsFor(d2).map((e) => normalizeEvent(e)));
		expect(await day(2)).toHaveLength(150);
		const notes = (await warmupHistory(store, account)).map((d) => d.note);
		expect(notes[1]).toMatch(/held at the previous allowance: hard bounces at 4\.0% since it was set/);
		expect(notes[2]).toBe('warm-up day 3');
	});

	it('the rules at their edges: strictly above a limit, only after the minimum sends; growth stops at the target', () => {
		expect(judge({ processed: 200, delivered: 190, bounced: 10, hard_bounced: 10, spam_reports: 0 }, DEFAULT_GUARD).trip).toBe(false); // exactly 5 %: not above
		expect(judge({ processed: 200, delivered: 189, bounced: 11, hard_bounced: 11, spam_reports: 0 }, DEFAULT_GUARD)).toMatchObject({ trip: true, cause: 'hard_bounces' });
		expect(judge({ processed: 199, delivered: 100, bounced: 99, hard_bounced: 99, spam_reports: 0 }, DEFAULT_GUARD).trip).toBe(false);
		expect(judge({ processed: 0, delivered: 150, bounced: 60, hard_bounced: 20, spam_reports: 0 }, DEFAULT_GUARD)).toMatchObject({ trip: true, sends: 210 });
		expect(judge({ processed: 1000, delivered: 900, bounced: 100, hard_bounced: 0, spam_reports: 0 }, DEFAULT_GUARD).trip).toBe(false); // soft (blocked) bounces only
		expect(judge({ processed: 1000, delivered: 1000, bounced: 0, hard_bounced: 0, spam_reports: 1 }, DEFAULT_GUARD).trip).toBe(false); // exactly 0.1 %
		expect(judge({ processed: 1000, delivered: 1000, bounced: 0, hard_bounced: 0, spam_reports: 2 }, DEFAULT_GUARD)).toMatchObject({ trip: true, cause: 'spam_reports' });
		expect(() => guardThresholds({ hardBounceRatePercent: 101 })).toThrow(/Max Hard Bounce Rate \(%\) must be a number from 0 to 100/);
		expect(nextWarmupDay({ allowance: 900, day_number: 6 }, { start: 50, growth: 1.5, target: 1000 }, { outcomes: 0, hard_bounced: 0, delivered: 0, spam_reports: 0 }).allowance).toBe(1000);
	});
});

describe('on the embedded store (PGlite): the same SQL', () => {
	it('pauses from events, stops the next claim, resumes; warm-up allowances grow by day', async () => {
		const embedded = await getCampaignStore({ inMemory: true });
		const id = 'rg-pglite';
		await sendEmailWithSendgrid(payloadsFor(id, 300), { transport: transport(), store: embedded }, { account: 'acct-pglite', backoff: fast });
		const events = sim.eventsFor(sim.accepted, { bounce: sim.accepted.slice(0, 30).map((m) => m.to) }).map((e) => normalizeEvent(e));
		const applied = await applyEvents(embedded, events, { guard: guardThresholds({ scopes: ['campaign'] }) });
		expect(applied.paused).toEqual([expect.objectContaining({ scope: `campaign:${id}`, cause: 'hard_bounces', reason: expect.stringMatching(/10\.0%/) })]);
		const next = await sendEmailWithSendgrid(payloadsFor(id, 400, `run-${id}-2`), { transport: transport(), store: embedded }, { account: 'acct-pglite', backoff: fast });
		expect(statuses(next)).toEqual({ paused: 400 });
		expect(sim.accepted).toHaveLength(300);
		await resumeSending(embedded, { campaignId: id }, 'ops');
		const rest = await sendEmailWithSendgrid(payloadsFor(id, 400, `run-${id}-3`), { transport: transport(), store: embedded }, { account: 'acct-pglite', backoff: fast });
		expect(statuses(rest)).toEqual({ already_sent: 270, suppressed: 30, sent: 100 });
		sim.reset();
		for (const d of [0, 1]) {
			await sendEmailWithSendgrid(payloadsFor('rg-pglite-warm', 200, `run-warm-${d}`), { transport: transport(), store: embedded }, { account: 'acct-pglite-warm', warmup: { start: 20, growth: 2 }, now: () => Date.parse('2026-12-01T09:00:00Z') + d * 86_400_000, backoff: fast });
		}
		expect(sim.accepted).toHaveLength(60);
		expect((await warmupHistory(embedded, 'acct-pglite-warm')).map((w) => w.allowance)).toEqual([20, 40]);
	});
});
