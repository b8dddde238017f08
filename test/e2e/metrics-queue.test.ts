/**
 * Campaign metrics in queue mode (issue 24): a Campaign Agent run executes on a worker while another
 * execution answers the scrape (webhook executions are queued too). While it sends,
 * email_campaign_runs_in_progress names that worker (host:pid of the worker process, written by the
 * run, read back from the store by the scrape); once it has finished, the worker has no run in progress and the deliveries are counted.
 */
import { hostname } from 'node:os';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { eventually, node, setContacts, template, useN8nRig, withUnsubscribe } from './helpers';
import { csvOf, contacts } from '../helpers/fixtures';

jest.setTimeout(30 * 60_000);

const PASSWORD = 'queue-scrape-secret-2b';
const e2e = useN8nRig({
	// Two executions at once on the worker: the scrape (a webhook execution, queued like any other) runs beside the agent's run.
	n8n: { workers: 1, workerConcurrency: 2 },
	sg: { latencyMs: 300 },
	credentials: { campaignDashboardUsersApi: { name: 'Dashboard users', data: { users: `prometheus:${PASSWORD}` } } },
});

const webhook = (path: string) => ({ id: 'hook', name: 'Start', type: 'n8n-nodes-base.webhook', typeVersion: 2.1, position: [0, 0], webhookId: `metrics-${path}`, parameters: { httpMethod: 'POST', path, responseMode: 'onReceived', options: {} } });

it('runs in progress per worker: the worker running a Campaign Agent run, as a scrape reads it from the store', async () => {
	const { n8n, r, q } = e2e;
	const C = 'metrics-queue';
	const wf = setContacts(template('campaign-agent.json'), csvOf(contacts(600, 'queue-metrics.example')));
	const agent = withUnsubscribe(node(wf, 'Campaign Agent'));
	// Slow on purpose (2 requests a second, 300 ms each): the run stays in progress long enough to be scraped.
	Object.assign(agent.parameters, { campaignId: C, dryRun: false, batchSize: 50, limits: { requestsPerSecond: 2, concurrency: 1 } });
	const conns = { ...(wf.connections as Record<string, unknown>), Start: { main: [[{ node: 'Contacts CSV', type: 'main', index: 0 }]] } };
	const { id } = await n8n.importWorkflow({ ...wf, id: 'e2eMetricsQueue1', name: 'metrics queue agent', nodes: [...wf.nodes.filter((n) => n.name !== 'Start'), webhook('metrics-agent')], connections: conns }, r.creds);
	await n8n.activate(id);
	const { id: dash } = await n8n.importWorkflow(template('campaign-dashboard.json'), r.creds);
	await n8n.activate(dash);
	const metricsUrl = `${n8n.webhookUrl('campaign-dashboard')}?view=metrics`;
	const auth = { authorization: `Basic ${Buffer.from(`prometheus:${PASSWORD}`).toString('base64')}` };
	await eventually(async () => (await fetch(metricsUrl, { headers: auth })).status === 200, 'the dashboard to be live');
	const agentUrl = n8n.webhookUrl('metrics-agent');
	await eventually(async () => /Did you mean to make a POST request/.test(await (await fetch(agentUrl, { method: 'GET' })).text()), 'the webhook to be registered');

	const scrape = async () => parsePrometheusTextFormat(await (await fetch(metricsUrl, { headers: auth })).text());
	const inProgress = async () => Object.fromEntries((await scrape()).find((f) => f.name === 'email_campaign_runs_in_progress')?.metrics.map((m) => [m.labels?.worker, Number(m.value)]) ?? []);

	expect((await fetch(agentUrl, { method: 'POST' })).status).toBe(200);
	const worker = `${hostname()}:${n8n.pid('worker0')}`;
	// The first scrape that shows any run in progress (whatever its worker label: the assertion below names it).
	const during = await eventually(async () => {
		const now = await inProgress();
		return Object.keys(now).length > 0 ? now : undefined;
	}, 'a run in progress', 3 * 60_000).catch(async (e: Error) => {
		throw new Error(`${e.message}; runs: ${JSON.stringify(await q(`SELECT run_id, status, worker, error FROM eca_runs`))}`);
	});
	expect(during).toEqual({ [worker]: 1 });
	// Not the main process: it only takes the webhook calls and queues them.
	expect(worker).not.toBe(`${hostname()}:${n8n.pid('main')}`);

	await eventually(async () => (await q<{ status: string }>(`SELECT status FROM eca_runs WHERE campaign_id = $1`, [C]))[0]?.status === 'finished', 'the run to finish', 10 * 60_000);
	expect(await q(`SELECT worker FROM eca_runs WHERE campaign_id = $1`, [C])).toEqual([{ worker }]);
	const after = await scrape();
	expect(after.find((f) => f.name === 'email_campaign_runs_in_progress')?.metrics ?? []).toEqual([]);
	const sent = after.find((f) => f.name === 'email_campaign_deliveries')?.metrics.find((m) => m.labels?.campaign_id === C && m.labels?.status === 'sent');
	expect(Number(sent?.value)).toBe(600);
	expect(r.sg.accepted.filter((m) => m.customArgs.campaign_id === C)).toHaveLength(600);
});
