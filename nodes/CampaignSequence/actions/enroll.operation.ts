/** Enroll Contacts: add contacts to a campaign's sequence; existing ones keep their place. */
import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { enrollContacts } from '../../../lib/sequences/enrollments';
import { loadCampaignContent } from '../../../lib/stages/loadCampaignContent';
import { campaignFromParameters, campaignProperties } from '../../shared/campaignFields';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';
import { contactSourceProperties } from '../../shared/properties';
import { readContactSource } from '../../shared/readers';
import { asOf, readAsOf } from './common';

const properties: INodeProperties[] = [
	...campaignProperties,
	...contactSourceProperties,
	{
		displayName: 'Time Zone Field',
		name: 'timezoneField',
		type: 'string',
		default: 'timezone',
		description: "Contact field holding an IANA time zone (e.g. Europe/Berlin); steps are timed in the contact's zone",
	},
	asOf,
];

export const description = updateDisplayOptions({ show: { operation: ['enroll'] } }, properties);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	const now = readAsOf(this);
	const loaded = await loadCampaignContent({ campaign: campaignFromParameters(this, 0), contacts: await readContactSource(this, this.getInputData(), store) }, { store });
	const enrolled = await enrollContacts(store, loaded.campaign, loaded.contacts, now, this.getNodeParameter('timezoneField', 0, 'timezone') as string);
	return toItems([{ campaign_id: loaded.campaign.id, ...enrolled, invalid: loaded.invalid.length, invalid_rows: loaded.invalid.slice(0, 100) }]);
}
