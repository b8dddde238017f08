/**
 * Scheduled sends you can cancel (issue 17), through the SendGrid simulator over HTTP and the campaign
 * store: a run with send_at gets one SendGrid batch id (kept on its run row, reused by a re-run of the
 * same run) and sends every request under it; a run without send_at makes no batch request; Pause,
 * Cancel and Resume Scheduled follow SendGrid's rules (10 minutes before send_at, 10 batches at a
 * time, a paused batch discarded 72 h after send_at), and a cancelled run is never delivered nor
 * counted as sent.
 */
import { SCHEDULED_SENDS, SendGridSimulator, validateMail } from '../simulators/sendgridServer';
import { SendGridApiError, createSendGridTransport, type SendGridTransport } from '../../lib/sendgrid/client';
import { SendAbortedError, sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { changeScheduledRun, createBatchId, isValidBatchId, SCHEDULED_SEND_RULES } from '../../lib/sendgrid/scheduled';
import { runSchedule, scheduledRunsOf, type CampaignStore } from '../../lib/store';
import { ScheduledSendError } from '../../lib/errors';
import { campaignStats } from '../../lib/stats/campaignStats';
import { logCampaignResult } from '../../lib/stages/logCampaignResult';
import { renderDashboard } from '../../lib/stats/dashboardHtml';
import { campaignInput, contacts } from '../helpers/fixtures';
import { runCampaignAgent } from '../../lib/agent/graph';
import { useSimulatorAndStore } from '../helpers/simulatorStore';

jest.setTimeout(180_000);

let sim: SendGridSimulator;
let store: CampaignStore;
const env = useSimulatorAndStore({ dbPrefix: 'eca_sched' });
beforeAll(() => ({ sim, store } = env));
beforeEach(() => {
	sim.reset();
	sim.setClock(undefined);
	// Each test starts with no batch paused or cancelled (SendGrid counts them per account).
	sim.batches.clear();
});

const transport = () => createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 5000 });
const inHour = () => Math.floor(Date.now() / 1000) + 3600;
const payloads = (id: string, n: number, runId: string, sendAt?: number) =>
	buildEmailPayloads(parseCampaign(campaignInput({ id })), contacts(n, `${id}.example`), runId, { step: 1, batchSize: 1000, ...(sendAt ? { sendAt } : {}) });
const batchRequests = () => sim.requests.filter((r) => r.method === 'POST' && r.path === '/v3/mail/batch');
const mailRequests = () => sim.requests.filter((r) => r.path === '/v3/mail/send');
const statuses = async (runId: string) => {
	const counts: Record<string, number> = {};
	for (const d of await store.deliveries({ runId })) counts[String(d.status)] = (counts[String(d.status)] ?? 0) + 1;
	return counts;
};

describe('a run with send_at', () => {
	it('creates one batch id, sends every request under it and keeps it on the run row; a re-run of the same run reuses it', async () => {
		const sendAt = inHour();
		const all = payloads('sched', 2500, 'run-sched', sendAt);
		expect(all).toHaveLength(3);
		// The first attempt stops after one request (a crash, say); the resumed run sends the rest.
		await sendEmailWithSendgrid(all.slice(0, 1), { transport: transport(), store });
		const run = await runSchedule(store, 'run-sched');
		expect(run).toMatchObject({ batch_id: expect.any(String), send_at_first: sendAt, send_at_last: sendAt, scheduled_status: null });
		await sendEmailWithSendgrid(all, { transport: transport(), store });
		expect(batchRequests()).toHaveLength(1);
		expect(mailRequests().map((r) => r.status)).toEqual([202, 202, 202]);
		expect(sim.accepted).toHaveLength(2500);
		expect(new Set(sim.accepted.map((m) => m.batchId))).toEqual(new Set([run!.batch_id]));
		expect(sim.accepted.every((m) => m.sendAt === sendAt)).toBe(true);
		expect(sim.duplicateRecipients()).toEqual([]);
		expect(await isValidBatchId(transport(), run!.batch_id!)).toBe(true);
		expect(await statuses('run-sched')).toEqual({ sent: 2500 });
	});

	it('a re-run of a scheduled run with another SendGrid account is refused before anything is claimed (its batch id belongs to the first)', async () => {
		await sendEmailWithSendgrid(payloads('acct', 3, 'run-acct', inHour()), { transport: transport(), store }, { account: 'account-a' });
		const before = sim.requests.length;
		await expect(sendEmailWithSendgrid(payloads('acct', 5, 'run-acct', inHour()), { transport: transport(), store }, { account: 'account-b' })).rejects.toThrow(/another SendGrid account/);
		expect(sim.requests).toHaveLength(before);
		expect(await statuses('run-acct')).toEqual({ sent: 3 });
		// The same account resumes it under its batch.
		await sendEmailWithSendgrid(payloads('acct', 5, 'run-acct', inHour()), { transport: transport(), store }, { account: 'account-a' });
		expect([batchRequests().length, await statuses('run-acct')]).toEqual([1, { sent: 5 }]);
	});

	it('without send_at makes no batch request and sends no batch_id', async () => {
		await sendEmailWithSendgrid(payloads('now', 1200, 'run-now'), { transport: transport(), store });
		expect(batchRequests()).toEqual([]);
		expect(sim.requests.map((r) => r.path)).toEqual(['/v3/mail/send', '/v3/mail/send']);
		expect(sim.accepted.every((m) => m.batchId === undefined)).toBe(true);
		expect((await runSchedule(store, 'run-now'))?.batch_id).toBeNull();
	});

	it('dry runs and sandbox sends create no batch', async () => {
		await sendEmailWithSendgrid(payloads('dry', 10, 'run-dry', inHour()), { transport: transport(), store }, { dryRun: true });
		await sendEmailWithSendgrid(
			payloads('sbx', 10, 'run-sbx', inHour()).map((p) => ({ ...p, sandbox: true })),
			{ transport: transport(), store },
		);
		expect(batchRequests()).toEqual([]);
	});
});

describe('Cancel Scheduled', () => {
	it('nothing is delivered, the deliveries are cancelled and never counted as sent; a later run sends them again', async () => {
		const sendAt = inHour();
		const results = (await sendEmailWithSendgrid(payloads('cxl', 1500, 'run-cxl', sendAt), { transport: transport(), store })).flatMap((b) => b.results);
		const out = await changeScheduledRun(store, transport(), 'run-cxl', 'cancel', 'jane@acme.example');
		expect(out).toMatchObject({ status: 'cancel', previous: 'scheduled', deliveries_cancelled: 1500, by: 'jane@acme.example' });
		expect(sim.requests.filter((r) => r.path === '/v3/user/scheduled_sends').map((r) => [r.method, r.status])).toEqual([['POST', 201]]);
		// The simulator holds them with the batch: not in accepted, no processed or delivered event.
		expect(sim.accepted).toEqual([]);
		expect(sim.held).toHaveLength(1500);
		expect(sim.eventsFor(sim.held)).toEqual([]);
		// At send_at SendGrid discards them.
		sim.setClock(() => (sendAt + 1) * 1000);
		sim.settleScheduled();
		expect([sim.held.length, sim.discarded.length, new Set(sim.discarded.map((m) => m.discarded))]).toEqual([0, 1500, new Set(['cancelled'])]);

		expect(await statuses('run-cxl')).toEqual({ cancelled: 1500 });
		// Logging the run's results (sent) after the cancellation writes nothing over it: the table has no outcome from cancelled.
		const [logged] = await logCampaignResult(results, { store });
		expect(logged.not_written).toBe(1500);
		expect(await statuses('run-cxl')).toEqual({ cancelled: 1500 });
		expect(await runSchedule(store, 'run-cxl')).toMatchObject({ scheduled_status: 'cancel', scheduled_by: 'jane@acme.example' });
		expect((await scheduledRunsOf(store, 'cxl')).map((x) => [x.run_id, x.scheduled_status])).toEqual([['run-cxl', 'cancel']]);
		expect((await store.getRun('run-cxl'))!.counts).toEqual({ cancelled: 1500 });
		const stats = await campaignStats(store, { campaignId: 'cxl' });
		expect(stats.steps.map((s) => s.sent)).toEqual([0]);
		expect(renderDashboard(stats)).not.toMatch(/data-k="sent">1500</);
		// The dashboard's run row says the run was a scheduled send and that it is cancelled.
		expect(stats.runs.find((x) => x.run_id === 'run-cxl')).toMatchObject({ batch_id: expect.any(String), scheduled_status: 'cancel', counts: { cancelled: 1500 } });
		expect(renderDashboard(stats)).toMatch(/<small data-k="scheduled" class="warn">cancelled for \d{4}-/);

		// The same run again would go out under its cancelled batch (and be discarded): refused, nothing sent.
		sim.setClock(undefined);
		const before = mailRequests().length;
		await expect(sendEmailWithSendgrid(payloads('cxl', 1500, 'run-cxl', inHour()), { transport: transport(), store })).rejects.toThrow(ScheduledSendError);
		expect(mailRequests()).toHaveLength(before);
		// A new run claims the cancelled recipients (nothing was delivered) and sends them under a batch of its own.
		const again = await sendEmailWithSendgrid(payloads('cxl', 1500, 'run-cxl-2', inHour()), { transport: transport(), store });
		expect(again.flatMap((b) => b.results).every((r) => r.status === 'sent')).toBe(true);
		expect(sim.accepted).toHaveLength(1500);
		expect(new Set(sim.accepted.map((m) => m.batchId)).has((await runSchedule(store, 'run-cxl'))!.batch_id!)).toBe(false);
		expect(await statuses('run-cxl-2')).toEqual({ sent: 1500 });
	});

	it('cancelled while still sending: the request in flight is cancelled with its batch, nothing more is claimed or sent', async () => {
		const sg = transport();
		let cancelledAt = 0;
		const cancelling: SendGridTransport = {
			request: (method, path, body) => sg.request(method, path, body),
			async sendMail(body) {
				const res = await sg.sendMail(body);
				// SendGrid took the first request; the run is cancelled before its answer is recorded.
				if (!cancelledAt++) await changeScheduledRun(store, sg, 'run-mid', 'cancel', 'ops');
				return res;
			},
		};
		const err = await sendEmailWithSendgrid(payloads('mid', 2500, 'run-mid', inHour()), { transport: cancelling, store }, { concurrency: 1 }).catch((e: unknown) => e);
		expect(err).toBeInstanceOf(SendAbortedError);
		expect((err as Error).message).toMatch(/run-mid was cancelled \(Cancel Scheduled\) while it was sending/);
		expect(mailRequests()).toHaveLength(1);
		expect([sim.accepted.length, sim.held.length]).toEqual([0, 1000]);
		// The claims of the request in flight are cancelled (the owner's 'sent' is refused); nobody else was claimed.
		expect(await statuses('run-mid')).toEqual({ cancelled: 1000 });
		// Resumed before send_at: those were never confirmed by the run, so they come back unconfirmed (the processed event confirms them).
		await changeScheduledRun(store, sg, 'run-mid', 'resume', 'ops');
		expect([sim.accepted.length, await statuses('run-mid')]).toEqual([1000, { unconfirmed: 1000 }]);
	});

	it('Resume Scheduled before send_at undoes a cancellation: SendGrid sends the batch and the deliveries are sent again', async () => {
		await sendEmailWithSendgrid(payloads('undo', 30, 'run-undo', inHour()), { transport: transport(), store });
		await changeScheduledRun(store, transport(), 'run-undo', 'cancel', 'ops');
		expect([sim.accepted.length, await statuses('run-undo')]).toEqual([0, { cancelled: 30 }]);
		const out = await changeScheduledRun(store, transport(), 'run-undo', 'resume', 'ops');
		expect(out).toMatchObject({ status: 'scheduled', previous: 'cancel', deliveries_restored: 30 });
		expect(sim.requests.filter((r) => r.path.startsWith('/v3/user/scheduled_sends/') && r.method === 'DELETE').map((r) => r.status)).toEqual([204]);
		expect([sim.accepted.length, sim.held.length, await statuses('run-undo')]).toEqual([30, 0, { sent: 30 }]);
		expect(sim.eventsFor(sim.accepted).filter((e) => e.event === 'delivered')).toHaveLength(30);
	});

	it('is refused later than 10 minutes before send_at, by the package and by SendGrid', async () => {
		const soon = Math.floor(Date.now() / 1000) + 5 * 60;
		await sendEmailWithSendgrid(payloads('late', 5, 'run-late', soon), { transport: transport(), store });
		const err = await changeScheduledRun(store, transport(), 'run-late', 'cancel', 'ops').catch((e: unknown) => e);
		expect(err).toBeInstanceOf(ScheduledSendError);
		expect(err).toMatchObject({ field: 'Run ID', message: expect.stringMatching(/10 minutes before its send_at/), hint: expect.stringMatching(/at least 10 minutes/) });
		expect(await statuses('run-late')).toEqual({ sent: 5 });
		// The simulator refuses it too, as SendGrid does.
		const batchId = (await runSchedule(store, 'run-late'))!.batch_id!;
		const direct = await transport().request('POST', '/v3/user/scheduled_sends', { batch_id: batchId, status: 'pause' }).catch((e: unknown) => e);
		expect(direct).toBeInstanceOf(SendGridApiError);
		expect((direct as SendGridApiError).status).toBe(400);
		expect(sim.accepted).toHaveLength(5);
	});

	it("SendGrid's limit of 10 paused or cancelled batches at a time comes back with what to do", async () => {
		const sg = transport();
		for (let i = 0; i < SCHEDULED_SENDS.maxPausedOrCancelled; i++) await sg.request('POST', '/v3/user/scheduled_sends', { batch_id: await createBatchId(sg), status: 'cancel' });
		await sendEmailWithSendgrid(payloads('eleven', 3, 'run-eleven', inHour()), { transport: sg, store });
		const err = await changeScheduledRun(store, sg, 'run-eleven', 'cancel', 'ops').catch((e: unknown) => e);
		expect(err).toBeInstanceOf(ScheduledSendError);
		expect((err as ScheduledSendError).hint).toMatch(/at most 10 paused or cancelled batches/);
		expect(await statuses('run-eleven')).toEqual({ sent: 3 });
		expect((await runSchedule(store, 'run-eleven'))!.scheduled_status).toBeNull();
		expect(SCHEDULED_SEND_RULES.maxBatchesPausedOrCancelled).toBe(SCHEDULED_SENDS.maxPausedOrCancelled);
	});

	it('a run sent without send_at cannot be cancelled: it says why', async () => {
		await sendEmailWithSendgrid(payloads('plain', 2, 'run-plain'), { transport: transport(), store });
		await expect(changeScheduledRun(store, transport(), 'run-plain', 'cancel', 'ops')).rejects.toThrow(/was not scheduled/);
		await expect(changeScheduledRun(store, transport(), 'run-nobody', 'cancel', 'ops')).rejects.toThrow(/No run "run-nobody"/);
	});
});

describe('Pause and Resume Scheduled', () => {
	it('a paused run is held past send_at and delivered when resumed; its deliveries stay sent', async () => {
		const sendAt = inHour();
		await sendEmailWithSendgrid(payloads('hold', 20, 'run-hold', sendAt), { transport: transport(), store });
		expect(await changeScheduledRun(store, transport(), 'run-hold', 'pause', 'ops')).toMatchObject({ status: 'pause', deliveries_cancelled: 0 });
		sim.setClock(() => (sendAt + 3600) * 1000);
		sim.settleScheduled();
		expect([sim.accepted.length, sim.held.length, sim.discarded.length]).toEqual([0, 20, 0]);
		expect(await statuses('run-hold')).toEqual({ sent: 20 });
		// Pause → cancel is a PATCH (SendGrid refuses a second POST); the clock is back before the deadline.
		sim.setClock(undefined);
		await changeScheduledRun(store, transport(), 'run-hold', 'cancel', 'ops');
		expect(sim.requests.filter((r) => r.method === 'PATCH').map((r) => r.status)).toEqual([204]);
		expect(await statuses('run-hold')).toEqual({ cancelled: 20 });
		await changeScheduledRun(store, transport(), 'run-hold', 'pause', 'ops');
		expect(await statuses('run-hold')).toEqual({ sent: 20 });
		const out = await changeScheduledRun(store, transport(), 'run-hold', 'resume', 'ops');
		expect(out).toMatchObject({ previous: 'pause', status: 'scheduled' });
		expect([sim.accepted.length, sim.held.length]).toEqual([20, 0]);
	});

	it('Resume Scheduled also removes a pause set on the batch outside the package (SendGrid is asked, not only the store)', async () => {
		await sendEmailWithSendgrid(payloads('outside', 4, 'run-outside', inHour()), { transport: transport(), store });
		const batchId = (await runSchedule(store, 'run-outside'))!.batch_id!;
		await transport().request('POST', '/v3/user/scheduled_sends', { batch_id: batchId, status: 'pause' });
		expect(sim.held).toHaveLength(4);
		expect(await changeScheduledRun(store, transport(), 'run-outside', 'resume', 'ops')).toMatchObject({ previous: 'pause', status: 'scheduled', message: expect.stringMatching(/outside this package/) });
		expect([sim.accepted.length, sim.held.length, await statuses('run-outside')]).toEqual([4, 0, { sent: 4 }]);
		// Nothing set anywhere: nothing to do, and no DELETE.
		const deletes = () => sim.requests.filter((r) => r.method === 'DELETE').length;
		const before = deletes();
		expect(await changeScheduledRun(store, transport(), 'run-outside', 'resume', 'ops')).toMatchObject({ message: expect.stringMatching(/Nothing was paused/) });
		expect(deletes()).toBe(before);
	});

	it('a paused run not resumed within 72 hours after send_at is discarded as Expired: resuming then cancels its deliveries', async () => {
		const sendAt = inHour();
		await sendEmailWithSendgrid(payloads('exp', 7, 'run-exp', sendAt), { transport: transport(), store });
		await changeScheduledRun(store, transport(), 'run-exp', 'pause', 'ops');
		const later = (sendAt + 73 * 3600) * 1000;
		sim.setClock(() => later);
		sim.settleScheduled();
		expect(sim.discarded.map((m) => m.discarded)).toEqual(Array(7).fill('expired'));
		const out = await changeScheduledRun(store, transport(), 'run-exp', 'resume', 'ops', { now: later });
		expect(out).toMatchObject({ deliveries_cancelled: 7, message: expect.stringMatching(/Resumed too late/) });
		expect(sim.accepted).toEqual([]);
		expect(await statuses('run-exp')).toEqual({ cancelled: 7 });
	});
});

describe('the Campaign Agent', () => {
	it('a run whose recipients get several send_at values (Local Send Time) goes out under one batch across chunks and re-runs; Cancel Scheduled cancels all of it', async () => {
		// 09:00-style local time three hours from now in UTC: UTC contacts at now + 3 h, Tokyo ones (UTC+9, no DST) within the next day.
		const at = new Date(Date.now() + 3 * 3600_000);
		const localSendTime = `${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;
		const rows = contacts(24, 'agent.example').map((c, i) => ({ email: c.email, first_name: String(c.first_name), timezone: i % 2 ? 'Asia/Tokyo' : 'UTC' }));
		const run = (list: typeof rows) =>
			runCampaignAgent(
				{ campaign: campaignInput({ id: 'sched-agent' }), contacts: { kind: 'rows', rows: list }, batchSize: 5, chunkSize: 10, copy: { mode: 'template' }, sendOptions: {}, audience: { localSendTime } },
				{ store, send: { transport: transport(), store }, generate: { store } },
				{ runId: 'run-agent-sched' },
			);
		expect((await run(rows.slice(0, 14))).counts).toMatchObject({ sent: 14 });
		// The same run again with the rest: the stored batch id, no second POST /v3/mail/batch.
		expect((await run(rows)).counts).toMatchObject({ sent: 10 });
		expect(batchRequests()).toHaveLength(1);
		const schedule = (await runSchedule(store, 'run-agent-sched'))!;
		const sendAts = sim.accepted.map((m) => m.sendAt!);
		expect([sim.accepted.length, new Set(sim.accepted.map((m) => m.batchId))]).toEqual([24, new Set([schedule.batch_id])]);
		expect(new Set(sendAts).size).toBe(2);
		expect([schedule.send_at_first, schedule.send_at_last]).toEqual([Math.min(...sendAts), Math.max(...sendAts)]);
		expect(await changeScheduledRun(store, transport(), 'run-agent-sched', 'cancel', 'ops')).toMatchObject({ deliveries_cancelled: 24 });
		expect([sim.accepted.length, sim.held.length, await statuses('run-agent-sched')]).toEqual([0, 24, { cancelled: 24 }]);
	});
});

describe('the simulator', () => {
	it('validates batch ids like SendGrid: unknown ones are refused on mail send and by GET /v3/mail/batch/{id}', async () => {
		const sg = transport();
		expect(await isValidBatchId(sg, 'no-such-batch')).toBe(false);
		const id = await createBatchId(sg);
		expect(await isValidBatchId(sg, id)).toBe(true);
		const body = { personalizations: [{ to: [{ email: 'a@x.io' }] }], from: { email: 'news@example.com' }, subject: 'Hi', content: [{ type: 'text/plain', value: 'Hi' }], send_at: inHour() };
		expect(validateMail({ ...body, batch_id: 'no-such-batch' }, undefined, (b) => b === id)).toEqual([expect.objectContaining({ field: 'batch_id' })]);
		expect(validateMail({ ...body, batch_id: id }, undefined, (b) => b === id)).toEqual([]);
		const refused = await sg.sendMail({ ...body, batch_id: 'no-such-batch' } as never).catch((e: unknown) => e);
		expect([(refused as SendGridApiError).status, (refused as SendGridApiError).errors[0]?.field]).toEqual([400, 'batch_id']);
	});

	it('cancelling a batch holds only what waits for its send_at: a message of the batch sent without send_at has gone out', async () => {
		const sg = transport();
		const id = await createBatchId(sg);
		const mail = (to: string, sendAt?: number) => ({ personalizations: [{ to: [{ email: to }] }], from: { email: 'news@example.com' }, subject: 'Hi', content: [{ type: 'text/plain', value: 'Hi' }], ...(sendAt ? { send_at: sendAt } : {}), batch_id: id });
		await sg.sendMail(mail('now@x.io') as never);
		await sg.sendMail(mail('later@x.io', inHour()) as never);
		await sg.request('POST', '/v3/user/scheduled_sends', { batch_id: id, status: 'cancel' });
		expect([sim.accepted.map((m) => m.to), sim.held.map((m) => m.to)]).toEqual([['now@x.io'], ['later@x.io']]);
	});

	it('a message sent under an already cancelled batch is accepted but never delivered', async () => {
		const sg = transport();
		const id = await createBatchId(sg);
		await sg.request('POST', '/v3/user/scheduled_sends', { batch_id: id, status: 'cancel' });
		const res = await sg.sendMail({ personalizations: [{ to: [{ email: 'b@x.io' }] }], from: { email: 'news@example.com' }, subject: 'Hi', content: [{ type: 'text/plain', value: 'Hi' }], send_at: inHour(), batch_id: id } as never);
		expect(res.status).toBe(202);
		expect([sim.accepted.length, sim.held.length, sim.deliveriesTo('b@x.io').length]).toEqual([0, 1, 0]);
		// A second POST for a batch that has a status is refused; it is changed with PATCH.
		const again = await sg.request('POST', '/v3/user/scheduled_sends', { batch_id: id, status: 'pause' }).catch((e: unknown) => e);
		expect((again as SendGridApiError).status).toBe(400);
		const list = await sg.request('GET', `/v3/user/scheduled_sends/${id}`);
		expect(list.body).toEqual([{ batch_id: id, status: 'cancel' }]);
	});
});
