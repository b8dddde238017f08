/**
 * Every parameter a template sets on one of this package's nodes exists on that node, and every
 * fixed choice (options, multiOptions, a collection's options) is one the node offers: a misspelt
 * parameter used to be dropped by n8n without a word. The checker lives in
 * scripts/templates/nodeCheck.ts, which the template builder runs before writing.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PKG, nodeTypes, parameterProblems, templateProblems, type CheckedWorkflow } from '../../scripts/templates/nodeCheck';

const ROOT = join(__dirname, '..', '..');

describe('templates against the nodes they use', () => {
	const types = nodeTypes();
	const files = readdirSync(join(ROOT, 'workflows')).filter((f) => f.endsWith('.json'));

	it('finds every node type of the package', () => {
		// Read from nodes/ by folder name; package.json lists what n8n loads: the two must agree.
		const declared = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { n8n: { nodes: string[] } }).n8n.nodes;
		expect(declared.length).toBeGreaterThanOrEqual(10);
		expect(types.size).toBe(declared.length);
	});

	it.each(files)('%s sets only parameters and choices its nodes have', (file) => {
		const wf = JSON.parse(readFileSync(join(ROOT, 'workflows', file), 'utf8')) as CheckedWorkflow;
		const problems = templateProblems(wf, types);
		expect(problems).toEqual([]);
	});

	it('would catch a misspelt parameter, a wrong choice and a wrong option inside a collection', () => {
		const trigger = types.get(`${PKG}.sendGridTrigger`)!;
		expect(parameterProblems('t', { registraton: 'auto' }, trigger.description.properties)).toEqual([expect.stringMatching(/t\.registraton: no such parameter/)]);
		expect(parameterProblems('t', { registration: 'automatic' }, trigger.description.properties)).toEqual([expect.stringMatching(/"automatic" is not one of/)]);
		expect(parameterProblems('t', { options: { readRawBytes: true } }, trigger.description.properties)).toEqual([expect.stringMatching(/t\.options\.readRawBytes: no such parameter/)]);
		expect(parameterProblems('t', { events: ['open', 'opened'] }, trigger.description.properties)).toEqual([expect.stringMatching(/"opened" is not one of/)]);
	});

	it('would catch a boolean or a number given as text, an unknown node type, and names the node and parameter', () => {
		const wf = (type: string, parameters: Record<string, unknown>): CheckedWorkflow => ({ nodes: [{ name: 'N', type, parameters }] });
		expect(templateProblems(wf(`${PKG}.sendEmailSendGrid`, { dryRun: 'true' }), types)).toEqual([`node "N" (${PKG}.sendEmailSendGrid), parameter dryRun: must be true or false`]);
		expect(templateProblems(wf(`${PKG}.buildEmailPayload`, { batchSize: '1000' }), types)).toEqual([`node "N" (${PKG}.buildEmailPayload), parameter batchSize: must be a number`]);
		expect(templateProblems(wf(`${PKG}.sendEmailSendGird`, {}), types)).toEqual([`node "N": unknown node type ${PKG}.sendEmailSendGird`]);
		// An expression is decided at run time; other packages' nodes are not ours to check.
		expect(templateProblems(wf(`${PKG}.sendEmailSendGrid`, { dryRun: '={{ $json.dry_run !== false }}' }), types)).toEqual([]);
		expect(templateProblems(wf('n8n-nodes-base.noOp', { anything: 1 }), types)).toEqual([]);
	});
});
