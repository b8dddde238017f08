/**
 * workflows/sequence-scheduler.json in a real n8n: 300 contacts through Day 1 / 3 / 7 with the clock
 * advanced; unsubscribes and a reply (SendGrid Trigger) stop those contacts; step counts at the simulator match.
 */
import { N8nInstance, startN8nWithPackage } from './n8n';
import { Rig, closeRig, eventually, node, rig, template } from './helpers';
import { ensurePostgres } from '../helpers/services';
import { csvOf, contacts } from '../helpers/fixtures';

jest.setTimeout(30 * 60_000);

const DAY = 86_400_000;
const T0 = Date.parse('2026-03-02T10:00:00Z');
let n8n: N8nInstance;
let r: Rig;
beforeAll(async () => {
	await ensurePostgres();
	n8n = await startN8nWithPackage();
	r = await rig(n8n);
});
afterAll(async () => {
	await n8n?.stop();
	await closeRig(r);
});

/** The scheduler template, split into its two branches so the CLI can run each with a chosen clock. */
function branch(kind: 'enroll' | 'tick', at: number) {
	const wf = template('sequence-scheduler.json');
	const manual = { id: 'manual', name: 'Run', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} };
	if (kind === 'enroll') {
		(node(wf, 'Contacts CSV').parameters.assignments as { assignments: Array<{ value: string }> }).assignments[0].value = csvOf(contacts(300, 'seq.example'));
		node(wf, 'Enroll Contacts').parameters.asOf = new Date(at).toISOString();
		const connections = { ...(wf.connections as Record<string, unknown>) };
		delete connections['Every 15 Minutes'];
		return { ...wf, id: 'e2eSeqEnroll0001', name: 'sequence enroll', connections, nodes: wf.nodes.filter((n) => n.name !== 'Every 15 Minutes' && n.name !== 'Send Due Steps') };
	}
	const send = node(wf, 'Send Due Steps');
	Object.assign(send.parameters, { asOf: new Date(at).toISOString(), dryRun: false });
	return { ...wf, id: 'e2eSeqTick000001', name: 'sequence tick', nodes: [manual, send], connections: { Run: { main: [[{ node: 'Send Due Steps', type: 'main', index: 0 }]] } } };
}

it('sends Day 1, Day 3 and Day 7 exactly once each, minus the contacts who unsubscribed or replied', async () => {
	const tracking = await n8n.importWorkflow(template('sendgrid-event-tracking.json'), r.creds);
	await n8n.activate(tracking.id);
	await eventually(() => r.sg.webhooks.length === 1, 'event webhook registration');
	const hook = r.sg.webhooks[0].url;

	const enroll = await n8n.importWorkflow(branch('enroll', T0), r.creds);
	const enrolled = await n8n.execute(enroll.id);
	expect(enrolled.nodes['Enroll Contacts'][0][0]).toMatchObject({ campaign_id: 'spring-sequence', enrolled: 300, already: 0 });

	const tick = async (at: number) => {
		const { id } = await n8n.importWorkflow(branch('tick', at), r.creds);
		const out = await n8n.execute(id);
		expect(out.error).toBeUndefined();
		return out.nodes['Send Due Steps'][0];
	};
	const step = (s: number) => r.sg.accepted.filter((m) => m.customArgs.step === String(s));

	await tick(T0);
	expect(step(1)).toHaveLength(300);
	expect((await tick(T0 + DAY))[0]).toMatchObject({ due: 0 });

	const leavers = contacts(10, 'seq.example').map((c) => c.email);
	const unsub = r.sg.eventsFor(step(1).filter((m) => leavers.includes(m.to)), { unsubscribe: leavers, noDelivery: true });
	expect((await r.sg.postEvents(hook, unsub)).every((a) => a.status === 200)).toBe(true);
	// A reply needs the trigger's Inbound Parse secret (by default its node id and webhook id) and must answer a message we sent.
	const saved = await n8n.rest<{ nodes?: Array<{ type: string; id: string; webhookId: string }>; data?: { nodes: Array<{ type: string; id: string; webhookId: string }> } }>('GET', `/workflows/${tracking.id}`);
	const trigger = (saved.nodes ?? saved.data!.nodes).find((n) => n.type.endsWith('.sendGridTrigger'))!;
	const inReplyTo = step(1).find((m) => m.to === 'user42@seq.example')!.headers['Message-ID'];
	expect((await r.sg.postInboundReply(hook.replace(/\/events$/, '/inbound'), { from: 'Someone <user42@seq.example>', to: 'news@example.com', subject: 'Re: hello', text: 'Call me', inReplyTo, secret: `${trigger.id}.${trigger.webhookId}` })).status).toBe(200);

	await tick(T0 + 3 * DAY);
	expect(step(2)).toHaveLength(289);
	await tick(T0 + 7 * DAY);
	expect(step(3)).toHaveLength(289);
	for (const s of [2, 3]) {
		const to = step(s).map((m) => m.to);
		for (const gone of [...leavers, 'user42@seq.example']) expect(to).not.toContain(gone);
	}
	expect(r.sg.duplicateRecipients()).toEqual([]);
	expect((await tick(T0 + 8 * DAY))[0]).toMatchObject({ due: 0 });
});

/** The A/B template: 20 % sample, clicks from the simulator's events, winner to the rest after the wait. */
it('A/B test template: samples, waits 4 h, then sends the significant winner to the other 80 %', async () => {
	const wf = template('ab-test.json');
	const hook = r.sg.webhooks[0]?.url;
	expect(hook).toBeDefined();
	const manual = { id: 'manual', name: 'Run', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} };
	(node(wf, 'Contacts CSV').parameters.assignments as { assignments: Array<{ value: string }> }).assignments[0].value = csvOf(contacts(2000, 'ab.example'));
	node(wf, 'Enroll A/B Test').parameters.asOf = new Date(T0).toISOString();
	const connections = { ...(wf.connections as Record<string, unknown>) };
	delete connections['Every 15 Minutes'];
	delete connections['Check Winner Now'];
	const enroll = await n8n.importWorkflow({ ...wf, id: 'e2eAbEnroll00001', name: 'ab enroll', connections, nodes: wf.nodes.filter((n) => ['Start Test', 'Contacts CSV', 'Enroll A/B Test'].includes(n.name)) }, r.creds);
	expect((await n8n.execute(enroll.id)).nodes['Enroll A/B Test'][0][0]).toMatchObject({ enrolled: 2000 });

	const tick = async (at: number) => {
		const t = template('ab-test.json');
		const send = node(t, 'Send Test, Then Winner');
		Object.assign(send.parameters, { asOf: new Date(at).toISOString(), dryRun: false });
		const { id } = await n8n.importWorkflow({ ...t, id: 'e2eAbTick0000001', name: 'ab tick', nodes: [manual, send], connections: { Run: { main: [[{ node: send.name, type: 'main', index: 0 }]] } } }, r.creds);
		return (await n8n.execute(id)).nodes[send.name][0];
	};
	const ab = () => r.sg.accepted.filter((m) => m.customArgs.campaign_id === 'spring-ab-test');

	await tick(T0);
	const sample = ab();
	expect(sample.length).toBeGreaterThan(300);
	expect(sample.length).toBeLessThan(500);
	const byVariant = (v: string) => sample.filter((m) => m.customArgs.variant === v);
	expect(byVariant('B')[0].subject).toMatch(/your skates are waiting/);
	// Readers of B click far more often; the simulator reports it through the signed Event Webhook.
	const clickers = [...byVariant('A').filter((_m, i) => i % 10 === 0), ...byVariant('B').filter((_m, i) => i % 3 === 0)].map((m) => m.to);
	const events = r.sg.eventsFor(sample, { click: clickers, noDelivery: true });
	expect((await r.sg.postEvents(hook!, events)).every((a) => a.status === 200)).toBe(true);

	const [decision] = await tick(T0 + 4 * 3_600_000 + 60_000);
	expect(decision.ab).toMatchObject({ decided: true, winner: 'B', send: 'B', metric: 'unique_click_rate' });
	const rest = ab().slice(sample.length);
	expect(rest.length + sample.length).toBe(2000);
	expect(new Set(rest.map((m) => m.customArgs.variant))).toEqual(new Set(['B']));
	expect(r.sg.duplicateRecipients()).toEqual([]);
});
