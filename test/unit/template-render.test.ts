/**
 * The preview's renderer of dynamic templates (lib/preview/templateRender): Handlebars with the helpers
 * SendGrid's dynamic templates add, HTML escaping of {{values}}, the text part generated from the html
 * when the version has none, and no way out to prototypes from a template.
 */
import { renderTemplate } from '../../lib/preview/templateRender';
import type { ActiveTemplateVersion } from '../../lib/sendgrid/templates';

const version = (html: string, extra: Partial<ActiveTemplateVersion> = {}): ActiveTemplateVersion => ({
	templateId: 'd-0123456789abcdef0123456789abcdef',
	templateName: 'Test',
	versionId: 'v1',
	subject: '{{{subject}}}',
	html,
	generatePlainContent: true,
	...extra,
});
const html = (template: string, data: Record<string, unknown>) => {
	const r = renderTemplate(version(template), data);
	if ('error' in r) throw new Error(r.error);
	return r.html;
};

describe('renderTemplate', () => {
	it("SendGrid's comparison block helpers, with {{else}}", () => {
		expect(html('{{#equals plan "pro"}}P{{else}}F{{/equals}}', { plan: 'pro' })).toBe('P');
		expect(html('{{#equals n 5}}five{{/equals}}', { n: '5' })).toBe('five');
		expect(html('{{#notEquals plan "pro"}}not{{else}}pro{{/notEquals}}', { plan: 'pro' })).toBe('pro');
		expect(html('{{#greaterThan score 10}}hi{{else}}lo{{/greaterThan}}', { score: '11' })).toBe('hi');
		expect(html('{{#lessThan score 10}}lo{{else}}hi{{/lessThan}}', { score: 10 })).toBe('hi');
		expect(html('{{#and a b}}both{{else}}not both{{/and}}', { a: 'x', b: '' })).toBe('not both');
		expect(html('{{#or a b}}one{{else}}none{{/or}}', { a: '', b: 'y' })).toBe('one');
	});

	it('insert with a default, length, each, and formatDate with its tokens and an offset', () => {
		expect(html('Hi {{insert name "default=Customer"}}', {})).toBe('Hi Customer');
		expect(html('Hi {{insert name "default=Customer"}}', { name: 'Ana' })).toBe('Hi Ana');
		expect(html('{{length items}} items: {{#each items}}[{{this}}]{{/each}}', { items: ['a', 'b'] })).toBe('2 items: [a][b]');
		expect(html('{{formatDate when "dddd, MMMM D, YYYY HH:mm"}}', { when: '2026-03-01T09:05:00Z' })).toBe('Sunday, March 1, 2026 09:05');
		expect(html('{{formatDate when "YYYY-MM-DD hh:mm A" "-05:00"}}', { when: 1772355900 })).toBe('2026-03-01 04:05 AM');
		expect(html('{{formatDate when "YYYY"}}', { when: 'not a date' })).toBe('');
	});

	it('escapes {{values}} and not {{{values}}}; the text part comes from the html when the version has none', () => {
		const r = renderTemplate(version('<p>{{company}}</p>{{{html}}}'), { company: 'A & <B>', html: '<b>Deal</b>', subject: 'S & T' });
		expect(r).toEqual({ subject: 'S & T', html: '<p>A &amp; &lt;B&gt;</p><b>Deal</b>', text: expect.stringContaining('Deal') });
		const own = renderTemplate(version('<p>x</p>', { text: 'Plain {{name}}' }), { name: 'Ana' });
		expect(own).toMatchObject({ text: 'Plain Ana' });
		const none = renderTemplate(version('<p>x</p>', { generatePlainContent: false }), {});
		expect(none).toMatchObject({ text: '' });
	});

	it('a template cannot reach prototypes or run code: constructor and __proto__ render as nothing', () => {
		const out = html('[{{constructor.name}}][{{__proto__}}][{{#with constructor}}{{name}}{{/with}}][{{lookup this "constructor"}}]', { a: 1 });
		expect(out).toBe('[][][][]');
	});

	it('a syntax error or an unknown helper is an error naming the template, not a throw', () => {
		expect(renderTemplate(version('{{#if x}}open'), {})).toEqual({ error: expect.stringMatching(/^Template "Test" \(d-0123456789abcdef0123456789abcdef\) cannot be rendered: /) });
		expect(renderTemplate(version('{{upper name}}'), { name: 'x' })).toEqual({ error: expect.stringMatching(/upper/) });
	});
});
