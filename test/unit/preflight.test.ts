/** Preflight rules one by one (issue 15): each finding names its rule, step and variant, and says what to do. */
import { preflightPayload, preflightRun, GMAIL_CLIP_BYTES } from '../../lib/preview/preflight';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import type { EmailPayload } from '../../lib/schemas';
import { campaignInput, contacts } from '../helpers/fixtures';

const good = {
	subject: 'Spring deals, {{first_name|there}}',
	preheader: 'Twenty percent off until Sunday',
	html: '<p>Hello {{first_name|there}}, our sale is on. <a href="https://acme.example/sale">Shop</a></p>',
	text: 'Hello {{first_name|there}}, our sale is on: https://acme.example/sale',
	source: 'template' as const,
};

function payload(copy: Partial<typeof good> = {}, extra: Record<string, unknown> = {}): EmailPayload {
	const campaign = parseCampaign(campaignInput({ postalAddress: '1 Main St, Springfield 12345', ...extra }));
	const [p] = buildEmailPayloads(campaign, contacts(4), 'run_1', { step: 1 });
	return { ...p, copy: { ...good, ...copy } };
}
const rules = (p: EmailPayload, live = true) => preflightPayload(p, { live }).map((f) => `${f.level}:${f.rule}`);

describe('preflight', () => {
	it('finds nothing in a good message', () => {
		expect(preflightPayload(payload(), { live: true })).toEqual([]);
	});
	it('an empty or image-only text part, or one of merge tags alone, is an error', () => {
		expect(rules(payload({ text: '   ' }))).toContain('error:text_empty');
		expect(rules(payload({ text: '{{first_name|there}} — !' }))).toContain('error:text_empty');
		expect(rules(payload({ text: 'Grüße 🌷' }))).not.toContain('error:text_empty');
	});
	it('html over 102 KB is a warning (Gmail clips it)', () => {
		const big = `<p>${'x'.repeat(GMAIL_CLIP_BYTES)}</p>`;
		expect(rules(payload({ html: big }))).toContain('warning:html_clipped');
		expect(rules(payload({ html: `<p>${'x'.repeat(GMAIL_CLIP_BYTES - 100)}</p>` }))).not.toContain('warning:html_clipped');
	});
	it('a subject over 60 characters and a missing preheader are warnings', () => {
		expect(rules(payload({ subject: 'S'.repeat(61) }))).toContain('warning:subject_long');
		expect(rules(payload({ subject: '🌷'.repeat(60) }))).not.toContain('warning:subject_long'); // characters, not UTF-16 units
		expect(rules(payload({ preheader: '' }))).toContain('warning:no_preheader');
	});
	it('a live send without an unsubscribe mechanism is an error; a dry look is not', () => {
		expect(rules(payload({}, { unsubscribeUrl: undefined }))).toContain('error:unsubscribe');
		expect(rules(payload({}, { unsubscribeUrl: undefined }), false)).not.toContain('error:unsubscribe');
		expect(rules(payload({}, { unsubscribeUrl: undefined, unsubscribeGroupId: 5 }))).not.toContain('error:unsubscribe');
	});
	it('a merge tag no contact has and without fallback is an error; one some contacts lack is a warning with the count', () => {
		const typo = preflightPayload(payload({ html: '<p>Hi {{frist_name}}</p>' }), { live: true });
		expect(typo).toContainEqual(expect.objectContaining({ level: 'error', rule: 'merge_tag_unknown', step: 1, variant: 'A', message: expect.stringContaining('{{frist_name}}') }));
		const p = payload({ text: 'Hello {{first_name}}, sale on' });
		p.recipients[1].fields.first_name = '';
		const findings = preflightPayload(p, { live: true });
		expect(findings).toContainEqual(expect.objectContaining({ level: 'warning', rule: 'merge_tag_empty', message: expect.stringContaining('1 of 4 recipients have no first_name') }));
		expect(findings.map((f) => f.rule)).not.toContain('merge_tag_unknown');
	});
	it('unfilled placeholders are an error', () => {
		expect(rules(payload({ text: 'Hello [FIRST NAME], sale on' }))).toContain('error:placeholder');
	});
	it('links without https, and links off the campaign list, are warnings', () => {
		expect(rules(payload({ html: '<p>Sale <a href="http://acme.example/sale">here</a></p>' }))).toContain('warning:link_not_https');
		expect(rules(payload({ html: '<p>Sale <a href="https://elsewhere.example/x">here</a></p>' }))).toContain('warning:link_not_allowed');
	});
	it('no postal address is a warning, except for transactional mail', () => {
		expect(rules(payload({}, { postalAddress: undefined }))).toContain('warning:no_postal_address');
		expect(rules(payload({}, { postalAddress: undefined, transactional: true, unsubscribeUrl: undefined }))).toEqual([]);
	});
	it('a run is checked once per step and variant, over all its batches', () => {
		const campaign = parseCampaign(campaignInput({ postalAddress: '1 Main St', variants: 2 }));
		const payloads = buildEmailPayloads(campaign, contacts(50), 'run_1', { step: 1, batchSize: 5 }).map((p) => ({ ...p, copy: { ...good, text: 'Hi {{company}}, sale on' } }));
		payloads[3].recipients[0].fields.company = 'Acme';
		const findings = preflightRun(payloads, { live: true });
		expect(findings.map((f) => `${f.variant}:${f.rule}`).sort()).toEqual(['A:merge_tag_empty', 'B:merge_tag_empty']);
		const a = findings.find((f) => f.variant === payloads[3].variant)!;
		expect(a.message).toMatch(/^\d+ of (2\d) recipients have no company/);
	});
});
