import { buildMailRequests, PayloadError } from '../../lib/sendgrid/mailRequest';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { campaignInput, contacts } from '../helpers/fixtures';
import type { EmailPayload } from '../../lib/schemas';

function payloadFor(n: number, overrides = {}): EmailPayload {
	const campaign = parseCampaign(campaignInput({ unsubscribeUrl: 'https://acme.example/unsub', categories: ['spring'], ...overrides }));
	return buildEmailPayloads(campaign, contacts(n), 'run_1', { step: 1 })[0];
}

describe('SendGrid request bodies', () => {
	it('puts every recipient in its own personalization with correlation custom_args, substitutions and one-click unsubscribe', () => {
		const [req] = buildMailRequests(payloadFor(3));
		expect(req.body.personalizations).toHaveLength(3);
		const p = req.body.personalizations[1];
		expect(p.to).toEqual([{ email: 'user1@example.org', name: 'User1' }]);
		expect(p.custom_args).toEqual({ campaign_id: 'spring-launch', run_id: 'run_1', step: '1', variant: 'A', delivery_id: expect.any(String) });
		const link = p.headers!['List-Unsubscribe'].slice(1, -1);
		// The footer's link is the header's link: one substitution for the text part, one html-escaped for the html part.
		expect(p.substitutions).toEqual({ '{{first_name|there}}': 'User1', '{{html:first_name|there}}': 'User1', '{{eca:unsubscribe}}': link, '{{eca:unsubscribe:html}}': link.replace(/&/g, '&amp;') });
		expect(p.headers!['List-Unsubscribe']).toMatch(/^<https:\/\/acme\.example\/unsub\?c=spring-launch&s=1&d=[\w-]{22}>$/);
		expect(req.body.content![0].value).toMatch(/\n\n--\nUnsubscribe: \{\{eca:unsubscribe\}\}$/);
		expect(req.body.content![1].value).toContain('<a href="{{eca:unsubscribe:html}}"');
		// With the store's secret (live sends), the same link carries the token the unsubscribe endpoint checks.
		const [signed] = buildMailRequests(payloadFor(3), undefined, undefined, Buffer.alloc(32, 7));
		expect(signed.body.personalizations[0].headers!['List-Unsubscribe']).toMatch(/^<https:\/\/acme\.example\/unsub\?c=spring-launch&s=1&d=[\w-]{22}&t=[\w-]{22}>$/);
		expect(p.headers!['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
		expect(req.body.content!.map((c) => c.type)).toEqual(['text/plain', 'text/html']);
		expect(req.body.content![1].value).toContain('{{html:first_name|there}}');
		expect(req.body.content![0].value).toContain('{{first_name|there}}');
		expect(req.body.categories).toEqual(['spring']);
	});

	it('escapes html in merge values and strips CR/LF from subject values', () => {
		const payload = payloadFor(1);
		payload.recipients[0].fields.first_name = '<script>x</script>\r\nBcc: evil@x.io';
		const [req] = buildMailRequests(payload);
		const subs = req.body.personalizations[0].substitutions!;
		expect(subs['{{html:first_name|there}}']).toBe('&lt;script&gt;x&lt;/script&gt;\r\nBcc: evil@x.io');
		expect(subs['{{first_name|there}}']).not.toMatch(/[\r\n]/);
	});

	it('gives a recipient whose substitutions exceed 10,000 bytes a message of its own with values rendered in place', () => {
		const payload = payloadFor(3);
		payload.recipients[2].fields.first_name = 'Ü'.repeat(3000); // 6,000 bytes, twice (text and html keys)
		const reqs = buildMailRequests(payload);
		expect(reqs).toHaveLength(2);
		expect(reqs[0].recipients.map((r) => r.email)).toEqual(['user0@example.org', 'user1@example.org']);
		expect(reqs[1].body.personalizations[0].substitutions).toBeUndefined();
		expect(reqs[1].body.subject).toContain('ÜÜÜ');
		// Its footer carries its own signed link in place, the same as its List-Unsubscribe header.
		const link = reqs[1].body.personalizations[0].headers!['List-Unsubscribe'].slice(1, -1);
		expect(reqs[1].body.content![0].value.endsWith(`Unsubscribe: ${link}`)).toBe(true);
		expect(reqs[1].body.content![1].value).toContain(`<a href="${link.replace(/&/g, '&amp;')}"`);
		expect(JSON.stringify(reqs[1].body)).not.toContain('{{eca:');
	});

	it('adds no footer and no List-Unsubscribe header to a campaign without an unsubscribe URL; the footer speaks its language', () => {
		const [plain] = buildMailRequests(payloadFor(1, { unsubscribeUrl: undefined, transactional: true }));
		expect(plain.body.personalizations[0].headers!['List-Unsubscribe']).toBeUndefined();
		expect(JSON.stringify(plain.body)).not.toContain('eca:unsubscribe');
		const [de] = buildMailRequests(payloadFor(1, { language: 'de' }));
		expect(de.body.content![0].value).toMatch(/Abmelden: \{\{eca:unsubscribe\}\}$/);
	});

	it('refuses duplicates, send_at beyond 72 hours and a payload without copy', () => {
		const dup = payloadFor(2);
		dup.recipients[1] = { ...dup.recipients[1], email: dup.recipients[0].email };
		expect(() => buildMailRequests(dup)).toThrow(/appears twice/);
		const later = { ...payloadFor(1), send_at: Math.floor(Date.now() / 1000) + 73 * 3600 };
		expect(() => buildMailRequests(later)).toThrow(/more than 72 hours ahead/);
		expect(() => buildMailRequests({ ...payloadFor(1), copy: undefined })).toThrow(PayloadError);
	});
});

describe('Build Email Payload batching', () => {
	it.each([
		[999, [999]],
		[1000, [1000]],
		[1001, [1000, 1]],
	])('%i recipients make batches of %j', (n, sizes) => {
		const campaign = parseCampaign(campaignInput());
		const payloads = buildEmailPayloads(campaign, contacts(n), 'run_1', { step: 1 });
		expect(payloads.map((p) => p.recipients.length)).toEqual(sizes);
		for (const p of payloads) expect(buildMailRequests(p)[0].body.personalizations.length).toBe(p.recipients.length);
	});

	it('splits variants deterministically and keeps each batch to one variant', () => {
		const campaign = parseCampaign(campaignInput({ variants: 3 }));
		const a = buildEmailPayloads(campaign, contacts(300), 'run_1', { step: 1, batchSize: 50 });
		const b = buildEmailPayloads(campaign, contacts(300), 'run_2', { step: 1, batchSize: 50 });
		const variantOf = (ps: EmailPayload[]) => new Map(ps.flatMap((p) => p.recipients.map((r) => [r.email, p.variant])));
		expect(variantOf(a)).toEqual(variantOf(b));
		expect(new Set(a.map((p) => p.variant))).toEqual(new Set(['A', 'B', 'C']));
		for (const p of a) expect(p.recipients.length).toBeLessThanOrEqual(50);
	});

	it('batch size 1 reproduces one request per recipient, and an unknown step is named', () => {
		const campaign = parseCampaign(campaignInput());
		expect(buildEmailPayloads(campaign, contacts(5), 'r', { step: 1, batchSize: 1 })).toHaveLength(5);
		expect(() => buildEmailPayloads(campaign, contacts(5), 'r', { step: 2 })).toThrow(/has no step 2; its steps are 1/);
		expect(() => buildEmailPayloads(campaign, contacts(5), 'r', { step: 1, batchSize: 1001 })).toThrow(/Batch size/);
	});
});
