/**
 * One-click unsubscribe end to end at the library level (issue 15), on Postgres and PGlite: a sequence
 * sends its first step with the List-Unsubscribe header, the link from that header is POSTed the way
 * a mailbox provider does (RFC 8058), the address is suppressed and its sequence stopped once, the next
 * step skips it; GET shows a page and changes nothing; forged or tampered links change nothing; the
 * page's undo lifts the suppression.
 */
import type { IWebhookFunctions } from 'n8n-workflow';
import { CampaignStore, closeAllStores, getCampaignStore } from '../../lib/store';
import { CampaignUnsubscribeTrigger } from '../../nodes/CampaignUnsubscribeTrigger/CampaignUnsubscribeTrigger.node';
import { enrollContacts } from '../../lib/sequences/enrollments';
import { sendDueSteps } from '../../lib/sequences/runner';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import type { SendGridResponse, SendGridTransport } from '../../lib/sendgrid/client';
import type { MailSendBody } from '../../lib/sendgrid/mailRequest';
import { receiveUnsubscribe } from '../../lib/unsubscribe/flow';
import { deliveryId } from '../../lib/ids';
import { campaignInput, contacts } from '../helpers/fixtures';
import { createTestDatabase } from '../helpers/services';
import { sql } from '../helpers/sql';

jest.setTimeout(90_000);

class HeaderRecorder implements SendGridTransport {
	sent: Array<{ email: string; step: string; listUnsubscribe?: string; post?: string }> = [];
	async sendMail(body: MailSendBody): Promise<SendGridResponse> {
		for (const p of body.personalizations)
			this.sent.push({ email: p.to[0].email, step: p.custom_args.step, listUnsubscribe: p.headers?.['List-Unsubscribe'], post: p.headers?.['List-Unsubscribe-Post'] });
		return { status: 202, headers: { 'x-message-id': `m${this.sent.length}` }, body: '' };
	}
	async request(): Promise<SendGridResponse> {
		return { status: 200, headers: {}, body: {} };
	}
}

const ENDPOINT = 'https://n8n.acme.example/webhook/abc/unsubscribe';
const DAY = 86_400_000;
const T0 = Date.parse('2026-03-02T14:00:00Z');

const backends = [
	{ name: 'postgres', open: async () => { const db = await createTestDatabase(); return { store: await getCampaignStore({ postgres: db.connection }), drop: db.drop }; } },
	{ name: 'pglite', open: async () => ({ store: await getCampaignStore({ inMemory: true }), drop: async () => undefined }) },
];

describe.each(backends)('one-click unsubscribe, $name store', ({ open }) => {
	let store: CampaignStore;
	let drop: () => Promise<void>;
	beforeAll(async () => ({ store, drop } = await open()));
	afterAll(async () => {
		await closeAllStores();
		await drop();
	});

	const campaignOf = (id: string, extra: Record<string, unknown> = {}) =>
		parseCampaign(
			campaignInput({
				id,
				name: 'Spring Launch',
				language: 'de',
				unsubscribeUrl: ENDPOINT,
				steps: [
					{ step: 1, delayHours: 0, subject: 'Day 1', text: 'one' },
					{ step: 2, delayHours: 72, subject: 'Day 3', text: 'two' },
				],
				...extra,
			}),
		);
	const tick = (sg: SendGridTransport, now: number, campaignId: string) =>
		sendDueSteps(store, { send: { transport: sg, store }, generate: {} }, { now, worker: 'w1', campaignId, copy: { mode: 'template' }, send: { backoff: { sleep: async () => undefined } } });
	const linkOf = (sg: HeaderRecorder, email: string) => {
		const header = sg.sent.find((s) => s.email === email && s.step === '1')!.listUnsubscribe!;
		expect(header).toMatch(/^<https:\/\/.+>$/);
		return new URL(header.slice(1, -1));
	};
	const queryOf = (u: URL) => Object.fromEntries(u.searchParams);
	const post = (u: URL, body: unknown) => receiveUnsubscribe({ method: 'POST', query: queryOf(u), body, url: u.toString() }, store);
	const suppressions = async () => (await sql(store).query<{ email: string; scope: string }>('SELECT email, scope FROM eca_suppressions ORDER BY email, scope')).rows;
	const enrollment = async (campaign: string, email: string) =>
		(await sql(store).query<{ status: string; stop_reason: string | null }>('SELECT status, stop_reason FROM eca_enrollments WHERE campaign_id = $1 AND email = $2', [campaign, email])).rows[0];

	it('a provider POSTing the header link suppresses once, stops the sequence, and the next step skips the address', async () => {
		const campaign = campaignOf('unsub-1');
		const sg = new HeaderRecorder();
		await enrollContacts(store, campaign, contacts(5), T0);
		await tick(sg, T0, 'unsub-1');
		expect(sg.sent).toHaveLength(5);
		expect(sg.sent.every((s) => s.post === 'List-Unsubscribe=One-Click')).toBe(true);
		const link = linkOf(sg, 'user1@example.org');
		// The link names the delivery and carries a token, never the address.
		expect(link.toString()).not.toContain('user1');
		expect(link.searchParams.get('d')).toBe(deliveryId('unsub-1', 1, 'user1@example.org'));
		expect(link.searchParams.get('t')).toMatch(/^[A-Za-z0-9_-]{22}$/);

		const first = await post(link, { 'List-Unsubscribe': 'One-Click' });
		expect(first).toMatchObject({ status: 200, body: 'unsubscribed' });
		expect(first.item).toMatchObject({ email: 'user1@example.org', campaign_id: 'unsub-1', scope: 'global', changed: true, sequences_stopped: 1 });
		expect(await suppressions()).toEqual([{ email: 'user1@example.org', scope: 'global' }]);
		expect(await enrollment('unsub-1', 'user1@example.org')).toEqual({ status: 'stopped', stop_reason: 'unsubscribed' });
		// Posted again (providers retry; RFC 8058 bodies may come raw): 200, nothing more changes.
		const again = await post(link, 'List-Unsubscribe=One-Click');
		expect(again).toMatchObject({ status: 200, item: { changed: false } });
		expect((await sql(store).query<{ n: number }>(`SELECT count(*)::int AS n FROM eca_events WHERE email = 'user1@example.org' AND event = 'unsubscribe'`)).rows[0].n).toBe(1);
		const [row] = (await sql(store).query<{ unsubscribed_at: Date | null }>(`SELECT unsubscribed_at FROM eca_deliveries WHERE campaign_id = 'unsub-1' AND email = 'user1@example.org'`)).rows;
		expect(row.unsubscribed_at).not.toBeNull();

		await tick(sg, T0 + 3 * DAY, 'unsub-1');
		const step2 = sg.sent.filter((s) => s.step === '2').map((s) => s.email);
		expect(step2).toHaveLength(4);
		expect(step2).not.toContain('user1@example.org');
	});

	it('GET shows a confirm page in the campaign language and changes nothing; the page POST and its undo work', async () => {
		const sg = new HeaderRecorder();
		await enrollContacts(store, campaignOf('unsub-2'), contacts(3), T0);
		await tick(sg, T0, 'unsub-2');
		const link = linkOf(sg, 'user2@example.org');
		const before = await suppressions();
		const page = await receiveUnsubscribe({ method: 'GET', query: queryOf(link), body: undefined, url: link.toString() }, store);
		expect(page.status).toBe(200);
		expect(page.contentType).toMatch(/text\/html/);
		expect(page.body).toContain('lang="de"');
		expect(page.body).toContain('Spring Launch');
		expect(page.body).toContain('name="List-Unsubscribe" value="One-Click"');
		expect(await suppressions()).toEqual(before);
		expect((await enrollment('unsub-2', 'user2@example.org')).status).toBe('active');

		const done = await post(link, { 'List-Unsubscribe': 'One-Click', page: '1' });
		expect(done.status).toBe(200);
		expect(done.body).toContain('id="done"');
		expect(done.body).toContain('value="Resubscribe"');
		expect(await suppressions()).toContainEqual({ email: 'user2@example.org', scope: 'global' });
		// A second GET says so and offers the undo.
		expect((await receiveUnsubscribe({ method: 'GET', query: queryOf(link), body: undefined }, store)).body).toContain('id="done"');

		const back = await post(link, { 'List-Unsubscribe': 'Resubscribe', page: '1' });
		expect(back.body).toContain('id="back"');
		expect(await suppressions()).not.toContainEqual({ email: 'user2@example.org', scope: 'global' });
		// Unsubscribing again after the undo counts again.
		expect((await post(link, { 'List-Unsubscribe': 'One-Click' })).item).toMatchObject({ changed: true });
		expect(await suppressions()).toContainEqual({ email: 'user2@example.org', scope: 'global' });
	});

	it('forged, tampered, incomplete and wrong-body requests change nothing', async () => {
		const sg = new HeaderRecorder();
		await enrollContacts(store, campaignOf('unsub-3'), contacts(4), T0);
		await tick(sg, T0, 'unsub-3');
		const link = linkOf(sg, 'user3@example.org');
		const before = { s: await suppressions(), e: (await sql(store).query('SELECT count(*)::int AS n FROM eca_events')).rows[0] };
		const variant = (k: string, v: string | null) => {
			const u = new URL(link.toString());
			if (v === null) u.searchParams.delete(k);
			else u.searchParams.set(k, v);
			return u;
		};
		// Someone who knows an address and the campaign can compute its delivery id, but not the token.
		const forged = variant('d', deliveryId('unsub-3', 1, 'user2@example.org'));
		const token = link.searchParams.get('t')!;
		const cases: Array<[string, URL, number]> = [
			['another delivery with this token', forged, 403],
			['another step', variant('s', '2'), 403],
			['another campaign', variant('c', 'unsub-1'), 403],
			['a token with one character changed', variant('t', (token[0] === 'A' ? 'B' : 'A') + token.slice(1)), 403],
			['no token', variant('t', null), 400],
			['a malformed step', variant('s', '1; DROP TABLE x'), 400],
		];
		for (const [what, u, status] of cases) {
			const r = await post(u, { 'List-Unsubscribe': 'One-Click' });
			expect([what, r.status, r.item]).toEqual([what, status, undefined]);
			expect([what, (await receiveUnsubscribe({ method: 'GET', query: queryOf(u), body: undefined }, store)).status]).toEqual([what, status]);
		}
		// A repeated key arrives as an array: refused, not read as its first value.
		expect((await receiveUnsubscribe({ method: 'POST', query: { ...queryOf(link), d: [link.searchParams.get('d'), 'x'] }, body: { 'List-Unsubscribe': 'One-Click' } }, store)).status).toBe(400);
		// A valid link with a body that is not RFC 8058's changes nothing either.
		expect((await post(link, { 'List-Unsubscribe': 'yes' })).status).toBe(400);
		expect((await post(link, '')).status).toBe(400);
		expect((await receiveUnsubscribe({ method: 'DELETE', query: queryOf(link), body: undefined }, store)).status).toBe(405);
		expect(await suppressions()).toEqual(before.s);
		expect((await sql(store).query('SELECT count(*)::int AS n FROM eca_events')).rows[0]).toEqual(before.e);
	});

	it('configured to unsubscribe from this campaign only: its later steps skip the address, other campaigns still reach it; undo works', async () => {
		const sg = new HeaderRecorder();
		await enrollContacts(store, campaignOf('unsub-5'), contacts(3, 'only.example'), T0);
		await enrollContacts(store, campaignOf('unsub-6'), contacts(3, 'only.example'), T0);
		await tick(sg, T0, 'unsub-5');
		const link = linkOf(sg, 'user1@only.example');
		const r = await receiveUnsubscribe({ method: 'POST', query: queryOf(link), body: { 'List-Unsubscribe': 'One-Click' } }, store, { scope: 'campaign' });
		expect(r.item).toMatchObject({ scope: 'campaign:unsub-5', changed: true, sequences_stopped: 1 });
		expect(await suppressions()).toContainEqual({ email: 'user1@only.example', scope: 'campaign:unsub-5' });
		expect(await suppressions()).not.toContainEqual({ email: 'user1@only.example', scope: 'global' });
		expect((await receiveUnsubscribe({ method: 'POST', query: queryOf(link), body: 'List-Unsubscribe=One-Click' }, store, { scope: 'campaign' })).item).toMatchObject({ changed: false });
		await tick(sg, T0 + 3 * DAY, 'unsub-5');
		expect(sg.sent.filter((s) => s.step === '2').map((s) => s.email)).not.toContain('user1@only.example');
		await tick(sg, T0, 'unsub-6');
		expect(sg.sent.filter((s) => s.step === '1').map((s) => s.email).filter((e) => e === 'user1@only.example')).toHaveLength(2);
		expect((await enrollment('unsub-6', 'user1@only.example')).status).toBe('active');
		const back = await receiveUnsubscribe({ method: 'POST', query: queryOf(link), body: { 'List-Unsubscribe': 'Resubscribe', page: '1' } }, store, { scope: 'campaign' });
		expect(back.body).toContain('id="back"');
		expect(await suppressions()).not.toContainEqual({ email: 'user1@only.example', scope: 'campaign:unsub-5' });
	});

	it('configured global, a campaign under an ASM group unsubscribes from everything', async () => {
		const sg = new HeaderRecorder();
		await enrollContacts(store, campaignOf('unsub-7', { unsubscribeGroupId: 4343 }), contacts(2, 'glob.example'), T0);
		await tick(sg, T0, 'unsub-7');
		const r = await receiveUnsubscribe({ method: 'POST', query: queryOf(linkOf(sg, 'user0@glob.example')), body: { 'List-Unsubscribe': 'One-Click' } }, store, { scope: 'global' });
		expect(r.item).toMatchObject({ scope: 'global', changed: true });
		expect(await suppressions()).toContainEqual({ email: 'user0@glob.example', scope: 'global' });
	});

	it('a campaign sent under an ASM group unsubscribes from that group only', async () => {
		const sg = new HeaderRecorder();
		await enrollContacts(store, campaignOf('unsub-4', { unsubscribeGroupId: 4242 }), contacts(2), T0);
		await tick(sg, T0, 'unsub-4');
		const r = await post(linkOf(sg, 'user0@example.org'), { 'List-Unsubscribe': 'One-Click' });
		expect(r.item).toMatchObject({ scope: 'group:4242', changed: true });
		expect(await suppressions()).toContainEqual({ email: 'user0@example.org', scope: 'group:4242' });
		expect(await suppressions()).not.toContainEqual({ email: 'user0@example.org', scope: 'global' });
	});
});

describe('the Campaign Unsubscribe Trigger node', () => {
	let store: CampaignStore;
	let drop: () => Promise<void>;
	let credential: Record<string, unknown>;
	beforeAll(async () => {
		const db = await createTestDatabase();
		drop = db.drop;
		store = await getCampaignStore({ postgres: db.connection });
		const { host, port, user, database } = db.connection;
		credential = { host, port, user, database, password: '', ssl: 'disable' };
	});
	afterAll(async () => {
		await closeAllStores();
		await drop();
	});

	function call(method: string, query: Record<string, unknown>, body: unknown) {
		const res = {
			code: 0,
			headers: {} as Record<string, string>,
			sent: undefined as unknown,
			status(c: number) { this.code = c; return this; },
			set(h: Record<string, string>) { Object.assign(this.headers, h); return this; },
			send(b: unknown) { this.sent = b; return this; },
		};
		const ctx = {
			getRequestObject: () => ({ method }),
			getResponseObject: () => res,
			getBodyData: () => body,
			getQueryData: () => query,
			getNode: () => ({ name: 'Campaign Unsubscribe Trigger', credentials: { campaignDatabaseApi: { id: '1', name: 'db' } } }),
			getCredentials: async () => credential,
			getNodeParameter: (name: string, fallback?: unknown) => (name === 'scope' ? 'auto' : fallback),
			logger: { error: jest.fn() },
		} as unknown as IWebhookFunctions;
		return new CampaignUnsubscribeTrigger().webhook.call(ctx).then((r) => ({ res, r }));
	}

	it('answers GET with the page and POST with 200, starting the workflow only when something changed', async () => {
		const sg = new HeaderRecorder();
		const campaign = parseCampaign(campaignInput({ id: 'unsub-node', unsubscribeUrl: ENDPOINT, steps: [{ step: 1, delayHours: 0, subject: 'Hi', text: 'one' }] }));
		await enrollContacts(store, campaign, contacts(2), T0);
		await sendDueSteps(store, { send: { transport: sg, store }, generate: {} }, { now: T0, worker: 'w1', campaignId: 'unsub-node', copy: { mode: 'template' }, send: { backoff: { sleep: async () => undefined } } });
		const link = new URL(sg.sent[0].listUnsubscribe!.slice(1, -1));
		const query = Object.fromEntries(link.searchParams);

		const page = await call('GET', query, {});
		expect(page.res.code).toBe(200);
		expect(page.res.headers).toMatchObject({ 'Content-Type': 'text/html; charset=utf-8', 'Referrer-Policy': 'no-referrer' });
		expect(page.res.headers['Content-Security-Policy']).toContain("default-src 'none'");
		expect(page.r).toEqual({ noWebhookResponse: true });

		// Multipart posts reach a webhook as { data: fields, files }.
		const one = await call('POST', query, { data: { 'List-Unsubscribe': 'One-Click' }, files: {} });
		expect([one.res.code, one.res.sent]).toEqual([200, 'unsubscribed']);
		expect(one.r.workflowData?.[0]?.[0]?.json).toMatchObject({ event: 'link_unsubscribe', email: sg.sent[0].email, changed: true });
		expect((await store.suppressedAmong([sg.sent[0].email])).size).toBe(1);

		const forged = await call('POST', { ...query, t: 'A'.repeat(22) }, { 'List-Unsubscribe': 'One-Click' });
		expect([forged.res.code, forged.r.workflowData]).toEqual([403, undefined]);
	});

	it('answers 503 without details when the store cannot be reached, and logs the cause', async () => {
		const saved = credential;
		credential = { ...saved, port: 1, password: 'hunter2-secret' };
		try {
			const r = await call('POST', { c: 'x', s: '1', d: 'y', t: 'A'.repeat(22) }, { 'List-Unsubscribe': 'One-Click' });
			expect(r.res.code).toBe(503);
			expect(String(r.res.sent)).not.toMatch(/ECONNREFUSED|hunter2|127\.0\.0\.1/);
		} finally {
			credential = saved;
		}
	});
});
