/**
 * workflows/campaign-agent.json in a real n8n: 20,000 contacts from CSV, n8n killed (SIGKILL) about
 * half way, the run resumed from its Postgres checkpoint. Requests that were in flight at the kill are
 * reconciled through SendGrid's processed events (SendGrid Trigger); every contact gets exactly one message.
 */
import { Client } from 'pg';
import { N8nInstance, startN8nWithPackage } from './n8n';
import { Rig, closeRig, eventually, node, rig, template } from './helpers';
import { ensurePostgres } from '../helpers/services';
import { csvOf, contacts } from '../helpers/fixtures';

jest.setTimeout(30 * 60_000);

const N = 20_000;
let n8n: N8nInstance;
let r: Rig;
beforeAll(async () => {
	await ensurePostgres();
	n8n = await startN8nWithPackage();
	r = await rig(n8n, { latencyMs: 400 });
});
afterAll(async () => {
	await n8n?.stop();
	await closeRig(r);
});

function agentWorkflow(runId: string, resume: boolean) {
	const wf = template('campaign-agent.json');
	wf.id = 'e2eAgentResume01';
	wf.name = 'agent resume';
	(node(wf, 'Contacts CSV').parameters.assignments as { assignments: Array<{ value: string }> }).assignments[0].value = csvOf(contacts(N, 'agent.example'));
	Object.assign(node(wf, 'Campaign Agent').parameters, {
		campaignId: 'e2e-agent',
		dryRun: false,
		runId,
		resume,
		limits: { requestsPerSecond: 2, concurrency: 2 },
		deliveryOptions: { resendUnconfirmedAfterMinutes: 0.01 },
	});
	return wf;
}

it('resumes after SIGKILL: 20,000 contacts, each exactly one message, 20,000 rows', async () => {
	const tracking = await n8n.importWorkflow(template('sendgrid-event-tracking.json'), r.creds);
	await n8n.activate(tracking.id);
	await eventually(() => r.sg.webhooks.length === 1, 'event webhook registration');

	const runId = 'run_e2e_agent_resume';
	const { id } = await n8n.importWorkflow(agentWorkflow(runId, false), r.creds);
	const first = n8n.execute(id);
	await eventually(() => r.sg.accepted.length >= N / 2, 'half of the campaign to be accepted', 10 * 60_000);
	first.process!.kill('SIGKILL');
	await first.catch(() => undefined);
	// Requests the dead process had sent still land at SendGrid; their processed events come too.
	await eventually(() => r.sg.inFlightRequests === 0, 'the requests in flight at the kill to land');
	const acceptedAtKill = r.sg.accepted.length;
	expect(acceptedAtKill).toBeGreaterThanOrEqual(N / 2);
	expect(acceptedAtKill).toBeLessThan(N);

	// SendGrid reports what it accepted; the trigger confirms those claims.
	const events = r.sg.eventsFor(r.sg.accepted, { noDelivery: false });
	const answers = await r.sg.postEvents(r.sg.webhooks[0].url, events.filter((e) => e.event === 'processed'));
	expect(answers.every((a) => a.status === 200)).toBe(true);
	await new Promise((res) => setTimeout(res, 1500)); // past the 0.6 s resend grace for claims nobody confirmed

	// What the killed run left behind, shown when the resume assertion fails.
	const { host, port, user, database } = r.db.connection;
	const pg = new Client({ host, port, user, database });
	await pg.connect();
	const left = await pg.query(`SELECT checkpoint_id, metadata FROM eca_checkpoints WHERE thread_id = $1 ORDER BY checkpoint_id`, [runId]).finally(() => pg.end());
	const checkpointsAtKill = left.rows.map((x: { checkpoint_id: string; metadata: Buffer }) => `${x.checkpoint_id} ${Buffer.from(x.metadata).toString().slice(0, 160)}`);

	await n8n.importWorkflow(agentWorkflow(runId, true), r.creds);
	const resumed = await n8n.execute(id);
	expect(resumed.error).toBeUndefined();
	const summary = resumed.nodes['Campaign Agent'][0][0];
	expect(summary).toMatchObject({ run_id: runId, contacts: N });
	const state = `summary ${JSON.stringify(summary)}; checkpoints at the kill: ${JSON.stringify(checkpointsAtKill, null, 1)}`;
	expect(summary.resumed ? 'resumed' : `not resumed; ${state}`).toBe('resumed');
	expect(`${new Set(r.sg.accepted.map((m) => m.to)).size} accepted; ${state}`).toBe(`${N} accepted; ${state}`);

	expect(r.sg.duplicateRecipients()).toEqual([]);
	expect(new Set(r.sg.accepted.map((m) => m.to)).size).toBe(N);
	expect(r.sg.accepted).toHaveLength(N);

	const db = new Client({ host, port, user, database });
	await db.connect();
	const rows = await db.query(`SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'sent')::int AS sent FROM eca_deliveries WHERE campaign_id = 'e2e-agent' AND mode = 'live'`);
	const checkpoints = await db.query(`SELECT count(*)::int AS n FROM eca_checkpoints WHERE thread_id = $1`, [runId]);
	await db.end();
	expect(rows.rows[0]).toEqual({ n: N, sent: N });
	expect(checkpoints.rows[0].n).toBeGreaterThan(0);
});
