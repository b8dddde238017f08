/** Get Status: counts of contacts per step, completed and stopped (with reasons), and any pause with who paused or resumed it. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { holdsOf } from '../../../lib/guard/holds';
import { describeHold } from '../../../lib/guard/breaker';
import { sequenceStatus } from '../../../lib/sequences/enrollments';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';
import { campaignRef, requireCampaignRef } from './common';

export const description = updateDisplayOptions({ show: { operation: ['status'] } }, [campaignRef]);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	const ref = requireCampaignRef(this);
	const { holds, log } = await holdsOf(store, ref);
	return toItems([{ campaign_id: ref, status: holds.length > 0 ? 'paused' : 'active', paused: holds.map((h) => ({ ...h, message: describeHold(h) })), pause_log: log, enrollments: await sequenceStatus(store, ref) }]);
}
