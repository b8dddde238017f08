/**
 * Errors to Sentry (issue 24): the DSN is read or refused naming the field; the envelope is Sentry's
 * documented three-line format (header, item header, event) with the campaign's tags; nothing secret
 * and no address leaves (a SendGrid key, a Bearer token, an address in the message and the stack);
 * an Error Trigger item becomes the report of the failed campaign; nodeError hands the campaign's
 * ids to n8n's error context, where the Error Trigger finds them.
 */
import { NodeOperationError } from 'n8n-workflow';
import { CampaignError } from '../../lib/errors';
import { campaignFromMessage, isErrorTriggerItem, reportFromError, reportFromErrorTrigger, splitDescription } from '../../lib/observability/errorReport';
import { buildEnvelope, maskAddresses, parseDsn, parseEnvelope, reportSafely, scrub, sentryAuthHeader, stackFrames } from '../../lib/observability/sentry';
import { nodeError } from '../../nodes/shared/context';
import { CampaignErrorReport } from '../../nodes/CampaignErrorReport/CampaignErrorReport.node';
import { SendGridApiError, type SendGridTransport } from '../../lib/sendgrid/client';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { SendAbortedError, sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { campaignInput, contacts } from '../helpers/fixtures';
import { fakeExecuteContext } from './nodes/fakeContext';

const KEY = '0123456789abcdef0123456789abcdef';
const DSN = `https://${KEY}@o42.ingest.sentry.io/4505`;
const SG_KEY = 'SG.abcdefghijklmnop.qrstuvwxyz0123456789ABCDEFG';
const BEARER = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXZhbHVl';

describe('parseDsn', () => {
	it('reads key, project and the envelope endpoint (with a path prefix too)', () => {
		const d = parseDsn(DSN);
		expect(d).toMatchObject({ publicKey: KEY, projectId: '4505', origin: 'https://o42.ingest.sentry.io', envelopeUrl: 'https://o42.ingest.sentry.io/api/4505/envelope/' });
		expect(parseDsn(` https://${KEY}@sentry.example.com:9000/relay/17 `).envelopeUrl).toBe('https://sentry.example.com:9000/relay/api/17/envelope/');
		expect(parseDsn(`http://${KEY}@127.0.0.1:4000/3`).envelopeUrl).toBe('http://127.0.0.1:4000/api/3/envelope/');
		expect(sentryAuthHeader(d)).toBe(`Sentry sentry_version=7, sentry_key=${KEY}, sentry_client=n8n-nodes-email-campaign-agent/0.1.0`);
	});

	it.each([
		['', /empty/],
		['not a url', /not a URL/],
		[`ftp://${KEY}@sentry.io/1`, /scheme must be https/],
		[`http://${KEY}@sentry.example.com/1`, /plain http is only accepted for this machine/],
		['https://sentry.io/1', /no public key/],
		[`https://${KEY}:deadbeefdeadbeef@sentry.io/1`, /secret key/],
		['https://ab@sentry.io/1', /8 to 64 letters/],
		[`https://${KEY}@sentry.io/`, /numeric project id/],
		[`https://${KEY}@sentry.io/project-a`, /numeric project id/],
		[`https://${KEY}@sentry.io/1?x=1`, /query or fragment/],
	])('refuses %j naming the field', (dsn, why) => {
		let err: unknown;
		try {
			parseDsn(dsn, 'DSN');
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(CampaignError);
		expect((err as CampaignError).message).toMatch(/^The DSN is not a Sentry DSN: /);
		expect((err as CampaignError).message).toMatch(why);
		expect((err as CampaignError).field).toBe('DSN');
		expect((err as CampaignError).hint).toMatch(/Client Keys/);
	});

	it('refuses a value that is not a string', () => {
		expect(() => parseDsn(undefined)).toThrow(/empty/);
	});
});

describe('scrub', () => {
	it('masks addresses (also internationalised and at a sentence end) and keeps what is not one', () => {
		expect(maskAddresses('to ada@example.com, grace.h+news@navy.example.org.')).toBe('to [email], [email].');
		expect(maskAddresses('José <josé@bücher.example>')).toBe('José <[email]>');
		expect(maskAddresses('user@localhost and a@b and @handle and x@y.')).toBe('user@localhost and a@b and @handle and x@y.');
		expect(maskAddresses('no at sign here')).toBe('no at sign here');
		expect(maskAddresses('release campaigns@1.2.3, ops@10.0.0.1')).toBe('release campaigns@1.2.3, ops@10.0.0.1');
	});

	it('masks secrets and addresses together', () => {
		const out = scrub(`for ada@example.com: key ${SG_KEY}, Authorization: Bearer ${BEARER}`);
		expect(out).not.toContain(SG_KEY.slice(3));
		expect(out).not.toContain(BEARER);
		expect(out).not.toContain('ada@example.com');
		expect(out).toContain('[email]');
	});

	it('is linear on a long run of address characters', () => {
		const text = `${'a'.repeat(200_000)}@${'b'.repeat(200_000)}`;
		const t = performance.now();
		maskAddresses(text);
		maskAddresses('@'.repeat(200_000));
		expect(performance.now() - t).toBeLessThan(1000);
	});
});

describe('buildEnvelope', () => {
	const report = {
		message: `SendGrid refused the API key (401): key ${SG_KEY} was refused for ada@example.com`,
		type: 'NodeOperationError',
		stack: `NodeOperationError: SendGrid refused for ada@example.com\n    at BatchSender.send (/home/n8n/.n8n/nodes/node_modules/n8n-nodes-email-campaign-agent/dist/lib/stages/sendEmailWithSendgrid.js:240:23)\n    at async Authorization: Bearer ${BEARER}\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)`,
		campaignId: 'spring-launch',
		runId: 'run-7',
		step: 1,
		variant: 'A',
		node: 'Send Email (SendGrid)',
		nodeType: 'n8n-nodes-email-campaign-agent.sendEmailSendGrid',
		workflow: 'Spring campaign',
		workflowId: 'wf123',
		executionId: '88',
		executionMode: 'webhook',
		executionUrl: 'http://n8n.example/workflow/wf123/executions/88',
		field: 'credentials',
		hint: 'Check the key of grace@example.com',
		httpStatus: 401,
	};
	const req = buildEnvelope(parseDsn(DSN), report, { environment: 'staging', release: 'campaigns@1.2', now: Date.parse('2026-11-26T07:00:00Z'), eventId: 'a'.repeat(32) });

	it("is Sentry's envelope: header, item header with the payload's length, event — three lines", () => {
		expect(req.url).toBe('https://o42.ingest.sentry.io/api/4505/envelope/');
		expect(req.method).toBe('POST');
		expect(req.headers['content-type']).toBe('application/x-sentry-envelope');
		expect(req.headers['x-sentry-auth']).toContain(`sentry_key=${KEY}`);
		const lines = req.body.split('\n');
		expect(lines).toHaveLength(4);
		expect(lines[3]).toBe('');
		const header = JSON.parse(lines[0]);
		expect(header).toMatchObject({ event_id: 'a'.repeat(32), dsn: DSN, sent_at: '2026-11-26T07:00:00.000Z' });
		const item = JSON.parse(lines[1]);
		expect(item).toMatchObject({ type: 'event', length: Buffer.byteLength(lines[2]) });
		const event = JSON.parse(lines[2]);
		expect(event).toMatchObject({ event_id: 'a'.repeat(32), timestamp: Date.parse('2026-11-26T07:00:00Z') / 1000, level: 'error', platform: 'node', logger: 'n8n-nodes-email-campaign-agent', environment: 'staging', release: 'campaigns@1.2', transaction: 'Spring campaign' });
		expect(parseEnvelope(req.body)).toEqual({ header, items: [{ header: item, payload: event }] });
	});

	it('tags the campaign, run, step, node, workflow, execution and the error field; the hint is extra', () => {
		const event = parseEnvelope(req.body).items[0].payload as { tags: Record<string, string>; extra: Record<string, unknown>; exception: { values: Array<{ type: string; value: string; stacktrace: { frames: Array<Record<string, unknown>> } }> } };
		expect(event.tags).toEqual({
			campaign_id: 'spring-launch',
			run_id: 'run-7',
			step: '1',
			variant: 'A',
			node: 'Send Email (SendGrid)',
			node_type: 'n8n-nodes-email-campaign-agent.sendEmailSendGrid',
			workflow: 'Spring campaign',
			workflow_id: 'wf123',
			execution_id: '88',
			execution_mode: 'webhook',
			error_field: 'credentials',
			http_status: '401',
			kind: 'execution_failed',
		});
		expect(req.tags).toEqual(event.tags);
		expect(event.extra).toMatchObject({ hint: 'Check the key of [email]', field: 'credentials', execution_url: 'http://n8n.example/workflow/wf123/executions/88' });
		const ex = event.exception.values[0];
		expect(ex.type).toBe('NodeOperationError');
		expect(ex.value).toMatch(/^SendGrid refused the API key \(401\)/);
		// Oldest frame first; the package's own frame is in_app.
		expect(ex.stacktrace.frames[0]).toMatchObject({ function: 'process.processTicksAndRejections', lineno: 95, colno: 5, in_app: false });
		expect(ex.stacktrace.frames.at(-1)).toMatchObject({ function: 'BatchSender.send', lineno: 240, colno: 23, in_app: true });
	});

	it('lets no secret and no address out, anywhere in the body', () => {
		expect(req.body).not.toContain(SG_KEY.slice(3));
		expect(req.body).not.toContain(BEARER);
		expect(req.body).not.toMatch(/ada@|grace@/);
		expect(req.body).toContain('[email]');
	});

	it('masks the known secrets it is given, and keeps tags on one line of at most 200 characters', () => {
		const r = buildEnvelope(parseDsn(DSN), { message: 'boom with hunter2-password-literal', campaignId: `x\n${'y'.repeat(300)}` }, { knownSecrets: ['hunter2-password-literal'] });
		const event = parseEnvelope(r.body).items[0].payload as { tags: Record<string, string> };
		expect(r.body).not.toContain('hunter2-password-literal');
		expect(event.tags.campaign_id).toHaveLength(200);
		expect(event.tags.campaign_id).not.toContain('\n');
		expect(r.eventId).toMatch(/^[0-9a-f]{32}$/);
	});

	it('reads V8 stack lines without a function name', () => {
		expect(stackFrames('Error: x\n    at /app/a.js:1:2\n    at <anonymous>')).toEqual([{ filename: '<anonymous>', in_app: false }, { filename: '/app/a.js', lineno: 1, colno: 2, in_app: false }]);
	});
});

/** What n8n's Error Trigger outputs for an execution whose Send Email node failed (as the e2e sees it). */
function triggerItem(error: Record<string, unknown>) {
	return {
		execution: { id: '231', url: 'http://127.0.0.1:5678/workflow/abc/executions/231', error, lastNodeExecuted: 'Send Email (SendGrid)', mode: 'webhook' },
		workflow: { id: 'abc', name: 'Spring campaign' },
	};
}

describe('reportFromErrorTrigger', () => {
	it("reads the failed node's error: description → hint and field, context → campaign, run, step", () => {
		const r = reportFromErrorTrigger(
			triggerItem({
				message: 'SendGrid refused the API key (401): The provided authorization grant is invalid',
				description: 'Check the key — Field: credentials',
				name: 'NodeOperationError',
				node: { name: 'Send Email (SendGrid)', type: 'n8n-nodes-email-campaign-agent.sendEmailSendGrid', parameters: { csvText: 'ada@example.com' } },
				context: { campaign_id: 'spring-launch', run_id: 'run-1', step: '1', variant: 'A' },
				httpCode: '401',
				stack: 'NodeOperationError: x\n    at a (b.js:1:1)',
			}),
		);
		expect(r).toMatchObject({
			campaignId: 'spring-launch',
			runId: 'run-1',
			step: '1',
			variant: 'A',
			node: 'Send Email (SendGrid)',
			nodeType: 'n8n-nodes-email-campaign-agent.sendEmailSendGrid',
			workflow: 'Spring campaign',
			workflowId: 'abc',
			executionId: '231',
			executionMode: 'webhook',
			field: 'credentials',
			hint: 'Check the key',
			httpStatus: 401,
			type: 'NodeOperationError',
			kind: 'execution_failed',
		});
		// The node's parameters (a CSV of contacts here) are never read.
		expect(JSON.stringify(r)).not.toContain('ada@example.com');
	});

	it('falls back to the last node executed, a campaign named in the message, and a trigger that failed', () => {
		const r = reportFromErrorTrigger(triggerItem({ message: 'campaign "spring-launch" is paused since ...' }));
		expect(r).toMatchObject({ node: 'Send Email (SendGrid)', campaignId: 'spring-launch' });
		expect(r.field).toBeUndefined();
		const t = reportFromErrorTrigger({ trigger: { error: { message: 'poll failed' }, mode: 'trigger' }, workflow: { id: 'w', name: 'W' } });
		expect(t).toMatchObject({ message: 'poll failed', kind: 'trigger_failed', executionMode: 'trigger', workflow: 'W' });
	});

	it('refuses an item that is not an Error Trigger output, naming the input', () => {
		expect(isErrorTriggerItem({ email: 'ada@example.com' })).toBe(false);
		expect(() => reportFromErrorTrigger({ email: 'ada@example.com' })).toThrow(/not the output of an Error Trigger/);
	});

	it('splits descriptions and names in messages', () => {
		expect(splitDescription('Do this — Field: Limits')).toEqual({ hint: 'Do this', field: 'Limits' });
		expect(splitDescription('Field: Run ID')).toEqual({ field: 'Run ID' });
		expect(splitDescription('Just a hint')).toEqual({ hint: 'Just a hint' });
		expect(campaignFromMessage('no campaign here')).toBeUndefined();
	});
});

describe('the package side', () => {
	it("nodeError puts a CampaignError's campaign correlation into n8n's error context", () => {
		const node = { id: '1', name: 'Send Email (SendGrid)', type: 't', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };
		const e = new CampaignError('refused', { field: 'credentials', hint: 'fix it' }).inCampaign({ campaign_id: 'c1', run_id: 'r1', step: '2', variant: undefined });
		const n8nError = nodeError(node, e, 0) as NodeOperationError;
		expect(n8nError.context).toMatchObject({ campaign_id: 'c1', run_id: 'r1', step: '2' });
		expect(n8nError.context).not.toHaveProperty('variant');
		// A context it already has is kept.
		expect(e.inCampaign({ campaign_id: 'other' }).context?.campaign_id).toBe('c1');
		expect(reportFromError(e, { node: 'Send Email (SendGrid)', kind: 'run_failed' })).toMatchObject({ campaignId: 'c1', runId: 'r1', step: '2', field: 'credentials', hint: 'fix it', kind: 'run_failed' });
	});

	it('a refused SendGrid key stops the send with the campaign, run, step and field the report needs', async () => {
		const refused: SendGridTransport = {
			sendMail: async () => {
				throw new SendGridApiError('SendGrid mail send failed (401)', 401, [], {});
			},
			request: async () => ({ status: 200, headers: {}, body: {} }),
		};
		{
			const payloads = buildEmailPayloads(parseCampaign(campaignInput({ id: 'sentry-401' })), contacts(3), 'run-401', { step: 1 });
			const err = await sendEmailWithSendgrid(payloads, { transport: refused }).catch((e) => e);
			expect(err).toBeInstanceOf(SendAbortedError);
			expect(err.field).toBe('credentials');
			expect(err.context).toEqual({ campaign_id: 'sentry-401', run_id: 'run-401', step: '1', variant: 'A' });
			const node = { id: '1', name: 'Send Email (SendGrid)', type: 't', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };
			const n8nError = nodeError(node, err) as NodeOperationError;
			expect(n8nError.description).toBe('Field: credentials');
			expect(n8nError.context).toMatchObject({ campaign_id: 'sentry-401', run_id: 'run-401', step: '1' });
		}
	});

	it('reportSafely never throws: a refused or unreachable Sentry answers false', async () => {
		const refused = (async () => new Response('{"detail":"bad key"}', { status: 403 })) as typeof fetch;
		const down = (async () => {
			throw new Error('connect ECONNREFUSED');
		}) as typeof fetch;
		let body = '';
		const ok = (async (_u: unknown, init?: RequestInit) => ((body = String(init?.body)), new Response('{}', { status: 200 }))) as typeof fetch;
		await expect(reportSafely(parseDsn(DSN), { message: 'x' }, { fetch: refused })).resolves.toBe(false);
		await expect(reportSafely(parseDsn(DSN), { message: 'x' }, { fetch: down })).resolves.toBe(false);
		await expect(reportSafely(parseDsn(DSN), { message: `x for ada@example.com` }, { fetch: ok })).resolves.toBe(true);
		expect(body).toContain('[email]');
	});
});

describe('Campaign Error Report node', () => {
	const credential = { dsn: DSN, environment: 'production', release: '' };
	const item = triggerItem({ message: 'SendGrid refused the API key (401)', description: 'Check it — Field: credentials', context: { campaign_id: 'spring-launch', run_id: 'r', step: '1' } });

	it('outputs the envelope request for an HTTP Request node', async () => {
		const ctx = fakeExecuteContext({ delivery: 'request', options: {} }, [{ json: item }], { more: { getCredentials: (async () => credential) as never } });
		const [out] = await new CampaignErrorReport().execute.call(ctx);
		expect(out).toHaveLength(1);
		const j = out[0].json as { url: string; headers: Record<string, string>; body: string; tags: Record<string, string> };
		expect(j.url).toBe('https://o42.ingest.sentry.io/api/4505/envelope/');
		expect(j.tags).toMatchObject({ campaign_id: 'spring-launch', node: 'Send Email (SendGrid)', workflow: 'Spring campaign', error_field: 'credentials' });
		const event = parseEnvelope(j.body).items[0].payload as { environment: string; extra: { hint: string } };
		expect(event.environment).toBe('production');
		expect(event.extra.hint).toBe('Check it');
	});

	it('fails naming the input for an item that is not an Error Trigger output; with Continue On Fail it is an error item', async () => {
		const bad = [{ json: { email: 'ada@example.com' } }];
		const more = { getCredentials: (async () => credential) as never };
		await expect(new CampaignErrorReport().execute.call(fakeExecuteContext({ delivery: 'request', options: {} }, bad, { more }))).rejects.toThrow(/not the output of an Error Trigger/);
		const [out] = await new CampaignErrorReport().execute.call(fakeExecuteContext({ delivery: 'request', options: {} }, bad, { continueOnFail: true, more }));
		expect(out[0].json).toMatchObject({ field: 'input', item: 0 });
	});

	it('refuses a credential whose DSN is not one, and its test says why', async () => {
		const ctx = fakeExecuteContext({ delivery: 'send', options: {} }, [{ json: item }], { more: { getCredentials: (async () => ({ dsn: 'https://sentry.io/1' })) as never } });
		await expect(new CampaignErrorReport().execute.call(ctx)).rejects.toThrow(/no public key/);
		const test = new CampaignErrorReport().methods.credentialTest.campaignSentryDsnTest;
		await expect(test.call({} as never, { data: { dsn: DSN } } as never)).resolves.toMatchObject({ status: 'OK' });
		await expect(test.call({} as never, { data: { dsn: 'nope' } } as never)).resolves.toMatchObject({ status: 'Error', message: expect.stringMatching(/not a URL/) });
	});
});
