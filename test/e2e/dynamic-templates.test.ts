/**
 * A step sent in a SendGrid dynamic template, in a real n8n 2.x (issue 17): the template list the
 * editor shows comes from the account (n8n's own load-options endpoint, answered by the node's
 * getDynamicTemplates through the simulator); the pipeline template with the picked template sends
 * every contact once, each message rendered in the template with that contact's data; and the
 * preview template shows the same step rendered in the template.
 */
import { livePipeline, node, setContacts, template, useN8nRig, withUnsubscribe } from './helpers';
import { deliveryStatuses } from '../helpers/tally';

jest.setTimeout(20 * 60_000);

const e2e = useN8nRig();
const csv = ['email,first_name,company', ...Array.from({ length: 240 }, (_, i) => `person${i}@tpl.example,P${i},${i % 3 === 0 ? `Co <${i}>` : ''}`)].join('\n');

it('the template list from the account, a 240-contact pipeline sent in the picked template, and its preview rendered in it', async () => {
	const { n8n, r, q } = e2e;
	const layout = r.sg.addTemplate({
		name: 'Newsletter layout',
		subject: '{{{subject}}}',
		html: '<html><body><header>ACME NEWS</header>{{#if company}}<p>Hello {{company}} team</p>{{/if}}{{{html}}}<footer>{{postal_address}}</footer></body></html>',
		text: '{{{text}}}',
	});
	r.sg.addTemplate({ name: 'Draft layout', subject: 'x', html: 'x', active: false });

	const wf = livePipeline('e2eDynTemplate1', 'dynamic template pipeline', 'e2e-dyn-template', csv);
	const load = node(wf, 'Load Campaign Content');
	load.parameters.campaignOptions = { ...(load.parameters.campaignOptions as object), postalAddress: '1 Main St, Springfield' };

	// What the editor's dropdown gets: n8n's load-options endpoint runs the node's method with the node's SendGrid credential.
	type Option = { name: string; value: string; description?: string };
	const ask = (credentials?: Record<string, unknown>) =>
		n8n.rest<Option[]>('POST', '/dynamic-node-parameters/options', {
			nodeTypeAndVersion: { name: 'n8n-nodes-email-campaign-agent.loadCampaignContent', version: 1 },
			path: 'dynamicTemplate',
			methodName: 'getDynamicTemplates',
			currentNodeParameters: load.parameters,
			credentials,
		});
	const options = await ask({ sendGridCampaignApi: r.creds.sendGridCampaignApi });
	expect(options.map((o) => o.name)).toEqual(['None (Inline Copy)', 'Newsletter layout', 'Draft layout (no active version)']);
	expect(options[1]).toMatchObject({ value: layout.id, description: 'Subject: {{{subject}}}' });
	expect(r.sg.requests.filter((x) => x.path === '/v3/templates').map((x) => x.status)).toEqual([200]);
	// Without a credential the dropdown shows what to do, and SendGrid is not asked.
	await expect(ask()).rejects.toThrow(/Select a SendGrid credential on this node/);

	load.parameters.dynamicTemplate = options[1].value;
	const { id } = await n8n.importWorkflow(wf, r.creds);
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();

	const sends = r.sg.requests.filter((x) => x.path === '/v3/mail/send');
	expect(sends.map((x) => x.status)).toEqual([202]);
	expect(r.sg.accepted).toHaveLength(240);
	expect(r.sg.duplicateRecipients()).toEqual([]);
	expect(r.sg.accepted.every((m) => m.templateId === layout.id)).toBe(true);
	const withCompany = r.sg.deliveriesTo('person3@tpl.example')[0];
	expect(withCompany.html).toMatch(/^<html><body><header>ACME NEWS<\/header><p>Hello Co &lt;3&gt; team<\/p>.*<footer>1 Main St, Springfield<\/footer><\/body><\/html>$/s);
	expect(withCompany.subject).not.toBe('');
	expect(withCompany.headers['List-Unsubscribe']).toMatch(/^<https:\/\/unsubscribe\.example\/u\?/);
	expect(r.sg.deliveriesTo('person4@tpl.example')[0].html).not.toContain('team</p>');
	expect((await deliveryStatuses(q, 'e2e-dyn-template', { mode: 'live' })).sent).toBe(240);

	// The preview template, same campaign fields and template: the page shows the step in the template's layout.
	const preview = setContacts({ ...template('campaign-preview.json'), id: 'e2eDynTemplatePreview', name: 'dynamic template preview' }, csv);
	const previewLoad = withUnsubscribe(node(preview, 'Load Campaign Content'));
	Object.assign(previewLoad.parameters, { campaignId: 'e2e-dyn-template-preview', dynamicTemplate: layout.id });
	const imported = await n8n.importWorkflow(preview, r.creds);
	const shown = await n8n.execute(imported.id);
	expect(shown.error).toBeUndefined();
	const page = (shown.nodes['Campaign Preview'][0] as Array<{ html: string }>)[0].html;
	expect(page).toContain('in template Newsletter layout');
	expect(page).toContain('&lt;header&gt;ACME NEWS&lt;/header&gt;&lt;p&gt;Hello Co &amp;lt;0&amp;gt; team&lt;/p&gt;');
	expect(r.sg.accepted).toHaveLength(240);
});
