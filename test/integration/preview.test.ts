/**
 * Campaign Preview (issue 15) against the SendGrid simulator: samples rendered with values in place,
 * the preflight findings, a page, and test sends to seeds that SendGrid accepts, that claim and count
 * nothing, and whose events (a seed unsubscribing or bouncing) suppress nobody.
 */
import { closeAllStores, getCampaignStore, type CampaignStore } from '../../lib/store';
import { applyEvents } from '../../lib/store/events';
import { normalizeEvent } from '../../lib/events/normalize';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { parseSeeds, previewFindings, previewPage, previewSamples, sendTests } from '../../lib/preview/preview';
import { SendGridSimulator } from '../simulators/sendgridServer';
import { campaignInput, contacts } from '../helpers/fixtures';
import { sql } from '../helpers/sql';

jest.setTimeout(60_000);

const sim = new SendGridSimulator();
let store: CampaignStore;
beforeAll(async () => {
	await sim.start();
	store = await getCampaignStore({ inMemory: true });
});
afterAll(async () => {
	await sim.stop();
	await closeAllStores();
});

const campaign = parseCampaign(
	campaignInput({
		id: 'preview-1',
		variants: 2,
		postalAddress: 'Acme Inc., 1 Main St, Springfield',
		steps: [{ step: 1, delayHours: 0, subject: 'Hi {{first_name|there}}', html: '<p>Hello {{first_name|there}}, sale on. <a href="https://acme.example/sale">Shop</a></p>' }],
		stepVariants: undefined,
	} as never),
);
const people = contacts(6);
people[0].first_name = '';
const payloads = buildEmailPayloads(campaign, people, 'run_preview', { step: 1 });

it('renders each variant for sample contacts with values, fallbacks and the footer in place', () => {
	const samples = previewSamples(payloads, { samples: 2 });
	expect(new Set(samples.map((s) => s.variant))).toEqual(new Set(['A', 'B']));
	expect(samples.filter((s) => s.variant === 'A')).toHaveLength(2);
	for (const s of samples) {
		expect(s.subject).toMatch(/^Hi (User\d|there)$/);
		expect(s.html).not.toContain('{{');
		expect(s.text).toContain('Acme Inc., 1 Main St, Springfield');
		expect(s.html).toContain('https://unsubscribe.example/u?c=preview-1&amp;s=1&amp;d=');
		// The preview never holds a working token.
		expect(s.html).not.toMatch(/[?&]amp;t=|[?&]t=/);
	}
	const user0 = samples.find((s) => s.contact === 'user0@example.org');
	if (user0) expect(user0.subject).toBe('Hi there');
	const page = previewPage(samples, previewFindings(payloads, true));
	expect(page).toContain('<section data-step="1" data-variant="A" data-language="en">');
	expect(page).toContain('<section data-step="1" data-variant="B" data-language="en">');
	expect(page).toContain('sandbox=""');
	expect(page).toContain('no preheader');
});

it('sends a test of every variant to the seeds: accepted, marked, nothing claimed, and its events change nothing', async () => {
	const transport = createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 5000 });
	const seeds = parseSeeds('me@acme.example,\n team@acme.example');
	const results = await sendTests(payloads, seeds, transport, { sandbox: false });
	expect(results.map((r) => [r.variant, r.status, r.http_status])).toEqual([
		['A', 'sent', 202],
		['B', 'sent', 202],
	]);
	const accepted = sim.accepted.filter((m) => m.customArgs.eca_test === '1');
	expect(accepted.map((m) => m.to).sort()).toEqual(['me@acme.example', 'me@acme.example', 'team@acme.example', 'team@acme.example']);
	for (const m of accepted) {
		expect(m.subject).toMatch(/^\[Test\] Hi /);
		expect(m.customArgs.delivery_id).toBeUndefined();
		expect(m.customArgs.campaign_id).toBeUndefined();
		expect(m.headers['List-Unsubscribe']).toBeUndefined();
	}
	expect(await store.deliveries({ campaignId: 'preview-1' })).toEqual([]);

	// A seed unsubscribes from, bounces on and reports the test: stored, but nobody is suppressed.
	const events = sim.eventsFor(accepted, { unsubscribe: ['me@acme.example'], bounce: ['team@acme.example'], spamreport: ['team@acme.example'], seed: 5 }).map((e) => normalizeEvent(e));
	const r = await applyEvents(store, events);
	expect(r.inserted).toBeGreaterThan(0);
	expect(r.suppressionsAdded).toBe(0);
	expect((await store.suppressedAmong(['me@acme.example', 'team@acme.example'])).size).toBe(0);
	expect((await sql(store).query<{ n: number }>(`SELECT count(*)::int AS n FROM eca_events WHERE campaign_id IS NOT NULL`)).rows[0].n).toBe(0);
});

it('sandbox test sends are validated, not delivered; bad seed lists are refused with the reason', async () => {
	const transport = createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 5000 });
	const before = sim.accepted.length;
	const results = await sendTests(payloads, ['me@acme.example'], transport, { sandbox: true });
	expect(results.map((r) => [r.status, r.http_status])).toEqual([
		['sandbox', 200],
		['sandbox', 200],
	]);
	expect(sim.accepted.length).toBe(before);
	expect(() => parseSeeds('me@acme.example, not-an-address')).toThrow(/not-an-address is not an email address/);
	expect(() => parseSeeds(Array.from({ length: 21 }, (_, i) => `s${i}@x.example`).join(','))).toThrow(/at most 20/);
	await expect(sendTests(payloads, [], transport, { sandbox: true })).rejects.toThrow(/at least one address/);
});

it('contacts in two languages: each language is its own section with its own copy and samples, and its own test send', async () => {
	const people2 = contacts(8, 'lang.example').map((c, i) => ({ ...c, language: i % 2 ? 'es' : 'en' }));
	const built = buildEmailPayloads(parseCampaign(campaignInput({ id: 'preview-lang', postalAddress: 'Acme Inc., 1 Main St' } as never)), people2, 'run_preview_lang', { step: 1 });
	// The copy each language would get (as Generate Email Copy writes it per language).
	const withCopy = built.map((p) => ({ ...p, copy: { ...p.copy!, subject: p.language === 'es' ? 'Hola {{first_name|amigo}}' : 'Hi {{first_name|there}}' } }));
	expect(new Set(withCopy.map((p) => p.language))).toEqual(new Set(['en', 'es']));
	const samples = previewSamples(withCopy, { samples: 10 });
	expect(samples.filter((s) => s.language === 'es').map((s) => s.contact).sort()).toEqual(people2.filter((c) => c.language === 'es').map((c) => c.email).sort());
	for (const s of samples) expect(s.subject.startsWith(s.language === 'es' ? 'Hola ' : 'Hi ')).toBe(true);
	const page = previewPage(samples, previewFindings(withCopy, true));
	expect(page).toContain('<section data-step="1" data-variant="A" data-language="es">');
	expect(page).toContain('<section data-step="1" data-variant="A" data-language="en">');
	sim.reset();
	const tests = await sendTests(withCopy, ['qa@acme.example'], createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 5000 }), { sandbox: false });
	expect(tests.map((t) => `${t.variant} ${t.language} ${t.status}`).sort()).toEqual(['A en sent', 'A es sent']);
	expect(sim.accepted.map((m) => m.subject.replace(/ .*/, '')).sort()).toEqual(['[Test]', '[Test]']);
	expect(sim.accepted.map((m) => m.subject).sort()).toEqual(['[Test] Hi User0', '[Test] Hola User1']);
});
