/** Parameters several Campaign Sequence operations show, beside the code that reads them. */
import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { setSequenceStatus } from '../../../lib/sequences/enrollments';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';

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
export function readCampaignRef(ctx: IExecuteFunctions): string {
	return (ctx.getNodeParameter('campaignRef', 0, '') as string).trim();
}

/** Campaign ID for the operations that act on one sequence. */
export function requireCampaignRef(ctx: IExecuteFunctions): string {
	const ref = readCampaignRef(ctx);
	if (!ref) throw new NodeOperationError(ctx.getNode(), 'Set Campaign ID: which sequence should this act on?');
	return ref;
}

/** As Of in epoch milliseconds; now when empty. */
export function readAsOf(ctx: IExecuteFunctions): number {
	const raw = ctx.getNodeParameter('asOf', 0, '') as string;
	const now = raw ? Date.parse(raw) : Date.now();
	if (Number.isNaN(now)) throw new NodeOperationError(ctx.getNode(), `"As Of" is not a date: ${raw}`);
	return now;
}

/** Pause and Resume: a pause is the campaign's, so the runner skips all its enrollments until it is resumed. */
export async function setCampaignSequenceStatus(ctx: IExecuteFunctions, status: 'active' | 'paused'): Promise<INodeExecutionData[]> {
	const store = await campaignStore(ctx);
	const ref = requireCampaignRef(ctx);
	if ((await setSequenceStatus(store, ref, status)) === 0)
		throw new NodeOperationError(ctx.getNode(), `No campaign "${ref}" in the campaign store — enroll contacts first`);
	return toItems([{ campaign_id: ref, status }]);
}
