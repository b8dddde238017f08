/** workflows/campaign-pipeline.json in a real n8n 2.x with the package installed as a community package. */
import { Client } from 'pg';
import { N8nInstance, startN8nWithPackage } from './n8n';
import { Rig, closeRig, csv250, node, rig, template } from './helpers';
import { ensurePostgres } from '../helpers/services';

jest.setTimeout(20 * 60_000);

let n8n: N8nInstance;
let r: Rig;
beforeAll(async () => {
	await ensurePostgres();
	n8n = await startN8nWithPackage();
	r = await rig(n8n);
});
afterAll(async () => {
	await n8n?.stop();
	await closeRig(r);
});

it('runs on embedded defaults with no credentials: template copy, Dry Run, PGlite store', async () => {
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
	const wf = template('campaign-pipeline.json');
	wf.id = 'e2ePipelineLive1';
	wf.name = 'pipeline live';
	(node(wf, 'Contacts CSV').parameters.assignments as { assignments: Array<{ value: string }> }).assignments[0].value = csv250('e2e.example');
	node(wf, 'Load Campaign Content').parameters.campaignId = 'e2e-pipeline';
	node(wf, 'Generate Email Copy').parameters.copySource = 'llm';
	node(wf, 'Send Email (SendGrid)').parameters.dryRun = false;
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

	const { host, port, user, database } = r.db.connection;
	const pg = new Client({ host, port, user, database });
	await pg.connect();
	const rows = await pg.query(`SELECT count(*)::int AS n FROM eca_deliveries WHERE campaign_id = 'e2e-pipeline' AND mode = 'live' AND status = 'sent'`);
	await pg.end();
	expect(rows.rows[0].n).toBe(245);
});
