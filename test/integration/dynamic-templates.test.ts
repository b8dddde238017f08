/**
 * A campaign step sent with a SendGrid dynamic template, through the simulator over HTTP and the
 * campaign store (issue 17): every recipient accepted exactly once, one request per 1,000, each
 * message rendered from the template with that recipient's data, and a re-run sends nothing; and the
 * list of the account's dynamic templates a step's template is picked from (load options).
 */
import { SendGridSimulator, type TransactionalTemplate } from '../simulators/sendgridServer';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import type { CampaignStore } from '../../lib/store';
import type { ILoadOptionsFunctions } from 'n8n-workflow';
import { getDynamicTemplates } from '../../nodes/shared/sendGridLists';
import { campaignInput, contacts } from '../helpers/fixtures';
import { useSimulatorAndStore } from '../helpers/simulatorStore';
import { loadTemplateVersions, previewPage, previewSamples } from '../../lib/preview/preview';

jest.setTimeout(180_000);

let sim: SendGridSimulator;
let store: CampaignStore;
let template: TransactionalTemplate;
const env = useSimulatorAndStore();
beforeAll(() => {
	({ sim, store } = env);
	template = sim.addTemplate({
		name: 'Spring layout',
		subject: '{{{subject}}}',
		html: '<html><body><h1>Acme</h1>{{#if company}}<p>For {{company}}</p>{{/if}}{{{html}}}<small>{{postal_address}}</small></body></html>',
		text: '{{{text}}}',
	});
});
beforeEach(() => sim.reset());

const transport = () => createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 5000 });
const payloadsFor = (id: string, n: number, templateId: string) => {
	const people = contacts(n, `${id}.example`).map((c, i) => (i % 2 ? { ...c, company: `Co <${i}>` } : c));
	return buildEmailPayloads(
		parseCampaign(
			campaignInput({
				id,
				unsubscribeUrl: 'https://acme.example/unsub',
				postalAddress: '1 Main St, Springfield',
				steps: [{ step: 1, delayHours: 0, templateId, subject: 'Hi {{first_name|there}}, spring deals', text: 'Hello {{first_name|there}}, 20% off.', html: '<p>Hello {{first_name|there}}</p>' }],
			} as never),
		),
		people,
		`run-${id}`,
		{ step: 1 },
	);
};

describe('a template-based step through the simulator', () => {
	it('2,500 recipients: each accepted once in 3 requests, rendered with their own data; a re-run sends nothing', async () => {
		const payloads = payloadsFor('tpl', 2500, template.id);
		const out = await sendEmailWithSendgrid(payloads, { transport: transport(), store });
		expect(out.flatMap((b) => b.results).every((r) => r.status === 'sent' && r.message_id)).toBe(true);
		const sends = sim.requests.filter((r) => r.path === '/v3/mail/send');
		expect(sends.every((r) => r.status === 202)).toBe(true);
		expect(sends.map((r) => r.recipients).sort((a, b) => a - b)).toEqual([500, 1000, 1000]);
		expect(sim.accepted).toHaveLength(2500);
		expect(sim.duplicateRecipients()).toEqual([]);
		expect(sim.accepted.every((m) => m.templateId === template.id)).toBe(true);

		const even = sim.deliveriesTo('user8@tpl.example')[0];
		expect(even.subject).toBe('Hi User8, spring deals');
		expect(even.html).toContain('<h1>Acme</h1><p>Hello User8</p>');
		expect(even.html).not.toContain('For ');
		expect(even.text).toMatch(/^Hello User8, 20% off\.\n\n--\n1 Main St, Springfield\nUnsubscribe: https:\/\/acme\.example\/unsub\?/);
		const odd = sim.deliveriesTo('user7@tpl.example')[0];
		// The template's {{company}} escapes the contact's value; the package did not escape it twice.
		expect(odd.html).toContain('<p>For Co &lt;7&gt;</p><p>Hello User7</p>');
		expect(odd.html).toContain('<small>1 Main St, Springfield</small>');
		const link = odd.headers['List-Unsubscribe'].slice(1, -1);
		expect(odd.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
		expect(odd.html).toContain(`href="${link.replace(/&/g, '&amp;')}"`);
		expect(odd.customArgs).toEqual({ campaign_id: 'tpl', run_id: 'run-tpl', step: '1', variant: 'A', delivery_id: expect.any(String) });

		sim.reset();
		const again = await sendEmailWithSendgrid(payloadsFor('tpl', 2500, template.id), { transport: transport(), store });
		expect(again.flatMap((b) => b.results).filter((r) => r.status === 'sent' && r.message_id)).toHaveLength(0);
		expect(sim.accepted).toHaveLength(0);
	});

	it('a template the account does not have: SendGrid refuses the request, the run stops naming template_id, nobody is sent', async () => {
		await expect(sendEmailWithSendgrid(payloadsFor('tplmissing', 3, 'd-ffffffffffffffffffffffffffffffff'), { transport: transport(), store })).rejects.toThrow(
			/refused the whole request \(400\): template_id: .*nobody was sent/,
		);
		expect(sim.requests.filter((r) => r.path === '/v3/mail/send').map((r) => r.status)).toEqual([400]);
		expect(sim.accepted).toHaveLength(0);
	});
});

/** n8n's load-options context as far as the list uses it: the node's SendGrid credential. */
const loadOptionsContext = () =>
	({
		getCredentials: async () => sim.credential(),
		getNode: () => ({ id: '1', name: 'Send', type: 'test', typeVersion: 1, position: [0, 0], parameters: {}, credentials: withCredential ? { sendGridCampaignApi: { id: '1', name: 'SendGrid' } } : undefined }),
	}) as unknown as ILoadOptionsFunctions;
let withCredential = true;

describe('the dynamic template list (load options)', () => {
	it('every page of GET /v3/templates?generations=dynamic&page_size=200, dynamic only, inactive ones last and marked', async () => {
		for (let i = 0; i < 204; i++) sim.addTemplate({ name: `T${String(i).padStart(3, '0')}`, subject: `S${i}`, html: '<p>{{{html}}}</p>' });
		sim.addTemplate({ name: 'Old legacy', generation: 'legacy', subject: 'x', html: '<%body%>' });
		const draft = sim.addTemplate({ name: 'A draft', subject: 'd', html: 'd', active: false });
		const options = await getDynamicTemplates.call(loadOptionsContext());
		expect(options).toHaveLength(207);
		expect(options[0]).toEqual({ name: 'None (Inline Copy)', value: '', description: expect.stringMatching(/no SendGrid template/) });
		expect(options[1]).toEqual({ name: 'Spring layout', value: template.id, description: 'Subject: {{{subject}}}' });
		expect(options[2]).toEqual({ name: 'T000', value: expect.stringMatching(/^d-[0-9a-f]{32}$/), description: 'Subject: S0' });
		expect(options.at(-1)).toEqual({ name: 'A draft (no active version)', value: draft.id, description: expect.stringMatching(/active/) });
		expect(options.map((o) => o.name)).not.toContain('Old legacy');
		const pages = sim.requests.filter((r) => r.path === '/v3/templates');
		expect(pages.map((r) => r.status)).toEqual([200, 200]);
	});

	it('a node without a SendGrid credential: the list says to select one (or type an ID), and asks SendGrid nothing', async () => {
		withCredential = false;
		try {
			await expect(getDynamicTemplates.call(loadOptionsContext())).rejects.toThrow(/Select a SendGrid credential on this node .*template ID \(d-…\)/);
			expect(sim.requests.filter((r) => r.path === '/v3/templates')).toHaveLength(0);
		} finally {
			withCredential = true;
		}
	});
});

describe('the preview of a template step (Campaign Preview)', () => {
	it('renders each sample in the active version with its own data, as the simulator delivers it; an unknown template and a missing credential say so', async () => {
		const payloads = payloadsFor('tplpreview', 8, template.id);
		const versions = await loadTemplateVersions(payloads, transport());
		expect(sim.requests.filter((r) => r.path.startsWith('/v3/templates/')).map((r) => r.status)).toEqual([200]);
		const samples = previewSamples(payloads, { samples: 8, templates: versions });
		const odd = samples.find((s) => s.contact === 'user7@tplpreview.example')!;
		expect(odd.template).toEqual({ id: template.id, name: 'Spring layout', version: template.versions[0].id, rendered: true });
		expect(odd.subject).toBe('Hi User7, spring deals');
		expect(odd.html).toContain('<h1>Acme</h1><p>For Co &lt;7&gt;</p><p>Hello User7</p>');
		expect(odd.template_data).toMatchObject({ email: 'user7@tplpreview.example', company: 'Co <7>', subject: 'Hi User7, spring deals' });
		expect(odd.refused).toBeUndefined();

		// What the preview shows is what SendGrid (here: the simulator's renderer) delivers, up to the signed unsubscribe link.
		await sendEmailWithSendgrid(payloads, { transport: transport(), store });
		const unlink = (h: string) => h.replace(/https:\/\/acme\.example\/unsub\?[^"\s<]*/g, 'LINK');
		for (const s of samples) {
			const got = sim.deliveriesTo(s.contact)[0];
			expect(unlink(s.html)).toBe(unlink(got.html!));
			expect(s.subject).toBe(got.subject);
		}

		const unknown = payloadsFor('tplunknown', 2, 'd-ffffffffffffffffffffffffffffffff');
		const none = previewSamples(unknown, { templates: await loadTemplateVersions(unknown, transport()) });
		expect(none[0].template).toMatchObject({ id: 'd-ffffffffffffffffffffffffffffffff', rendered: false, note: expect.stringMatching(/Not rendered in the template: .*404|not found/i) });
		expect(none[0].subject).toBe('Hi User0, spring deals');

		const noCredential = previewSamples(payloads, { samples: 1 });
		expect(noCredential[0].template).toMatchObject({ rendered: false, note: expect.stringMatching(/select a SendGrid credential/) });
		expect(previewPage(noCredential, [])).toContain('not rendered');
	});

	it('a version using a helper SendGrid does not have is reported per sample, not thrown; one with no active version is named', async () => {
		const odd = sim.addTemplate({ name: 'Odd helpers', subject: '{{subject}}', html: '<p>{{shout subject}}</p>' });
		const draft = sim.addTemplate({ name: 'Draft only', subject: 's', html: 'h', active: false });
		const a = payloadsFor('tplodd', 1, odd.id);
		const b = payloadsFor('tpldraft', 1, draft.id).map((p) => ({ ...p, step: 2 }));
		const samples = previewSamples([...a, ...b], { templates: await loadTemplateVersions([...a, ...b], transport()) });
		expect(samples[0].refused).toMatch(/Template "Odd helpers" \(d-[0-9a-f]{32}\) cannot be rendered: .*shout/);
		expect(samples[1].template?.note).toMatch(/has no active version/);
	});
});
