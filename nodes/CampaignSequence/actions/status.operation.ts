/** Get Status: counts of contacts per step, completed and stopped (with reasons), any pause with who paused or resumed it, and the campaign's runs sent with Send At. */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { holdsOf } from '../../../lib/guard/holds';
import { describeHold } from '../../../lib/guard/breaker';
import { sequenceStatus } from '../../../lib/sequences/enrollments';
import { scheduledRunsOf } from '../../../lib/store';
import { campaignStore } from '../../shared/context';
import { perItem } from '../../shared/items';
import { campaignRef, requireCampaignRef } from './common';

export const description = updateDisplayOptions({ show: { operation: ['status'] } }, [campaignRef]);

/** Per input item: its Campaign ID. */
export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	return await perItem(this, async (i) => {
		const ref = requireCampaignRef(this, i);
		const { holds, log } = await holdsOf(store, ref);
		const scheduled = (await scheduledRunsOf(store, ref)).map((r) => ({
			run_id: r.run_id,
			batch_id: r.batch_id,
			send_at: r.send_at_first === null ? null : new Date(r.send_at_first * 1000).toISOString(),
			status: r.scheduled_status ?? 'scheduled',
			by: r.scheduled_by,
		}));
		return {
			campaign_id: ref,
			status: holds.length > 0 ? 'paused' : 'active',
			paused: holds.map((h) => ({ ...h, message: describeHold(h) })),
			pause_log: log,
			enrollments: await sequenceStatus(store, ref),
			scheduled_runs: scheduled,
		} as unknown as IDataObject;
	});
}
