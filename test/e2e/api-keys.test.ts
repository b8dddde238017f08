/**
 * Campaign API keys in a real n8n: a key made by the Campaign API Guard's Create API Key operation
 * starts a campaign through the campaign API template's key webhook (202, the run happens, the call is
 * recorded with the key id), is refused with 401 from the call after Revoke API Key, and a key without
 * the start scope gets 403. The template's JWT webhook keeps working beside it.
 */
import { createHmac } from 'node:crypto';
import { eventually, manualRun, template, useN8nRig, type Workflow } from './helpers';
import { PACKAGE_NAME } from './n8n';
import { campaignInput, contacts } from '../helpers/fixtures';
import { deliveryStatuses } from '../helpers/tally';

jest.setTimeout(20 * 60_000);

const SECRET = 'e2e-jwt-secret-keys-0123456789ab';
const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
function jwt(payload: Record<string, unknown>): string {
	const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
	return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

const e2e = useN8nRig({ credentials: { jwtAuth: { name: 'API JWT', data: { keyType: 'passphrase', secret: SECRET, algorithm: 'HS256' } } } });

/** One Campaign API Guard key operation behind a manual trigger, run with the CLI; its first output's items. */
let runs = 0;
async function keyOperation(parameters: Record<string, unknown>): Promise<Array<Record<string, unknown>>> {
	const { n8n, r } = e2e;
	const guard = { name: 'Keys', type: `${PACKAGE_NAME}.campaignApiGuard`, parameters };
	const wf = manualRun({ nodes: [], connections: {}, settings: { executionOrder: 'v1' }, pinData: {} } as Workflow, guard, `apikeysop${String(++runs).padStart(7, '0')}`, `API keys ${runs}`);
	(wf.nodes[1] as Record<string, unknown>).typeVersion = 1;
	(wf.nodes[1] as Record<string, unknown>).position = [220, 0];
	const { id } = await n8n.importWorkflow(wf, r.creds);
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();
	return out.nodes.Keys[0];
}

it('a key made by Create API Key starts a run; after Revoke API Key the next call is 401; a key without the start scope gets 403', async () => {
	const { n8n, q } = e2e;
	const { id } = await n8n.importWorkflow(template('campaign-api.json'), e2e.r.creds);
	await n8n.activate(id);
	const keyUrl = n8n.webhookUrl('campaigns-key');
	await eventually(async () => (await fetch(keyUrl, { method: 'POST' })).status === 401, 'the key webhook to be live');
	const call = (key: string | undefined, body: unknown, url = keyUrl) =>
		fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(body) }).then(async (res) => ({
			status: res.status,
			body: await res.text(),
		}));
	const good = { campaign: campaignInput({ id: 'key-campaign' }), contacts: contacts(12, 'keys.example'), dry_run: true };

	const [created] = await keyOperation({ operation: 'createApiKey', keyName: 'CRM sync', scopes: ['start', 'stats'], allowedCampaigns: 'key-*', keyPerMinute: 20, createdBy: 'e2e' });
	const key = String(created.api_key);
	expect(key).toMatch(/^eca_live_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
	expect(created.notice).toMatch(/shown only this once/);
	const keyId = String(created.id);

	// No key, a made-up key: 401; nothing stored for them.
	expect((await call(undefined, good)).status).toBe(401);
	expect((await call(`eca_live_${keyId}_${'A'.repeat(43)}`, good)).status).toBe(401);

	const ok = await call(key, good);
	expect(ok.status).toBe(202);
	const runId = JSON.parse(ok.body).run_id as string;
	expect(runId).toMatch(/^run_/);
	await eventually(async () => (await deliveryStatuses(q, 'key-campaign', { runId })).dry_run === 12, 'the run started with the key');
	// Another campaign than the key allows: 403.
	const other = await call(key, { ...good, campaign: campaignInput({ id: 'spring-launch' }) });
	expect(other.status).toBe(403);
	expect(JSON.parse(other.body).error).toMatch(/may not use campaign "spring-launch"/);

	// Every call of the key is recorded with its id; the store holds no secret.
	const calls = await q<{ key_id: string; status: number; run_id: string | null; campaign_id: string | null }>(`SELECT key_id, status, run_id, campaign_id FROM eca_api_key_calls ORDER BY id`);
	expect(calls).toEqual([
		{ key_id: keyId, status: 202, run_id: runId, campaign_id: 'key-campaign' },
		{ key_id: keyId, status: 403, run_id: null, campaign_id: 'spring-launch' },
	]);
	const stored = JSON.stringify(await q(`SELECT * FROM eca_api_keys`)) + JSON.stringify(await q(`SELECT * FROM eca_api_key_calls`)) + JSON.stringify(await q(`SELECT * FROM eca_api_rate`));
	expect(stored).not.toContain(key.slice(-43));

	// List shows the key and its use, never the secret.
	const listed = await keyOperation({ operation: 'listApiKeys', includeRevoked: false, recentCalls: 0 });
	expect(listed.find((k) => k.id === keyId)).toMatchObject({ name: 'CRM sync', prefix: `eca_live_${keyId}…`, calls: 2, created_by: 'e2e' });
	expect(JSON.stringify(listed)).not.toContain(key.slice(-43));

	// Revoked: the very next call is refused.
	const [revoked] = await keyOperation({ operation: 'revokeApiKey', keyRef: keyId, revokedBy: 'e2e security' });
	expect(revoked).toMatchObject({ id: keyId, status: 'revoked', already_revoked: false });
	const after = await call(key, good);
	expect(after.status).toBe(401);
	expect(JSON.parse(after.body).error).toMatch(/was revoked/);
	expect(after.body).not.toContain(key.slice(-43));

	// A key without the start scope: 403.
	const [statsOnly] = await keyOperation({ operation: 'createApiKey', keyName: 'stats reader', scopes: ['stats'], allowedCampaigns: '*', keyPerMinute: 20 });
	const refused = await call(String(statsOnly.api_key), good);
	expect(refused.status).toBe(403);
	expect(JSON.parse(refused.body).error).toMatch(/lacks the "start" scope/);

	// The JWT webhook of the same template still starts runs.
	const now = Math.floor(Date.now() / 1000);
	const viaJwt = await call(jwt({ sub: 'system-a', exp: now + 600 }), { ...good, campaign: campaignInput({ id: 'jwt-campaign' }) }, n8n.webhookUrl('campaigns'));
	expect(viaJwt.status).toBe(202);
	// ...and an API key on it is not a JWT: n8n's JWT auth refuses it.
	expect((await call(String(statsOnly.api_key), good, n8n.webhookUrl('campaigns'))).status).toBe(403);
});

it('Read Stats: a stats key passes for its campaigns (Campaign ID from ?campaign_id by default), others get 403, no key 401', async () => {
	const { n8n } = e2e;
	const respond = (name: string, position: [number, number], body: string, code: number | string) => ({
		id: name,
		name,
		type: 'n8n-nodes-base.respondToWebhook',
		typeVersion: 1.5,
		position,
		parameters: { respondWith: 'json', responseBody: body, options: { responseCode: code } },
	});
	const wf = {
		id: 'apikeysstats0001',
		name: 'Campaign stats by key',
		nodes: [
			{ id: 'hook', name: 'Stats API', type: 'n8n-nodes-base.webhook', typeVersion: 2.1, position: [0, 0], parameters: { httpMethod: 'GET', path: 'campaign-stats-key', responseMode: 'responseNode', options: {} }, webhookId: '0c0ffee0-0000-4000-8000-000000000182' },
			{ id: 'guard', name: 'Guard', type: `${PACKAGE_NAME}.campaignApiGuard`, typeVersion: 1, position: [220, 0], parameters: { apiKeys: 'accept', requestType: 'stats', perMinute: 10 } },
			respond('Allowed', [440, -100], '={{ JSON.stringify({ campaign_id: $json.campaign_id, api_key_id: $json.api_key_id }) }}', 200),
			respond('Refused', [440, 100], '={{ JSON.stringify({ error: $json.error }) }}', '={{ $json.status }}'),
		],
		connections: {
			'Stats API': { main: [[{ node: 'Guard', type: 'main', index: 0 }]] },
			Guard: { main: [[{ node: 'Allowed', type: 'main', index: 0 }], [{ node: 'Refused', type: 'main', index: 0 }]] },
		},
		settings: { executionOrder: 'v1' },
		pinData: {},
	};
	const { id } = await n8n.importWorkflow(wf, e2e.r.creds);
	await n8n.activate(id);
	const url = n8n.webhookUrl('campaign-stats-key');
	await eventually(async () => (await fetch(url)).status === 401, 'the stats webhook to be live');
	const [reader] = await keyOperation({ operation: 'createApiKey', keyName: 'stats reader', scopes: ['stats'], allowedCampaigns: 'key-*', keyPerMinute: 20 });
	const [starter] = await keyOperation({ operation: 'createApiKey', keyName: 'starter', scopes: ['start'], allowedCampaigns: '*', keyPerMinute: 20 });
	const get = (key: string | undefined, campaign: string) => fetch(`${url}?campaign_id=${encodeURIComponent(campaign)}`, { headers: key ? { authorization: `Bearer ${key}` } : {} }).then(async (r) => ({ status: r.status, body: await r.text() }));
	const ok = await get(String(reader.api_key), 'key-campaign');
	expect(ok).toMatchObject({ status: 200 });
	expect(JSON.parse(ok.body)).toEqual({ campaign_id: 'key-campaign', api_key_id: reader.id });
	expect((await get(String(reader.api_key), 'spring-launch')).status).toBe(403);
	const noScope = await get(String(starter.api_key), 'key-campaign');
	expect(noScope.status).toBe(403);
	expect(JSON.parse(noScope.body).error).toMatch(/lacks the "stats" scope/);
	expect((await get(undefined, 'key-campaign')).status).toBe(401);
});
