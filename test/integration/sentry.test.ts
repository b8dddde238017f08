/**
 * The Sentry report over real HTTP against the loopback Sentry-compatible endpoint
 * (test/simulators/sentryServer.ts): accepted envelopes arrive whole and parse back to the event;
 * a wrong public key is refused 403 (no key 401) and the refusal says to copy the DSN again;
 * a Sentry that never answers is given up on after the timeout; the node sends one event per item.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CampaignError } from '../../lib/errors';
import { buildEnvelope, parseDsn, postEnvelope, reportSafely } from '../../lib/observability/sentry';
import { CampaignErrorReport } from '../../nodes/CampaignErrorReport/CampaignErrorReport.node';
import { REFUSED_REPORT_EVERY_MS, reportRunFailure, reportTriggerProblem } from '../../nodes/shared/sentryReport';
import type { IWebhookFunctions } from 'n8n-workflow';
import { SentrySimulator } from '../simulators/sentryServer';
import { fakeExecuteContext } from '../unit/nodes/fakeContext';

const sentry = new SentrySimulator();
beforeAll(() => sentry.start());
afterAll(() => sentry.stop());

it('an accepted envelope arrives whole, with its key, and parses back to the event', async () => {
	const dsn = parseDsn(sentry.dsn());
	const req = buildEnvelope(dsn, { message: 'SendGrid refused (401) for ada@example.com', campaignId: 'c-1', node: 'Send Email (SendGrid)' }, { environment: 'test' });
	const before = sentry.envelopes.length;
	await expect(postEnvelope(req)).resolves.toEqual({ status: 200, eventId: req.eventId });
	expect(sentry.envelopes).toHaveLength(before + 1);
	const got = sentry.envelopes.at(-1)!;
	expect(got.raw).toBe(req.body);
	expect(got.publicKey).toBe(sentry.publicKey);
	expect(got.headers['content-type']).toBe('application/x-sentry-envelope');
	expect(got.header.event_id).toBe(req.eventId);
	expect(got.items[0].payload).toMatchObject({ event_id: req.eventId, environment: 'test', tags: { campaign_id: 'c-1', node: 'Send Email (SendGrid)' } });
	expect(got.raw).not.toContain('ada@example.com');
});

it('a wrong key is refused 403 and the error says what to do; no key is 401; a broken envelope 400', async () => {
	const wrong = parseDsn(sentry.dsn('ffffffffffffffffffffffffffffffff'));
	let err: unknown;
	await postEnvelope(buildEnvelope(wrong, { message: 'x' })).catch((e) => (err = e));
	expect(err).toBeInstanceOf(CampaignError);
	expect(err).toMatchObject({ httpStatus: 403, source: 'service', field: 'DSN' });
	expect((err as CampaignError).hint).toMatch(/copy the DSN again/);
	const url = `${sentry.baseUrl}/api/${sentry.projectId}/envelope/`;
	expect((await fetch(url, { method: 'POST', body: 'x' })).status).toBe(401);
	expect((await fetch(url, { method: 'POST', headers: { 'x-sentry-auth': `Sentry sentry_key=${sentry.publicKey}` }, body: '{}\n{"type":"event","length":99}\n{}' })).status).toBe(400);
	// Not counted as arrived.
	expect(sentry.events.every((e) => e.event_id)).toBe(true);
	await expect(reportSafely(wrong, { message: 'x' })).resolves.toBe(false);
});

it('a Sentry that never answers is given up on after the timeout (and reportSafely still resolves)', async () => {
	const silent = http.createServer(() => undefined);
	await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
	const port = (silent.address() as AddressInfo).port;
	try {
		const dsn = parseDsn(`http://0123456789abcdef@127.0.0.1:${port}/1`);
		const t = Date.now();
		await expect(postEnvelope(buildEnvelope(dsn, { message: 'x' }), { timeoutMs: 300 })).rejects.toThrow(/no answer in 300 ms/);
		await expect(reportSafely(dsn, { message: 'x' }, { timeoutMs: 300 })).resolves.toBe(false);
		expect(Date.now() - t).toBeLessThan(5000);
	} finally {
		silent.closeAllConnections();
		await new Promise((r) => silent.close(r));
	}
});

it('Campaign Error Report sends one event per Error Trigger item', async () => {
	const before = sentry.events.length;
	const item = {
		execution: { id: '9', error: { message: 'boom', description: 'Fix it — Field: Step' }, lastNodeExecuted: 'Campaign Agent', mode: 'trigger' },
		workflow: { id: 'w1', name: 'Nightly' },
	};
	const ctx = fakeExecuteContext({ delivery: 'send', options: { timeoutMs: 2000 } }, [{ json: item }, { json: item }], {
		more: { getCredentials: (async () => ({ dsn: sentry.dsn(), environment: 'e2e', release: '' })) as never },
	});
	const [out] = await new CampaignErrorReport().execute.call(ctx);
	expect(out.map((o) => o.json.sent)).toEqual([true, true]);
	expect(sentry.events.length).toBe(before + 2);
	expect(sentry.events.at(-1)).toMatchObject({ tags: { node: 'Campaign Agent', workflow: 'Nightly', error_field: 'Step', execution_id: '9' }, extra: { hint: 'Fix it' } });
});

describe("the package's own failed runs (a Campaign Sentry API credential on the node)", () => {
	const ctx = (credentials: Record<string, { id: string; name: string }> | undefined, data: Record<string, unknown> = {}) =>
		fakeExecuteContext({}, [], {
			workflowName: 'Nightly sends',
			more: {
				getNode: (() => ({ id: '1', name: 'Send Due Steps', type: 'n8n-nodes-email-campaign-agent.campaignSequence', typeVersion: 1, position: [0, 0], parameters: {}, ...(credentials ? { credentials } : {}) })) as never,
				getCredentials: (async () => data) as never,
				getMode: () => 'trigger',
			},
		});
	const failure = () => new CampaignError('SendGrid refused the API key (401) for ada@example.com', { field: 'credentials' }).inCampaign({ campaign_id: 'seq-1', run_id: 'run-9', step: '2' });

	it('sends one event tagged with the run when the node has the credential', async () => {
		const before = sentry.events.length;
		const sent = await reportRunFailure(ctx({ campaignSentryApi: { id: 'c', name: 'Sentry' } }, { dsn: sentry.dsn(), environment: 'prod' }), failure());
		expect(sent).toBe(true);
		expect(sentry.events).toHaveLength(before + 1);
		const event = sentry.events.at(-1) as { tags: Record<string, string>; environment: string };
		expect(event.tags).toMatchObject({ campaign_id: 'seq-1', run_id: 'run-9', step: '2', node: 'Send Due Steps', workflow: 'Nightly sends', workflow_id: 'wf-1', execution_id: 'exec-1', execution_mode: 'trigger', error_field: 'credentials', kind: 'run_failed' });
		expect(event.environment).toBe('prod');
		expect(JSON.stringify(event)).not.toContain('ada@example.com');
	});

	it('does nothing without the credential, and never throws: a bad DSN, Sentry down or refusing all answer false', async () => {
		const before = sentry.requests.length;
		await expect(reportRunFailure(ctx(undefined), failure())).resolves.toBe(false);
		expect(sentry.requests).toHaveLength(before);
		const withCred = { campaignSentryApi: { id: 'c', name: 'Sentry' } };
		await expect(reportRunFailure(ctx(withCred, { dsn: 'not a dsn' }), failure())).resolves.toBe(false);
		await expect(reportRunFailure(ctx(withCred, { dsn: sentry.dsn('ffffffffffffffffffffffffffffffff') }), failure())).resolves.toBe(false);
		expect(sentry.requests.at(-1)!.status).toBe(403);
		const closed = new SentrySimulator();
		await closed.start();
		const deadDsn = closed.dsn();
		await closed.stop();
		await expect(reportRunFailure(ctx(withCred, { dsn: deadDsn }), failure())).resolves.toBe(false);
		const broken = fakeExecuteContext({}, [], { more: { getNode: () => { throw new Error('no node'); } } });
		await expect(reportRunFailure(broken, failure())).resolves.toBe(false);
	});
});

describe('the SendGrid Trigger reports its own problems (with a Campaign Sentry API credential)', () => {
	const webhookContext = (withCredential: boolean) =>
		({
			getNode: () => ({ id: 'trigger-1', name: 'SendGrid Trigger', type: 'n8n-nodes-email-campaign-agent.sendGridTrigger', typeVersion: 1, position: [0, 0], parameters: {}, credentials: withCredential ? { campaignSentryApi: { id: '1', name: 'Sentry' } } : undefined }),
			getWorkflow: () => ({ id: 'wf-events', name: 'Event tracking', active: true }),
			getCredentials: async () => ({ dsn: sentry.dsn(), environment: 'test' }),
		}) as unknown as IWebhookFunctions;

	it('a circuit-breaker pause is one warning naming the campaign; refused posts at most once per 10 minutes per trigger; nothing without the credential', async () => {
		const before = sentry.events.length;
		const t0 = 1_800_000_000_000;
		expect(await reportTriggerProblem(webhookContext(true), { kind: 'circuit_breaker', message: 'campaign "spring" is paused: hard bounces at 8.0% (24 of 300)', campaignId: 'spring' })).toBe(true);
		const paused = sentry.events.at(-1)!;
		expect(paused).toMatchObject({ level: 'warning', tags: { kind: 'circuit_breaker', campaign_id: 'spring', node: 'SendGrid Trigger', workflow: 'Event tracking' } });
		const refused = { kind: 'webhook_refused' as const, message: 'SendGrid Trigger refused an event post (403): the signature does not match', httpStatus: 403 };
		expect(await reportTriggerProblem(webhookContext(true), refused, undefined, t0)).toBe(true);
		expect(await reportTriggerProblem(webhookContext(true), refused, undefined, t0 + 60_000)).toBe(false);
		expect(await reportTriggerProblem(webhookContext(true), refused, undefined, t0 + REFUSED_REPORT_EVERY_MS + 1)).toBe(true);
		expect(sentry.events.slice(before).map((e) => (e.tags as Record<string, string> | undefined)?.kind)).toEqual(['circuit_breaker', 'webhook_refused', 'webhook_refused']);
		expect(await reportTriggerProblem(webhookContext(false), { kind: 'circuit_breaker', message: 'x' })).toBe(false);
		expect(sentry.events).toHaveLength(before + 3);
	});
});
