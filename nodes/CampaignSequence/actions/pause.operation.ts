/** Pause: the runner skips the campaign's enrollments until it is resumed. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { campaignRef, setCampaignSequenceStatus } from './common';

export const description = updateDisplayOptions({ show: { operation: ['pause'] } }, [campaignRef]);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	return await setCampaignSequenceStatus(this, 'paused');
}
