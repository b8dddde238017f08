/**
 * Queue mode as docker-compose runs it: main + 2 workers on Redis and Postgres. The same campaign
 * and the same scheduler tick started twice at once, on different workers: exactly once per recipient.
 * Every worker runs the package from the nodes folder the main loaded it from (docker-compose: one
 * volume the main installs into); a worker without it fails the execution: "Unrecognized node type".
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, node, setContacts, template, useN8nRig, withUnsubscribe } from './helpers';
import { ensureN8n, N8nInstance, PACKAGE_NAME } from './n8n';
import { csvOf, contacts } from '../helpers/fixtures';
import { deliveryStatuses } from '../helpers/tally';

jest.setTimeout(30 * 60_000);

// One execution per worker at a time, so two simultaneous runs land on both workers.
const e2e = useN8nRig({ n8n: { workers: 2, workerConcurrency: 1 }, sg: { latencyMs: 50 } });

/** The environment a running process really has (what it was started with), from /proc. */
function processEnv(pid: number | undefined): Record<string, string> {
	if (!pid) throw new Error('process is not running');
	return Object.fromEntries(
		readFileSync(`/proc/${pid}/environ`, 'utf8')
			.split('\0')
			.filter(Boolean)
			.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
	);
}

/** flatted's format, in which n8n's REST API sends execution data: an array whose first entry is the root; strings inside objects are indexes into it. */
function unflatten(text: string): unknown {
	const entries = JSON.parse(text) as unknown[];
	const done = new Map<number, unknown>();
	const at = (i: number): unknown => {
		const v = entries[i];
		if (typeof v !== 'object' || v === null) return v;
		if (done.has(i)) return done.get(i);
		const out: Record<string, unknown> = Array.isArray(v) ? ([] as unknown as Record<string, unknown>) : {};
		done.set(i, out);
		for (const [k, x] of Object.entries(v)) out[k] = typeof x === 'string' ? at(Number(x)) : x;
		return out;
	};
	return at(0);
}

type RunData = Record<string, Array<{ executionStatus?: string; error?: { message: string } }>>;

/** One execution as n8n's REST API gives it: status, the error it ended with, and each node's runs. */
async function execution(n8n: N8nInstance, id: string): Promise<{ status: string; error?: { message: string }; runData: RunData }> {
	const e = await n8n.rest<{ status: string; data: string }>('GET', `/executions/${id}`);
	const data = unflatten(e.data) as { resultData: { error?: { message: string }; runData: RunData } };
	return { status: e.status, error: data.resultData.error, runData: data.resultData.runData };
}

/** Ids of the executions a worker took from the queue, from its log. */
const startedBy = (n8n: N8nInstance, worker: string) => [...n8n.output(worker).matchAll(/Worker started execution (\d+)/g)].map((m) => m[1]);

const webhook = (path: string) => ({ id: 'hook', name: 'Start', type: 'n8n-nodes-base.webhook', typeVersion: 2.1, position: [0, 0], webhookId: `queue-${path}`, parameters: { httpMethod: 'POST', path, responseMode: 'onReceived', options: {} } });

it('runs campaign-agent.json twice at once on two workers: each contact gets exactly one message', async () => {
	const { n8n, r, q } = e2e;
	const wf = setContacts(template('campaign-agent.json'), csvOf(contacts(3000, 'queue.example')));
	const agent = withUnsubscribe(node(wf, 'Campaign Agent'));
	Object.assign(agent.parameters, { campaignId: 'queue-agent', dryRun: false, batchSize: 250, limits: { requestsPerSecond: 20, concurrency: 2 } });
	// The shared rate limit's Redis comes from a Campaign Redis credential (host/port fields, no URL).
	const redisCred = { id: await n8n.createCredential('campaignRedisApi', 'Campaign Redis (queue test)', { host: '127.0.0.1', port: 6379, database: 0, user: '', password: '', ssl: false }), name: 'Campaign Redis (queue test)' };
	(agent as { credentials?: Record<string, unknown> }).credentials = { campaignRedisApi: redisCred };
	const start = webhook('queue-agent');
	const conns = { ...(wf.connections as Record<string, unknown>), Start: { main: [[{ node: 'Contacts CSV', type: 'main', index: 0 }]] } };
	const { id } = await n8n.importWorkflow({ ...wf, id: 'e2eQueueAgent001', name: 'queue agent', nodes: [...wf.nodes.filter((n) => n.name !== 'Start'), start], connections: Object.fromEntries(Object.entries(conns)) }, r.creds);
	await n8n.activate(id);
	const url = n8n.webhookUrl('queue-agent');
	// Registered for POST only: a GET is answered "not registered for GET requests. Did you mean to make a POST request?"
	// once the webhook is live, and "is not registered" before.
	await eventually(async () => /Did you mean to make a POST request/.test(await (await fetch(url, { method: 'GET' })).text()), 'the webhook to be registered');
	await new Promise((res) => setTimeout(res, 3000));
	const posts = await Promise.all([fetch(url, { method: 'POST' }), fetch(url, { method: 'POST' })]);
	expect(posts.map((p) => p.status)).toEqual([200, 200]);
	// Tables appear when the first worker opens the store; until then the count is simply not there yet.
	const finished = () => q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_runs WHERE campaign_id = 'queue-agent' AND status = 'finished'`).then((rows) => rows[0].n, () => 0);
	await eventually(async () => (await finished()) === 2, 'both runs to finish', 10 * 60_000).catch(async (e) => {
		// Say where the runs are: their status, error and counts, and what the store holds.
		const runs = await q(`SELECT run_id, status, error, counts, worker FROM eca_runs WHERE campaign_id = 'queue-agent'`).catch((x) => [String(x)]);
		const rows = await deliveryStatuses(q, 'queue-agent').catch((x) => String(x));
		throw new Error(`${(e as Error).message}: runs ${JSON.stringify(runs)}; deliveries ${JSON.stringify(rows)}; worker0 log tail: ${n8n.output('worker0').slice(-1500)}`);
	});
	expect(r.sg.accepted.filter((m) => m.customArgs.campaign_id === 'queue-agent')).toHaveLength(3000);
	expect(r.sg.duplicateRecipients()).toEqual([]);
	expect(await deliveryStatuses(q, 'queue-agent')).toEqual({ sent: 3000 });
	// Both workers took part, each running the package's Campaign Agent node of its execution to success.
	// The store marks a run finished when the node ends; n8n saves the execution's end after that, so
	// each worker's executions are read until none is still "running" (a loaded machine widens that gap).
	for (const w of ['worker0', 'worker1']) {
		const executions = async () =>
			(await Promise.all(startedBy(n8n, w).map((e) => execution(n8n, e)))).map((e) => ({ status: e.status, agent: e.runData['Campaign Agent']?.map((run) => run.executionStatus) }));
		await eventually(async () => (await executions()).every((e) => e.status !== 'running' && e.status !== 'new'), `${w}'s executions to be saved as ended`, 60_000, 500);
		expect(await executions()).toContainEqual({ status: 'success', agent: ['success'] });
	}
	// ...with the package from the nodes folder the main loaded it from: every process runs on the same
	// user folder (read from the process itself), n8n's own install has no copy of the package and no
	// custom extension folder is set (those would name the types CUSTOM.*), so that folder is where
	// n8n-nodes-email-campaign-agent.* came from.
	const folder = processEnv(n8n.pid('main')).N8N_USER_FOLDER;
	expect(folder).toBe(n8n.userFolder);
	for (const w of ['worker0', 'worker1']) {
		const env = processEnv(n8n.pid(w));
		expect({ worker: w, folder: env.N8N_USER_FOLDER, custom: env.N8N_CUSTOM_EXTENSIONS }).toEqual({ worker: w, folder, custom: undefined });
	}
	const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
	expect(JSON.parse(readFileSync(join(folder, '.n8n', 'nodes', 'node_modules', PACKAGE_NAME, 'package.json'), 'utf8')).version).toBe(version);
	const install = (await ensureN8n()).dir;
	expect([join(install, 'node_modules', PACKAGE_NAME), join(install, 'node_modules', 'n8n', 'node_modules', PACKAGE_NAME)].filter(existsSync)).toEqual([]);
});

it('runs the sequence scheduler tick on two workers at once: no step twice', async () => {
	const { n8n, r, q } = e2e;
	const wf = setContacts(template('sequence-scheduler.json'), csvOf(contacts(1500, 'queue-seq.example')));
	const enrollNode = withUnsubscribe(node(wf, 'Enroll Contacts'));
	enrollNode.parameters.campaignId = 'queue-sequence';
	const enroll = { ...wf, id: 'e2eQueueEnroll01', name: 'queue enroll', nodes: [webhook('queue-enroll'), node(wf, 'Contacts CSV'), enrollNode], connections: { Start: { main: [[{ node: 'Contacts CSV', type: 'main', index: 0 }]] }, 'Contacts CSV': { main: [[{ node: 'Enroll Contacts', type: 'main', index: 0 }]] } } };
	const send = node(wf, 'Send Due Steps');
	Object.assign(send.parameters, { dryRun: false, campaignRef: 'queue-sequence', batchSize: 100, maxContacts: 500, limits: { concurrency: 2 } });
	const tick = { ...wf, id: 'e2eQueueTick0001', name: 'queue tick', nodes: [webhook('queue-tick'), send], connections: { Start: { main: [[{ node: 'Send Due Steps', type: 'main', index: 0 }]] } } };
	for (const w of [enroll, tick]) await n8n.activate((await n8n.importWorkflow(w, r.creds)).id);
	await new Promise((res) => setTimeout(res, 3000));
	await fetch(n8n.webhookUrl('queue-enroll'), { method: 'POST' });
	await eventually(async () => (await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_enrollments WHERE campaign_id = 'queue-sequence'`).then((rows) => rows[0].n, () => 0)) === 1500, 'enrollment');
	// Six ticks at once, each taking at most 500 due contacts: together they cover everyone once.
	await Promise.all(Array.from({ length: 6 }, () => fetch(n8n.webhookUrl('queue-tick'), { method: 'POST' })));
	await eventually(async () => (await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_enrollments WHERE campaign_id = 'queue-sequence' AND next_step = 2`))[0].n === 1500, 'every contact to move to step 2', 10 * 60_000);
	const step1 = r.sg.accepted.filter((m) => m.customArgs.campaign_id === 'queue-sequence');
	expect(step1).toHaveLength(1500);
	expect(r.sg.duplicateRecipients()).toEqual([]);
});

// Last in this file: it replaces the workers.
it('a worker whose user folder lacks the package fails the execution with "Unrecognized node type"', async () => {
	const { n8n, r } = e2e;
	const bare = mkdtempSync(join(tmpdir(), 'eca-bare-worker-'));
	try {
		await Promise.all(['worker0', 'worker1'].map((w) => n8n.stopProcess(w)));
		await n8n.startWorker('bare', { N8N_USER_FOLDER: bare });
		const load = { ...node(template('campaign-pipeline.json'), 'Load Campaign Content'), position: [250, 0] };
		const wf = { id: 'e2eQueueBare0001', name: 'queue bare worker', nodes: [webhook('queue-bare'), load], connections: { Start: { main: [[{ node: load.name, type: 'main', index: 0 }]] } } };
		const { id } = await n8n.importWorkflow(wf, r.creds);
		await n8n.activate(id);
		const url = n8n.webhookUrl('queue-bare');
		await eventually(async () => /Did you mean to make a POST request/.test(await (await fetch(url, { method: 'GET' })).text()), 'the webhook to be registered');
		expect((await fetch(url, { method: 'POST' })).status).toBe(200);
		const taken = await eventually(() => startedBy(n8n, 'bare')[0], 'the worker without the package to take the execution');
		const done = (await eventually(async () => {
			const e = await execution(n8n, taken);
			return e.status === 'running' || e.status === 'new' ? undefined : e;
		}, 'the execution to end'))!;
		expect(done.status).toBe('error');
		expect(done.error?.message).toMatch(/Unrecognized node type: n8n-nodes-email-campaign-agent\.loadCampaignContent/);
	} finally {
		await n8n.stopProcess('bare');
		rmSync(bare, { recursive: true, force: true });
	}
});
