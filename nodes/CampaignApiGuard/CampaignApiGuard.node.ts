import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { errorItem, failItems, indexes, inputError } from '../shared/items';
import { checkStartRequest, takeRateLimit } from '../../lib/api/startRequest';
import { CallerPolicy, CallerPolicyError, identifyCaller, trustedProxyList } from '../../lib/api/caller';
import { campaignStore, nodeError } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';

const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool -- it answers a Webhook's request (its token, its caller's rate); an AI agent has no request to hand it
export class CampaignApiGuard implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Campaign API Guard',
		name: 'campaignApiGuard',
		icon: 'file:campaignApiGuard.svg',
		group: ['transform'],
		version: 1,
		subtitle: 'accept or reject a campaign request',
		description: 'Validate a start-campaign request from a Webhook and rate-limit each caller; rejected requests leave with the HTTP status to answer',
		defaults: { name: 'Campaign API Guard' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Accepted', 'Rejected'],
		credentials: [{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		properties: [
			{
				displayName: 'Requests per Minute per Caller',
				name: 'perMinute',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 10,
				description: 'Callers are told apart by the JWT subject (sub), else by API key, else by address behind Trusted Proxies; callers that cannot be told apart share one limit',
			},
			{
				displayName: 'Security',
				name: 'security',
				type: 'collection',
				placeholder: 'Add option',
				default: {},
				options: [
					{
						displayName: 'API Key Header',
						name: 'identityHeader',
						type: 'string',
						default: '',
						placeholder: 'x-api-key',
						description: "Callers without a JWT are limited by this header's value (kept only as a hash). Check the key with the Webhook's Header Auth.",
					},
					{ displayName: 'Audience (Aud)', name: 'audience', type: 'string', default: '', description: "If set, the token's aud claim must include this value" },
					{ displayName: 'Issuer (Iss)', name: 'issuer', type: 'string', default: '', description: "If set, the token's iss claim must equal this value" },
					{ displayName: 'Require Expiry (Exp)', name: 'requireExpiry', type: 'boolean', default: true, description: 'Whether tokens without an exp claim are refused (401)' },
					{
						displayName: 'Trusted Proxies',
						name: 'trustedProxies',
						type: 'string',
						default: '',
						placeholder: '10.0.0.1, 172.16.0.0/12',
						description:
							'Addresses or CIDR ranges of your own reverse proxies. X-Forwarded-For is read only through them (anyone can write that header); empty: it is ignored.',
					},
				],
			},
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const accepted: INodeExecutionData[] = [];
		const rejected: INodeExecutionData[] = [];
		const node = this.getNode();
		const items = this.getInputData();
		try {
			const store = await campaignStore(this);
			const perMinute = this.getNodeParameter('perMinute', 0, 10) as number;
			const o = this.getNodeParameter('security', 0, {}) as IDataObject;
			const policy: CallerPolicy = {
				apiKeyHeader: String(o.identityHeader ?? '').trim() || undefined,
				audience: String(o.audience ?? '').trim() || undefined,
				issuer: String(o.issuer ?? '').trim() || undefined,
				requireExpiry: o.requireExpiry !== false,
				trustedProxies: list(o.trustedProxies),
			};
			checkTrustedProxies(policy);
			for (const [i, item] of items.entries()) {
				const pairedItem = { item: i };
				try {
					const who = identifyCaller(item.json as { jwtPayload?: unknown; headers?: unknown }, policy);
					if (!who.ok) {
						rejected.push({ json: { status: who.status, error: who.error, fields: [] }, pairedItem });
						continue;
					}
					const caller = who.caller;
					const limit = await takeRateLimit(store, caller, perMinute);
					if (!limit.allowed) {
						rejected.push({ json: { status: 429, error: `rate limit of ${perMinute} requests per minute reached; retry in ${limit.resetSeconds} s`, retry_after: limit.resetSeconds }, pairedItem });
						continue;
					}
					const checked = checkStartRequest(item.json.body);
					if (!checked.ok) rejected.push({ json: { status: checked.status, error: checked.error, fields: checked.fields ?? [] }, pairedItem });
					else accepted.push({ json: { status: 202, run_id: checked.runId, caller, ...(checked.request as unknown as IDataObject) }, pairedItem });
				} catch (e) {
					// A request that could not be checked (the store failed): with Continue On Fail it is rejected with 500.
					if (!this.continueOnFail()) throw nodeError(node, e, i);
					rejected.push(errorItem(node, e, i, pairedItem, { status: 500 }));
				}
			}
			return [accepted, rejected];
		} catch (e) {
			// Nothing could be checked (the store, Trusted Proxies): with Continue On Fail every request is rejected with 500.
			return [[], failItems(this, e, indexes(Math.max(items.length, 1)), { status: 500 })];
		}
	}
}

/** Trusted Proxies that are not addresses or ranges fail the node, naming the option. */
function checkTrustedProxies(policy: CallerPolicy): void {
	try {
		trustedProxyList(policy.trustedProxies ?? []);
	} catch (e) {
		if (e instanceof CallerPolicyError) throw inputError(e.message, 'security.trustedProxies', 'Fix Security → Trusted Proxies');
		throw e;
	}
}
