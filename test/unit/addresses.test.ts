/** Addresses as SendGrid will see them: NFC, no invisible characters, ASCII local parts, IDN domains in punycode. */
import { contactsFromCsv, contactsFromRows } from '../../lib/contacts/loadContacts';
import { campaign, checkEmailAddress, describeIssues, emailPayload, normalizeEmail, sender } from '../../lib/schemas';
import { SendGridSimulator, validateMail } from '../simulators/sendgridServer';
import { campaignInput } from '../helpers/fixtures';

const INVISIBLE = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u200e', '\u200f', '\u202a', '\u202e', '\u2066', '\u2069', '\u180e'];

describe('checkEmailAddress', () => {
	it('keeps Gmail dots and +tags exactly as typed (only trimmed and lower-cased)', () => {
		expect(checkEmailAddress('  First.Last+Promo@Gmail.com ')).toEqual({ email: 'first.last+promo@gmail.com' });
		expect(checkEmailAddress('firstlast@gmail.com')).toEqual({ email: 'firstlast@gmail.com' });
	});

	it.each(INVISIBLE.map((ch) => [`U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`, ch]))('refuses an address hiding %s with a reason naming it', (code, ch) => {
		for (const raw of [`ada${ch}@example.com`, `${ch}ada@example.com`, `ada@exam${ch}ple.com`, `ada@example.com${ch}`]) {
			const r = checkEmailAddress(raw);
			expect(r.email).toBeUndefined();
			expect(r.reason).toBe(`contains an invisible character (${code}) — retype the address`);
		}
	});

	it('refuses control characters inside an address', () => {
		expect(checkEmailAddress('ada\u0001@example.com').reason).toMatch(/control character \(U\+0001\)/);
		expect(checkEmailAddress('ada\u007f@example.com').reason).toMatch(/control character \(U\+007F\)/);
	});

	it("refuses a non-ASCII local part with SendGrid's reason", () => {
		for (const raw of ['josé@example.com', 'jose\u0301@example.com', 'müller@example.de', '用户@example.cn']) {
			expect(checkEmailAddress(raw).reason).toMatch(/non-ASCII character before the @ — SendGrid's mail-send API refuses non-ASCII local parts/);
		}
	});

	it('sends internationalised domains in punycode, whatever their case or Unicode form', () => {
		expect(checkEmailAddress('user@bücher.example')).toEqual({ email: 'user@xn--bcher-kva.example' });
		expect(checkEmailAddress('USER@BÜCHER.EXAMPLE')).toEqual({ email: 'user@xn--bcher-kva.example' });
		// "u" + combining diaeresis (NFD) is the same address after NFC.
		expect(checkEmailAddress('user@bu\u0308cher.example')).toEqual({ email: 'user@xn--bcher-kva.example' });
		expect(checkEmailAddress('info@例え.テスト')).toEqual({ email: 'info@xn--r8jz45g.xn--zckzah' });
		expect(checkEmailAddress('user@xn--bcher-kva.example')).toEqual({ email: 'user@xn--bcher-kva.example' });
		expect(normalizeEmail(' User@Bücher.Example ')).toBe('user@xn--bcher-kva.example');
	});

	it('refuses invalid internationalised domains', () => {
		expect(checkEmailAddress('user@xn--zz.example').reason).toBe('has a domain that is not a valid internationalised domain name');
		expect(checkEmailAddress('user@bü cher.example').email).toBeUndefined();
		expect(checkEmailAddress('user@bü_cher.example').email).toBeUndefined();
		expect(checkEmailAddress('user@bücher').email).toBeUndefined();
	});

	it('says why an empty, oversized or malformed value is not an address', () => {
		expect(checkEmailAddress('   ').reason).toBe('is empty');
		expect(checkEmailAddress(undefined).reason).toBe('is empty');
		expect(checkEmailAddress(42).reason).toBe('is not a valid email address');
		expect(checkEmailAddress(`${'a'.repeat(300)}@example.com`).reason).toMatch(/is 312 characters long — an email address has at most 254/);
		expect(checkEmailAddress('ada.example.com').reason).toBe('is not a valid email address');
		expect(checkEmailAddress('ada..b@example.com').reason).toBe('is not a valid email address');
	});
});

describe('the loaders use the same rules, row by row', () => {
	it('CSV: invisible characters, non-ASCII local parts and bad IDNs are invalid rows with their reason; IDNs go out in punycode and dedupe after NFC', async () => {
		const csv = [
			'email,first_name',
			'ada\u200b@example.com,Ada',
			'josé@example.com,José',
			'user@bücher.example,U',
			'user@bu\u0308cher.example,U again',
			'user@xn--zz.example,Z',
			'first.last+news@gmail.com,F',
			'firstlast@gmail.com,G',
		].join('\n');
		const r = await contactsFromCsv(csv);
		expect(r.contacts).toEqual([
			{ email: 'user@xn--bcher-kva.example', first_name: 'U' },
			{ email: 'first.last+news@gmail.com', first_name: 'F' },
			{ email: 'firstlast@gmail.com', first_name: 'G' },
		]);
		expect(r.invalid).toEqual([
			{ row: 2, email: 'ada\u200b@example.com', reason: '"ada\u200b@example.com" contains an invisible character (U+200B) — retype the address' },
			{ row: 3, email: 'josé@example.com', reason: expect.stringMatching(/^"josé@example.com" has a non-ASCII character before the @ — SendGrid's mail-send API refuses/) },
			{ row: 5, email: 'user@xn--bcher-kva.example', reason: 'duplicate of row 4' },
			{ row: 6, email: 'user@xn--zz.example', reason: '"user@xn--zz.example" has a domain that is not a valid internationalised domain name' },
		]);
	});

	it('rows from items: the same reasons', () => {
		const r = contactsFromRows([{ email: '\u202eada@example.com' }, { email: 'zoë@example.com' }, { email: 'zoe@zoë.example' }]);
		expect(r.contacts).toEqual([{ email: 'zoe@xn--zo-ija.example' }]);
		expect(r.invalid.map((x) => x.reason)).toEqual([
			expect.stringMatching(/invisible character \(U\+202E\)/),
			expect.stringMatching(/non-ASCII character before the @/),
		]);
	});
});

describe('schemas refuse such addresses wherever they come from', () => {
	it('the sender, the reply-to and campaign payload recipients', () => {
		expect(sender.safeParse({ email: 'news\u200d@shop.example' }).success).toBe(false);
		const c = campaign.safeParse(campaignInput({ from: { email: 'josé@shop.example', name: 'Shop' } }));
		expect(c.success).toBe(false);
		if (!c.success) expect(describeIssues(c.error)).toMatch(/from\.email: has a non-ASCII character before the @/);
		const bad = campaign.safeParse(campaignInput({ from: { email: 'nope' } }));
		if (!bad.success) expect(describeIssues(bad.error)).toBe('from.email: is not a valid email address');
		expect(sender.parse({ email: 'News@Bücher.Example' }).email).toBe('news@xn--bcher-kva.example');

		const payload = (email: string) => ({
			campaign_id: 'c1',
			run_id: 'r1',
			step: 1,
			variant: 'A',
			batch: 0,
			from: { email: 'news@shop.example' },
			recipients: [{ email, delivery_id: 'd1' }],
		});
		expect(emailPayload.safeParse(payload('ada\u2060@example.com')).success).toBe(false);
		expect(emailPayload.safeParse(payload('josé@example.com')).success).toBe(false);
		expect(emailPayload.parse(payload('ada@bücher.example')).recipients[0].email).toBe('ada@xn--bcher-kva.example');
	});
});

describe('the SendGrid simulator refuses what the real API refuses', () => {
	const mail = (over: Record<string, unknown> = {}, personalization: Record<string, unknown> = {}) => ({
		personalizations: [{ to: [{ email: 'ada@example.com' }], ...personalization }],
		from: { email: 'news@shop.example' },
		subject: 'Hi',
		content: [{ type: 'text/plain', value: 'Hello' }],
		...over,
	});

	it('a non-ASCII local part in to, cc, bcc, from or reply_to', () => {
		expect(validateMail(mail())).toEqual([]);
		expect(validateMail(mail({}, { to: [{ email: 'josé@example.com' }] }))).toEqual([expect.objectContaining({ field: 'personalizations.0.to.0.email', message: 'Does not contain a valid address.' })]);
		expect(validateMail(mail({}, { cc: [{ email: 'zoë@example.com' }] }))[0].field).toBe('personalizations.0.cc.0.email');
		expect(validateMail(mail({}, { bcc: [{ email: 'ünal@example.com' }] }))[0].field).toBe('personalizations.0.bcc.0.email');
		expect(validateMail(mail({ from: { email: 'josé@shop.example' } }))[0].field).toBe('from.email');
		expect(validateMail(mail({ reply_to: { email: 'josé@shop.example' } }))[0].field).toBe('reply_to.email');
		// An IDN domain must arrive in punycode.
		expect(validateMail(mail({}, { to: [{ email: 'ada@bücher.example' }] }))).toHaveLength(1);
		expect(validateMail(mail({}, { to: [{ email: 'ada@xn--bcher-kva.example' }] }))).toEqual([]);
	});

	it("answers 400 with SendGrid's error shape over HTTP", async () => {
		const sim = new SendGridSimulator();
		const url = await sim.start();
		try {
			const res = await fetch(`${url}/v3/mail/send`, {
				method: 'POST',
				headers: { authorization: 'Bearer SG.test-key', 'content-type': 'application/json' },
				body: JSON.stringify(mail({}, { to: [{ email: 'josé@example.com' }] })),
			});
			expect(res.status).toBe(400);
			expect(await res.json()).toEqual({ errors: [expect.objectContaining({ field: 'personalizations.0.to.0.email', message: 'Does not contain a valid address.' })] });
			expect(sim.accepted).toHaveLength(0);
		} finally {
			await sim.stop();
		}
	});
});
