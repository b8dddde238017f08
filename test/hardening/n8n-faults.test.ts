/**
 * Faults and hostile input against a real n8n in queue mode (main + worker on Redis and Postgres):
 * the worker killed mid campaign, the main process killed mid event batch, fuzzed, huge and slow
 * webhook requests, and a scan for secrets in everything the run left behind.
 */
import fc from 'fast-check';
import net from 'node:net';
import { Client } from 'pg';
import { N8nInstance, startN8nWithPackage } from '../e2e/n8n';
import { eventually, node, template } from '../e2e/helpers';
import { SendGridSimulator, SendGridEvent } from '../simulators/sendgridServer';
import { OpenAISimulator } from '../simulators/openaiServer';
import { createTestDatabase, ensurePostgres, ensureRedis } from '../helpers/services';
import { contacts, csvOf } from '../helpers/fixtures';
import { recordTally } from '../helpers/tally';

jest.setTimeout(30 * 60_000);

const SG_KEY = 'SG.hardening-secret-sendgrid-key';
const LLM_KEY = 'sk-hardening-secret-llm-key';
const DB_PASSWORD = 'pg-hardening-secret-password';
const SECRETS = [SG_KEY, LLM_KEY, DB_PASSWORD];

let n8n: N8nInstance;
let sg: SendGridSimulator;
let llm: OpenAISimulator;
let pg: Client;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const creds: Record<string, { id: string; name: string }> = {};
let hookUrl = '';
const outputs: string[] = [];

beforeAll(async () => {
	await ensurePostgres();
	await ensureRedis();
	sg = new SendGridSimulator({ apiKeys: [SG_KEY], latencyMs: 80 });
	llm = new OpenAISimulator({ apiKeys: [LLM_KEY] });
	await Promise.all([sg.start(), llm.start()]);
	db = await createTestDatabase('eca_hardening_n8n');
	n8n = await startN8nWithPackage({ workers: 1, workerConcurrency: 2 });
	const c = db.connection;
	const add = async (type: string, data: Record<string, unknown>) => (creds[type] = { id: await n8n.createCredential(type, type, data), name: type });
	await add('sendGridCampaignApi', { apiKey: SG_KEY, region: 'custom', baseUrl: sg.baseUrl });
	await add('campaignLlmApi', { apiKey: LLM_KEY, baseUrl: `${llm.baseUrl}/v1`, model: 'gpt-4o-mini' });
	await add('campaignDatabaseApi', { host: c.host, port: c.port, database: c.database, user: c.user, password: DB_PASSWORD, schema: 'public', ssl: 'disable' });
	pg = new Client({ host: c.host, port: c.port, user: c.user, database: c.database });
	await pg.connect();
	const tracking = template('sendgrid-event-tracking.json');
	node(tracking, 'SendGrid Trigger').parameters.output = 'request';
	const { id } = await n8n.importWorkflow(tracking, creds);
	await n8n.activate(id);
	await eventually(() => sg.webhooks.length === 1, 'event webhook registration');
	hookUrl = sg.webhooks[0].url;
});
afterAll(async () => {
	await pg?.end();
	await n8n?.stop();
	await Promise.all([sg?.stop(), llm?.stop()]);
	await db?.drop();
});

const count = async (sql: string, params: unknown[] = []) => (await pg.query(sql, params).then((q) => q.rows[0].n as number, () => 0));

it('kills the worker in the middle of a Campaign Agent run; after restart and resume: no duplicate, none missing', async () => {
	const N = 5000;
	const wf = template('campaign-agent.json');
	(node(wf, 'Contacts CSV').parameters.assignments as { assignments: Array<{ value: string }> }).assignments[0].value = csvOf(contacts(N, 'kill.example'));
	const agentParams = (resume: boolean) => ({ campaignId: 'hardening-kill', dryRun: false, runId: 'run_hardening_kill', resume, batchSize: 250, limits: { requestsPerSecond: 4, concurrency: 2 }, deliveryOptions: { resendUnconfirmedAfterMinutes: 0.01 } });
	Object.assign(node(wf, 'Campaign Agent').parameters, agentParams(false));
	// Live marketing sends need an unsubscribe mechanism.
	const agentNode = node(wf, 'Campaign Agent').parameters as { campaignOptions?: Record<string, unknown> };
	agentNode.campaignOptions = { ...agentNode.campaignOptions, unsubscribeUrl: 'https://unsubscribe.example/u' };
	const hook = { id: 'hook', name: 'Go', type: 'n8n-nodes-base.webhook', typeVersion: 2.1, position: [-600, 0], webhookId: 'hardening-kill', parameters: { httpMethod: 'POST', path: 'hardening-kill', responseMode: 'onReceived', options: {} } };
	const build = () => ({ ...wf, id: 'hardeningKill001', name: 'hardening kill', nodes: [...wf.nodes.filter((n) => n.name !== 'Start'), hook], connections: { Go: { main: [[{ node: 'Contacts CSV', type: 'main', index: 0 }]] }, 'Contacts CSV': { main: [[{ node: 'Campaign Agent', type: 'main', index: 0 }]] } } });
	const { id } = await n8n.importWorkflow(build(), creds);
	await n8n.activate(id);
	await new Promise((r) => setTimeout(r, 3000));
	await fetch(n8n.webhookUrl('hardening-kill'), { method: 'POST' });
	const ours = () => sg.accepted.filter((m) => m.customArgs.campaign_id === 'hardening-kill');
	await eventually(() => ours().length >= 1500, 'the run to be under way', 5 * 60_000);
	n8n.kill('SIGKILL', 'worker0');
	const atKill = ours().length;
	expect(atKill).toBeLessThan(N);
	await n8n.restart();
	// SendGrid reports what it took; then the run is resumed from its checkpoint.
	await new Promise((r) => setTimeout(r, 2000));
	// Requests the killed worker had sent still land, and get their processed events.
	await eventually(() => sg.inFlightRequests === 0, 'the requests in flight at the kill to land');
	await sg.postEvents(hookUrl, sg.eventsFor(ours(), { noDelivery: false }).filter((e) => e.event === 'processed'));
	await new Promise((r) => setTimeout(r, 1000));
	// Resumed as a manual run of the same template (same run id, Resume Run on).
	Object.assign(node(wf, 'Campaign Agent').parameters, agentParams(true));
	const resume = await n8n.importWorkflow({ ...wf, id: 'hardeningKillRes', name: 'hardening kill resume' }, creds);
	const resumed = await n8n.execute(resume.id);
	expect(resumed.error).toBeUndefined();
	expect(resumed.nodes['Campaign Agent'][0][0]).toMatchObject({ run_id: 'run_hardening_kill', resumed: true, contacts: N });
	await eventually(async () => (await count(`SELECT count(*)::int AS n FROM eca_deliveries WHERE campaign_id = 'hardening-kill' AND status = 'sent'`)) === N, 'every contact to be sent', 10 * 60_000);
	const all = ours();
	const duplicates = all.length - new Set(all.map((m) => m.to)).size;
	recordTally({ suite: 'n8n: worker SIGKILL', faults: 1, inputs: N, duplicates, lost: N - new Set(all.map((m) => m.to)).size });
	expect(duplicates).toBe(0);
	expect(new Set(all.map((m) => m.to)).size).toBe(N);
});

it('kills n8n in the middle of event-webhook batches; SendGrid retries; every event stored exactly once', async () => {
	const fakes = Array.from({ length: 20_000 }, (_, i) => ({ to: `evt${i % 4000}@kill.example`, sgMessageId: `m${i}.f`, messageId: `m${i}`, customArgs: { campaign_id: 'hardening-events' }, categories: [] }));
	const events: SendGridEvent[] = sg.eventsFor(fakes as never, { noDelivery: false }).slice(0, 20_000);
	const batches: SendGridEvent[][] = [];
	for (let i = 0; i < events.length; i += 500) batches.push(events.slice(i, i + 500));
	const statuses: number[] = [];
	const posting = (async () => {
		for (const b of batches) {
			try {
				statuses.push(...(await sg.postEvents(hookUrl, b)).map((a) => a.status));
			} catch {
				statuses.push(0); // connection refused/reset while n8n is down: SendGrid would retry
			}
		}
	})();
	await eventually(() => statuses.length >= 8, 'some batches to land');
	n8n.kill('SIGKILL', 'main');
	await posting;
	await n8n.restart();
	await n8n.login();
	await eventually(async () => (await fetch(hookUrl, { method: 'POST', body: '[]' }).then((r) => r.status, () => 0)) === 403, 'the webhook to be back');
	// SendGrid retries every batch it did not get a 2xx for; here: all of them again (a replay is harmless).
	for (const b of batches) expect((await sg.postEvents(hookUrl, b))[0].status).toBe(200);
	const unique = new Set(events.map((e) => e.sg_event_id)).size;
	const stored = await count(`SELECT count(*)::int AS n FROM eca_events WHERE campaign_id = 'hardening-events'`);
	recordTally({ suite: 'n8n: main SIGKILL mid-batch', faults: 1, inputs: events.length, rejected: statuses.filter((s) => s !== 200).length, duplicates: Math.max(0, stored - unique), lost: Math.max(0, unique - stored) });
	expect(statuses.some((s) => s !== 200)).toBe(true);
	expect(stored).toBe(unique);
});

it('fuzzed, forged, oversized and slow webhook requests get the right status and the process stays up, memory bounded', async () => {
	const rssBefore = n8n.rssMb();
	let inputs = 0;
	let rejected = 0;
	const post = async (body: string | Buffer, headers: Record<string, string>) => {
		inputs++;
		const r = await fetch(hookUrl, { method: 'POST', headers, body });
		await r.arrayBuffer();
		if (r.status >= 400) rejected++;
		return r.status;
	};
	const json = { 'content-type': 'application/json' };
	await fc.assert(
		fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), fc.json({ maxDepth: 3 })), fc.constantFrom('valid', 'none', 'garbage', 'old'), async (body, sig) => {
			const s = sg.signPayload(body, sig === 'old' ? String(Math.floor(Date.now() / 1000) - 7200) : undefined);
			const headers: Record<string, string> = { ...json };
			if (sig !== 'none') {
				headers['x-twilio-email-event-webhook-signature'] = sig === 'garbage' ? 'bm90IGEgc2lnbmF0dXJl' : s.signature;
				headers['x-twilio-email-event-webhook-timestamp'] = s.timestamp;
			}
			const status = await post(body, headers);
			let parsed: unknown;
			let isJson = true;
			try {
				parsed = JSON.parse(body);
			} catch {
				isJson = false;
			}
			// The trigger reads the raw bytes (n8n does not parse them first): a forged body is 403, a signed one that is not JSON 400.
			if (!isJson) expect(status).toBe(sig === 'valid' ? 400 : 403);
			else if (sig !== 'valid') expect(status).toBe(403);
			else {
				const ok = Array.isArray(parsed) && parsed.every((e) => e && typeof e === 'object' && !Array.isArray(e));
				expect(status).toBe(ok ? 200 : 400);
			}
		}),
		{ numRuns: 120, seed: 424242 },
	);
	// 50 MB body: refused (our 5 MB limit) without taking the process down.
	const big = Buffer.alloc(50 * 1024 * 1024, 0x20);
	big.write('[');
	big.write(']', big.length - 1);
	const s = sg.signPayload(big);
	expect(await post(big, { ...json, 'x-twilio-email-event-webhook-signature': s.signature, 'x-twilio-email-event-webhook-timestamp': s.timestamp })).toBe(413);
	// A slow sender trickling its body does not hold up others.
	const slow = net.connect(new URL(hookUrl).port ? Number(new URL(hookUrl).port) : 80, '127.0.0.1');
	slow.write(`POST ${new URL(hookUrl).pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[`);
	const trickle = setInterval(() => slow.write(' '), 100);
	const t0 = Date.now();
	expect(await post('[]', json)).toBe(403);
	expect(Date.now() - t0).toBeLessThan(3000);
	clearInterval(trickle);
	slow.destroy();
	inputs++;
	expect((await fetch(`${n8n.baseUrl}/healthz`)).status).toBe(200);
	const growth = n8n.rssMb() - rssBefore;
	recordTally({ suite: 'n8n: webhook fuzz/huge/slow', inputs, rejected });
	expect(growth).toBeLessThan(400);
});

it('leaves no API key or database password in outputs, logs or stored rows', async () => {
	// A live run through the pipeline so every credential is used.
	const wf = template('campaign-pipeline.json');
	node(wf, 'Load Campaign Content').parameters.campaignId = 'hardening-secrets';
	const load = node(wf, 'Load Campaign Content').parameters as { campaignOptions?: Record<string, unknown> };
	load.campaignOptions = { ...load.campaignOptions, unsubscribeUrl: 'https://unsubscribe.example/u' };
	node(wf, 'Generate Email Copy').parameters.copySource = 'llm';
	node(wf, 'Send Email (SendGrid)').parameters.dryRun = false;
	const { id } = await n8n.importWorkflow({ ...wf, id: 'hardeningSecret1', name: 'secrets' }, creds);
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();
	outputs.push(JSON.stringify(out.raw));
	const tables = (await pg.query(`SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'eca_%'`)).rows.map((r) => r.table_name as string);
	let stored = '';
	for (const t of tables) stored += JSON.stringify((await pg.query(`SELECT * FROM ${t}`)).rows);
	const haystacks = { outputs: outputs.join('\n'), logs: n8n.logs(), store: stored };
	const leaks = Object.entries(haystacks).flatMap(([where, text]) => SECRETS.filter((s) => text.includes(s)).map((s) => `${s.slice(0, 8)}… in ${where}`));
	recordTally({ suite: 'n8n: secrets scan', inputs: Object.keys(haystacks).length * SECRETS.length, let_in: leaks.length });
	expect(stored.length).toBeGreaterThan(1000);
	expect(leaks).toEqual([]);
});
