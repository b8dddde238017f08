/**
 * Queue mode as docker-compose runs it: main + 2 workers on Redis and Postgres. The same campaign
 * and the same scheduler tick started twice at once, on different workers: exactly once per recipient.
 */
import { eventually, node, setContacts, template, useN8nRig, withUnsubscribe } from './helpers';
import { csvOf, contacts } from '../helpers/fixtures';
import { deliveryStatuses } from '../helpers/tally';

jest.setTimeout(30 * 60_000);

// One execution per worker at a time, so two simultaneous runs land on both workers.
const e2e = useN8nRig({ n8n: { workers: 2, workerConcurrency: 1 }, sg: { latencyMs: 50 } });

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
	await eventually(async () => (await finished()) === 2, 'both runs to finish', 10 * 60_000);
	expect(r.sg.accepted.filter((m) => m.customArgs.campaign_id === 'queue-agent')).toHaveLength(3000);
	expect(r.sg.duplicateRecipients()).toEqual([]);
	expect(await deliveryStatuses(q, 'queue-agent')).toEqual({ sent: 3000 });
	// Both workers took part.
	const logs = n8n.logs();
	for (const w of ['worker0', 'worker1']) expect(logs.split(`--- ${w}`)[1]?.split('--- ')[0] ?? '').toMatch(/Worker started execution/);
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
