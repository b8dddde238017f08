/** Create API Key: a key for one client of the campaign API, shown once (only its hash is stored). */
import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { createApiKey } from '../../../lib/api/apiKeys';
import { campaignStore } from '../../shared/context';
import { perItem } from '../../shared/items';
import { actorRef, readActor } from './common';
import { keySettings } from './listApiKeys.operation';

const properties: INodeProperties[] = [
	{
		displayName: 'Key Name',
		name: 'keyName',
		type: 'string',
		required: true,
		default: '',
		placeholder: 'e.g. CRM sync',
		description: 'Who or what the key is for; shown in lists of keys',
	},
	{
		displayName: 'Scopes',
		name: 'scopes',
		type: 'multiOptions',
		options: [
			{ name: 'Read Stats', value: 'stats', description: 'Read campaign stats (a Campaign API Guard set to Request: Read Stats)' },
			{ name: 'Start Campaigns', value: 'start', description: 'Start campaign runs (a Campaign API Guard set to Request: Start Campaign)' },
		],
		default: ['start'],
		description: 'What the key may do; a call outside its scopes is refused with 403',
	},
	{
		displayName: 'Allowed Campaigns',
		name: 'allowedCampaigns',
		type: 'string',
		default: '*',
		placeholder: 'e.g. spring-2026, newsletter-*',
		description: 'Campaign IDs this key may use, separated by commas; an entry ending in * allows every ID starting with what comes before it; * alone allows every campaign',
		hint: 'Other campaigns are refused with 403',
	},
	{
		displayName: 'Requests per Minute',
		name: 'keyPerMinute',
		type: 'number',
		typeOptions: { minValue: 1, maxValue: 100000 },
		default: 60,
		description: "This key's own rate limit; calls over it are refused with 429 and retry_after",
	},
	actorRef('createdBy', 'Created By'),
];

export const description = updateDisplayOptions({ show: { operation: ['createApiKey'] } }, properties);

/** One key per input item; the key itself is in the output once, with the notice that it will not be shown again. */
export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	return await perItem(this, async (i) => {
		const created = await createApiKey(store, {
			name: this.getNodeParameter('keyName', i, '') as string,
			scopes: this.getNodeParameter('scopes', i, ['start']),
			campaigns: this.getNodeParameter('allowedCampaigns', i, '*') as string,
			perMinute: this.getNodeParameter('keyPerMinute', i, 60) as number,
			createdBy: readActor(this, 'createdBy', i),
		});
		return { api_key: created.apiKey, notice: created.notice, ...keySettings(created.key) } as IDataObject;
	});
}
