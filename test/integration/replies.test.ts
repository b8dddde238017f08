/**
 * Inbound Parse replies through the SendGrid Trigger's webhook adapter (a stand-in n8n context), on
 * Postgres and on embedded PGlite, fed with the fixtures in test/fixtures/sendgrid-inbound/ (both
 * Inbound Parse modes): nobody forges a reply, only answers to our own Message-IDs count, automatic
 * and unauthenticated replies are reported, a reply stops only the campaign it answers.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IWebhookFunctions } from 'n8n-workflow';
import { SendGridTrigger } from '../../nodes/SendGridTrigger/SendGridTrigger.node';
import { CampaignStore, closeAllStores, getCampaignStore, defaultEmbeddedDir } from '../../lib/store';
import { createTestDatabase } from '../helpers/services';
import { multipartBody } from '../simulators/sendgridServer';
import { sql } from '../helpers/sql';

jest.setTimeout(60_000);

process.env.EMAIL_CAMPAIGN_STORE_DIR = mkdtempSync(join(tmpdir(), 'eca-replies-'));

type Fields = Record<string, string>;
const fixture = (name: string): { _mode: string; fields: Fields } => JSON.parse(readFileSync(join(__dirname, '../fixtures/sendgrid-inbound', name), 'utf8'));
const withReplyTo = (fields: Fields, id: string): Fields => Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.split('{{IN_REPLY_TO}}').join(id)]));

const NODE_ID = '3f1c9a52-7d0e-4b7a-9a55-2f4e8f0c1d11';
const WEBHOOK_ID = '9b2e4c6a-1f3d-4e5b-8c7a-6d5e4f3a2b1c';
const SECRET = `${NODE_ID}.${WEBHOOK_ID}`;

const backends = [
	{
		name: 'postgres',
		open: async () => {
			const db = await createTestDatabase();
			const store = await getCampaignStore({ postgres: db.connection });
			const { host, port, user, database } = db.connection;
			return { store, credential: { host, port, user, database }, drop: db.drop };
		},
	},
	{ name: 'pglite', open: async () => ({ store: await getCampaignStore({ embeddedDir: defaultEmbeddedDir() }), credential: undefined, drop: async () => undefined }) },
];

describe.each(backends)('Inbound Parse replies through the trigger, $name store', ({ open }) => {
	let store: CampaignStore;
	let credential: Record<string, unknown> | undefined;
	let drop: () => Promise<void>;
	const ours = { pat: '<eca.patPatPatPatPatPatPat1@acme.example>', kai: '<eca.kaiKaiKaiKaiKaiKaiKai1@acme.example>', lou: '<eca.louLouLouLouLouLouLou1@acme.example>', emo: '<eca.emoEmoEmoEmoEmoEmoEmo1@acme.example>' };
	const xMessageId = 'XMIDrenee0123456789ab';

	beforeAll(async () => {
		({ store, credential, drop } = await open());
		await store.migrate();
		const rows = [
			{ email: 'pat.reader@customer.example', delivery_id: 'd-pat', variant: 'A', reply_message_id: ours.pat },
			{ email: 'renee@customer.example', delivery_id: 'd-renee', variant: 'A', reply_message_id: '<eca.reneeReneeReneeRenee@acme.example>' },
			{ email: 'kai@customer.example', delivery_id: 'd-kai', variant: 'A', reply_message_id: ours.kai },
			{ email: 'lou@customer.example', delivery_id: 'd-lou', variant: 'A', reply_message_id: ours.lou },
			{ email: 'emo@customer.example', delivery_id: 'd-emo', variant: 'A', reply_message_id: ours.emo },
		];
		const { claimed } = await store.claimDeliveries('spring', 'run-1', 1, rows);
		await store.recordOutcome({ runId: 'run-1', ids: claimed.map((c) => c.id), status: 'sent', message_id: xMessageId });
		await sql(store).query(
			`INSERT INTO eca_enrollments (campaign_id, email, next_step, next_send_at) VALUES
			 ('spring', 'pat.reader@customer.example', 2, now()), ('other', 'pat.reader@customer.example', 2, now()),
			 ('spring', 'renee@customer.example', 2, now()), ('spring', 'kai@customer.example', 2, now()), ('spring', 'lou@customer.example', 2, now()),
			 ('spring', 'emo@customer.example', 2, now())`,
		);
	});
	afterAll(async () => {
		await closeAllStores();
		await drop();
	});

	/** The trigger's 'setup' webhook (…/inbound) with n8n's multipart shape: { data: fields }, and optionally the raw body. */
	function post(fields: Fields, opts: { secret?: string; header?: boolean; options?: Record<string, unknown>; rawBytes?: Record<string, Buffer> } = {}) {
		const res = { code: 200, body: undefined as unknown, status(c: number) { this.code = c; return this; }, json(b: unknown) { this.body = b; return this; } };
		const multipart = opts.rawBytes ? multipartBody({ ...fields, ...opts.rawBytes }) : undefined;
		const params: Record<string, unknown> = { inboundSecret: SECRET, output: 'event', options: { ...(opts.options ?? {}) } };
		const ctx = {
			getRequestObject: () => (multipart ? { rawBody: multipart.body, headers: { 'content-type': multipart.contentType } } : { headers: { 'content-type': 'multipart/form-data; boundary=x' } }),
			getResponseObject: () => res,
			getNodeParameter: (name: string, fallback?: unknown) => params[name] ?? fallback,
			getWebhookName: () => 'setup',
			getQueryData: () => (opts.secret !== undefined && !opts.header ? { secret: opts.secret } : {}),
			getHeaderData: () => (opts.secret !== undefined && opts.header ? { 'x-inbound-secret': opts.secret } : {}),
			getBodyData: () => ({ data: fields, files: {} }),
			getNode: () => ({ id: NODE_ID, webhookId: WEBHOOK_ID, name: 'SendGrid Trigger', credentials: credential ? { campaignDatabaseApi: { id: '1', name: 'db' } } : {} }),
			getCredentials: async () => credential,
			getWorkflowStaticData: () => ({}),
		} as unknown as IWebhookFunctions;
		return new SendGridTrigger().webhook.call(ctx).then((r) => ({ res, r, item: r.workflowData?.[0]?.[0]?.json as Record<string, unknown> | undefined }));
	}

	const state = async () => ({
		events: (await sql(store).query<{ n: number }>(`SELECT count(*)::int AS n FROM eca_events WHERE event = 'reply'`)).rows[0].n,
		stopped: (await sql(store).query<{ campaign_id: string; email: string }>(`SELECT campaign_id, email FROM eca_enrollments WHERE status = 'stopped' ORDER BY campaign_id, email`)).rows,
		suppressions: (await sql(store).query<{ email: string }>(`SELECT email FROM eca_suppressions ORDER BY email`)).rows,
		replied: (await sql(store).query<{ email: string }>(`SELECT email FROM eca_deliveries WHERE replied_at IS NOT NULL ORDER BY email`)).rows,
	});

	it('refuses a post without the secret or with a wrong one (403) and changes nothing', async () => {
		const before = await state();
		const fields = withReplyTo(fixture('parsed-reply.json').fields, ours.pat);
		for (const secret of [undefined, '', 'guess', SECRET + 'x', SECRET.slice(0, -1)]) {
			const { res, r } = await post(fields, { secret });
			expect(res.code).toBe(403);
			expect(r.workflowData).toBeUndefined();
		}
		expect(await state()).toEqual(before);
		expect(before.events).toBe(0);
	});

	it('reports an unmatched reply (no In-Reply-To, or one we never sent) as ignored and changes nothing', async () => {
		const before = await state();
		const base = fixture('parsed-reply.json').fields;
		const unknown = await post(withReplyTo(base, '<CAN_somebody_else@mail.example>'), { secret: SECRET });
		expect(unknown.res.code).toBe(200);
		expect(unknown.item).toMatchObject({ ignored: true, reason: expect.stringMatching(/^unmatched/) });
		const none = await post({ ...base, headers: 'From: Pat <pat.reader@customer.example>\nSubject: Re: Spring launch\n' }, { secret: SECRET });
		expect(none.item).toMatchObject({ ignored: true, reason: expect.stringMatching(/^unmatched/) });
		// An X-Message-Id-shaped id only counts for the address it was sent to.
		const wrongSender = await post(withReplyTo({ ...base, from: 'mallory@customer.example', headers: base.headers.replace('Pat.Reader@customer.example', 'mallory@customer.example') }, `<${xMessageId}.filterdrecv-1@ismtpd-1>`), { secret: SECRET });
		expect(wrongSender.item).toMatchObject({ ignored: true, reason: expect.stringMatching(/^unmatched/) });
		expect(await state()).toEqual(before);
	});

	it('reports a reply that failed both SPF and DKIM, unless the option relaxes it', async () => {
		const before = await state();
		const base = withReplyTo(fixture('parsed-reply.json').fields, ours.lou);
		const fields = { ...base, headers: base.headers.replace('Message-ID: <CAN_P_', 'Message-ID: <lou_'), from: 'Lou <lou@customer.example>', SPF: 'fail', dkim: '{@attacker.example : pass}' };
		const { item } = await post(fields, { secret: SECRET });
		expect(item).toMatchObject({ ignored: true, reason: expect.stringMatching(/^unauthenticated/), spf: 'fail' });
		expect(await state()).toEqual(before);
		const relaxed = await post(fields, { secret: SECRET, options: { replyRequireAuth: false } });
		expect(relaxed.item).toMatchObject({ ignored: false, contact: 'lou@customer.example', campaign_id: 'spring' });
		expect((await state()).stopped).toContainEqual({ campaign_id: 'spring', email: 'lou@customer.example' });
	});

	it('an out-of-office reply to our message stops nothing by default', async () => {
		const before = await state();
		const { res, item } = await post(withReplyTo(fixture('out-of-office.json').fields, ours.kai), { secret: SECRET, header: true });
		expect(res.code).toBe(200);
		expect(item).toMatchObject({ ignored: true, auto_reply: true, reason: expect.stringMatching(/^automatic reply \(Auto-Submitted: auto-replied\)/) });
		expect(await state()).toEqual(before);
	});

	it('a real reply (parsed mode) stops that contact in the answered campaign only; the sender is the From address, not the display name', async () => {
		const { res, item } = await post(withReplyTo(fixture('parsed-reply.json').fields, ours.pat), { secret: SECRET });
		expect(res.code).toBe(200);
		expect(item).toMatchObject({ ignored: false, email: 'pat.reader@customer.example', from_source: 'from', contact: 'pat.reader@customer.example', campaign_id: 'spring', delivery_id: 'd-pat', matched_by: 'message_id', sequences_stopped: 1, suppressed_globally: false });
		expect(item!.text).toContain('Café at noon?');
		const after = await state();
		expect(after.stopped).toContainEqual({ campaign_id: 'spring', email: 'pat.reader@customer.example' });
		expect(after.stopped).not.toContainEqual({ campaign_id: 'other', email: 'pat.reader@customer.example' });
		expect(after.suppressions).toEqual([]);
		expect(after.replied.map((x) => x.email)).toContain('pat.reader@customer.example');
		// SendGrid posting the same reply again records nothing twice and starts no execution.
		const events = after.events;
		const again = await post(withReplyTo(fixture('parsed-reply.json').fields, ours.pat), { secret: SECRET });
		expect(again.r.workflowData).toBeUndefined();
		expect((await state()).events).toBe(events);
	});

	it('a reply whose subject holds a NUL and is cut in the middle of an emoji is stored (Postgres jsonb refuses both raw)', async () => {
		const before = (await state()).events;
		const base = withReplyTo(fixture('parsed-reply.json').fields, ours.emo);
		const subject = `Re: ${'x'.repeat(195)}\u{1F600}\u{1F600} and\u0000more`;
		const headers = base.headers.replace('Message-ID: <CAN_P_JMvV7ZpAQhOnDienypLrJmuhN=', 'Message-ID: <emo-reply-1=');
		const fields = { ...base, headers, from: '"Em\u0000o \u{1F600}" <emo@customer.example>', envelope: '{"to":["inbound@reply.acme.example"],"from":"emo@customer.example"}', subject };
		const { res, item } = await post(fields, { secret: SECRET });
		expect(res.code).toBe(200);
		expect(item).toMatchObject({ ignored: false, contact: 'emo@customer.example', campaign_id: 'spring', sequences_stopped: 1 });
		expect((await state()).events).toBe(before + 1);
		const stored = (await sql(store).query<{ payload: { subject: string; from: string } }>(`SELECT payload FROM eca_events WHERE event = 'reply' AND email = 'emo@customer.example'`)).rows[0].payload;
		expect(stored.subject.startsWith(`Re: ${'x'.repeat(195)}`)).toBe(true);
		expect(stored.subject).not.toContain('\u0000');
		expect(stored.from).toContain('emo@customer.example');
	});

	it('a raw MIME reply (Send Raw) matched through SendGrid\'s X-Message-Id, decoded from ISO-8859-1 without U+FFFD', async () => {
		const { item } = await post(withReplyTo(fixture('raw-reply.json').fields, `<${xMessageId}.filterdrecv-7f9c-1@ismtpd0001p1las1.sendgrid.net>`), { secret: SECRET });
		expect(item).toMatchObject({ ignored: false, mode: 'raw', email: 'renee@customer.example', contact: 'renee@customer.example', matched_by: 'x_message_id', subject: 'Re: Frühlingsangebot', spf: 'softfail' });
		expect(item!.text).toContain('Grüße, gerne mehr dazu. Café am Mittag?');
		expect(String(item!.text)).not.toContain('\ufffd');
		expect((await state()).stopped).toContainEqual({ campaign_id: 'spring', email: 'renee@customer.example' });
	});

	it('parsed-mode fields in Windows-1252 / ISO-8859-1 are decoded by the charsets field when the raw body is at hand', async () => {
		const base = withReplyTo(fixture('parsed-reply.json').fields, '<not-ours@x.example>');
		const fields = { ...base, charsets: JSON.stringify({ to: 'UTF-8', from: 'UTF-8', subject: 'UTF-8', text: 'windows-1252', html: 'iso-8859-1' }) };
		const text = Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x20, 0x80, 0x35, 0x20, 0x93, 0x6f, 0x6b, 0x94]); // Grüße €5 “ok”
		const html = Buffer.from('<p>Caf\u00e9</p>', 'latin1');
		// n8n's own form parser would have turned those bytes into U+FFFD:
		const lossy = { ...fields, text: text.toString('utf8'), html: html.toString('utf8') };
		const { item } = await post(lossy, { secret: SECRET, rawBytes: { text, html } });
		expect(item!.text).toBe('Grüße €5 “ok”');
		expect(item).toMatchObject({ ignored: true });
	});

	it('a post whose sender cannot be read is kept and reported (200, ignored item), not refused', async () => {
		const before = await state();
		const { res, item } = await post({ subject: 'Re: Spring launch', text: 'hi', from: 'undisclosed-recipients:;', envelope: '{"to":["inbound@reply.acme.example"]}', headers: `In-Reply-To: ${ours.kai}\n`, SPF: 'pass' }, { secret: SECRET });
		expect(res.code).toBe(200);
		expect(item).toMatchObject({ ignored: true, reason: expect.stringMatching(/no sender/) });
		// From unreadable, envelope.from readable: the envelope is used.
		const env = await post({ subject: 'x', text: 'hi', from: 'Pat', envelope: '{"to":["a@b.example"],"from":"nobody@customer.example"}', headers: 'In-Reply-To: <nope@x.example>\n', SPF: 'pass' }, { secret: SECRET });
		expect(env.item).toMatchObject({ email: 'nobody@customer.example', from_source: 'envelope', ignored: true });
		expect(await state()).toEqual(before);
	});

	it('suppresses globally only when Reply Suppresses Globally is on', async () => {
		await sql(store).query(`INSERT INTO eca_enrollments (campaign_id, email, next_step, next_send_at) VALUES ('spring', 'kai2@customer.example', 2, now())`);
		const { claimed } = await store.claimDeliveries('spring', 'run-1', 1, [{ email: 'kai2@customer.example', delivery_id: 'd-kai2', variant: 'A', reply_message_id: '<eca.kai2Kai2Kai2Kai2Kai2K@acme.example>' }]);
		await store.recordOutcome({ runId: 'run-1', ids: claimed.map((c) => c.id), status: 'sent', message_id: 'XMIDkai2' });
		const fields = { ...withReplyTo(fixture('parsed-reply.json').fields, '<eca.kai2Kai2Kai2Kai2Kai2K@acme.example>'), from: 'kai2@customer.example', headers: `Message-ID: <k2@customer.example>\nIn-Reply-To: <eca.kai2Kai2Kai2Kai2Kai2K@acme.example>\n` };
		const { item } = await post(fields, { secret: SECRET, options: { replySuppressesGlobally: true } });
		expect(item).toMatchObject({ ignored: false, suppressed_globally: true });
		expect((await store.suppressedAmong(['kai2@customer.example'])).get('kai2@customer.example')).toBe('replied');
	});
});
