import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { checkStartRequest, takeRateLimit } from '../../lib/api/startRequest';
import { campaignStore, nodeError } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';

/** Who is calling: the JWT subject when the Webhook verified a token, else the client address. */
function callerOf(j: IDataObject): string {
	const jwt = (j.jwtPayload ?? {}) as IDataObject;
	if (jwt.sub) return `jwt:${String(jwt.sub)}`;
	const headers = (j.headers ?? {}) as IDataObject;
	const ip = String(headers['x-forwarded-for'] ?? headers['x-real-ip'] ?? '').split(',')[0].trim();
	return ip ? `ip:${ip}` : 'anonymous';
}

export class CampaignApiGuard implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Campaign API Guard',
		name: 'campaignApiGuard',
		icon: 'file:campaignApiGuard.svg',
		group: ['transform'],
		version: 1,
		description: 'Validate a start-campaign request from a Webhook and rate-limit each caller; rejected requests leave with the HTTP status to answer',
		defaults: { name: 'Campaign API Guard' },
		inputs: ['main'],
		// Accepted and Rejected: the lint rule only knows single-output and If/Switch shapes.
		// eslint-disable-next-line n8n-nodes-base/node-class-description-outputs-wrong
		outputs: ['main', 'main'],
		outputNames: ['Accepted', 'Rejected'],
		credentials: [{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		properties: [
			{
				displayName: 'Requests per Minute per Caller',
				name: 'perMinute',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 10,
				description: 'Callers are told apart by the JWT subject (sub), else by X-Forwarded-For',
			},
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const accepted: INodeExecutionData[] = [];
		const rejected: INodeExecutionData[] = [];
		try {
			const store = await campaignStore(this);
			const perMinute = this.getNodeParameter('perMinute', 0, 10) as number;
			for (const [i, item] of this.getInputData().entries()) {
				const caller = callerOf(item.json);
				const limit = await takeRateLimit(store, caller, perMinute);
				if (!limit.allowed) {
					rejected.push({ json: { status: 429, error: `rate limit of ${perMinute} requests per minute reached; retry in ${limit.resetSeconds} s`, retry_after: limit.resetSeconds }, pairedItem: i });
					continue;
				}
				const checked = checkStartRequest(item.json.body);
				if (!checked.ok) rejected.push({ json: { status: checked.status, error: checked.error, fields: checked.fields ?? [] }, pairedItem: i });
				else accepted.push({ json: { status: 202, run_id: checked.runId, caller, ...(checked.request as unknown as IDataObject) }, pairedItem: i });
			}
			return [accepted, rejected];
		} catch (e) {
			throw nodeError(this.getNode(), e);
		}
	}
}
