/**
 * Inbound Parse replies in a real n8n: the SendGrid Trigger of workflows/sendgrid-event-tracking.json
 * (its Inbound Parse Secret left at the default n8n makes from the node's ids) and the sequence
 * scheduler. A forged reply (no or wrong secret), an unmatched reply and an out-of-office change
 * nothing; a real reply to a sent message (In-Reply-To = the Message-ID the simulator recorded for
 * that recipient) stops that contact's sequence, in both Inbound Parse modes, and no other.
 */
import { DAY, T0, eventually, node, sequenceScheduler, template, useN8nRig } from './helpers';
import { csvOf, contacts } from '../helpers/fixtures';

jest.setTimeout(30 * 60_000);

const e2e = useN8nRig();
const scheduler = sequenceScheduler(e2e, { csv: csvOf(contacts(5, 'rep.example')), ids: { enroll: 'e2eRepEnroll0001', tick: 'e2eRepTick000001' }, name: 'replies' });

it('forged, unmatched and automatic replies change nothing; a real reply stops that contact\'s sequence only', async () => {
	const { n8n, r, q } = e2e;
	const { id: trackingId, hook } = await e2e.publishTracking();
	const inbound = hook.url.replace(/\/events$/, '/inbound');
	// The secret n8n shows in the node: the default expression over the ids n8n gave the trigger when the workflow was created.
	const { secret, trigger } = await e2e.inboundSecret(trackingId);
	expect(trigger.id).toMatch(/^[0-9a-f-]{36}$/);
	expect(secret).toBe(`${trigger.id}.${trigger.webhookId}`);
	expect(inbound).toContain(trigger.webhookId);

	expect(await scheduler.enroll(T0)).toMatchObject({ campaign_id: 'spring-sequence', enrolled: 5 });
	const { tick } = scheduler;
	const step = (s: number) => r.sg.accepted.filter((m) => m.customArgs.step === String(s));
	await tick(T0);
	expect(step(1)).toHaveLength(5);
	const sentTo = (to: string) => step(1).find((m) => m.to === to)!.headers['Message-ID'];
	for (const m of step(1)) expect(m.headers['Message-ID']).toMatch(/^<eca\.[A-Za-z0-9_-]{20}@example\.com>$/);
	const stored = await q<{ email: string; reply_message_id: string }>(`SELECT lower(email) AS email, reply_message_id FROM eca_deliveries WHERE campaign_id = 'spring-sequence' AND step = 1`);
	for (const row of stored) expect(row.reply_message_id).toBe(sentTo(row.email));

	const snapshot = async () => ({
		replies: await q(`SELECT sg_event_id FROM eca_events WHERE event = 'reply' ORDER BY 1`),
		enrollments: await q(`SELECT email, status, stop_reason FROM eca_enrollments ORDER BY email`),
		suppressions: await q(`SELECT email, scope, reason FROM eca_suppressions ORDER BY email`),
	});
	const before = await snapshot();
	expect(before.enrollments.every((e) => e.status === 'active')).toBe(true);

	// Forged: no secret, a wrong one, one in the wrong place. n8n never starts the workflow's reply path.
	const reply = { from: 'User Zero <user0@rep.example>', to: 'news@example.com', subject: 'Re: Spring launch', text: 'Stop please', inReplyTo: sentTo('user0@rep.example') };
	expect((await r.sg.postInboundReply(inbound, reply)).status).toBe(403);
	expect((await r.sg.postInboundReply(inbound, { ...reply, secret: `${secret}x` })).status).toBe(403);
	expect((await r.sg.postInboundReply(inbound, { ...reply, secret: trigger.webhookId })).status).toBe(403);
	// Unmatched: the right secret, but answering nothing we sent (or naming nothing at all).
	expect((await r.sg.postInboundReply(inbound, { ...reply, secret, inReplyTo: '<CAN_elsewhere@mail.example>' })).status).toBe(200);
	expect((await r.sg.postInboundReply(inbound, { ...reply, secret, inReplyTo: undefined })).status).toBe(200);
	// Out of office, answering our message to user1 (RFC 3834 header, and a subject-only one in German).
	const ooo = { from: 'User One <user1@rep.example>', to: 'news@example.com', text: 'Back on Monday', inReplyTo: sentTo('user1@rep.example'), secret };
	expect((await r.sg.postInboundReply(inbound, { ...ooo, subject: 'Out of Office: Spring launch', headers: { 'Auto-Submitted': 'auto-replied' } })).status).toBe(200);
	expect((await r.sg.postInboundReply(inbound, { ...ooo, subject: 'Automatische Antwort: Spring launch' })).status).toBe(200);
	// A reply whose SPF and DKIM both failed.
	expect((await r.sg.postInboundReply(inbound, { ...ooo, subject: 'Re: Spring launch', spf: 'fail', dkim: '{@attacker.example : pass}' })).status).toBe(200);
	await new Promise((res) => setTimeout(res, 1000));
	expect(await snapshot()).toEqual(before);

	// Real replies: user2 in parsed mode (secret in the URL), user3 in raw mode, ISO-8859-1 (secret in a header).
	expect((await r.sg.postInboundReply(inbound, { from: '"user4@rep.example" <user2@rep.example>', to: 'news@example.com', subject: 'Re: Spring launch', text: 'Tell me more', inReplyTo: sentTo('user2@rep.example'), secret })).status).toBe(200);
	const raw = await r.sg.postInboundReply(inbound, { from: 'User Three <user3@rep.example>', to: 'news@example.com', subject: 'Re: Frühling', text: 'Grüße, mehr bitte. Café?', references: `<older@rep.example> ${sentTo('user3@rep.example')}`, secret, secretIn: 'header', raw: true, charset: 'iso-8859-1' });
	expect(raw.status).toBe(200);
	const after = (await eventually(async () => {
		const s = await snapshot();
		return s.replies.length === 2 ? s : undefined;
	}, 'the two replies to be stored', 30_000))!;
	const byEmail = Object.fromEntries(after.enrollments.map((e) => [e.email, e]));
	expect(byEmail['user2@rep.example']).toMatchObject({ status: 'stopped', stop_reason: 'replied' });
	expect(byEmail['user3@rep.example']).toMatchObject({ status: 'stopped', stop_reason: 'replied' });
	for (const e of ['user0@rep.example', 'user1@rep.example', 'user4@rep.example']) expect(byEmail[e].status).toBe('active');
	expect(after.suppressions).toEqual([]);
	const payloads = await q<{ payload: { subject: string; email: string } }>(`SELECT payload FROM eca_events WHERE event = 'reply' ORDER BY payload->>'email'`);
	expect(payloads.map((p) => [p.payload.email, p.payload.subject])).toEqual([
		['user2@rep.example', 'Re: Spring launch'],
		['user3@rep.example', 'Re: Frühling'],
	]);

	// The next step goes to everyone but the two who replied.
	await tick(T0 + 3 * DAY);
	expect(step(2).map((m) => m.to).sort()).toEqual(['user0@rep.example', 'user1@rep.example', 'user4@rep.example']);
	expect(r.sg.duplicateRecipients()).toEqual([]);
	await n8n.deactivate(trackingId);
});

it('with Read Raw Request Bytes on, a parsed-mode reply sent in ISO-8859-1 is decoded by SendGrid\'s charsets (n8n\'s own parser would leave U+FFFD)', async () => {
	const { n8n, r, q } = e2e;
	const wf = template('sendgrid-event-tracking.json');
	const t = node(wf, 'SendGrid Trigger') as { parameters: Record<string, unknown>; webhookId?: string };
	t.parameters.options = { binaryData: true };
	t.webhookId = '5d1c7e0a-3b2f-4c8d-9e6a-7f1b2c3d4e5f';
	const { id, hook } = await e2e.publishTracking({ ...wf, id: 'e2eRepRawBytes01', name: 'tracking, raw bytes' });
	expect(hook.url).toContain(t.webhookId);
	const { secret } = await e2e.inboundSecret(id);
	const inReplyTo = r.sg.accepted.find((m) => m.to === 'user4@rep.example' && m.customArgs.step === '2')!.headers['Message-ID'];
	const answer = await r.sg.postInboundReply(hook.url.replace(/\/events$/, '/inbound'), { from: 'User Four <user4@rep.example>', to: 'news@example.com', subject: 'Re: Frühling', text: 'Grüße, Café?', inReplyTo, secret, charset: 'iso-8859-1' });
	expect(answer.status).toBe(200);
	const [row] = (await eventually(() => q<{ payload: { subject: string } }>(`SELECT payload FROM eca_events WHERE event = 'reply' AND email = 'user4@rep.example'`).then((rows) => (rows.length ? rows : undefined)), 'the reply to be stored', 30_000))!;
	expect(row.payload.subject).toBe('Re: Frühling');
	expect((await q(`SELECT status FROM eca_enrollments WHERE email = 'user4@rep.example'`))[0]).toEqual({ status: 'stopped' });
	await n8n.deactivate(id);
});
