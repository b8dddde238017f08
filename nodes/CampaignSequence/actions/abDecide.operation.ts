/** Pick A/B Winner: decide now from the clicks or opens so far (Send Due Steps also decides once the wait is over). */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError, updateDisplayOptions } from 'n8n-workflow';
import { decideAbTest } from '../../../lib/ab/decide';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';
import { asOf, campaignRef, readAsOf, requireCampaignRef } from './common';

export const description = updateDisplayOptions({ show: { operation: ['abDecide'] } }, [
	campaignRef,
	{ displayName: 'Step', name: 'abStep', type: 'number', default: 1 },
	asOf,
]);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	// Checked like the other operations' As Of, though deciding now does not depend on the time.
	readAsOf(this);
	const ref = requireCampaignRef(this);
	const campaign = await store.getCampaign(ref);
	if (!campaign) throw new NodeOperationError(this.getNode(), `No campaign "${ref}" in the campaign store`);
	// A decision already recorded with a variant to send stands; otherwise the wait counts as over.
	return toItems([await decideAbTest(store, campaign, this.getNodeParameter('abStep', 0, 1) as number, Number.POSITIVE_INFINITY)]);
}
