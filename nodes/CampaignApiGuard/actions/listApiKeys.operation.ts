/** List API Keys: one item per key with its settings and use; never a secret (the store has none). */
import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { apiKeyCalls, listApiKeys, type ApiKeyInfo } from '../../../lib/api/apiKeys';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';

const properties: INodeProperties[] = [
	{ displayName: 'Include Revoked', name: 'includeRevoked', type: 'boolean', default: false, description: 'Whether revoked keys are listed too' },
	{
		displayName: 'Recent Calls per Key',
		name: 'recentCalls',
		type: 'number',
		typeOptions: { minValue: 0, maxValue: 1000 },
		default: 0,
		description: 'How many of each key\'s latest calls to add (time, scope, campaign, run ID, HTTP status); 0: only the count and the last use',
	},
];

export const description = updateDisplayOptions({ show: { operation: ['listApiKeys'] } }, properties);

/** A key's settings as items show them (Create API Key shows these with the key itself). */
export function keySettings(k: ApiKeyInfo): IDataObject {
	return {
		id: k.id,
		name: k.name,
		prefix: k.prefix,
		scopes: k.scopes,
		allowed_campaigns: k.campaigns ?? ['*'],
		rate_limit_per_minute: k.rate_limit_per_minute,
		created_by: k.created_by,
		created_at: k.created_at,
	};
}

/** A key as List API Keys shows it: its settings and its use. */
export function keyOutput(k: ApiKeyInfo): IDataObject {
	return {
		...keySettings(k),
		revoked_at: k.revoked_at,
		revoked_by: k.revoked_by,
		last_used_at: k.last_used_at,
		calls: k.calls,
	};
}

/** Runs once, whatever the number of input items. */
export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	const keys = await listApiKeys(store, { includeRevoked: this.getNodeParameter('includeRevoked', 0, false) as boolean });
	const recent = Math.max(0, Math.min(1000, Math.floor(Number(this.getNodeParameter('recentCalls', 0, 0)) || 0)));
	const out: IDataObject[] = [];
	for (const k of keys) out.push(recent ? { ...keyOutput(k), recent_calls: (await apiKeyCalls(store, k.id, recent)) as unknown as IDataObject[] } : keyOutput(k));
	return toItems(out);
}
