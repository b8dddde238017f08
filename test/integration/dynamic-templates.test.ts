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
		getNode: () => ({ id: '1', name: 'Send', type: 'test', typeVersion: 1, position: [0, 0], parameters: {} }),
	}) as unknown as ILoadOptionsFunctions;

describe('the dynamic template list (load options)', () => {
	it('every page of GET /v3/templates?generations=dynamic&page_size=200, dynamic only, inactive ones last and marked', async () => {
		for (let i = 0; i < 204; i++) sim.addTemplate({ name: `T${String(i).padStart(3, '0')}`, subject: `S${i}`, html: '<p>{{{html}}}</p>' });
		sim.addTemplate({ name: 'Old legacy', generation: 'legacy', subject: 'x', html: '<%body%>' });
		const draft = sim.addTemplate({ name: 'A draft', subject: 'd', html: 'd', active: false });
		const options = await getDynamicTemplates.call(loadOptionsContext());
		expect(options).toHaveLength(206);
		expect(options[0]).toEqual({ name: 'Spring layout', value: template.id, description: 'Subject: {{{subject}}}' });
		expect(options[1]).toEqual({ name: 'T000', value: expect.stringMatching(/^d-[0-9a-f]{32}$/), description: 'Subject: S0' });
		expect(options.at(-1)).toEqual({ name: 'A draft (no active version)', value: draft.id, description: expect.stringMatching(/active/) });
		expect(options.map((o) => o.name)).not.toContain('Old legacy');
		const pages = sim.requests.filter((r) => r.path === '/v3/templates');
		expect(pages.map((r) => r.status)).toEqual([200, 200]);
	});
});
