/**
 * The SendGrid simulator's dynamic templates: GET /v3/templates as the Templates API describes it
 * (page_size required, 1-200; generations filter; page tokens), mail send's template_id rules (an
 * existing template; no substitutions with a dynamic one; subject and content may come from the
 * template) and the Handlebars subset it renders so tests see what a recipient would.
 */
import { SendGridSimulator, validateMail } from '../simulators/sendgridServer';
import { escapeExpression, renderHandlebars } from '../simulators/handlebars';

describe('handlebars subset', () => {
	it('escapes {{var}}, leaves {{{var}}} raw, follows dotted paths and #if/else', () => {
		const t = 'Hi {{first_name}}! {{{html}}} {{#if vip}}VIP{{else}}regular{{/if}} {{user.city}}{{! a comment }}{{missing}}.';
		expect(renderHandlebars(t, { first_name: '<Ada & "Bo">', html: '<p>x</p>', vip: false, user: { city: 'Oslo' } })).toBe(
			'Hi &lt;Ada &amp; &quot;Bo&quot;&gt;! <p>x</p> regular Oslo.',
		);
		expect(renderHandlebars('{{#if a}}A{{#if b}}B{{else}}b{{/if}}{{else}}none{{/if}}', { a: 'x', b: '' })).toBe('Ab');
		expect(renderHandlebars('{{#if a}}A{{#if b}}B{{/if}}{{/if}}!', { b: 1 })).toBe('!');
		expect(escapeExpression("`='")).toBe('&#x60;&#x3D;&#x27;');
	});

	it('is linear in the template length', () => {
		const big = '{{'.repeat(200_000) + '{{#if a}}'.repeat(50_000) + 'x}}'.repeat(100_000);
		const t0 = performance.now();
		renderHandlebars(big, { a: 1 });
		expect(performance.now() - t0).toBeLessThan(2000);
	});
});

const lookup = (sim: SendGridSimulator) => (id: string) => sim.templates.find((t) => t.id === id);

describe('mail send with template_id', () => {
	const sim = new SendGridSimulator();
	const dyn = sim.addTemplate({ name: 'Welcome', subject: '{{subject}}', html: '<p>Hi {{first_name}}</p>{{{html}}}', text: 'Hi {{first_name}}' });
	const noSubject = sim.addTemplate({ name: 'No subject', html: '<p>{{x}}</p>' });
	const base = (extra: Record<string, unknown> = {}, p: Record<string, unknown> = {}) => ({
		personalizations: [{ to: [{ email: 'ada@example.org' }], dynamic_template_data: { first_name: 'Ada' }, ...p }],
		from: { email: 'news@example.com' },
		template_id: dyn.id,
		...extra,
	});

	it('needs neither content nor subject when the template has them', () => {
		expect(validateMail(base(), lookup(sim))).toEqual([]);
	});

	it('refuses an unknown template, substitutions with a dynamic one, and a subject nobody gives', () => {
		expect(validateMail(base({ template_id: 'd-00000000000000000000000000000000' }), lookup(sim)).map((e) => e.field)).toEqual(expect.arrayContaining(['template_id']));
		expect(validateMail(base({}, { substitutions: { '-x-': 'y' } }), lookup(sim)).map((e) => e.message)).toEqual(['Substitutions may not be used with dynamic templating']);
		expect(validateMail(base({ template_id: noSubject.id }), lookup(sim)).map((e) => e.field)).toEqual(['subject']);
		expect(validateMail(base({ template_id: noSubject.id, subject: 'Hello' }), lookup(sim))).toEqual([]);
		expect(validateMail(base({}, { dynamic_template_data: ['x'] }), lookup(sim)).map((e) => e.field)).toEqual(['personalizations.0.dynamic_template_data']);
		expect(validateMail(base({}, { custom_args: { big: 'x'.repeat(10_001) } }), lookup(sim)).map((e) => e.field)).toEqual(['personalizations.0.custom_args']);
		// Content given with a template is still checked.
		expect(validateMail(base({ content: [{ type: 'text/html', value: '' }] }), lookup(sim)).map((e) => e.field)).toEqual(['content.0.value']);
	});
});

describe('template endpoints and rendering', () => {
	const sim = new SendGridSimulator();
	let url: string;
	beforeAll(async () => {
		url = await sim.start();
	});
	afterAll(() => sim.stop());
	const call = (path: string, method = 'GET', body?: unknown) =>
		fetch(`${url}${path}`, { method, headers: { authorization: 'Bearer SG.test-key', 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

	it('lists dynamic templates in pages, page_size required', async () => {
		const a = sim.addTemplate({ name: 'A', subject: 'a', html: 'a' });
		const b = sim.addTemplate({ name: 'B', subject: 'b', html: 'b' });
		sim.addTemplate({ name: 'Legacy', generation: 'legacy', subject: 'l', html: '<%body%>' });
		expect(a.id).toMatch(/^d-[0-9a-f]{32}$/);
		expect((await call('/v3/templates?generations=dynamic')).status).toBe(400);
		expect((await call('/v3/templates?generations=dynamic&page_size=201')).status).toBe(400);
		const first = (await (await call('/v3/templates?generations=dynamic&page_size=1')).json()) as { result: Array<{ id: string; versions: unknown[] }>; _metadata: { next?: string; count: number } };
		expect(first.result.map((t) => t.id)).toEqual([a.id]);
		expect(first.result[0].versions[0]).toEqual(expect.objectContaining({ template_id: a.id, active: 1, subject: 'a', html_content: 'a' }));
		expect(first._metadata.count).toBe(2);
		const next = new URL(first._metadata.next!);
		const second = (await (await call(`/v3/templates${next.search}&generations=dynamic`)).json()) as { result: Array<{ id: string }>; _metadata: { next?: string } };
		expect(second.result.map((t) => t.id)).toEqual([b.id]);
		expect(second._metadata.next).toBeUndefined();
		const legacyDefault = (await (await call('/v3/templates?page_size=200')).json()) as { result: Array<{ name: string }> };
		expect(legacyDefault.result.map((t) => t.name)).toEqual(['Legacy']);
	});

	it('records what each recipient sees, rendered with their data', async () => {
		const t = sim.addTemplate({ name: 'Render', subject: '{{subject}} for {{first_name}}', html: '<p>{{first_name}}</p>{{{html}}}', text: '{{text}}' });
		const res = await call('/v3/mail/send', 'POST', {
			personalizations: [
				{ to: [{ email: 'ada@example.org' }], dynamic_template_data: { subject: 'News', first_name: '<Ada>', html: '<b>x</b>', text: 'x' }, custom_args: { delivery_id: '1' } },
				{ to: [{ email: 'bo@example.org' }], dynamic_template_data: { subject: 'News', first_name: 'Bo', html: '<b>y</b>', text: 'y' }, custom_args: { delivery_id: '2' } },
			],
			from: { email: 'news@example.com' },
			template_id: t.id,
		});
		expect(res.status).toBe(202);
		const [ada] = sim.deliveriesTo('ada@example.org');
		// As in SendGrid, {{ }} escapes in the subject too (a template writes {{{subject}}} to avoid &amp; in subjects).
		expect(ada).toEqual(expect.objectContaining({ subject: 'News for &lt;Ada&gt;', html: '<p>&lt;Ada&gt;</p><b>x</b>', text: 'x', templateId: t.id, customArgs: { delivery_id: '1' } }));
		expect(sim.deliveriesTo('bo@example.org')[0].html).toBe('<p>Bo</p><b>y</b>');
	});
});
