/** Pick A/B Winner: decide now from the clicks or opens so far (Send Due Steps also decides once the wait is over). */
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { decideAbTest } from '../../../lib/ab/decide';
import { campaignStore } from '../../shared/context';
import { perItem } from '../../shared/items';
import { CampaignInputError } from '../../../lib/schemas';
import { asOf, campaignRef, readAsOf, requireCampaignRef } from './common';

export const description = updateDisplayOptions({ show: { operation: ['abDecide'] } }, [
	campaignRef,
	{ displayName: 'Step', name: 'abStep', type: 'number', default: 1 },
	asOf,
]);

/** Per input item: its Campaign ID and Step. */
export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	return await perItem(this, async (i) => {
		// Checked like the other operations' As Of, though deciding now does not depend on the time.
		readAsOf(this, i);
		const ref = requireCampaignRef(this, i);
		const campaign = await store.getCampaign(ref);
		if (!campaign) throw new CampaignInputError(`No campaign "${ref}" in the campaign store`, 'campaignRef').atItem(i);
		// A decision already recorded with a variant to send stands; otherwise the wait counts as over.
		return (await decideAbTest(store, campaign, this.getNodeParameter('abStep', i, 1) as number, Number.POSITIVE_INFINITY)) as unknown as IDataObject;
	});
}
