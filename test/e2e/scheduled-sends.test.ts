/**
 * Scheduled sends you can cancel (issue 17) in a real n8n: the campaign pipeline sends a run with
 * Send At (one SendGrid batch id, every request under it), then the Campaign Sequence node's Cancel
 * Scheduled cancels it; the simulator delivers nothing and the store shows the run's deliveries cancelled.
 */
import { csvOf, contacts } from '../helpers/fixtures';
import { deliveryStatuses } from '../helpers/tally';
import { livePipeline, node, useN8nRig, type Workflow } from './helpers';

jest.setTimeout(20 * 60_000);

const e2e = useN8nRig();

/** The Campaign Sequence node alone behind a manual trigger, with these parameters. */
function sequenceOperation(id: string, name: string, parameters: Record<string, unknown>): Workflow {
	return {
		id,
		name,
		nodes: [
			{ id: 'manual', name: 'Run', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
			{ id: 'sequence', name: 'Campaign Sequence', type: 'n8n-nodes-email-campaign-agent.campaignSequence', typeVersion: 1, position: [220, 0], parameters },
		] as unknown as Workflow['nodes'],
		connections: { Run: { main: [[{ node: 'Campaign Sequence', type: 'main', index: 0 }]] } },
		settings: {},
	};
}

it('a run scheduled with Send At and cancelled through Campaign Sequence is never delivered; its deliveries are cancelled', async () => {
	const { n8n, r, q } = e2e;
	const runId = 'e2e-scheduled-run';
	const sendAt = new Date(Date.now() + 2 * 3600_000);
	sendAt.setUTCMilliseconds(0);
	const wf = livePipeline('e2eSchedSend0001', 'scheduled send', 'e2e-scheduled', csvOf(contacts(40, 'sched.example')));
	node(wf, 'Build Email Payload').parameters.options = { sendAt: sendAt.toISOString(), runId };
	const sent = await n8n.execute((await n8n.importWorkflow(wf, r.creds)).id);
	expect(sent.error).toBeUndefined();
	expect(sent.nodes['Log Campaign Result'][0][0]).toMatchObject({ recipients: 40, sent: 40 });
	// One batch id for the run; every request and message under it, at send_at.
	expect(r.sg.requests.filter((x) => x.method === 'POST' && x.path === '/v3/mail/batch').map((x) => x.status)).toEqual([201]);
	const [run] = await q<{ batch_id: string; scheduled_status: string | null }>('SELECT batch_id, scheduled_status FROM eca_runs WHERE run_id = $1', [runId]);
	expect(run).toEqual({ batch_id: expect.any(String), scheduled_status: null });
	expect(r.sg.accepted).toHaveLength(40);
	expect(new Set(r.sg.accepted.map((m) => `${m.batchId} ${m.sendAt}`))).toEqual(new Set([`${run.batch_id} ${sendAt.getTime() / 1000}`]));

	const cancel = await n8n.importWorkflow(sequenceOperation('e2eSchedCancel01', 'cancel scheduled', { operation: 'cancelScheduled', scheduledRunId: runId, scheduledBy: 'e2e test' }), r.creds);
	const out = await n8n.execute(cancel.id);
	expect(out.error).toBeUndefined();
	expect(out.nodes['Campaign Sequence'][0][0]).toMatchObject({ run_id: runId, batch_id: run.batch_id, status: 'cancel', previous: 'scheduled', deliveries_cancelled: 40, by: 'e2e test' });

	// The simulator holds the batch, reports no delivery, and discards it at send_at.
	expect(r.sg.accepted).toEqual([]);
	expect(r.sg.held).toHaveLength(40);
	expect(r.sg.eventsFor(r.sg.held)).toEqual([]);
	r.sg.setClock(() => sendAt.getTime() + 1000);
	r.sg.settleScheduled();
	expect([r.sg.held.length, r.sg.discarded.filter((m) => m.discarded === 'cancelled').length, r.sg.deliveriesTo('user0@sched.example').length]).toEqual([0, 40, 0]);
	r.sg.setClock(undefined);

	expect(await deliveryStatuses(q, 'e2e-scheduled', { mode: 'live' })).toEqual({ cancelled: 40 });
	expect((await q('SELECT scheduled_status, scheduled_by FROM eca_runs WHERE run_id = $1', [runId]))[0]).toEqual({ scheduled_status: 'cancel', scheduled_by: 'e2e test' });
	const [counts] = await q<{ counts: Record<string, number> }>('SELECT counts FROM eca_runs WHERE run_id = $1', [runId]);
	expect(counts.counts).toEqual({ cancelled: 40 });

	// Get Status lists the campaign's scheduled runs with their state.
	const status = await n8n.importWorkflow(sequenceOperation('e2eSchedStatus01', 'status scheduled', { operation: 'status', campaignRef: 'e2e-scheduled' }), r.creds);
	expect((await n8n.execute(status.id)).nodes['Campaign Sequence'][0][0]).toMatchObject({
		scheduled_runs: [{ run_id: runId, batch_id: run.batch_id, send_at: sendAt.toISOString(), status: 'cancel', by: 'e2e test' }],
	});

	// Cancelling again says so; a run that was never scheduled is refused with the reason, as a node error.
	expect((await n8n.execute(cancel.id)).nodes['Campaign Sequence'][0][0]).toMatchObject({ status: 'cancel', message: 'Already cancelled' });
	const unknown = await n8n.importWorkflow(sequenceOperation('e2eSchedCancel02', 'cancel unknown', { operation: 'cancelScheduled', scheduledRunId: 'no-such-run' }), r.creds);
	expect(JSON.stringify((await n8n.execute(unknown.id)).error)).toMatch(/No run \\"no-such-run\\" in the campaign store/);
});
