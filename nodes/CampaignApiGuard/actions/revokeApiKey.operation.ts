/** Revoke API Key: refused from the next call on (every call reads the key; nothing caches it). */
import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { revokeApiKey } from '../../../lib/api/apiKeys';
import { campaignStore } from '../../shared/context';
import { perItem } from '../../shared/items';
import { keyOutput } from './listApiKeys.operation';
import { actorRef, readActor } from './common';

const properties: INodeProperties[] = [
	{
		displayName: 'API Key ID',
		name: 'keyRef',
		type: 'string',
		required: true,
		default: '',
		placeholder: 'e.g. 3f9a0c12b4d7 or eca_live_3f9a0c12b4d7…',
		description: 'The ID of the key, or its prefix as List API Keys shows it',
	},
	actorRef('revokedBy', 'Revoked By'),
];

export const description = updateDisplayOptions({ show: { operation: ['revokeApiKey'] } }, properties);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	return await perItem(this, async (i) => {
		const { key, already } = await revokeApiKey(store, this.getNodeParameter('keyRef', i, '') as string, readActor(this, 'revokedBy', i));
		return { ...keyOutput(key), status: 'revoked', already_revoked: already } as IDataObject;
	});
}
