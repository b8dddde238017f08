/**
 * Errors to Sentry in a real n8n (issue 24): workflows/campaign-error-report.json, published, is the
 * Error Workflow of a live campaign pipeline started by a Webhook (n8n calls error workflows only for
 * executions that did not start in the editor: a published trigger's are such). SendGrid answers 401
 * to the campaign's key, the execution fails at Send Email, n8n runs the error workflow, and the
 * loopback Sentry endpoint receives exactly one event tagged with the campaign, run, step, node,
 * workflow and execution — and neither the SendGrid key nor any contact's address anywhere in it.
 */
import { eventually, livePipeline, node, template, useN8nRig, type Workflow } from './helpers';
import { SentrySimulator } from '../simulators/sentryServer';

jest.setTimeout(20 * 60_000);

const e2e = useN8nRig();
const sentry = new SentrySimulator();
beforeAll(() => sentry.start());
afterAll(() => sentry.stop());

const WRONG_KEY = 'SG.e2e-refused-key.Zq8sVb3nKw0pLmT4rXy7';
const CONTACTS = ['email,first_name', 'ada.sentry@example.com,Ada', 'grace.sentry@example.org,Grace', 'linus.sentry@example.net,Linus'].join('\n');

/** The live pipeline with its manual trigger replaced by a POST Webhook, and an error workflow. */
function campaignOnWebhook(errorWorkflow: string): Workflow {
	const wf = livePipeline('e2eSentryCampaign', 'Sentry e2e campaign', 'sentry-e2e-campaign', CONTACTS);
	const start = node(wf, 'Start');
	Object.assign(start, { type: 'n8n-nodes-base.webhook', typeVersion: 2.1, parameters: { httpMethod: 'POST', path: 'e2e-sentry-campaign', options: {} }, webhookId: '0c0ffee0-0000-4000-8000-00000000e224' });
	return { ...wf, settings: { ...(wf.settings as object), errorWorkflow } };
}

it('a campaign run refused by SendGrid (401) becomes one Sentry event with its tags, and no secret or address', async () => {
	const { n8n, r } = e2e;
	const sentryCred = { id: await n8n.createCredential('campaignSentryApi', 'Sentry (loopback)', { dsn: sentry.dsn(), environment: 'e2e', release: 'campaigns@e2e' }), name: 'Sentry (loopback)' };
	const wrongSg = { id: await n8n.createCredential('sendGridCampaignApi', 'SendGrid (refused key)', { ...r.sg.credential(WRONG_KEY), webhookPublicKey: '' }), name: 'SendGrid (refused key)' };

	const report = await n8n.importWorkflow(template('campaign-error-report.json'), { campaignSentryApi: sentryCred });
	await n8n.activate(report.id);
	const campaign = await n8n.importWorkflow(campaignOnWebhook(report.id), { ...r.creds, sendGridCampaignApi: wrongSg });
	await n8n.activate(campaign.id);

	const url = n8n.webhookUrl('e2e-sentry-campaign');
	const started = await eventually(async () => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status === 200, 'the campaign webhook to be live');
	expect(started).toBe(true);

	await eventually(() => sentry.events.length > 0, 'the Sentry event', 120_000);
	// The failed campaign execution, and the error workflow's own (successful) one.
	const failed = await eventually(async () => (await n8n.executions(campaign.id)).find((x) => x.status === 'error'), 'the failed campaign execution');
	await eventually(async () => (await n8n.executions(report.id)).some((x) => x.status === 'success'), 'the error workflow to finish');
	await new Promise((done) => setTimeout(done, 2000));
	expect(sentry.envelopes).toHaveLength(1);
	expect(sentry.requests.map((q) => q.status)).toEqual([200]);
	// SendGrid refused the key: nothing was accepted.
	expect(r.sg.accepted).toHaveLength(0);

	const [envelope] = sentry.envelopes;
	expect(envelope.publicKey).toBe(sentry.publicKey);
	expect(envelope.header).toMatchObject({ dsn: sentry.dsn(), event_id: expect.stringMatching(/^[0-9a-f]{32}$/) });
	const event = sentry.events[0] as { tags: Record<string, string>; extra: Record<string, unknown>; exception: { values: Array<{ value: string }> }; environment: string; release: string; level: string };
	expect(event).toMatchObject({ level: 'error', environment: 'e2e', release: 'campaigns@e2e' });
	expect(event.tags).toMatchObject({
		campaign_id: 'sentry-e2e-campaign',
		run_id: expect.any(String),
		step: '1',
		node: 'Send Email (SendGrid)',
		node_type: 'n8n-nodes-email-campaign-agent.sendEmailSendGrid',
		workflow: 'Sentry e2e campaign',
		workflow_id: campaign.id,
		execution_id: String(failed!.id),
		execution_mode: 'webhook',
		error_field: 'credentials',
		kind: 'execution_failed',
	});
	expect(event.exception.values[0].value).toMatch(/^SendGrid refused the API key \(401\)/);
	expect(event.extra.execution_url).toContain(`/workflow/${campaign.id}/executions/${failed!.id}`);

	// Nothing secret and no contact anywhere in what arrived (headers included).
	const everything = JSON.stringify(envelope);
	expect(everything).not.toContain(WRONG_KEY);
	expect(everything).not.toContain(WRONG_KEY.slice(3));
	expect(everything).not.toContain('SG.test-key');
	expect(everything).not.toMatch(/\.sentry@example/);
	expect(everything).not.toMatch(/[A-Za-z0-9._%+-]+@example\.(com|org|net)/);
});

it("a node's own Campaign Sentry API credential reports its failed run directly, also for a run no error workflow sees", async () => {
	const { n8n, r } = e2e;
	const otherKey = 'SG.e2e-second-refused.Hq2wEr5tYu8iOp1aSd4f';
	const sentryCred = { id: await n8n.createCredential('campaignSentryApi', 'Sentry (direct)', { dsn: sentry.dsn(), environment: 'e2e-direct', release: '' }), name: 'Sentry (direct)' };
	const wrongSg = { id: await n8n.createCredential('sendGridCampaignApi', 'SendGrid (second refused key)', { ...r.sg.credential(otherKey), webhookPublicKey: '' }), name: 'SendGrid (second refused key)' };
	// The same pipeline run from the CLI (no error workflow): only Send Email's own credential can report it.
	const wf = livePipeline('e2eSentryDirect', 'Sentry e2e direct', 'sentry-e2e-direct', CONTACTS);
	const { id } = await n8n.importWorkflow(wf, { ...r.creds, sendGridCampaignApi: wrongSg, campaignSentryApi: sentryCred });
	const before = sentry.envelopes.length;
	const out = await n8n.execute(id);
	expect(out.error?.message).toMatch(/SendGrid refused the API key \(401\)/);
	// The report was awaited before the execution ended: it is there as soon as the CLI is done.
	expect(sentry.envelopes).toHaveLength(before + 1);
	const envelope = sentry.envelopes.at(-1)!;
	const event = envelope.items[0].payload as { tags: Record<string, string>; environment: string };
	expect(event.environment).toBe('e2e-direct');
	expect(event.tags).toMatchObject({ campaign_id: 'sentry-e2e-direct', run_id: expect.any(String), step: '1', node: 'Send Email (SendGrid)', workflow: 'Sentry e2e direct', workflow_id: id, error_field: 'credentials', kind: 'run_failed' });
	const everything = JSON.stringify(envelope);
	expect(everything).not.toContain(otherKey.slice(3));
	expect(everything).not.toMatch(/[A-Za-z0-9._%+-]+@example\.(com|org|net)/);
});
