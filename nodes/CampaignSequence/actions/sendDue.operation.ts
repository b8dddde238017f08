/** Send Due Steps: run from a Schedule Trigger; sends every due step once and moves contacts on. */
import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { sendDueSteps } from '../../../lib/sequences/runner';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';
import { combinedCopyProperties, combinedDeliveryProperties } from '../../shared/properties';
import { readCombinedCopyAndDelivery } from '../../shared/readers';
import { asOf, campaignRef, readAsOf, readCampaignRef } from './common';

const properties: INodeProperties[] = [
	campaignRef,
	asOf,
	{
		displayName: 'Max Contacts per Run',
		name: 'maxContacts',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 100000,
		description: 'Due contacts handled by one run; the rest go in the next run',
	},
	{ displayName: 'Batch Size', name: 'batchSize', type: 'number', typeOptions: { minValue: 1, maxValue: 1000 }, default: 1000 },
	...combinedCopyProperties,
	...combinedDeliveryProperties,
];

export const description = updateDisplayOptions({ show: { operation: ['sendDue'] } }, properties);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	const now = readAsOf(this);
	const { copy, delivery, deps } = await readCombinedCopyAndDelivery(this, store);
	const summaries = await sendDueSteps(store, deps, {
		now,
		campaignId: readCampaignRef(this) || undefined,
		limit: this.getNodeParameter('maxContacts', 0, 100000) as number,
		batchSize: this.getNodeParameter('batchSize', 0, 1000) as number,
		copy: copy.options,
		send: delivery.options,
	});
	return toItems(summaries.length ? summaries : [{ due: 0, message: 'No sequence step is due' }]);
}
