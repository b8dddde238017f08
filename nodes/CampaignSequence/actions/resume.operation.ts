/** Resume: lifts the campaign's pause (a user's or the reputation guard's), and optionally the SendGrid account's; records who did it. */
import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { resumeSending } from '../../../lib/guard/holds';
import { campaignExists } from '../../../lib/store';
import { campaignStore } from '../../shared/context';
import { perItem } from '../../shared/items';
import { CampaignInputError } from '../../../lib/schemas';
import { actorRef, campaignRef, readActor, requireCampaignRef } from './common';

const properties: INodeProperties[] = [
	campaignRef,
	{
		displayName: 'Resume SendGrid Account',
		name: 'resumeAccount',
		type: 'boolean',
		default: false,
		description:
			"Whether to also lift the pause of the SendGrid account(s) this campaign was sent with (set when SendGrid refused the key, or when the whole account's bounces or complaints passed the limits): every campaign sent with that account resumes",
	},
	actorRef('resumedBy', 'Resumed By'),
];

export const description = updateDisplayOptions({ show: { operation: ['resume'] } }, properties);

/** Per input item: its Campaign ID, Resume SendGrid Account and Resumed By. */
export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	return await perItem(this, async (i) => {
		const ref = requireCampaignRef(this, i);
		const by = readActor(this, 'resumedBy', i);
		const resumed = await resumeSending(store, { campaignId: ref, accountsOfCampaign: this.getNodeParameter('resumeAccount', i, false) === true }, by);
		if (resumed.length === 0 && !(await campaignExists(store, ref)))
			throw new CampaignInputError(`No campaign "${ref}" in the campaign store and nothing paused under that ID — check Campaign ID`, 'campaignRef').atItem(i);
		return { campaign_id: ref, status: 'active', resumed, resumed_by: by, ...(resumed.length === 0 ? { message: 'Nothing was paused' } : {}) } as unknown as IDataObject;
	});
}
