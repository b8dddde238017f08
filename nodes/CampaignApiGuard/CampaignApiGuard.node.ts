import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { errorItem, failItems, indexes, inputError } from '../shared/items';
import { checkStartRequest, takeRateLimit } from '../../lib/api/startRequest';
import { CallerPolicy, CallerPolicyError, identifyCaller, trustedProxyList } from '../../lib/api/caller';
import { apiKeyFromHeaders, checkKeyRequest } from '../../lib/api/apiKeys';
import { campaignStore, nodeError } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { runOperation } from '../shared/operations';
import { keyOperations } from './actions/router';

const list = (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : []);

// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool -- it answers a Webhook's request (its token, its caller's rate); an AI agent has no request to hand it
export class CampaignApiGuard implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Campaign API Guard',
		name: 'campaignApiGuard',
		icon: 'file:campaignApiGuard.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{ { createApiKey: "create an API key", revokeApiKey: "revoke an API key", listApiKeys: "list API keys" }[$parameter["operation"]] || "accept or reject a campaign request" }}',
		description:
			'Validate a campaign API request from a Webhook (JWT or campaign API key), rate-limit each caller; rejected requests leave with the HTTP status to answer. Also creates, revokes and lists API keys.',
		defaults: { name: 'Campaign API Guard' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Accepted', 'Rejected'],
		credentials: [{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Check Request', value: 'check', action: 'Check a campaign API request', description: 'Accept or reject a request a Webhook received (outputs Accepted and Rejected)' },
					{ name: 'Create API Key', value: 'createApiKey', action: 'Create an API key', description: 'Make a key for one client of the campaign API; the key is shown once, on the first output' },
					{ name: 'List API Keys', value: 'listApiKeys', action: 'List API keys', description: 'Every key with its scopes, campaigns, limit and use; never a secret' },
					{ name: 'Revoke API Key', value: 'revokeApiKey', action: 'Revoke an API key', description: 'Refuse a key from its next call on' },
				],
				default: 'check',
			},
			{
				displayName: 'Campaign API Keys',
				name: 'apiKeys',
				type: 'options',
				displayOptions: { show: { operation: ['check'] } },
				options: [
					{
						name: 'Off',
						value: 'off',
						description: "Callers are let in by the Webhook's authentication (JWT Auth); API Key Header only tells callers apart for the limit",
					},
					{
						name: 'Accept Keys or Webhook JWT',
						value: 'accept',
						description: 'A request needs a JWT the Webhook verified, or a campaign API key (Create API Key) in Authorization: Bearer or API Key Header; anything else gets 401',
					},
				],
				default: 'off',
				hint: 'With keys on, put the Webhook on Authentication: None (keys are checked here) or keep JWT Auth for JWT callers only',
			},
			{
				displayName: 'Request',
				name: 'requestType',
				type: 'options',
				displayOptions: { show: { operation: ['check'] } },
				options: [
					{ name: 'Start Campaign', value: 'start', description: 'The body is { campaign, contacts, dry_run, steps }; API keys need the start scope; accepted items carry the run ID' },
					{ name: 'Read Stats', value: 'stats', description: 'Nothing is started; API keys need the stats scope and may read only their campaigns; accepted items carry the campaign ID to read' },
				],
				default: 'start',
			},
			{
				displayName: 'Campaign ID',
				name: 'statsCampaign',
				type: 'string',
				displayOptions: { show: { operation: ['check'], requestType: ['stats'] } },
				default: '={{ ($json.query && $json.query.campaign_id) || ($json.body && $json.body.campaign_id) || "" }}',
				description: 'The campaign whose stats are asked for; empty: all campaigns (only keys allowed every campaign)',
			},
			{
				displayName: 'Requests per Minute per Caller',
				name: 'perMinute',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 10,
				displayOptions: { show: { operation: ['check'] } },
				description:
					'Callers are told apart by the JWT subject (sub), else by API key, else by address behind Trusted Proxies; callers that cannot be told apart share one limit. A campaign API key has its own limit instead.',
			},
			{
				displayName: 'Security',
				name: 'security',
				type: 'collection',
				displayOptions: { show: { operation: ['check'] } },
				placeholder: 'Add option',
				default: {},
				options: [
					{
						displayName: 'API Key Header',
						name: 'identityHeader',
						type: 'string',
						default: '',
						placeholder: 'x-api-key',
						description:
							"Campaign API Keys off: callers without a JWT are limited by this header's value (kept only as a hash); check it with the Webhook's Header Auth. Keys accepted: a header that may carry the campaign API key besides Authorization: Bearer.",
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
			...Object.values(keyOperations).flatMap((operation) => operation.description),
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = this.getNodeParameter('operation', 0, 'check') as string;
		// Key operations put their items on the first output (the second stays empty).
		if (operation !== 'check') return [...(await runOperation(this, keyOperations, 'check')), []];
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
			const keysOn = this.getNodeParameter('apiKeys', 0, 'off') === 'accept';
			const kind = this.getNodeParameter('requestType', 0, 'start') === 'stats' ? 'stats' : 'start';
			for (const [i, item] of items.entries()) {
				const pairedItem = { item: i };
				try {
					const statsCampaign = kind === 'stats' ? String(this.getNodeParameter('statsCampaign', i, '') ?? '').trim() : '';
					const jwt = item.json.jwtPayload && typeof item.json.jwtPayload === 'object';
					if (keysOn && !jwt) {
						// No JWT the Webhook verified: a campaign API key or nothing.
						const key = apiKeyFromHeaders(item.json.headers, policy.apiKeyHeader);
						if (!key) {
							rejected.push({ json: { status: 401, error: 'send a campaign API key (Authorization: Bearer eca_live_…) or a JWT', fields: [] }, pairedItem });
							continue;
						}
						const answer = await checkKeyRequest(store, key, kind === 'stats' ? { kind, campaignId: statsCampaign } : { kind, body: item.json.body });
						(answer.accepted ? accepted : rejected).push({ json: answer.json as IDataObject, pairedItem });
						continue;
					}
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
					if (kind === 'stats') {
						accepted.push({ json: { status: 200, caller, campaign_id: statsCampaign || null }, pairedItem });
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
