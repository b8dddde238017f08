/** SendGrid Trigger in a real n8n: registration, signed events into the store, suppressions, replies. */
import { Rig, eventually, livePipeline, node, template, useN8nRig } from './helpers';
import { csvOf, contacts } from '../helpers/fixtures';

jest.setTimeout(20 * 60_000);

const e2e = useN8nRig();

it('registers the webhook on publish, stores signed events once, updates deliveries and suppressions, refuses forgeries', async () => {
	const { n8n, r, q } = e2e;
	const tracking = template('sendgrid-event-tracking.json');
	// Replies stop only the answered campaign by default; this test also checks the global suppression option.
	node(tracking, 'SendGrid Trigger').parameters.options = { binaryData: true, replySuppressesGlobally: true };
	const { id: trackingId, hook } = await e2e.publishTracking(tracking);
	expect(r.sg.webhooks).toEqual([hook]);
	expect(hook.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webhook\/.+\/events$/);
	expect(hook.signed).toBe(true);
	expect(hook.processed && hook.bounce && hook.open).toBe(true);

	// A live campaign of 60 to have something to report on.
	const { id } = await n8n.importWorkflow(livePipeline('e2eEventsCampgn1', 'events campaign', 'e2e-events', csvOf(contacts(60, 'events.example'))), r.creds);
	expect((await n8n.execute(id)).error).toBeUndefined();
	expect(r.sg.accepted).toHaveLength(60);

	const bounced = ['user1@events.example', 'user2@events.example'];
	const unsub = ['user3@events.example'];
	const events = r.sg.eventsFor(r.sg.accepted, { open: 0.5, click: 0.25, bounce: bounced, unsubscribe: unsub, spamreport: ['user4@events.example'], asyncBounces: true, machineOpen: 0.2, seed: 3 });
	// Out of order: opens before deliveries.
	events.sort((a, b) => (a.event === 'open' ? -1 : b.event === 'open' ? 1 : 0));
	const answers = await r.sg.postEvents(hook.url, events, { batchSize: 50 });
	expect(answers.every((a) => a.status === 200)).toBe(true);
	const replay = await r.sg.replayLastBatch();
	expect(replay.status).toBe(200);

	const stored = await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_events`);
	expect(stored[0].n).toBe(events.length);
	const byEmail = Object.fromEntries((await q<{ email: string; delivered_at: string | null; bounced_at: string | null; unsubscribed_at: string | null; spam_reported_at: string | null; open_count: number }>(`SELECT email, delivered_at, bounced_at, unsubscribed_at, spam_reported_at, open_count FROM eca_deliveries WHERE campaign_id = 'e2e-events'`)).map((x) => [x.email, x]));
	for (const b of bounced) expect(byEmail[b].bounced_at).not.toBeNull(); // async bounces joined through the message id
	expect(byEmail['user3@events.example'].unsubscribed_at).not.toBeNull();
	expect(byEmail['user4@events.example'].spam_reported_at).not.toBeNull();
	expect(byEmail['user10@events.example'].delivered_at).not.toBeNull();
	const sup = await q<{ email: string; reason: string }>(`SELECT email, reason FROM eca_suppressions ORDER BY email`);
	expect(sup).toEqual([
		{ email: 'user1@events.example', reason: 'bounce' },
		{ email: 'user2@events.example', reason: 'bounce' },
		{ email: 'user3@events.example', reason: 'unsubscribe' },
		{ email: 'user4@events.example', reason: 'spamreport' },
	]);

	// Forged, tampered, unsigned and expired posts: 403, and no execution or row.
	const before = stored[0].n;
	const fake = r.sg.eventsFor(r.sg.accepted.slice(0, 3));
	expect((await r.sg.postEvents(hook.url, fake, { tamper: true }))[0].status).toBe(403);
	expect((await r.sg.postEvents(hook.url, fake, { omitSignature: true }))[0].status).toBe(403);
	expect((await r.sg.postEvents(hook.url, fake, { timestamp: String(Math.floor(Date.now() / 1000) - 3600) }))[0].status).toBe(403);
	const notJson = await fetch(hook.url, { method: 'POST', headers: { 'content-type': 'application/json', ...signed(r, '{"not":"an array"}') }, body: '{"not":"an array"}' });
	expect(notJson.status).toBe(400);
	expect((await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_events`))[0].n).toBe(before);

	// The next send skips the unsubscribed, bounced and spam-reporting contacts.
	r.sg.reset();
	const { id: id2 } = await n8n.importWorkflow(livePipeline('e2eEventsStep2x1', 'events step 2', 'e2e-events-2', csvOf(contacts(60, 'events.example'))), r.creds);
	const out2 = await n8n.execute(id2);
	expect(out2.nodes['Log Campaign Result'][0][0]).toMatchObject({ sent: 56, suppressed: 4 });
	expect(r.sg.accepted.map((m) => m.to)).not.toContain('user3@events.example');

	// Inbound Parse: a reply (with the trigger's secret, answering the message user10 was sent) marks the contact as replied.
	const inbound = hook.url.replace(/\/events$/, '/inbound');
	const { secret } = await e2e.inboundSecret(trackingId);
	const inReplyTo = r.sg.accepted.find((m) => m.to === 'user10@events.example')!.headers['Message-ID'];
	expect((await r.sg.postInboundReply(inbound, { from: 'User Ten <user10@events.example>', to: 'news@example.com', subject: 'Re: spring', text: 'Tell me more', inReplyTo, secret })).status).toBe(200);
	expect(await q(`SELECT reason FROM eca_suppressions WHERE email = 'user10@events.example'`)).toEqual([{ reason: 'replied' }]);

	// Unpublishing removes the registration.
	await n8n.deactivate(trackingId);
	await eventually(() => r.sg.webhooks.length === 0, 'the trigger to remove its webhook');
});

it('a post with malformed events stores all the others; an event re-delivered under a new sg_event_id is counted once', async () => {
	const { n8n, r, q } = e2e;
	const { id: trackingId, hook } = await e2e.publishTracking();
	expect(r.sg.webhooks).toEqual([hook]);

	const { id } = await n8n.importWorkflow(livePipeline('e2eEventsRobust1', 'events robustness', 'e2e-events-robust', csvOf(contacts(8, 'robust.example'))), r.creds);
	expect((await n8n.execute(id)).error).toBeUndefined();
	const sent = r.sg.accepted.filter((m) => m.to.endsWith('@robust.example'));
	expect(sent).toHaveLength(8);

	// One post: every message's processed/delivered/open, with malformed events in the middle.
	const good = r.sg.eventsFor(sent, { open: 1, seed: 11 });
	const bad = [
		{ ...good[0], event: 'deferred', sg_event_id: 'robust-ms', timestamp: Date.now() },
		{ ...good[1], event: 'deferred', sg_event_id: 'robust-obj', timestamp: { not: 'a time' } },
		{ ...good[2], event: 'delivered', sg_event_id: 'robust-noemail', email: undefined, step: 1e12 },
	] as unknown as typeof good;
	const post = [...good.slice(0, 5), ...bad, ...good.slice(5)];
	const [answer] = await r.sg.postEvents(hook.url, post);
	expect(answer.status).toBe(200);
	const ids = post.map((e) => e.sg_event_id);
	const stored = async () => (await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_events WHERE sg_event_id = ANY($1::text[])`, [ids]))[0].n;
	expect(await stored()).toBe(post.length);
	const ms = await q<{ payload: { problems: string[] } }>(`SELECT payload FROM eca_events WHERE sg_event_id = 'robust-ms'`);
	expect(ms[0].payload.problems).toEqual(['timestamp: in milliseconds, read as such']);

	// SendGrid posts the opens again, each under a new sg_event_id: stored and counted once.
	const opens = good.filter((e) => e.event === 'open');
	expect(opens).toHaveLength(8);
	const again = await r.sg.postEvents(hook.url, opens.map((e) => ({ ...e, sg_event_id: `${e.sg_event_id}-again` })));
	expect(again.every((a) => a.status === 200)).toBe(true);
	expect((await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_events WHERE sg_event_id LIKE '%-again'`))[0].n).toBe(0);
	const counts = await q<{ open_count: number }>(`SELECT open_count FROM eca_deliveries WHERE campaign_id = 'e2e-events-robust'`);
	expect(counts.map((c) => c.open_count)).toEqual(Array(8).fill(1));

	await n8n.deactivate(trackingId);
	await eventually(() => r.sg.webhooks.length === 0, 'the trigger to remove its webhook');
});

it('the reputation guard in real n8n: bounces past the limit pause the campaign, the alert branch runs, the next send stops at its claim, Resume lets it go on', async () => {
	const { n8n, r, q } = e2e;
	const { id: trackingId, hook } = await e2e.publishTracking();
	const { id } = await n8n.importWorkflow(livePipeline('e2eGuardCampgn01', 'guard campaign', 'e2e-guard', csvOf(contacts(250, 'guard.example'))), r.creds);
	expect((await n8n.execute(id)).error).toBeUndefined();
	const sent = r.sg.accepted.filter((m) => m.to.endsWith('@guard.example'));
	expect(sent).toHaveLength(250);
	// 10 % hard bounces over 250 sends: past the template's default 5 % once 200 sends are in (posted in batches of 100).
	const answers = await r.sg.postEvents(hook.url, r.sg.eventsFor(sent, { bounce: sent.slice(0, 25).map((m) => m.to) }), { batchSize: 100 });
	expect(answers.every((a) => a.status === 200)).toBe(true);
	expect(await q(`SELECT scope, cause, held_by FROM eca_holds WHERE scope = 'campaign:e2e-guard'`)).toEqual([{ scope: 'campaign:e2e-guard', cause: 'hard_bounces', held_by: 'reputation guard' }]);
	// The post that tripped it went down the alert branch.
	const alerted = await eventually(async () => {
		for (const ex of await n8n.executions(trackingId)) {
			const e = await n8n.rest<{ data: string }>('GET', `/executions/${ex.id}`);
			if (e.data.includes('Alert: Campaign Paused') && e.data.includes('campaign_paused')) return ex.id;
		}
		return undefined;
	}, 'an execution of the alert branch');
	expect(alerted).toBeDefined();

	// The same campaign to 50 more contacts: nobody is claimed or sent, each is reported paused with the reason.
	const before = r.sg.accepted.length;
	const { id: id2 } = await n8n.importWorkflow(livePipeline('e2eGuardCampgn02', 'guard campaign again', 'e2e-guard', csvOf(contacts(50, 'guard2.example'))), r.creds);
	const paused = await n8n.execute(id2);
	expect(paused.error).toBeUndefined();
	expect(paused.nodes['Log Campaign Result'][0][0]).toMatchObject({ sent: 0, paused: 50, paused_reason: expect.stringMatching(/is paused since .* by reputation guard: hard bounces at \d+\.\d% of delivered \+ bounced/) });
	expect(r.sg.accepted).toHaveLength(before);
	expect(await q(`SELECT count(*)::int AS n FROM eca_deliveries WHERE email LIKE '%@guard2.example'`)).toEqual([{ n: 0 }]);

	// Campaign Sequence → Resume (with the account), then the same run sends them.
	const resume = {
		id: 'e2eGuardResume01',
		name: 'guard resume',
		nodes: [
			{ id: 'm', name: 'Run', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [0, 0], parameters: {} },
			{ id: 'r', name: 'Resume', type: 'n8n-nodes-email-campaign-agent.campaignSequence', typeVersion: 1, position: [220, 0], parameters: { operation: 'resume', campaignRef: 'e2e-guard', resumeAccount: true, resumedBy: 'ops@e2e.example' } },
		],
		connections: { Run: { main: [[{ node: 'Resume', type: 'main', index: 0 }]] } },
	};
	const { id: resumeId } = await n8n.importWorkflow(resume, r.creds);
	const resumed = await n8n.execute(resumeId);
	expect(resumed.nodes['Resume'][0][0]).toMatchObject({ campaign_id: 'e2e-guard', status: 'active', resumed_by: 'ops@e2e.example' });
	expect(await q(`SELECT action, actor FROM eca_hold_log WHERE scope = 'campaign:e2e-guard' ORDER BY id`)).toEqual([
		{ action: 'pause', actor: 'reputation guard' },
		{ action: 'resume', actor: 'ops@e2e.example' },
	]);
	const again = await n8n.execute(id2);
	expect(again.nodes['Log Campaign Result'][0][0]).toMatchObject({ sent: 50, paused: 0 });
	expect(r.sg.accepted).toHaveLength(before + 50);

	await n8n.deactivate(trackingId);
	await eventually(() => r.sg.webhooks.length === 0, 'the trigger to remove its webhook');
});

function signed(rig: Rig, body: string): Record<string, string> {
	const s = rig.sg.signPayload(body);
	return { 'x-twilio-email-event-webhook-signature': s.signature, 'x-twilio-email-event-webhook-timestamp': s.timestamp };
}
