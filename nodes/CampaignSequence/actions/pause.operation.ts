/** Pause: every send of the campaign stops at its next claim (sequences, the agent, the stage nodes, any worker) until it is resumed. */
import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { NodeOperationError, updateDisplayOptions } from 'n8n-workflow';
import { pauseCampaign } from '../../../lib/guard/holds';
import { campaignExists } from '../../../lib/store';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';
import { actorRef, campaignRef, readActor, requireCampaignRef } from './common';

const properties: INodeProperties[] = [
	campaignRef,
	{ displayName: 'Reason', name: 'pauseReason', type: 'string', default: '', placeholder: 'e.g. wrong offer in step 2', description: 'Shown with the pause in run outputs and on the dashboard' },
	actorRef('pausedBy', 'Paused By'),
];

export const description = updateDisplayOptions({ show: { operation: ['pause'] } }, properties);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	const ref = requireCampaignRef(this);
	if (!(await campaignExists(store, ref))) throw new NodeOperationError(this.getNode(), `No campaign "${ref}" in the campaign store — check Campaign ID (campaigns are stored when they are first sent or enrolled)`);
	const reason = String(this.getNodeParameter('pauseReason', 0, '') ?? '').trim().slice(0, 500) || 'paused by a user';
	const { hold, already } = await pauseCampaign(store, ref, readActor(this, 'pausedBy'), reason);
	return toItems([{ campaign_id: ref, status: 'paused', already_paused: already, hold }]);
}
