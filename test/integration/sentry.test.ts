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
