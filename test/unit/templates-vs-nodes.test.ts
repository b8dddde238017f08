/**
 * Every parameter a template sets on one of this package's nodes exists on that node, and every
 * fixed choice (options, multiOptions, a collection's options) is one the node offers: a misspelt
 * parameter used to be dropped by n8n without a word.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { INodeProperties, INodeType } from 'n8n-workflow';

const ROOT = join(__dirname, '..', '..');
const PKG = 'n8n-nodes-email-campaign-agent';

/** The package's node types, by their n8n type name. */
function nodeTypes(): Map<string, INodeType> {
	const out = new Map<string, INodeType>();
	for (const dir of readdirSync(join(ROOT, 'nodes'))) {
		const file = join(ROOT, 'nodes', dir, `${dir}.node.ts`);
		let mod: Record<string, new () => INodeType>;
		try {
			readFileSync(file);
			mod = require(file);
		} catch {
			continue;
		}
		const Type = mod[dir];
		if (!Type) continue;
		const t = new Type();
		out.set(`${PKG}.${t.description.name}`, t);
	}
	return out;
}

const isExpression = (v: unknown) => typeof v === 'string' && v.startsWith('=');

/** Problems with `value` set for the properties `props` (a node's, or a collection's options). */
export function parameterProblems(where: string, value: Record<string, unknown>, props: INodeProperties[]): string[] {
	const problems: string[] = [];
	for (const [name, v] of Object.entries(value)) {
		const candidates = props.filter((p) => p.name === name);
		if (candidates.length === 0) {
			problems.push(`${where}.${name}: no such parameter (the node has ${[...new Set(props.map((p) => p.name))].join(', ')})`);
			continue;
		}
		if (isExpression(v)) continue;
		// A name can be declared several times under different displayOptions: any one of them may fit.
		const each = candidates.map((p) => propertyProblems(`${where}.${name}`, v, p));
		if (each.every((x) => x.length > 0)) problems.push(...each[0]);
	}
	return problems;
}

function propertyProblems(where: string, v: unknown, p: INodeProperties): string[] {
	const choices = (p.options ?? []) as Array<{ value?: unknown; name: string }>;
	if (p.type === 'options') return choices.some((o) => o.value === v) ? [] : [`${where}: "${String(v)}" is not one of ${choices.map((o) => JSON.stringify(o.value)).join(', ')}`];
	if (p.type === 'multiOptions')
		return Array.isArray(v) ? v.filter((x) => !isExpression(x) && !choices.some((o) => o.value === x)).map((x) => `${where}: "${String(x)}" is not one of its choices`) : [`${where}: must be a list`];
	if (p.type === 'collection' && v && typeof v === 'object') return parameterProblems(where, v as Record<string, unknown>, p.options as INodeProperties[]);
	if (p.type === 'boolean' && typeof v !== 'boolean') return [`${where}: must be true or false`];
	if (p.type === 'number' && typeof v !== 'number') return [`${where}: must be a number`];
	return [];
}

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
		const wf = JSON.parse(readFileSync(join(ROOT, 'workflows', file), 'utf8')) as { nodes: Array<{ name: string; type: string; parameters: Record<string, unknown> }> };
		const problems: string[] = [];
		for (const n of wf.nodes) {
			if (!n.type.startsWith(`${PKG}.`)) continue;
			const t = types.get(n.type);
			if (!t) {
				problems.push(`${n.name}: unknown node type ${n.type}`);
				continue;
			}
			problems.push(...parameterProblems(n.name, n.parameters ?? {}, t.description.properties));
		}
		expect(problems).toEqual([]);
	});

	it('would catch a misspelt parameter, a wrong choice and a wrong option inside a collection', () => {
		const trigger = types.get(`${PKG}.sendGridTrigger`)!;
		expect(parameterProblems('t', { registraton: 'auto' }, trigger.description.properties)).toEqual([expect.stringMatching(/t\.registraton: no such parameter/)]);
		expect(parameterProblems('t', { registration: 'automatic' }, trigger.description.properties)).toEqual([expect.stringMatching(/"automatic" is not one of/)]);
		expect(parameterProblems('t', { options: { readRawBytes: true } }, trigger.description.properties)).toEqual([expect.stringMatching(/t\.options\.readRawBytes: no such parameter/)]);
		expect(parameterProblems('t', { events: ['open', 'opened'] }, trigger.description.properties)).toEqual([expect.stringMatching(/"opened" is not one of/)]);
	});
});
