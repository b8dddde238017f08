/**
 * workflows/sequence-scheduler.json in a real n8n: 300 contacts through Day 1 / 3 / 7 with the clock
 * advanced; unsubscribes and a reply (SendGrid Trigger) stop those contacts; step counts at the simulator match.
 */
import { DAY, T0, manualRun, node, sequenceScheduler, setContacts, template, useN8nRig, withUnsubscribe } from './helpers';
import { csvOf, contacts } from '../helpers/fixtures';

jest.setTimeout(30 * 60_000);

const e2e = useN8nRig();
const scheduler = sequenceScheduler(e2e, { csv: csvOf(contacts(300, 'seq.example')), ids: { enroll: 'e2eSeqEnroll0001', tick: 'e2eSeqTick000001' }, name: 'sequence' });

it('sends Day 1, Day 3 and Day 7 exactly once each, minus the contacts who unsubscribed or replied', async () => {
	const { r } = e2e;
	const tracking = await e2e.publishTracking();
	const hook = tracking.hook.url;

	expect(await scheduler.enroll(T0)).toMatchObject({ campaign_id: 'spring-sequence', enrolled: 300, already: 0 });
	const { tick } = scheduler;
	const step = (s: number) => r.sg.accepted.filter((m) => m.customArgs.step === String(s));

	await tick(T0);
	expect(step(1)).toHaveLength(300);
	expect((await tick(T0 + DAY))[0]).toMatchObject({ due: 0 });

	const leavers = contacts(10, 'seq.example').map((c) => c.email);
	const unsub = r.sg.eventsFor(step(1).filter((m) => leavers.includes(m.to)), { unsubscribe: leavers, noDelivery: true });
	expect((await r.sg.postEvents(hook, unsub)).every((a) => a.status === 200)).toBe(true);
	// A reply needs the trigger's Inbound Parse secret (by default its node id and webhook id) and must answer a message we sent.
	const { secret } = await e2e.inboundSecret(tracking.id);
	const inReplyTo = step(1).find((m) => m.to === 'user42@seq.example')!.headers['Message-ID'];
	expect((await r.sg.postInboundReply(hook.replace(/\/events$/, '/inbound'), { from: 'Someone <user42@seq.example>', to: 'news@example.com', subject: 'Re: hello', text: 'Call me', inReplyTo, secret })).status).toBe(200);

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
	const { n8n, r } = e2e;
	const wf = setContacts(template('ab-test.json'), csvOf(contacts(2000, 'ab.example')));
	const hook = r.sg.webhooks[0]?.url;
	expect(hook).toBeDefined();
	withUnsubscribe(node(wf, 'Enroll A/B Test')).parameters.asOf = new Date(T0).toISOString();
	const connections = { ...(wf.connections as Record<string, unknown>) };
	delete connections['Every 15 Minutes'];
	delete connections['Check Winner Now'];
	const enroll = await n8n.importWorkflow({ ...wf, id: 'e2eAbEnroll00001', name: 'ab enroll', connections, nodes: wf.nodes.filter((n) => ['Start Test', 'Contacts CSV', 'Enroll A/B Test'].includes(n.name)) }, r.creds);
	expect((await n8n.execute(enroll.id)).nodes['Enroll A/B Test'][0][0]).toMatchObject({ enrolled: 2000 });

	const tick = async (at: number) => {
		const t = template('ab-test.json');
		const send = node(t, 'Send Test, Then Winner');
		Object.assign(send.parameters, { asOf: new Date(at).toISOString(), dryRun: false });
		const { id } = await n8n.importWorkflow(manualRun(t, send, 'e2eAbTick0000001', 'ab tick'), r.creds);
		const out = await n8n.execute(id);
		expect(out.error).toBeUndefined();
		return out.nodes[send.name][0];
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
