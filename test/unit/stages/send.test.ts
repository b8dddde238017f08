/** The delivery engine against a scripted in-process SendGrid: claims, retries, splits, caps. */
import { closeAllStores, getCampaignStore, CampaignStore } from '../../../lib/store';
import { sendEmailWithSendgrid, SendAbortedError } from '../../../lib/stages/sendEmailWithSendgrid';
import { SendGridApiError, SendGridTransport, SendGridResponse } from '../../../lib/sendgrid/client';
import type { MailSendBody } from '../../../lib/sendgrid/mailRequest';
import { buildEmailPayloads } from '../../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../../lib/stages/loadCampaignContent';
import { campaignInput, contacts } from '../../helpers/fixtures';

jest.setTimeout(30_000);

type Reply = SendGridResponse | SendGridApiError | ((body: MailSendBody) => SendGridResponse | SendGridApiError);

/** Answers each request with the next scripted reply (then 202), and records what it accepted. */
class ScriptedSendGrid implements SendGridTransport {
	accepted: string[] = [];
	calls = 0;
	constructor(private script: Reply[] = []) {}
	async sendMail(body: MailSendBody): Promise<SendGridResponse> {
		this.calls++;
		let reply = this.script.shift() ?? { status: 202, headers: { 'x-message-id': `m${this.calls}` }, body: '' };
		if (typeof reply === 'function') reply = reply(body);
		if (reply instanceof SendGridApiError) throw reply;
		if (reply.status === 202) this.accepted.push(...body.personalizations.map((p) => p.to[0].email));
		return reply;
	}
	async request(): Promise<SendGridResponse> {
		return { status: 200, headers: {}, body: {} };
	}
}

const err = (status: number | undefined, headers: Record<string, string> = {}, errors: Array<{ message: string; field?: string }> = [], code?: string) =>
	new SendGridApiError(`SendGrid mail send failed (${status})`, status, errors, headers, code);

const noWait = { baseDelayMs: 1, maxDelayMs: 2, sleep: async () => undefined };

// One embedded store for the file; each test uses its own campaign id, so tests do not see each other's rows.
let store: CampaignStore;
let campaignId = '';
let testNo = 0;
beforeAll(async () => (store = await getCampaignStore({ inMemory: true })));
beforeEach(() => (campaignId = `campaign-${++testNo}`));
afterAll(() => closeAllStores());

function payloads(n: number, batchSize = 1000, runId = 'run_1') {
	return buildEmailPayloads(parseCampaign(campaignInput({ id: campaignId })), contacts(n), runId, { step: 1, batchSize });
}

const statuses = (batches: Awaited<ReturnType<typeof sendEmailWithSendgrid>>) =>
	batches.flatMap((b) => b.results).reduce<Record<string, number>>((acc, r) => ((acc[r.status] = (acc[r.status] ?? 0) + 1), acc), {});

describe('Send Email (SendGrid) stage', () => {
	it('sends 1,001 recipients in two requests and marks them sent with the X-Message-Id', async () => {
		const sg = new ScriptedSendGrid();
		const out = await sendEmailWithSendgrid(payloads(1001), { transport: sg, store });
		expect(sg.calls).toBe(2);
		expect(statuses(out)).toEqual({ sent: 1001 });
		const rows = await store.deliveries({ campaignId });
		expect(rows.filter((r) => r.status === 'sent')).toHaveLength(1001);
		expect(new Set(rows.map((r) => r.message_id))).toEqual(new Set(['m1', 'm2']));
	});

	it('onBatchDone: each batch handed over once as it ends, with its results; what it returns is kept instead; a throw stops the send and fails the run', async () => {
		const sg = new ScriptedSendGrid();
		const list = payloads(2500);
		const seen: Array<{ index: number; results: number; sent: number }> = [];
		const out = await sendEmailWithSendgrid(list, {
			transport: sg,
			store,
			onBatchDone: (index, b) => {
				seen.push({ index, results: b.results.length, sent: b.results.filter((r) => r.status === 'sent').length });
				return { ...b, results: [] };
			},
		});
		expect(seen.map((s) => s.index).sort()).toEqual([0, 1, 2]);
		expect(seen.reduce((n, s) => n + s.sent, 0)).toBe(2500);
		expect(seen.map((s) => s.results)).toEqual(seen.map((s) => list[s.index].recipients.length));
		expect(out.every((b) => b.results.length === 0)).toBe(true);
		expect(sg.accepted).toHaveLength(2500);
		// The caller's payloads are untouched (the stage lets go of its own copies).
		expect(list.reduce((n, p) => n + p.recipients.length, 0)).toBe(2500);

		campaignId = `${campaignId}-throw`;
		const again = new ScriptedSendGrid();
		await expect(
			sendEmailWithSendgrid(payloads(2500, 1000, 'run_throw'), { transport: again, store, onBatchDone: () => Promise.reject(new Error('disk full')) }, { concurrency: 1 }),
		).rejects.toThrow('disk full');
		// The first batch went out and is recorded; nothing after it was sent.
		expect(again.accepted).toHaveLength(1000);
		expect((await store.deliveries({ campaignId })).filter((r) => r.status === 'sent')).toHaveLength(1000);
		expect(await store.getRun('run_throw')).toMatchObject({ status: 'failed' });
	});

	it('waits for X-RateLimit-Reset on 429 and for backoff without it, then succeeds', async () => {
		const waits: number[] = [];
		const sg = new ScriptedSendGrid([err(429, { 'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 2) }), err(429)]);
		const out = await sendEmailWithSendgrid(payloads(10), { transport: sg, store }, { backoff: { ...noWait, sleep: async (ms) => void waits.push(ms) } });
		expect(statuses(out)).toEqual({ sent: 10 });
		expect(sg.calls).toBe(3);
		expect(waits[0]).toBeGreaterThan(1000); // until the reset header's second
		expect(waits[1]).toBeLessThanOrEqual(2); // jittered backoff within the cap
	});

	it('a request sent again (429, 500) carries the same body, byte for byte: the Message-IDs the claim stored, the same signed links; a split keeps them too', async () => {
		const bodies: string[] = [];
		const capture = (reply: SendGridApiError | SendGridResponse) => (body: MailSendBody) => (bodies.push(JSON.stringify(body)), reply);
		const sg = new ScriptedSendGrid([capture(err(429)), capture(err(500)), capture({ status: 202, headers: { 'x-message-id': 'm-same' }, body: '' })]);
		const list = buildEmailPayloads(parseCampaign(campaignInput({ id: campaignId, unsubscribeUrl: 'https://acme.example/unsub' })), contacts(30), 'run_1', { step: 1 });
		const out = await sendEmailWithSendgrid(list, { transport: sg, store }, { backoff: noWait });
		expect(statuses(out)).toEqual({ sent: 30 });
		expect(bodies).toHaveLength(3);
		expect(bodies[1]).toBe(bodies[0]);
		expect(bodies[2]).toBe(bodies[0]);
		const sentIds = (JSON.parse(bodies[0]) as MailSendBody).personalizations.map((p): [string, string] => [p.to[0].email, p.headers!['Message-ID']]);
		expect(new Set(sentIds.map(([, id]) => id)).size).toBe(30);
		expect((JSON.parse(bodies[0]) as MailSendBody).personalizations[0].headers!['List-Unsubscribe']).toMatch(/&t=[\w-]{22}>$/);
		const stored = await store.deliveries({ campaignId });
		expect(new Map(stored.map((r) => [r.email, (r as { reply_message_id?: string }).reply_message_id]))).toEqual(new Map(sentIds));

		// A 400 naming two recipients: the rest go again with their own Message-IDs.
		campaignId += '-split';
		const split: string[] = [];
		const sg2 = new ScriptedSendGrid([
			(body) => (split.push(JSON.stringify(body)), err(400, {}, [{ field: 'personalizations.1.to', message: 'bad' }, { field: 'personalizations.3.to', message: 'bad' }])),
			(body) => (split.push(JSON.stringify(body)), { status: 202, headers: { 'x-message-id': 'm-split' }, body: '' }),
		]);
		const list2 = buildEmailPayloads(parseCampaign(campaignInput({ id: campaignId, unsubscribeUrl: 'https://acme.example/unsub' })), contacts(6), 'run_1', { step: 1 });
		expect(statuses(await sendEmailWithSendgrid(list2, { transport: sg2, store }, { backoff: noWait }))).toEqual({ sent: 4, failed: 2 });
		const [first, second] = split.map((b) => (JSON.parse(b) as MailSendBody).personalizations);
		expect(second).toEqual(first.filter((_p, i) => i !== 1 && i !== 3));
	});

	it('retries a 500 and then succeeds; gives up after max retries with status retry (re-sendable)', async () => {
		const ok = await sendEmailWithSendgrid(payloads(5), { transport: new ScriptedSendGrid([err(500)]), store }, { backoff: noWait });
		expect(statuses(ok)).toEqual({ sent: 5 });
		campaignId += '-b';
		const sg = new ScriptedSendGrid([err(503), err(503), err(503)]);
		const failed = await sendEmailWithSendgrid(payloads(5), { transport: sg, store }, { backoff: { ...noWait, maxRetries: 2 } });
		expect(statuses(failed)).toEqual({ retry: 5 });
		const rerun = await sendEmailWithSendgrid(payloads(5, 1000, 'run_2'), { transport: sg, store }, { backoff: noWait });
		expect(statuses(rerun)).toEqual({ sent: 5 });
		expect(sg.accepted).toHaveLength(5);
	});

	it('splits a batch SendGrid rejected for one bad address so the others still go out', async () => {
		const sg = new ScriptedSendGrid([err(400, {}, [{ message: 'Does not contain a valid address.', field: 'personalizations.2.to.0.email' }])]);
		const out = await sendEmailWithSendgrid(payloads(5), { transport: sg, store });
		const r = out[0].results;
		expect(r.filter((x) => x.status === 'sent')).toHaveLength(4);
		expect(r[2]).toMatchObject({ status: 'failed', http_status: 400, error: expect.stringMatching(/valid address/) });
		expect(sg.accepted).not.toContain(r[2].email);
	});

	it('defers what is over the daily cap and sends it on the next run', async () => {
		const sg = new ScriptedSendGrid();
		const day1 = await sendEmailWithSendgrid(payloads(10), { transport: sg, store }, { dailyCap: 6, account: 'acct' });
		expect(statuses(day1)).toEqual({ sent: 6, deferred: 4 });
		const tomorrow = Date.now() + 24 * 3600 * 1000;
		const day2 = await sendEmailWithSendgrid(payloads(10, 1000, 'run_2'), { transport: sg, store }, { dailyCap: 6, account: 'acct', now: () => tomorrow });
		expect(statuses(day2)).toEqual({ already_sent: 6, sent: 4 });
		expect(new Set(sg.accepted).size).toBe(10);
		expect(sg.accepted).toHaveLength(10);
	});

	it('after a crash between claim and confirm, a re-run reports unconfirmed instead of re-sending', async () => {
		const [p] = payloads(3);
		await store.claimDeliveries(p.campaign_id, 'crashed_run', 1, p.recipients.map((r) => ({ delivery_id: r.delivery_id, email: r.email, variant: 'A' })));
		const sg = new ScriptedSendGrid();
		const out = await sendEmailWithSendgrid(payloads(4, 1000, 'run_2'), { transport: sg, store });
		expect(statuses(out)).toEqual({ unconfirmed: 3, sent: 1 });
		expect(sg.accepted).toEqual(['user3@example.org']);
	});

	it('marks recipients of a request that got no answer unconfirmed when told never to risk a duplicate', async () => {
		const sg = new ScriptedSendGrid([err(undefined, {}, [], 'ECONNRESET')]);
		const out = await sendEmailWithSendgrid(payloads(2), { transport: sg, store }, { onAmbiguousFailure: 'unconfirmed' });
		expect(statuses(out)).toEqual({ unconfirmed: 2 });
	});

	it('skips suppressed contacts, and a dry run calls nothing and claims nothing', async () => {
		await store.addSuppressions([{ email: 'user1@example.org', scope: 'global', reason: 'unsubscribe' }]);
		const sg = new ScriptedSendGrid();
		const out = await sendEmailWithSendgrid(payloads(3), { transport: sg, store });
		expect(statuses(out)).toEqual({ sent: 2, suppressed: 1 });
		const dry = await sendEmailWithSendgrid(payloads(3, 1000, 'dry'), { store }, { dryRun: true });
		expect(statuses(dry)).toEqual({ dry_run: 3 });
		expect(sg.calls).toBe(1);
		await store.liftSuppression('user1@example.org', 'global');
	});

	it('stops with a clear error on a refused API key and leaves the claims re-sendable', async () => {
		const sg = new ScriptedSendGrid([err(401)]);
		await expect(sendEmailWithSendgrid(payloads(3), { transport: sg, store })).rejects.toThrow(SendAbortedError);
		const rows = await store.deliveries({ campaignId });
		expect(rows.map((r) => r.status)).toEqual(['retry', 'retry', 'retry']);
	});
});

describe('an unsubscribe mechanism for every live marketing send (issue 15)', () => {
	const build = (extra: Record<string, unknown>) => buildEmailPayloads(parseCampaign(campaignInput({ id: campaignId, unsubscribeUrl: undefined, ...extra })), contacts(3), 'run_1', { step: 1 });

	it('refuses a live send without one before anything is claimed or sent, and says how to add one', async () => {
		const sg = new ScriptedSendGrid();
		await expect(sendEmailWithSendgrid(build({}), { transport: sg, store })).rejects.toThrow(/no unsubscribe mechanism.*Campaign Unsubscribe Trigger.*Unsubscribe Group ID.*Transactional/s);
		expect(sg.calls).toBe(0);
		expect(await store.deliveries({ campaignId })).toEqual([]);
	});

	it('refuses a plain-http unsubscribe URL, also when it reaches the node in a payload built elsewhere', async () => {
		expect(() => parseCampaign(campaignInput({ id: campaignId, unsubscribeUrl: 'http://acme.example/u' }))).toThrow(/https/);
		const sg = new ScriptedSendGrid();
		const [p] = build({});
		await expect(sendEmailWithSendgrid([{ ...p, unsubscribe_url: 'http://acme.example/u' }], { transport: sg, store })).rejects.toThrow(/must be https/);
		expect(sg.calls).toBe(0);
	});

	it('sends with an https URL, an ASM group, or as transactional; dry runs and sandbox sends need none', async () => {
		for (const extra of [{ unsubscribeUrl: 'https://acme.example/u' }, { unsubscribeGroupId: 77 }, { transactional: true }]) {
			campaignId = `campaign-${++testNo}`;
			const sg = new ScriptedSendGrid();
			await sendEmailWithSendgrid(build(extra), { transport: sg, store });
			expect([extra, sg.accepted.length]).toEqual([extra, 3]);
		}
		campaignId = `campaign-${++testNo}`;
		const dry = await sendEmailWithSendgrid(build({}), { store }, { dryRun: true });
		expect(statuses(dry)).toEqual({ dry_run: 3 });
		const sandbox = new ScriptedSendGrid([{ status: 200, headers: {}, body: '' }]);
		await sendEmailWithSendgrid(buildEmailPayloads(parseCampaign(campaignInput({ id: campaignId, unsubscribeUrl: undefined })), contacts(3), 'run_1', { step: 1, sandbox: true }), { transport: sandbox, store });
		expect(sandbox.calls).toBe(1);
	});
});

describe('preflight before a live send (issue 15)', () => {
	it('stops on an error before anything is claimed, and reports warnings on the first batch of each variant', async () => {
		const sg = new ScriptedSendGrid();
		const [bad] = payloads(3);
		await expect(sendEmailWithSendgrid([{ ...bad, copy: { ...bad.copy!, text: 'Hi {{frist_name}}, sale on' } }], { transport: sg, store })).rejects.toThrow(/Preflight stopped the run before anything was sent — step 1 variant A: \{\{frist_name\}\} matches no contact field/);
		expect(sg.calls).toBe(0);
		expect(await store.deliveries({ campaignId })).toEqual([]);

		campaignId = `campaign-${++testNo}`;
		const batches = await sendEmailWithSendgrid(payloads(10, 5), { transport: sg, store });
		expect(batches).toHaveLength(2);
		expect(batches[0].preflight?.map((f) => f.rule)).toEqual(expect.arrayContaining(['no_preheader', 'no_postal_address']));
		expect(batches[0].preflight?.every((f) => f.level === 'warning')).toBe(true);
		expect(batches[1].preflight).toBeUndefined();
		// A dry run checks nothing and stops nothing.
		campaignId = `campaign-${++testNo}`;
		await expect(sendEmailWithSendgrid([{ ...bad, campaign_id: campaignId, copy: { ...bad.copy!, text: 'Hi {{frist_name}}' } }], { store }, { dryRun: true })).resolves.toHaveLength(1);
	});
});
