/** Get Status: counts of contacts per step, completed and stopped (with reasons). */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { sequenceStatus } from '../../../lib/sequences/enrollments';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';
import { campaignRef, requireCampaignRef } from './common';

export const description = updateDisplayOptions({ show: { operation: ['status'] } }, [campaignRef]);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	const ref = requireCampaignRef(this);
	return toItems([{ campaign_id: ref, enrollments: await sequenceStatus(store, ref) }]);
}
