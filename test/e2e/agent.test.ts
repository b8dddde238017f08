/**
 * workflows/campaign-agent.json in a real n8n: 20,000 contacts from CSV, n8n killed (SIGKILL) about
 * half way, the run resumed from its Postgres checkpoint. Requests that were in flight at the kill are
 * reconciled through SendGrid's processed events (SendGrid Trigger); every contact gets exactly one message.
 */
import { eventually, node, setContacts, template, useN8nRig, withUnsubscribe } from './helpers';
import { csvOf, contacts } from '../helpers/fixtures';
import { deliveryStatuses } from '../helpers/tally';

jest.setTimeout(30 * 60_000);

const N = 20_000;
const e2e = useN8nRig({ sg: { latencyMs: 400 } });

function agentWorkflow(runId: string, resume: boolean) {
	const wf = setContacts({ ...template('campaign-agent.json'), id: 'e2eAgentResume01', name: 'agent resume' }, csvOf(contacts(N, 'agent.example')));
	Object.assign(withUnsubscribe(node(wf, 'Campaign Agent')).parameters, {
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
	const { n8n, r, q } = e2e;
	const { hook } = await e2e.publishTracking();

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
	const answers = await r.sg.postEvents(hook.url, events.filter((e) => e.event === 'processed'));
	expect(answers.every((a) => a.status === 200)).toBe(true);
	await new Promise((res) => setTimeout(res, 1500)); // past the 0.6 s resend grace for claims nobody confirmed

	// What the killed run left behind, shown when the resume assertion fails.
	const left = await q<{ checkpoint_id: string; metadata: Buffer }>(`SELECT checkpoint_id, metadata FROM eca_checkpoints WHERE thread_id = $1 ORDER BY checkpoint_id`, [runId]);
	const checkpointsAtKill = left.map((x: { checkpoint_id: string; metadata: Buffer }) => `${x.checkpoint_id} ${Buffer.from(x.metadata).toString().slice(0, 160)}`);

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

	expect(await deliveryStatuses(q, 'e2e-agent', { mode: 'live' })).toEqual({ sent: N });
	const checkpoints = await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_checkpoints WHERE thread_id = $1`, [runId]);
	expect(checkpoints[0].n).toBeGreaterThan(0);
});
