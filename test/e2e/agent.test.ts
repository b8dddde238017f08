/**
 * workflows/campaign-agent.json in a real n8n: 1,000,000 contacts from a CSV file on disk (Read/Write
 * Files from Disk → the Campaign Agent, which streams it a chunk at a time, in its worker thread),
 * `n8n execute` killed (SIGKILL) about half way, the run resumed from its Postgres checkpoint in n8n's main thread. Requests that were in flight
 * at the kill are reconciled through SendGrid's processed events (SendGrid Trigger); every contact gets
 * exactly one message. The SendGrid simulator runs in its own process (a million accepted messages
 * would otherwise sit in the test's heap).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, node, template, useN8nRig, withUnsubscribe } from './helpers';
import { deliveryStatuses } from '../helpers/tally';
import { writeContactsCsv } from '../helpers/fixtures';
import { startSimulatorProcess, type SimulatorProcess } from '../simulators/serve';
import type { SendGridEvent } from '../simulators/sendgridServer';
import { WORKER_APPLICATION_NAME } from '../../lib/agent/agentWorker';

jest.setTimeout(40 * 60_000);

const N = 1_000_000;
const dir = mkdtempSync(join(tmpdir(), 'eca-agent-e2e-'));
const csvPath = join(dir, 'contacts.csv');
const e2e = useN8nRig({ n8n: { env: { N8N_RESTRICT_FILE_ACCESS_TO: dir } } });
let sim: SimulatorProcess;
let creds: Record<string, { id: string; name: string }>;

beforeAll(async () => {
	sim = await startSimulatorProcess({ latencyMs: 50 });
	await writeContactsCsv(csvPath, N, 'agent.example');
	creds = { ...e2e.r.creds, sendGridCampaignApi: { id: await e2e.n8n.createCredential('sendGridCampaignApi', 'sim process', { apiKey: 'SG.test-key', region: 'custom', baseUrl: sim.baseUrl }), name: 'sim process' } };
});
afterAll(async () => {
	await sim?.stop();
	rmSync(dir, { recursive: true, force: true });
});

function agentWorkflow(runId: string, resume: boolean) {
	const wf = { ...template('campaign-agent.json'), id: 'e2eAgentResume01', name: 'agent resume' };
	// The file instead of the template's pasted CSV: n8n keeps it on disk, the agent streams it.
	const contacts = node(wf, 'Contacts CSV');
	Object.assign(contacts, { type: 'n8n-nodes-base.readWriteFile', typeVersion: 1.1, parameters: { operation: 'read', fileSelector: csvPath, options: {} } });
	Object.assign(withUnsubscribe(node(wf, 'Campaign Agent')).parameters, {
		contactSource: 'csvBinary',
		binaryPropertyName: 'data',
		campaignId: 'e2e-agent',
		dryRun: false,
		runId,
		resume,
		// The killed run in its worker thread (Run Agent In → Worker Thread), the resumed one in n8n's main
		// thread: a run picks up from another's checkpoints whatever thread it ran in (what a worker that
		// ran out of its heap tells the user to do). Worker-to-worker resume: test/integration/agent-worker.test.ts.
		runIn: resume ? 'main' : 'worker',
		limits: { requestsPerSecond: 25, concurrency: 4 },
		deliveryOptions: { resendUnconfirmedAfterMinutes: 0.01 },
	});
	return wf;
}

it('resumes after SIGKILL: 1,000,000 contacts streamed from a file, each exactly one message', async () => {
	const { n8n, r, q } = e2e;
	const { hook } = await e2e.publishTracking();

	const runId = 'run_e2e_agent_resume';
	const { id } = await n8n.importWorkflow(agentWorkflow(runId, false), creds);
	const first = n8n.execute(id, 30 * 60_000);
	await eventually(async () => (await sim.stats()).accepted >= N / 2, 'half of the campaign to be accepted', 20 * 60_000, 500);
	// The run is in its worker thread: the worker's own pool is connected under its own name.
	const workerConnections = await q<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [WORKER_APPLICATION_NAME]);
	first.process!.kill('SIGKILL');
	expect(workerConnections[0].n).toBeGreaterThanOrEqual(1);
	await first.catch(() => undefined);
	// Requests the dead process had sent still land at SendGrid; their processed events come too.
	let last = -1;
	await eventually(async () => {
		const now = (await sim.stats()).accepted;
		const settled = now === last;
		last = now;
		return settled;
	}, 'the requests in flight at the kill to land', 60_000, 1_000);
	const acceptedAtKill = (await sim.stats()).accepted;
	expect(acceptedAtKill).toBeGreaterThanOrEqual(N / 2);
	expect(acceptedAtKill).toBeLessThan(N);

	// SendGrid reports what it accepted; the trigger confirms those claims. Only the last requests can be
	// unconfirmed (the rest were recorded as sent), so their processed events are posted, signed by the
	// simulator whose key the trigger holds.
	const events = await sim.call<SendGridEvent[]>({ cmd: 'events', plan: { noDelivery: false }, filter: { lastRequests: 40, only: ['processed'] } });
	expect(events.length).toBeGreaterThan(0);
	const answers = await r.sg.postEvents(hook.url, events);
	expect(answers.every((a) => a.status === 200)).toBe(true);
	await new Promise((res) => setTimeout(res, 1500)); // past the 0.6 s resend grace for claims nobody confirmed

	// What the killed run left behind, shown when the resume assertion fails.
	const left = await q<{ checkpoint_id: string; metadata: Buffer }>(`SELECT checkpoint_id, metadata FROM eca_checkpoints WHERE thread_id = $1 ORDER BY checkpoint_id`, [runId]);
	const checkpointsAtKill = left.slice(-5).map((x: { checkpoint_id: string; metadata: Buffer }) => `${x.checkpoint_id} ${Buffer.from(x.metadata).toString().slice(0, 160)}`);

	await n8n.importWorkflow(agentWorkflow(runId, true), creds);
	const resumed = await n8n.execute(id, 30 * 60_000);
	expect(resumed.error).toBeUndefined();
	const summary = resumed.nodes['Campaign Agent'][0][0];
	expect(summary).toMatchObject({ run_id: runId, contacts: N, invalid: 0 });
	const state = `summary ${JSON.stringify(summary)}; last checkpoints at the kill: ${JSON.stringify(checkpointsAtKill, null, 1)}`;
	expect(summary.resumed ? 'resumed' : `not resumed; ${state}`).toBe('resumed');
	const stats = await sim.stats();
	expect(`${stats.distinctRecipients} accepted; ${state}`).toBe(`${N} accepted; ${state}`);
	expect(stats.duplicates).toEqual([]);
	expect(stats.accepted).toBe(N);

	expect(await deliveryStatuses(q, 'e2e-agent', { mode: 'live' })).toEqual({ sent: N });
	const checkpoints = await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_checkpoints WHERE thread_id = $1`, [runId]);
	expect(checkpoints[0].n).toBeGreaterThan(0);
});
