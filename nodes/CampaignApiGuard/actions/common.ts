/** Parameters the API key operations share, beside the code that reads them. */
import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';

/** Who acted (Created By, Revoked By): the name given, else the workflow and execution that did it. */
export const actorRef = (name: 'createdBy' | 'revokedBy', label: string): INodeProperties => ({
	displayName: label,
	name,
	type: 'string',
	default: '',
	placeholder: 'e.g. jane@acme.example',
	description: 'Recorded with the key in the campaign store. Empty: the workflow and execution that ran this.',
});

export function readActor(ctx: IExecuteFunctions, name: 'createdBy' | 'revokedBy', i = 0): string {
	const given = String(ctx.getNodeParameter(name, i, '') ?? '').trim();
	if (given) return given.slice(0, 200);
	const workflow = ctx.getWorkflow();
	return `workflow "${workflow.name ?? workflow.id ?? '?'}" (execution ${ctx.getExecutionId() ?? '?'})`;
}
