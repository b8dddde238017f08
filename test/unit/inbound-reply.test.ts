/** Reading Inbound Parse replies without trusting them: secret, sender, Message-IDs, SPF/DKIM, auto-replies, charsets; our Message-ID on every send. */
import {
	authVerdict,
	autoReplyReason,
	clipRaw,
	decodeBytes,
	envelopeFrom,
	fromAddress,
	messageIdsIn,
	multipartFields,
	newMessageId,
	parseHeaderBlock,
	readInboundReply,
	secretMatches,
	xMessageIdOf,
} from '../../lib/events/reply';
import { replyRefusal } from '../../lib/events/replyFlow';
import { buildMailRequests, messageIdsOf } from '../../lib/sendgrid/mailRequest';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { SendGridTrigger } from '../../nodes/SendGridTrigger/SendGridTrigger.node';
import { campaignInput, contacts } from '../helpers/fixtures';

describe('the trigger secret', () => {
	it('matches only the exact secret, in constant time over equal-length digests', () => {
		expect(secretMatches('s3cret.value', 's3cret.value')).toBe(true);
		for (const wrong of ['s3cret.valu', 's3cret.value ', 'S3cret.value', '', undefined, 42, ['s3cret.value']]) expect(secretMatches('s3cret.value', wrong)).toBe(false);
		// No expected secret means nothing matches, not everything.
		expect(secretMatches('', '')).toBe(false);
		expect(secretMatches('', 'x')).toBe(false);
	});

	it('is on by default: the node parameter defaults to an expression of the node id and webhook id (random per node)', () => {
		const p = new SendGridTrigger().description.properties.find((x) => x.name === 'inboundSecret');
		expect(p?.default).toMatch(/^=\{\{.*\$nodeId.*\$webhookId.*\}\}$/);
		const webhooks = new SendGridTrigger().description.webhooks!;
		expect(webhooks.find((w) => w.name === 'setup')?.path).toBe('inbound');
	});
});

describe('the sender', () => {
	it.each([
		['"evil@x.com" <real@y.com>', 'real@y.com'],
		['"Evil <evil@x.com>" <Real@Y.com>', 'real@y.com'],
		['evil@x.com (evil@x.com) <real@y.com>', 'real@y.com'],
		['Pat <pat@customer.example>', 'pat@customer.example'],
		['pat@customer.example', 'pat@customer.example'],
		['pat@customer.example (Pat Reader)', 'pat@customer.example'],
		['"Reader, Pat" <pat@customer.example>, other@x.example', 'pat@customer.example'],
		['"only a name"', undefined],
		['undisclosed-recipients:;', undefined],
		['<not an address>', undefined],
	])('%s → %s', (from, expected) => {
		expect(fromAddress(from)).toBe(expected);
	});

	it('falls back to envelope.from, which is read as an address too', () => {
		expect(envelopeFrom('{"to":["a@b.example"],"from":"Bounce@Customer.example"}')).toBe('bounce@customer.example');
		expect(envelopeFrom('{"to":["a@b.example"]}')).toBeUndefined();
		expect(envelopeFrom('not json')).toBeUndefined();
	});
});

describe('Message-IDs', () => {
	it('our own per personalization: unique, random, at the From domain, stored with the claim', () => {
		const campaign = parseCampaign(campaignInput({ id: 'mid', unsubscribeUrl: 'https://acme.example/unsub' }));
		const [payload] = buildEmailPayloads(campaign, contacts(50, 'mid.example'), 'run-mid', { step: 1, batchSize: 1000 });
		const [req] = buildMailRequests(payload);
		const ids = messageIdsOf(req);
		expect(ids).toHaveLength(50);
		expect(new Set(ids).size).toBe(50);
		const domain = campaign.from.email.split('@')[1].toLowerCase();
		for (const id of ids) expect(id).toMatch(new RegExp(`^<eca\\.[A-Za-z0-9_-]{20}@${domain.replace(/\./g, '\\.')}>$`));
		// The unsubscribe headers are still there next to it.
		expect(req.body.personalizations[0].headers).toMatchObject({ 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' });
		expect(newMessageId('a@Acme.Example')).toMatch(/^<eca\.[A-Za-z0-9_-]{20}@acme\.example>$/);
		// Drawn from a refilled pool of random bytes: no repeats across refills.
		expect(new Set(Array.from({ length: 5000 }, () => newMessageId('a@b.example'))).size).toBe(5000);
	});

	it('In-Reply-To / References are read as a list of <id>s; SendGrid ids give their X-Message-Id', () => {
		expect(messageIdsIn('<a@b> <c@d>\t<e@f>')).toEqual(['<a@b>', '<c@d>', '<e@f>']);
		expect(messageIdsIn('<<a@b> junk <nope> <c@d')).toEqual(['<a@b>']);
		expect(messageIdsIn('<x@y> '.repeat(500))).toHaveLength(50);
		expect(xMessageIdOf('<Fu3eGbKURx2AuJT-a7p2SQ.filterdrecv-7f9c-1@ismtpd0001p1las1.sendgrid.net>')).toBe('Fu3eGbKURx2AuJT-a7p2SQ');
		expect(xMessageIdOf('<Fu3eGbKURx2AuJT-a7p2SQ@ismtpd-1>')).toBe('Fu3eGbKURx2AuJT-a7p2SQ');
		expect(xMessageIdOf('<short@x>')).toBeUndefined();
		expect(xMessageIdOf('<eca.abcdefghijklmnopqrst@acme.example>')).toBeUndefined();
	});
});

describe('SPF and DKIM', () => {
	it('SPF pass, or DKIM pass for the sender domain (or a parent/child), counts; both failing does not', () => {
		expect(authVerdict('pass', 'none', 'a@x.example').pass).toBe(true);
		expect(authVerdict('softfail', '{@x.example : pass}', 'a@x.example').pass).toBe(true);
		expect(authVerdict('fail', '{@mail.x.example : pass}', 'a@x.example').pass).toBe(true);
		expect(authVerdict('fail', '{@attacker.example : pass, @x.example : fail}', 'a@x.example').pass).toBe(false);
		expect(authVerdict('none', '{@x.example : fail}', 'a@x.example').pass).toBe(false);
		expect(authVerdict(undefined, undefined, 'a@x.example')).toMatchObject({ spf: 'none', dkim: 'none', pass: false });
	});
});

describe('automatic replies', () => {
	const h = (block: string) => parseHeaderBlock(block);
	it.each([
		['Auto-Submitted: auto-replied', 'Re: hi'],
		['Auto-Submitted: auto-generated; owner-email="x@y"', 'Re: hi'],
		['X-Autoreply: yes', 'Re: hi'],
		['X-Autorespond: vacation', 'Re: hi'],
		['Precedence: bulk', 'Re: hi'],
		['Precedence: auto_reply', 'Re: hi'],
		['Precedence: list', 'Re: hi'],
		['', 'Out of Office: Spring launch'],
		['', 'Automatic reply: Spring launch'],
		['', 'Abwesenheitsnotiz: Frühling'],
		['', 'Automatische Antwort: Spring launch'],
		['', 'Réponse automatique : Offre'],
		['', "Message d'absence"],
		['', 'Respuesta automática: Oferta'],
		['', 'Fuera de la oficina'],
		['', 'Risposta automatica: Offerta'],
		['', 'Fuori ufficio'],
		['', 'Automatisch antwoord: Aanbieding'],
		['', 'Afwezig: aanbieding'],
		['', 'Resposta automática: Oferta'],
		['', 'Fora do escritório'],
	])('%s / %s is automatic', (headers, subject) => {
		expect(autoReplyReason(h(headers), subject)).toBeDefined();
	});

	it.each([
		['Auto-Submitted: no', 'Re: Spring launch'],
		['Precedence: first-class', 'Re: Spring launch'],
		['', 'Re: Spring launch — yes please'],
		['', 'AW: Frühlingsangebot'],
	])('%s / %s is a person', (headers, subject) => {
		expect(autoReplyReason(h(headers), subject)).toBeUndefined();
	});

	it('header blocks: folded lines unfolded, first value wins, names any case', () => {
		const m = parseHeaderBlock('In-Reply-To:\r\n <a@b>\r\nreferences: <c@d>\r\n\t<e@f>\r\nIN-REPLY-TO: <late@x>\r\n');
		expect(m.get('in-reply-to')).toBe('<a@b>');
		expect(m.get('references')).toBe('<c@d> <e@f>');
	});
});

describe('charsets', () => {
	it('decodes Windows-1252 and ISO-8859-1 bytes without U+FFFD, on Node 20 and 24 alike', () => {
		const bytes = Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65, 0x20, 0x80, 0x35, 0x20, 0x93, 0x6f, 0x6b, 0x94]);
		expect(decodeBytes(bytes, 'windows-1252')).toBe('Grüße €5 “ok”');
		expect(decodeBytes(bytes, 'ISO-8859-1')).toBe('Grüße €5 “ok”');
		expect(decodeBytes(Buffer.from('Grüße', 'utf8'), 'UTF-8')).toBe('Grüße');
		expect(decodeBytes(Buffer.from([0xa3]), 'iso-8859-15')).toBe('£');
		expect(decodeBytes(Buffer.from('ok'), 'no-such-charset')).toBe('ok');
	});

	it('splits multipart/form-data into fields as bytes (files left out)', () => {
		const body = Buffer.concat([
			Buffer.from('--xYz\r\nContent-Disposition: form-data; name="text"\r\n\r\n'),
			Buffer.from([0x43, 0x61, 0x66, 0xe9]),
			Buffer.from('\r\n--xYz\r\nContent-Disposition: form-data; name="attachment1"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nfile\r\n--xYz--\r\n'),
		]);
		const fields = multipartFields(body, 'multipart/form-data; boundary=xYz')!;
		expect([...fields.keys()]).toEqual(['text']);
		expect(decodeBytes(fields.get('text')!, 'iso-8859-1')).toBe('Café');
		expect(multipartFields(body, 'application/json')).toBeUndefined();
	});

	it('raw mode: postal-mime reads encoded headers and a quoted-printable ISO-8859-1 body', async () => {
		const email = 'From: =?ISO-8859-1?Q?Ren=E9e?= <renee@customer.example>\r\nMessage-ID: <r1@customer.example>\r\nIn-Reply-To: <eca.x@acme.example>\r\nReferences: <p0@x> <eca.x@acme.example>\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9\r\n';
		const r = await readInboundReply({ email, SPF: 'pass', dkim: 'none' });
		expect(r).toMatchObject({ mode: 'raw', from: 'renee@customer.example', subject: 'Grüße', messageId: '<r1@customer.example>', answers: ['<eca.x@acme.example>', '<p0@x>'] });
		expect(r.text.trim()).toBe('Café');
	});

	it('hands the MIME parser at most 2 MB and 20,000 lines of a raw message (it slows down with the line count)', () => {
		expect(clipRaw('a\n'.repeat(100_000)).length).toBe(40_000);
		expect(clipRaw(Buffer.from('a\n'.repeat(100_000))).length).toBe(40_000);
		expect(clipRaw('x'.repeat(3 * 1024 * 1024)).length).toBe(2 * 1024 * 1024);
		expect(clipRaw('short\r\nmessage')).toBe('short\r\nmessage');
	});

	it('says which fields n8n already decoded as UTF-8 when they were declared in another charset', async () => {
		const lossy = Buffer.from('Caf\u00e9', 'latin1').toString('utf8');
		const r = await readInboundReply({ from: 'a@b.example', text: lossy, subject: 'Re: x', charsets: '{"text":"iso-8859-1","subject":"UTF-8"}' });
		expect(r.charsetLost).toEqual(['text']);
		const fromBytes = await readInboundReply({ from: 'a@b.example' }, new Map([['text', Buffer.from('Caf\u00e9', 'latin1')], ['charsets', Buffer.from('{"text":"iso-8859-1"}')]]));
		expect(fromBytes).toMatchObject({ text: 'Café', charsetLost: [] });
	});

	it('caps bodies and header blocks', async () => {
		const r = await readInboundReply({ from: 'a@b.example', text: 'x'.repeat(1_000_000), headers: `In-Reply-To: <a@b>\n${'X-Pad: y\n'.repeat(100_000)}` });
		expect(r.text.length).toBe(100 * 1024);
		expect(r.answers).toEqual(['<a@b>']);
	});
});

describe('what a reply may change', () => {
	const base = async (fields: Record<string, string>) => readInboundReply({ from: 'Pat <pat@x.example>', SPF: 'pass', subject: 'Re: hi', headers: 'In-Reply-To: <eca.a@acme.example>\n', ...fields });
	it('ignores unreadable senders, unmatched, unauthenticated and automatic replies, with a reason', async () => {
		expect(replyRefusal(await base({ from: '' }))?.reason).toMatch(/no sender/);
		expect(replyRefusal(await base({ headers: '' }))?.reason).toMatch(/^unmatched/);
		expect(replyRefusal(await base({ SPF: 'fail' }))?.reason).toMatch(/^unauthenticated/);
		expect(replyRefusal(await base({ SPF: 'fail' }), { requireAuth: false })).toBeUndefined();
		expect(replyRefusal(await base({ subject: 'Out of office' }))).toMatchObject({ auto: true });
		expect(replyRefusal(await base({ subject: 'Out of office' }), { autoRepliesStop: true })).toBeUndefined();
		expect(replyRefusal(await base({}))).toBeUndefined();
	});
});
