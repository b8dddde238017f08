/**
 * Checks a workflow template against this package's own nodes: every parameter a template sets on
 * one of them exists in that node's `description.properties`, and every fixed choice (options,
 * multiOptions, a collection's options, booleans, numbers) is one the node offers. n8n drops a
 * misspelt parameter without a word, so the template builder runs this before writing anything.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { INodeProperties, INodeType } from 'n8n-workflow';

const ROOT = join(__dirname, '..', '..');
export const PKG = 'n8n-nodes-email-campaign-agent';

/** What the checker reads of a workflow: its nodes' names, types and parameters. */
export interface CheckedWorkflow {
	nodes: Array<{ name: string; type: string; parameters?: Record<string, unknown> }>;
}

let loaded: Map<string, INodeType> | undefined;

/**
 * The package's node types, by their n8n type name, loaded from nodes/<Dir>/<Dir>.node.ts (a folder
 * without such a file, like nodes/shared, is skipped; a node file that fails to load throws).
 */
export function nodeTypes(): Map<string, INodeType> {
	if (loaded) return loaded;
	const out = new Map<string, INodeType>();
	for (const dir of readdirSync(join(ROOT, 'nodes'))) {
		const file = join(ROOT, 'nodes', dir, `${dir}.node.ts`);
		if (!existsSync(file)) continue;
		// eslint-disable-next-line @typescript-eslint/no-require-imports -- each node's TypeScript source by path, synchronously (tsx)
		const mod = require(file) as Record<string, (new () => INodeType) | undefined>;
		const Type = mod[dir];
		if (!Type) throw new Error(`${file} does not export a class named ${dir}`);
		const t = new Type();
		out.set(`${PKG}.${t.description.name}`, t);
	}
	loaded = out;
	return out;
}

const isExpression = (v: unknown) => typeof v === 'string' && v.startsWith('=');
const at = (where: string, name: string) => (where ? `${where}.${name}` : name);

/** Problems with `value` set for the properties `props` (a node's, or a collection's options); `where` prefixes each. */
export function parameterProblems(where: string, value: Record<string, unknown>, props: INodeProperties[]): string[] {
	const problems: string[] = [];
	for (const [name, v] of Object.entries(value)) {
		const candidates = props.filter((p) => p.name === name);
		if (candidates.length === 0) {
			problems.push(`${at(where, name)}: no such parameter (the node has ${[...new Set(props.map((p) => p.name))].join(', ')})`);
			continue;
		}
		if (isExpression(v)) continue;
		// A name can be declared several times under different displayOptions: any one of them may fit.
		const each = candidates.map((p) => propertyProblems(at(where, name), v, p));
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

/**
 * Problems with the parameters a workflow sets on this package's nodes, one line each naming the
 * node and the parameter. Nodes of other packages (n8n-nodes-base...) are not checked.
 */
export function templateProblems(workflow: CheckedWorkflow, types: Map<string, INodeType> = nodeTypes()): string[] {
	const problems: string[] = [];
	for (const n of workflow.nodes) {
		if (!n.type.startsWith(`${PKG}.`)) continue;
		const t = types.get(n.type);
		if (!t) {
			problems.push(`node "${n.name}": unknown node type ${n.type}`);
			continue;
		}
		for (const p of parameterProblems('', n.parameters ?? {}, t.description.properties)) problems.push(`node "${n.name}" (${n.type}), parameter ${p}`);
	}
	return problems;
}
