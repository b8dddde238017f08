/**
 * Campaign API Guard's API key operations as a workflow runs them (embedded store): Create shows the
 * key once with its notice, List never shows a secret, Check Request with keys accepted lets the key
 * in with its api_key_id, refuses it (401) from the call after Revoke, and a key without the start
 * scope (403). A workflow saved before the operations existed (no operation, no apiKeys parameter)
 * behaves as before.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeHelpers } from 'n8n-workflow';
import { CampaignApiGuard } from '../../../nodes/CampaignApiGuard/CampaignApiGuard.node';
import { closeAllStores } from '../../../lib/store';
import { fakeExecuteContext, type Params } from './fakeContext';
import { campaignInput, contacts } from '../../helpers/fixtures';

jest.setTimeout(60_000);

process.env.EMAIL_CAMPAIGN_STORE_DIR = mkdtempSync(join(tmpdir(), 'eca-api-keys-'));
afterAll(() => closeAllStores());

const guard = new CampaignApiGuard();
const run = (params: Params, items: INodeExecutionData[] = [{ json: {} }]) => guard.execute.call(fakeExecuteContext(params, items, { workflowName: 'Keys' }) as IExecuteFunctions);
const body = (id = 'keys-campaign') => ({ campaign: campaignInput({ id }), contacts: contacts(2, 'keys.example') });
const request = (headers: Record<string, string>, b: object = body()): INodeExecutionData => ({ json: { headers, body: b as IDataObject, query: {} } });

async function createKey(params: Params = {}): Promise<{ apiKey: string; id: string; json: Record<string, unknown> }> {
	const out = await run({ operation: 'createApiKey', keyName: 'CRM sync', scopes: ['start'], allowedCampaigns: '*', keyPerMinute: 30, ...params });
	expect(out).toHaveLength(2);
	expect(out[1]).toEqual([]);
	const json = out[0][0].json as Record<string, unknown>;
	return { apiKey: String(json.api_key), id: String(json.id), json };
}

describe('Campaign API Guard: API keys', () => {
	it('Create outputs the key once with the notice; List shows every key without a secret or hash', async () => {
		const { apiKey, id, json } = await createKey({ createdBy: 'jane@acme.example', scopes: ['start', 'stats'], allowedCampaigns: 'spring-*, keys-campaign' });
		expect(apiKey).toMatch(/^eca_live_[0-9a-f]{12}_/);
		expect(json).toMatchObject({
			notice: expect.stringMatching(/shown only this once.*cannot be shown again/),
			prefix: `eca_live_${id}…`,
			scopes: ['start', 'stats'],
			allowed_campaigns: ['spring-*', 'keys-campaign'],
			rate_limit_per_minute: 30,
			created_by: 'jane@acme.example',
		});
		const listed = await run({ operation: 'listApiKeys', includeRevoked: true, recentCalls: 5 });
		const mine = listed[0].find((i) => i.json.id === id)!;
		expect(mine.json).toMatchObject({ name: 'CRM sync', prefix: `eca_live_${id}…`, calls: 0, revoked_at: null, recent_calls: [] });
		const text = JSON.stringify(listed);
		expect(text).not.toContain(apiKey.slice(-43));
		expect(text).not.toMatch(/api_key"|secret_hash|salt/);
		// Created By empty: the workflow and execution are recorded.
		const anon = await createKey();
		expect(anon.json.created_by).toBe('workflow "Keys" (execution exec-1)');
	});

	it('Check Request with keys accepted: the key lets the request in with api_key_id (never the key); revoked → 401 on the next call', async () => {
		const { apiKey, id } = await createKey();
		const params = { apiKeys: 'accept', perMinute: 100 };
		const ok = await run(params, [request({ authorization: `Bearer ${apiKey}` })]);
		expect(ok[0][0].json).toMatchObject({ status: 202, api_key_id: id, caller: `apikey:${id}`, run_id: expect.stringMatching(/^run_/), campaign: { id: 'keys-campaign' } });
		expect(JSON.stringify(ok)).not.toContain(apiKey);
		// The configured header works too.
		const viaHeader = await run({ ...params, security: { identityHeader: 'X-Api-Key' } }, [request({ 'x-api-key': apiKey })]);
		expect(viaHeader[0][0].json).toMatchObject({ status: 202, api_key_id: id });

		const revoked = await run({ operation: 'revokeApiKey', keyRef: `eca_live_${id}…`, revokedBy: 'security' });
		expect(revoked[0][0].json).toMatchObject({ id, status: 'revoked', already_revoked: false, revoked_by: 'security' });
		const after = await run(params, [request({ authorization: `Bearer ${apiKey}` })]);
		expect(after[0]).toEqual([]);
		expect(after[1][0].json).toMatchObject({ status: 401, error: expect.stringMatching(/was revoked/) });
		expect(JSON.stringify(after)).not.toContain(apiKey);
		// The calls before the revocation are on the key's record.
		const listed = await run({ operation: 'listApiKeys', includeRevoked: true, recentCalls: 10 });
		const mine = listed[0].find((i) => i.json.id === id)!.json as { calls: number; recent_calls: Array<{ key_id: string; status: number }> };
		expect(mine.calls).toBe(2);
		expect(mine.recent_calls.map((c) => [c.key_id, c.status])).toEqual([
			[id, 202],
			[id, 202],
		]);
	});

	it('refuses with the status to answer: no key 401, a wrong key 401, no start scope 403, another campaign 403, over its limit 429', async () => {
		const params = { apiKeys: 'accept', perMinute: 100 };
		const statsOnly = await createKey({ scopes: ['stats'] });
		const narrow = await createKey({ allowedCampaigns: 'other-*', keyPerMinute: 2 });
		const out = await run(params, [
			request({}),
			request({ authorization: 'Bearer eca_live_000000000000_' + 'a'.repeat(43) }),
			request({ authorization: `Bearer ${statsOnly.apiKey}` }),
			request({ authorization: `Bearer ${narrow.apiKey}` }),
			request({ authorization: `Bearer ${narrow.apiKey}` }, body('other-1')),
			request({ authorization: `Bearer ${narrow.apiKey}` }, body('other-1')),
		]);
		// The narrow key's limit is 2 a minute: the refused campaign counted, the next call is in, the third over.
		expect(out[0].map((i) => [i.json.status, i.json.api_key_id, i.pairedItem])).toEqual([[202, narrow.id, { item: 4 }]]);
		expect(out[1].map((i) => [i.json.status, i.pairedItem])).toEqual([
			[401, { item: 0 }],
			[401, { item: 1 }],
			[403, { item: 2 }],
			[403, { item: 3 }],
			[429, { item: 5 }],
		]);
		expect(out[1][2].json.error).toMatch(/lacks the "start" scope/);
		expect(out[1][3].json.error).toMatch(/may not use campaign "keys-campaign"/);
		expect(out[1][4].json).toMatchObject({ status: 429, retry_after: expect.any(Number) });
		const text = JSON.stringify(out);
		for (const k of [statsOnly.apiKey, narrow.apiKey]) expect(text).not.toContain(k.slice(-43));
	});

	it('Read Stats: a stats key for the campaign passes with api_key_id; a JWT caller passes as before', async () => {
		const k = await createKey({ scopes: ['stats'], allowedCampaigns: 'keys-*' });
		const params = { apiKeys: 'accept', perMinute: 100, requestType: 'stats', statsCampaign: 'keys-campaign' };
		const out = await run(params, [request({ authorization: `Bearer ${k.apiKey}` }), { json: { jwtPayload: { sub: 'dash', exp: Math.floor(Date.now() / 1000) + 600 }, headers: {} } }]);
		expect(out[0].map((i) => i.json)).toEqual([
			{ status: 200, caller: `apikey:${k.id}`, api_key_id: k.id, campaign_id: 'keys-campaign' },
			{ status: 200, caller: 'jwt:dash', campaign_id: 'keys-campaign' },
		]);
		const other = await run({ ...params, statsCampaign: 'spring' }, [request({ authorization: `Bearer ${k.apiKey}` })]);
		expect(other[1][0].json).toMatchObject({ status: 403 });
	});

	it('a workflow saved before keys existed (no operation, no apiKeys) behaves as before: a key header only names the caller', async () => {
		const { apiKey } = await createKey({ scopes: ['stats'] });
		// Without "accept", the guard does not judge keys: the Webhook's authentication let the request in.
		const out = await run({ perMinute: 100, security: { identityHeader: 'x-api-key' } }, [request({ 'x-api-key': apiKey })]);
		expect(out[0][0].json).toMatchObject({ status: 202, caller: expect.stringMatching(/^key:[0-9a-f]{32}$/) });
		expect(out[0][0].json.api_key_id).toBeUndefined();
		// n8n shows Check Request's parameters for a node without an operation parameter (the default).
		const node = { id: '1', name: 'Guard', type: 'campaignApiGuard', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };
		const defaults = NodeHelpers.getNodeParameters(guard.description.properties, {}, true, false, node, guard.description)!;
		expect(defaults).toMatchObject({ operation: 'check', apiKeys: 'off', requestType: 'start', perMinute: 10 });
		expect(NodeHelpers.displayParameter(defaults as never, guard.description.properties.find((p) => p.name === 'perMinute')!, node, guard.description)).toBe(true);
		expect(NodeHelpers.displayParameter(defaults as never, guard.description.properties.find((p) => p.name === 'keyName')!, node, guard.description)).toBe(false);
	});

	it('Create refuses bad settings naming the parameter; Revoke of an unknown key says so', async () => {
		await expect(run({ operation: 'createApiKey', keyName: '', scopes: ['start'], allowedCampaigns: '*', keyPerMinute: 30 })).rejects.toThrow(/Name is empty/);
		await expect(run({ operation: 'createApiKey', keyName: 'x', scopes: [], allowedCampaigns: '*', keyPerMinute: 30 })).rejects.toThrow(/Scopes: choose at least one/);
		await expect(run({ operation: 'createApiKey', keyName: 'x', scopes: ['start'], allowedCampaigns: 'a*b', keyPerMinute: 30 })).rejects.toThrow(/\* may only end an entry/);
		await expect(run({ operation: 'revokeApiKey', keyRef: 'abcdefabcdef' })).rejects.toThrow(/No API key eca_live_abcdefabcdef…/);
	});
});
