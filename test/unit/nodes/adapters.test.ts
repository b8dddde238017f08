/** Each node adapter with a stand-in for n8n's execute/webhook context: parameters in, items out, errors that say what to fix. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IExecuteFunctions, IHookFunctions, INodeExecutionData, IWebhookFunctions } from 'n8n-workflow';
import { LoadCampaignContent } from '../../../nodes/LoadCampaignContent/LoadCampaignContent.node';
import { BuildEmailPayload } from '../../../nodes/BuildEmailPayload/BuildEmailPayload.node';
import { GenerateEmailCopy } from '../../../nodes/GenerateEmailCopy/GenerateEmailCopy.node';
import { SendEmailSendGrid } from '../../../nodes/SendEmailSendGrid/SendEmailSendGrid.node';
import { LogCampaignResult } from '../../../nodes/LogCampaignResult/LogCampaignResult.node';
import { CampaignAgent } from '../../../nodes/CampaignAgent/CampaignAgent.node';
import { CampaignSequence } from '../../../nodes/CampaignSequence/CampaignSequence.node';
import { CampaignApiGuard } from '../../../nodes/CampaignApiGuard/CampaignApiGuard.node';
import { SendGridTrigger } from '../../../nodes/SendGridTrigger/SendGridTrigger.node';
import { closeAllStores, defaultEmbeddedDir, getCampaignStore } from '../../../lib/store';
import { requestResume } from '../../../lib/store/audit';
import { fakeExecuteContext, type Params } from './fakeContext';
import { campaignDatabaseConnectionTest } from '../../../nodes/shared/databaseCredential';
import type { ICredentialTestFunctions } from 'n8n-workflow';
import { SendGridSimulator } from '../../simulators/sendgridServer';
import { campaignInput, contacts, csvOf } from '../../helpers/fixtures';
import Redis from 'ioredis';
import { readDelivery } from '../../../nodes/shared/readers';
import { campaignRedisConnectionTest } from '../../../nodes/shared/redisCredential';
import { TokenBucketLimiter } from '../../../lib/sendgrid/rateLimiter';
import { ensureRedis } from '../../helpers/services';

jest.setTimeout(60_000);

process.env.EMAIL_CAMPAIGN_STORE_DIR = mkdtempSync(join(tmpdir(), 'eca-adapters-'));
afterAll(() => closeAllStores());

function context(params: Params, items: INodeExecutionData[] = [{ json: {} }]): IExecuteFunctions {
	return fakeExecuteContext(params, items, { more: { helpers: { getBinaryDataBuffer: async () => Buffer.from(csvOf(contacts(3, 'bin.example'))) } } as unknown as Partial<IExecuteFunctions> });
}

const campaignParams = { campaignSource: 'json', campaignJson: JSON.stringify(campaignInput({ id: 'adapters' })) };

describe('stage node adapters', () => {
	let loaded: INodeExecutionData[][];

	it('Load Campaign Content: valid contacts on output 1, bad rows with reasons on output 2', async () => {
		loaded = await new LoadCampaignContent().execute.call(
			context({ ...campaignParams, contactSource: 'csvText', csvText: csvOf(contacts(4, 'a.example')) + '\nbroken,X', csvOptions: {}, outputMode: 'perContact', runId: 'run-adapters' }),
		);
		expect(loaded[0]).toHaveLength(4);
		expect(loaded[0][0].json).toMatchObject({ campaign_id: 'adapters', run_id: 'run-adapters', contact: { email: 'user0@a.example', first_name: 'User0' } });
		expect(loaded[1]).toEqual([{ json: { campaign_id: 'adapters', run_id: 'run-adapters', row: 6, email: 'broken', reason: '"broken" is not a valid email address' }, pairedItem: { item: 0 } }]);
		const fromFile = await new LoadCampaignContent().execute.call(context({ ...campaignParams, contactSource: 'csvBinary', binaryPropertyName: 'data', csvOptions: {}, outputMode: 'batches', batchSize: 2 }));
		expect(fromFile[0].map((i) => (i.json.contacts as unknown[]).length)).toEqual([2, 1]);
		await expect(new LoadCampaignContent().execute.call(context({ ...campaignParams, contactSource: 'csvText', csvText: 'email\n', csvOptions: {}, outputMode: 'auto' }))).rejects.toThrow(/header row but no contacts/);
	});

	it('Build → Generate (template) → Send (dry run) → Log: the items each stage hands on', async () => {
		const built = await new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 3, options: {} }, loaded[0]));
		expect(built[0].map((i) => (i.json.recipients as unknown[]).length)).toEqual([3, 1]);
		await expect(new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 3, options: {} }, [{ json: { email: 'a@b.io' } }]))).rejects.toThrow(/carry no campaign — connect Load Campaign Content/);

		const copied = await new GenerateEmailCopy().execute.call(context({ copySource: 'auto', options: {} }, built[0]));
		expect(copied[0][0].json).toMatchObject({ copy: { source: 'template', subject: 'Hi {{first_name|there}}, spring deals inside' }, copy_stats: { mode: 'template', llm_calls: 0 } });

		const sent = await new SendEmailSendGrid().execute.call(context({ dryRun: true, outputMode: 'batch', limits: {}, options: {} }, copied[0]));
		expect(sent[0].map((i) => i.json.counts)).toEqual([{ dry_run: 3 }, { dry_run: 1 }]);
		await expect(new SendEmailSendGrid().execute.call(context({ dryRun: true, outputMode: 'batch' }, [{ json: { nope: 1 } }]))).rejects.toThrow(/Item 0 is not an email payload .* connect the output of Build Email Payload/);

		const logged = await new LogCampaignResult().execute.call(context({ operation: 'log', outputMode: 'rows', finishRun: true }, sent[0]));
		expect(logged[0][0].json).toMatchObject({ campaign_id: 'adapters', recipients: 4, dry_run: 4, store: 'pglite' });
		expect(logged[0]).toHaveLength(5);
		const stats = await new LogCampaignResult().execute.call(context({ operation: 'stats', statsCampaignId: 'adapters', format: 'html', recent: 10 }));
		expect(String(stats[0][0].json.html)).toContain('<svg');
		const json = await new LogCampaignResult().execute.call(context({ operation: 'stats', statsCampaignId: ' adapters ', format: 'json', recent: 2 }));
		expect(json[0]).toHaveLength(1);
		expect(json[0][0].json).toMatchObject({ campaigns: [{ id: 'adapters' }], runs: [{ campaign_id: 'adapters', status: 'finished' }] });
	});

	it('Campaign Agent: the whole run in one node, one summary item', async () => {
		const out = await new CampaignAgent().execute.call(
			context({ campaignSource: 'json', campaignJson: JSON.stringify(campaignInput({ id: 'adapters-agent' })), contactSource: 'csvText', csvText: csvOf(contacts(7, 'agent.example')), csvOptions: {}, copySource: 'template', copyOptions: {}, dryRun: true, limits: {}, deliveryOptions: {}, batchSize: 3, stepsToSend: 'first', runId: '', resume: false, outputRows: false }),
		);
		expect(out[0]).toHaveLength(1);
		expect(out[0][0].json).toMatchObject({ campaign_id: 'adapters-agent', contacts: 7, dry_run: true, batches: 3, resumed: false });
	});

	it('Campaign Agent with Resume Requested Runs: takes the resume asked for on the dashboard once, then starts new runs', async () => {
		const store = await getCampaignStore({ embeddedDir: defaultEmbeddedDir() });
		await store.startRun({ runId: 'run-asked', campaignId: 'adapters-resume', step: 1, mode: 'live' });
		await store.failRun('run-asked', 'SendGrid was down', 'interrupted');
		expect(await requestResume(store, 'run-asked', 'alice')).toEqual({ campaign_id: 'adapters-resume', already: false });
		const params = { campaignSource: 'json', campaignJson: JSON.stringify(campaignInput({ id: 'adapters-resume' })), contactSource: 'csvText', csvText: csvOf(contacts(4, 'resume.example')), csvOptions: {}, copySource: 'template', copyOptions: {}, dryRun: true, limits: {}, deliveryOptions: {}, batchSize: 3, stepsToSend: 'first', runId: '', resume: false, resumeRequested: true, outputRows: false };
		const first = await new CampaignAgent().execute.call(context(params));
		expect(first[0][0].json).toMatchObject({ run_id: 'run-asked', resume_requested_by: 'alice', contacts: 4 });
		// The request was taken: the next execution starts a run of its own.
		const second = await new CampaignAgent().execute.call(context(params));
		expect(second[0][0].json.run_id).not.toBe('run-asked');
		expect(second[0][0].json).not.toHaveProperty('resume_requested_by');
		// Without the option nothing is taken, even when asked.
		await store.startRun({ runId: 'run-asked-2', campaignId: 'adapters-resume', step: 1, mode: 'live' });
		await store.failRun('run-asked-2', 'SendGrid was down', 'interrupted');
		await requestResume(store, 'run-asked-2', 'alice');
		const off = await new CampaignAgent().execute.call(context({ ...params, resumeRequested: false }));
		expect(off[0][0].json.run_id).not.toBe('run-asked-2');
	});

	it('Campaign Sequence: enroll, status, and a clear error without a campaign id', async () => {
		const enrolled = await new CampaignSequence().execute.call(context({ operation: 'enroll', campaignSource: 'json', campaignJson: JSON.stringify(campaignInput({ id: 'adapters-seq' })), contactSource: 'csvText', csvText: csvOf(contacts(5, 'seq.example')), csvOptions: {}, timezoneField: 'timezone', asOf: '' }));
		expect(enrolled[0][0].json).toMatchObject({ campaign_id: 'adapters-seq', enrolled: 5 });
		const status = await new CampaignSequence().execute.call(context({ operation: 'status', campaignRef: 'adapters-seq' }));
		expect(status[0][0].json.enrollments).toEqual([{ status: 'active', next_step: 1, stop_reason: '', n: 5 }]);
		await expect(new CampaignSequence().execute.call(context({ operation: 'pause', campaignRef: '' }))).rejects.toThrow(/Set Campaign ID/);
	});

	it('Campaign Sequence: pause holds a sequence back, resume lets Send Due Steps send it; errors name what to set', async () => {
		const seq = (params: Params) => new CampaignSequence().execute.call(context(params));
		await seq({ operation: 'enroll', campaignSource: 'json', campaignJson: JSON.stringify(campaignInput({ id: 'adapters-pause' })), contactSource: 'csvText', csvText: csvOf(contacts(2, 'pause.example')), csvOptions: {}, timezoneField: 'timezone', asOf: '' });
		expect((await seq({ operation: 'pause', campaignRef: ' adapters-pause ', pauseReason: 'wrong offer', pausedBy: 'jane@acme.example' }))[0].map((i) => i.json)).toEqual([
			{ campaign_id: 'adapters-pause', status: 'paused', already_paused: false, hold: expect.objectContaining({ scope: 'campaign:adapters-pause', cause: 'manual', reason: 'wrong offer', held_by: 'jane@acme.example' }) },
		]);
		const status = (await seq({ operation: 'status', campaignRef: 'adapters-pause' }))[0][0].json;
		expect(status).toMatchObject({ status: 'paused', paused: [expect.objectContaining({ message: expect.stringMatching(/campaign "adapters-pause" is paused since .* by jane@acme.example: wrong offer/) })] });
		const later = new Date(Date.now() + 30 * 86_400_000).toISOString();
		const sendDue = { operation: 'sendDue', campaignRef: 'adapters-pause', asOf: later, copySource: 'template', copyOptions: {}, dryRun: true, limits: {}, deliveryOptions: {} };
		expect((await seq(sendDue))[0].map((i) => i.json)).toEqual([{ due: 0, message: 'No sequence step is due' }]);
		expect((await seq({ operation: 'resume', campaignRef: 'adapters-pause' }))[0][0].json).toMatchObject({
			campaign_id: 'adapters-pause',
			status: 'active',
			resumed: [expect.objectContaining({ scope: 'campaign:adapters-pause' })],
			resumed_by: 'workflow "Adapters" (execution exec-1)',
		});
		const sent = await seq(sendDue);
		expect(sent[0].map((i) => i.json)).toMatchObject([{ campaign_id: 'adapters-pause', step: 1, due: 2, counts: { dry_run: 2 } }]);

		await expect(seq({ operation: 'resume', campaignRef: 'no-such-campaign' })).rejects.toThrow('No campaign "no-such-campaign" in the campaign store and nothing paused under that ID — check Campaign ID');
		await expect(seq({ operation: 'pause', campaignRef: 'no-such-campaign' })).rejects.toThrow('No campaign "no-such-campaign" in the campaign store — check Campaign ID');
		await expect(seq({ operation: 'abDecide', campaignRef: 'no-such-campaign', abStep: 1, asOf: '' })).rejects.toThrow('No campaign "no-such-campaign" in the campaign store');
		await expect(seq({ ...sendDue, asOf: 'next tuesday' })).rejects.toThrow('"As Of" is not a date: next tuesday');
		await expect(seq({ operation: 'archive' })).rejects.toThrow('The operation "archive" is not known to this node');
	});

	it('Campaign API Guard: accepted requests get a run id, bad ones a status and the fields', async () => {
		const out = await new CampaignApiGuard().execute.call(
			context({ perMinute: 100 }, [
				{ json: { body: { campaign: campaignInput({ id: 'api' }), contacts: contacts(2) }, jwtPayload: { sub: 'caller', exp: Math.floor(Date.now() / 1000) + 600 } } },
				{ json: { body: { campaign: { id: '' }, contacts: [] }, headers: { 'x-forwarded-for': '10.0.0.1' } } },
			]),
		);
		expect(out[0][0].json).toMatchObject({ status: 202, run_id: expect.stringMatching(/^run_/), caller: 'jwt:caller' });
		expect(out[1][0].json).toMatchObject({ status: 400, fields: expect.arrayContaining(['campaign.id', 'contacts']) });
	});

	it('Campaign API Guard: tokens without expiry or for another audience are refused; bad Trusted Proxies are named', async () => {
		const body = { campaign: campaignInput({ id: 'api' }), contacts: contacts(1) };
		const exp = Math.floor(Date.now() / 1000) + 600;
		const out = await new CampaignApiGuard().execute.call(
			context({ perMinute: 100, security: { audience: 'campaign-api', issuer: 'https://auth.example' } }, [
				{ json: { body, jwtPayload: { sub: 'a' } } },
				{ json: { body, jwtPayload: { sub: 'a', exp, aud: 'other', iss: 'https://auth.example' } } },
				{ json: { body, jwtPayload: { sub: 'a', exp, aud: ['x', 'campaign-api'], iss: 'https://evil.example' } } },
				{ json: { body, jwtPayload: { sub: 'a', exp, aud: ['x', 'campaign-api'], iss: 'https://auth.example' } } },
			]),
		);
		expect(out[1].map((i) => [i.json.status, i.pairedItem])).toEqual([
			[401, { item: 0 }],
			[403, { item: 1 }],
			[403, { item: 2 }],
		]);
		expect(out[1][0].json.error).toMatch(/no expiry/);
		expect(out[0]).toHaveLength(1);
		await expect(new CampaignApiGuard().execute.call(context({ perMinute: 1, security: { trustedProxies: '10.0.0.1, nonsense' } }, [{ json: { body } }]))).rejects.toThrow(
			/Trusted Proxies: "nonsense" is not an IP address/,
		);
	});
});

describe('SendGrid Trigger webhook adapter', () => {
	const sim = new SendGridSimulator();
	function hook(raw: Buffer, headers: Record<string, string>, params: Params = {}) {
		const res = { code: 200, body: undefined as unknown, status(c: number) { this.code = c; return this; }, json(b: unknown) { this.body = b; return this; } };
		const ctx = {
			getRequestObject: () => ({ rawBody: raw }),
			getResponseObject: () => res,
			getNodeParameter: (name: string, fallback?: unknown) => ({ registration: 'manual', publicKey: sim.publicKey, events: ['delivered', 'open'], output: 'event', options: { updateStore: false }, ...params } as Params)[name] ?? fallback,
			getWebhookName: () => 'default',
			getWorkflowStaticData: () => ({}),
			getHeaderData: () => headers,
			getNode: () => ({ name: 'SendGrid Trigger', credentials: {} }),
		} as unknown as IWebhookFunctions;
		return { res, run: () => new SendGridTrigger().webhook.call(ctx) };
	}
	const body = Buffer.from(JSON.stringify([{ email: 'a@x.io', event: 'delivered', sg_event_id: 'e1', timestamp: Math.floor(Date.now() / 1000) }, { email: 'a@x.io', event: 'bounce', sg_event_id: 'e2', timestamp: 1 }]));

	it('emits the selected events of a signed batch, and refuses a bad signature with 403', async () => {
		const s = sim.signPayload(body);
		const ok = hook(body, { 'x-twilio-email-event-webhook-signature': s.signature, 'x-twilio-email-event-webhook-timestamp': s.timestamp });
		const r = await ok.run();
		expect(r.workflowData?.[0].map((i) => i.json.event)).toEqual(['delivered']);
		// Items carry only the fields the event has: no keys holding undefined.
		expect(Object.keys(r.workflowData![0][0].json).sort()).toEqual(['email', 'event', 'sg_event_id', 'timestamp']);
		const bad = hook(body, { 'x-twilio-email-event-webhook-signature': s.signature, 'x-twilio-email-event-webhook-timestamp': String(Number(s.timestamp) + 1) });
		expect(await bad.run()).toEqual({ noWebhookResponse: true });
		expect(bad.res.code).toBe(403);
		const big = hook(Buffer.alloc(2 * 1024 * 1024, 0x20), {}, { options: { maxBodyMb: 1 } });
		await big.run();
		expect(big.res.code).toBe(413);
	});
});

describe('SendGrid Trigger activation', () => {
	const hookCtx = (params: Params) =>
		({
			getNodeParameter: (name: string, fallback?: unknown) => ({ registration: 'manual', output: 'event', options: {}, ...params } as Params)[name] ?? fallback,
			getNode: () => ({ name: 'SendGrid Trigger' }),
			getWorkflowStaticData: () => ({}),
		}) as unknown as IHookFunctions;
	const checkExists = (params: Params) => new SendGridTrigger().webhookMethods.default.checkExists.call(hookCtx(params));

	it('refuses to go live when it would keep no event (Store Only with the store off), and says what to change', async () => {
		await expect(checkExists({ output: 'none', options: { updateStore: false } })).rejects.toThrow(/"Store Only" with "Update Campaign Store" off/);
		await expect(checkExists({ output: 'none', options: {} })).resolves.toBe(true);
		await expect(checkExists({ output: 'event', options: { updateStore: false } })).resolves.toBe(true);
	});
});

describe('Campaign Database credential test', () => {
	it('says OK for a reachable Postgres and gives the reason otherwise, without the password', async () => {
		const test = (data: Record<string, string | number>) => campaignDatabaseConnectionTest.call({} as ICredentialTestFunctions, { id: '1', name: 'db', type: 'campaignDatabaseApi', data });
		expect(await test({ host: '127.0.0.1', port: 5432, database: 'postgres', user: 'postgres', password: '', ssl: 'disable' })).toEqual({ status: 'OK', message: 'Connected to the campaign database' });
		const bad = await test({ host: '127.0.0.1', port: 9, database: 'postgres', user: 'postgres', password: 'pw-not-to-show-123', ssl: 'disable' });
		expect(bad.status).toBe('Error');
		expect(bad.message).toMatch(/Campaign database postgres@127\.0\.0\.1:9\/postgres/);
		expect(bad.message).not.toContain('pw-not-to-show-123');
	});
});

describe('Campaign Redis credential (shared SendGrid rate limit)', () => {
	const REDIS_PASSWORD = 'redis-pw-not-to-show-456';
	/** A send node's context with the SendGrid credential and, optionally, a Campaign Redis credential. */
	function sendContext(redis?: Record<string, unknown>): IExecuteFunctions {
		const base = context({ dryRun: false, limits: { requestsPerSecond: 50 }, options: {} });
		const credentials: Record<string, Record<string, unknown>> = { sendGridCampaignApi: { apiKey: 'SG.adapters-test-key', region: 'custom', baseUrl: 'http://127.0.0.1:9' } };
		if (redis) credentials.campaignRedisApi = redis;
		return Object.assign(base, {
			getNode: () => ({ id: '1', name: 'Send', type: 'test', typeVersion: 1, position: [0, 0], parameters: {}, credentials: Object.fromEntries(Object.keys(credentials).map((k) => [k, { id: k, name: k }])) }),
			getCredentials: async (name: string) => {
				if (!credentials[name]) throw new Error(`no ${name} credential in this test`);
				return credentials[name];
			},
		}) as IExecuteFunctions;
	}

	it('without it, the limit is per process; the node no longer has a Redis URL parameter', async () => {
		const d = await readDelivery(sendContext());
		expect(d.limiter).toBeInstanceOf(TokenBucketLimiter);
		const limits = new SendEmailSendGrid().description.properties.find((p) => p.name === 'limits')!;
		expect((limits.options as Array<{ name: string }>).map((o) => o.name)).not.toContain('redisUrl');
		expect(new SendEmailSendGrid().description.credentials!.map((c) => c.name)).toContain('campaignRedisApi');
		expect(new CampaignAgent().description.credentials!.map((c) => c.name)).toContain('campaignRedisApi');
		expect(new CampaignSequence().description.credentials!.map((c) => c.name)).toContain('campaignRedisApi');
	});

	it('with it, requests are counted in that Redis database (host, port and database number from the credential)', async () => {
		await ensureRedis();
		const d = await readDelivery(sendContext({ host: '127.0.0.1', port: 6379, database: 7, user: '', password: '', ssl: false }));
		expect(d.limiter).not.toBeInstanceOf(TokenBucketLimiter);
		await d.limiter!.acquire(3);
		const check = new Redis({ host: '127.0.0.1', port: 6379, db: 7 });
		try {
			const keys = await check.keys(`eca:rl:{${d.options.account}}:req:*`);
			expect(keys.length).toBeGreaterThan(0);
		} finally {
			check.disconnect();
			await d.limiter!.close?.();
		}
	});

	it('a Redis that cannot be reached fails the send with a clear error that names it, without the password', async () => {
		const e = await readDelivery(sendContext({ host: '127.0.0.1', port: 9, database: 0, password: REDIS_PASSWORD, ssl: false })).catch((x: unknown) => x);
		expect((e as Error).message).toMatch(/^Campaign Redis at 127\.0\.0\.1:9 could not be reached: connection refused — check the Campaign Redis credential/);
		expect(`${(e as Error).message}${(e as Error).stack}${JSON.stringify(e)}`).not.toContain(REDIS_PASSWORD);
		// Through the node, n8n shows the same message.
		const fromNode = await new SendEmailSendGrid().execute.call(Object.assign(sendContext({ host: '127.0.0.1', port: 9, password: REDIS_PASSWORD }), { getInputData: () => [] })).catch((x: unknown) => x);
		expect((fromNode as Error).message).toMatch(/Campaign Redis at 127\.0\.0\.1:9 could not be reached/);
		expect((fromNode as Error).message).not.toContain(REDIS_PASSWORD);
	});

	it('the credential test says OK for a reachable Redis and gives the reason otherwise', async () => {
		await ensureRedis();
		const test = (data: Record<string, unknown>) => campaignRedisConnectionTest.call({} as ICredentialTestFunctions, { id: '1', name: 'redis', type: 'campaignRedisApi', data: data as never });
		expect(await test({ host: '127.0.0.1', port: 6379, database: 0 })).toMatchObject({ status: 'OK' });
		const bad = await test({ host: '127.0.0.1', port: 9, password: REDIS_PASSWORD });
		expect(bad.status).toBe('Error');
		expect(bad.message).toMatch(/Campaign Redis at 127\.0\.0\.1:9/);
		expect(bad.message).not.toContain(REDIS_PASSWORD);
	});
});

describe('SendGrid Trigger verification key from the credential', () => {
	const sim = new SendGridSimulator();
	const body = Buffer.from(JSON.stringify([{ email: 'a@x.io', event: 'delivered', sg_event_id: 'k1', timestamp: Math.floor(Date.now() / 1000) }]));
	/** The key as a one-line PEM with literal \n, the way n8n's single-line credential field keeps a pasted PEM. */
	const oneLinePem = `-----BEGIN PUBLIC KEY-----\\n${sim.publicKey}\\n-----END PUBLIC KEY-----`;
	function hook(params: Params, credential?: Record<string, unknown>, registered?: string) {
		const res = { code: 200, body: undefined as unknown, status(c: number) { this.code = c; return this; }, json(b: unknown) { this.body = b; return this; } };
		const s = sim.signPayload(body);
		const ctx = {
			getRequestObject: () => ({ rawBody: body }),
			getResponseObject: () => res,
			getNodeParameter: (name: string, fallback?: unknown) => ({ events: ['delivered'], output: 'event', options: { updateStore: false }, ...params } as Params)[name] ?? fallback,
			getWebhookName: () => 'default',
			getWorkflowStaticData: () => (registered ? { publicKey: registered } : {}),
			getHeaderData: () => ({ 'x-twilio-email-event-webhook-signature': s.signature, 'x-twilio-email-event-webhook-timestamp': s.timestamp }),
			getNode: () => ({ name: 'SendGrid Trigger', credentials: credential ? { sendGridCampaignApi: { id: '1', name: 'sg' } } : {} }),
			getCredentials: async () => credential,
		} as unknown as IWebhookFunctions;
		return { res, run: () => new SendGridTrigger().webhook.call(ctx) };
	}
	const wrongKey = new SendGridSimulator().publicKey;

	it("verifies with the credential's key (one-line PEM) when the node has none", async () => {
		const r = await hook({ registration: 'manual', publicKey: '' }, { apiKey: 'SG.x', webhookPublicKey: oneLinePem }).run();
		expect(r.workflowData?.[0].map((i) => i.json.sg_event_id)).toEqual(['k1']);
	});

	it("the node's own key wins over the credential's; the credential's over the registered one", async () => {
		const nodeWins = hook({ registration: 'manual', publicKey: wrongKey }, { webhookPublicKey: sim.publicKey });
		await nodeWins.run();
		expect(nodeWins.res.code).toBe(403);
		const credentialWins = hook({ registration: 'auto' }, { webhookPublicKey: wrongKey }, sim.publicKey);
		await credentialWins.run();
		expect(credentialWins.res.code).toBe(403);
		const registered = await hook({ registration: 'auto' }, { webhookPublicKey: '' }, sim.publicKey).run();
		expect(registered.workflowData?.[0]).toHaveLength(1);
	});
});

describe('errors reach the user in the package\'s words', () => {
	it('a store that went away keeps its message: n8n would swap a message naming ECONNREFUSED for a generic one', () => {
		const { nodeError } = jest.requireActual('../../../nodes/shared/context') as typeof import('../../../nodes/shared/context');
		const { StoreConnectionError } = jest.requireActual('../../../lib/store') as typeof import('../../../lib/store');
		const node = { id: '1', name: 'Under test', type: 'test', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };
		const err = nodeError(node, new StoreConnectionError('Campaign database postgres@db:5432/campaigns: connect ECONNREFUSED 10.0.0.5:5432 — the database went away'), 3);
		expect(err.message).toBe('Campaign database postgres@db:5432/campaigns: connect connection refused 10.0.0.5:5432 — the database went away');
		expect(err.message).not.toMatch(/Unexpected error|perhaps it is offline/);
		expect((err as { context?: { itemIndex?: number } }).context?.itemIndex).toBe(3);
	});
});
