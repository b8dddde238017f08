/** workflows/campaign-pipeline.json in a real n8n 2.x with the package installed as a community package. */
import { csv250, livePipeline, node, useN8nRig } from './helpers';
import { deliveryStatuses } from '../helpers/tally';

jest.setTimeout(20 * 60_000);

const e2e = useN8nRig();

it('runs on embedded defaults with no credentials: template copy, Dry Run, PGlite store', async () => {
	const { n8n, r } = e2e;
	const { id } = await n8n.importWorkflow('workflows/campaign-pipeline.json');
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();
	const [valid, invalid] = out.nodes['Load Campaign Content'];
	expect(valid).toHaveLength(3);
	expect(invalid).toEqual([expect.objectContaining({ row: 5, email: 'not-an-address', reason: '"not-an-address" is not a valid email address' })]);
	expect(out.nodes['Log Campaign Result'][0][0]).toMatchObject({ campaign_id: 'spring-launch', recipients: 3, dry_run: 3, sent: 0, store: 'pglite' });
	expect(out.nodes['Generate Email Copy'][0][0]).toMatchObject({ copy: { source: 'template' } });
	expect(r.sg.accepted).toHaveLength(0);
});

it('250 contacts (5 bad): each of the 245 gets exactly one message with the generated subject; 245 rows in the store', async () => {
	const { n8n, r, q } = e2e;
	const wf = livePipeline('e2ePipelineLive1', 'pipeline live', 'e2e-pipeline', csv250('e2e.example'));
	node(wf, 'Generate Email Copy').parameters.copySource = 'llm';
	const { id } = await n8n.importWorkflow(wf, r.creds);
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();

	const [valid, invalid] = out.nodes['Load Campaign Content'];
	expect(valid).toHaveLength(245);
	expect(invalid).toHaveLength(5);
	for (const bad of invalid) expect(bad).toMatchObject({ email: expect.stringMatching(/^broken-/), reason: expect.stringMatching(/is not a valid email address/) });
	expect(out.nodes['Invalid Rows'][0]).toHaveLength(5);

	const generated = out.nodes['Generate Email Copy'][0][0] as { copy: { subject: string; source: string } };
	expect(generated.copy.source).toBe('llm');
	expect(r.llm.calls).toBe(1);
	expect(r.sg.accepted).toHaveLength(245);
	expect(r.sg.duplicateRecipients()).toEqual([]);
	expect(new Set(r.sg.accepted.map((m) => m.to)).size).toBe(245);
	for (const m of r.sg.accepted) expect(m.subject).toBe(generated.copy.subject);
	expect(out.nodes['Log Campaign Result'][0][0]).toMatchObject({ recipients: 245, sent: 245, store: 'postgres' });
	expect((await deliveryStatuses(q, 'e2e-pipeline', { mode: 'live' })).sent).toBe(245);
});
