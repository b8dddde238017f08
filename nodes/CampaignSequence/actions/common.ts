/** Parameters several Campaign Sequence operations show, beside the code that reads them. */
import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { CampaignInputError } from '../../../lib/schemas';

export const campaignRef: INodeProperties = {
	displayName: 'Campaign ID',
	name: 'campaignRef',
	type: 'string',
	default: '',
	description: 'For Send Due Steps: leave empty to send every campaign\'s due steps',
};

export const asOf: INodeProperties = {
	displayName: 'As Of',
	name: 'asOf',
	type: 'dateTime',
	default: '',
	description: 'The time to act at; empty = now. Set it to rehearse a schedule.',
};

/** Campaign ID, trimmed; empty when none is set. */
export function readCampaignRef(ctx: IExecuteFunctions, i = 0): string {
	return (ctx.getNodeParameter('campaignRef', i, '') as string).trim();
}

/** Campaign ID for the operations that act on one sequence. */
export function requireCampaignRef(ctx: IExecuteFunctions, i = 0): string {
	const ref = readCampaignRef(ctx, i);
	if (!ref) throw new CampaignInputError('Set Campaign ID: which sequence should this act on?', 'campaignRef').atItem(i);
	return ref;
}

/** As Of in epoch milliseconds; now when empty. */
export function readAsOf(ctx: IExecuteFunctions, i = 0): number {
	const raw = ctx.getNodeParameter('asOf', i, '') as string;
	const now = raw ? Date.parse(raw) : Date.now();
	if (Number.isNaN(now)) throw new CampaignInputError(`"As Of" is not a date: ${raw}`, 'asOf', 'Give a date and time (ISO 8601, e.g. 2025-03-01T09:00:00Z), or leave As Of empty for now').atItem(i);
	return now;
}

/** Who acted (Paused By, Resumed By): the name given, else the workflow and execution that did it. */
export const actorRef = (name: 'pausedBy' | 'resumedBy', label: string): INodeProperties => ({
	displayName: label,
	name,
	type: 'string',
	default: '',
	placeholder: 'e.g. jane@acme.example',
	description: 'Recorded in the campaign store with the time. Empty: the workflow and execution that ran this.',
});

export function readActor(ctx: IExecuteFunctions, name: 'pausedBy' | 'resumedBy', i = 0): string {
	const given = String(ctx.getNodeParameter(name, i, '') ?? '').trim();
	if (given) return given.slice(0, 200);
	const workflow = ctx.getWorkflow();
	return `workflow "${workflow.name ?? workflow.id ?? '?'}" (execution ${ctx.getExecutionId() ?? '?'})`;
}
