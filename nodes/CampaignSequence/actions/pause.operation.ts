/** Pause: every send of the campaign stops at its next claim (sequences, the agent, the stage nodes, any worker) until it is resumed. */
import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { pauseCampaign } from '../../../lib/guard/holds';
import { campaignExists } from '../../../lib/store';
import { campaignStore } from '../../shared/context';
import { perItem } from '../../shared/items';
import { CampaignInputError } from '../../../lib/schemas';
import { actorRef, campaignRef, readActor, requireCampaignRef } from './common';

const properties: INodeProperties[] = [
	campaignRef,
	{ displayName: 'Reason', name: 'pauseReason', type: 'string', default: '', placeholder: 'e.g. wrong offer in step 2', description: 'Shown with the pause in run outputs and on the dashboard' },
	actorRef('pausedBy', 'Paused By'),
];

export const description = updateDisplayOptions({ show: { operation: ['pause'] } }, properties);

/** Per input item: its Campaign ID, Reason and Paused By. */
export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	return await perItem(this, async (i) => {
		const ref = requireCampaignRef(this, i);
		if (!(await campaignExists(store, ref)))
			throw new CampaignInputError(`No campaign "${ref}" in the campaign store — check Campaign ID (campaigns are stored when they are first sent or enrolled)`, 'campaignRef').atItem(i);
		const reason = String(this.getNodeParameter('pauseReason', i, '') ?? '').trim().slice(0, 500) || 'paused by a user';
		const { hold, already } = await pauseCampaign(store, ref, readActor(this, 'pausedBy', i), reason);
		return { campaign_id: ref, status: 'paused', already_paused: already, hold } as unknown as IDataObject;
	});
}
