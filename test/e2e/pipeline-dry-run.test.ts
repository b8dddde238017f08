/** The stage pipeline template in a real n8n 2.x, on embedded defaults: no keys, template copy, Dry Run. */
import { N8nInstance, startN8nWithPackage } from './n8n';
import { ensurePostgres } from '../helpers/services';

jest.setTimeout(20 * 60_000);

let n8n: N8nInstance;
beforeAll(async () => {
	await ensurePostgres();
	n8n = await startN8nWithPackage();
});
afterAll(async () => n8n?.stop());

it('runs workflows/campaign-pipeline.json end to end with no credentials', async () => {
	const { id } = await n8n.importWorkflow('workflows/campaign-pipeline.json');
	const r = await n8n.execute(id);
	expect(r.error).toBeUndefined();
	const [valid, invalid] = r.nodes['Load Campaign Content'];
	expect(valid).toHaveLength(3);
	expect(invalid).toEqual([expect.objectContaining({ row: 5, email: 'not-an-address', reason: '"not-an-address" is not a valid email address' })]);
	const [summary] = r.nodes['Log Campaign Result'][0];
	expect(summary).toMatchObject({ campaign_id: 'spring-launch', recipients: 3, dry_run: 3, sent: 0, store: 'pglite' });
	const [batch] = r.nodes['Generate Email Copy'][0];
	expect(batch).toMatchObject({ copy: { source: 'template', subject: 'Hi {{first_name|there}}, our spring sale is on' } });
});
