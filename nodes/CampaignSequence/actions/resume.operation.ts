/** Resume: a paused campaign's due steps are sent again by the next Send Due Steps. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { campaignRef, setCampaignSequenceStatus } from './common';

export const description = updateDisplayOptions({ show: { operation: ['resume'] } }, [campaignRef]);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	return await setCampaignSequenceStatus(this, 'active');
}
