/**
 * Request bodies for a step sent with a SendGrid dynamic template (issue 17): template_id instead of
 * subject and content, each recipient's dynamic_template_data built from their fields and the copy
 * rendered for them, no substitutions, and the same custom_args, Message-ID and one-click unsubscribe
 * headers as inline content.
 */
import { buildMailRequests, testMailBody } from '../../lib/sendgrid/mailRequest';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { preflightPayload } from '../../lib/preview/preflight';
import { campaignInput, contacts } from '../helpers/fixtures';
import { validateMail } from '../simulators/sendgridServer';
import { renderHandlebars } from '../simulators/handlebars';

const TEMPLATE = 'd-0123456789abcdef0123456789abcdef';

function campaignWith(step: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
	return parseCampaign(
		campaignInput({
			unsubscribeUrl: 'https://acme.example/unsub',
			postalAddress: '1 Main St, Springfield',
			steps: [{ step: 1, delayHours: 0, templateId: TEMPLATE, subject: 'Hi {{first_name|there}}', preheader: 'For {{first_name|you}}', text: 'Hello {{first_name|there}}, 20% off.', html: '<p>Hello {{first_name|there}}</p>', ...step }],
			...overrides,
		} as never),
	);
}

describe('dynamic template requests', () => {
	it('name the template, carry no subject, content or substitutions, and give each recipient their data', () => {
		const people = contacts(3);
		people[1].first_name = '<b>Bo & {{evil}}</b>';
		(people[1] as Record<string, string>).company = 'Acme';
		const [payload] = buildEmailPayloads(campaignWith({}), people, 'run_1', { step: 1 });
		expect(payload.template_id).toBe(TEMPLATE);
		const reqs = buildMailRequests(payload);
		expect(reqs).toHaveLength(1);
		const body = reqs[0].body;
		expect(body.template_id).toBe(TEMPLATE);
		expect(body).not.toHaveProperty('subject');
		expect(body).not.toHaveProperty('content');
		expect(body.personalizations).toHaveLength(3);
		const p = body.personalizations[1];
		expect(p.substitutions).toBeUndefined();
		expect(p.custom_args).toEqual({ campaign_id: 'spring-launch', run_id: 'run_1', step: '1', variant: 'A', delivery_id: expect.any(String) });
		const link = p.headers!['List-Unsubscribe'].slice(1, -1);
		expect(p.headers!['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
		expect(p.headers!['Message-ID']).toMatch(/^<.+@example\.com>$/);
		const d = p.dynamic_template_data!;
		// Contact fields under their own names, as given: Handlebars escapes them where the template writes {{first_name}}.
		expect(d.first_name).toBe('<b>Bo & {{evil}}</b>');
		expect(d.company).toBe('Acme');
		expect(d.email).toBe('user1@example.org');
		// The copy rendered for this recipient: plain text in subject/text, html-escaped values in html.
		expect(d.subject).toBe('Hi <b>Bo & {{evil}}</b>');
		expect(d.preheader).toBe('For <b>Bo & {{evil}}</b>');
		expect(d.text).toContain('Hello <b>Bo & {{evil}}</b>, 20% off.');
		expect(d.html).toContain('<p>Hello &lt;b&gt;Bo &amp; {{evil}}&lt;/b&gt;</p>');
		expect(d.html).not.toContain('<b>Bo');
		// The footer: postal address and the same signed link as the header, in text and html.
		expect(d.unsubscribe_url).toBe(link);
		expect(d.postal_address).toBe('1 Main St, Springfield');
		expect(d.text.endsWith(`Unsubscribe: ${link}`)).toBe(true);
		expect(d.html).toContain(`<a href="${link.replace(/&/g, '&amp;')}"`);
		// Values are data: a template renders them once; '{{evil}}' inside a value is never evaluated.
		expect(renderHandlebars('{{{html}}}', d)).toBe(d.html);
		expect(renderHandlebars('{{first_name}}', d)).toBe('&lt;b&gt;Bo &amp; {{evil}}&lt;/b&gt;');
		// A copy field wins over a contact field of the same name.
		const [q] = buildEmailPayloads(campaignWith({}), [{ email: 'x@example.org', subject: 'mine' } as never], 'run_1', { step: 1 });
		expect(buildMailRequests(q)[0].body.personalizations[0].dynamic_template_data!.subject).toBe('Hi there');
	});

	it('pass the simulator with a template of the account, and fail it with an unknown one', () => {
		const [payload] = buildEmailPayloads(campaignWith({}), contacts(5), 'run_1', { step: 1 });
		const [req] = buildMailRequests(payload);
		const template = { id: TEMPLATE, name: 't', generation: 'dynamic' as const, updated_at: '', versions: [{ id: 'v', template_id: TEMPLATE, active: 1 as const, name: 'v', subject: '{{{subject}}}', html_content: '{{{html}}}', generate_plain_content: true, editor: 'code' as const, updated_at: '' }] };
		expect(validateMail(req.body, (id) => (id === TEMPLATE ? template : undefined))).toEqual([]);
		expect(validateMail(req.body, () => undefined).map((e) => e.field)).toContain('template_id');
	});

	it('need no copy: the template alone, with the contact fields and the unsubscribe link', () => {
		const [payload] = buildEmailPayloads(campaignWith({ subject: undefined, text: undefined, html: undefined, preheader: undefined }), contacts(2), 'run_1', { step: 1 });
		expect(payload.copy).toBeUndefined();
		const d = buildMailRequests(payload)[0].body.personalizations[0].dynamic_template_data!;
		expect(Object.keys(d).sort()).toEqual(['email', 'first_name', 'postal_address', 'unsubscribe_url']);
		expect(preflightPayload(payload, { live: true }).filter((f) => f.level === 'error')).toEqual([]);
	});

	it('split at 1,000 personalizations and keep custom_args within 10,000 bytes', () => {
		const [payload] = buildEmailPayloads(campaignWith({}), contacts(1000), 'run_1', { step: 1 });
		const reqs = buildMailRequests(payload);
		expect(reqs).toHaveLength(1);
		expect(reqs[0].body.personalizations).toHaveLength(1000);
		expect(new Set(reqs[0].body.personalizations.map((p) => p.to[0].email)).size).toBe(1000);
		for (const p of reqs[0].body.personalizations) expect(Buffer.byteLength(JSON.stringify(p.custom_args))).toBeLessThan(10_000);
	});

	it('refuse a template id that is not a dynamic one, before anything is built', () => {
		expect(() => campaignWith({ templateId: '5d3a7a2e-0000-4000-8000-000000000000' })).toThrow(/dynamic template id/);
	});

	it('preflight does not ask for a text part when a template is used', () => {
		// A text part of merge tags alone has no words: an error for inline content, the template's business here.
		const step = { text: '{{first_name|there}}', html: '<p>{{first_name|there}}</p>' };
		const [inline] = buildEmailPayloads(campaignWith({ ...step, templateId: undefined }), contacts(1), 'run_1', { step: 1 });
		expect(preflightPayload(inline, { live: true }).map((f) => f.rule)).toContain('text_empty');
		const [payload] = buildEmailPayloads(campaignWith(step), contacts(1), 'run_1', { step: 1 });
		expect(preflightPayload(payload, { live: true }).map((f) => f.rule)).not.toContain('text_empty');
	});

	it('a test send uses the template too: the sample data for every seed, "[Test] " before the subject, no campaign args', () => {
		const [payload] = buildEmailPayloads(campaignWith({}), contacts(2), 'run_1', { step: 1 });
		const body = testMailBody(payload, payload.recipients[1], ['seed1@example.net', 'seed2@example.net'], { sandbox: true });
		expect(body.template_id).toBe(TEMPLATE);
		expect(body).not.toHaveProperty('content');
		expect(body.mail_settings).toEqual({ sandbox_mode: { enable: true } });
		expect(body.personalizations.map((p) => p.to[0].email)).toEqual(['seed1@example.net', 'seed2@example.net']);
		for (const p of body.personalizations) {
			expect(p.dynamic_template_data).toEqual(expect.objectContaining({ subject: '[Test] Hi User1', first_name: 'User1', email: 'user1@example.org' }));
			expect(p.custom_args).not.toHaveProperty('delivery_id');
			expect(p.headers).not.toHaveProperty('List-Unsubscribe');
		}
	});
});
