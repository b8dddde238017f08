/**
 * Campaign API keys in the store, on the real Postgres server and on embedded PGlite: only a salted
 * hash is stored (the database never holds the secret), secrets are compared in constant time, a
 * revoked key is refused from the next call, scopes and allowed campaigns are enforced, each key has
 * its own rate limit, and every authenticated call is recorded with its key id (never the secret), in
 * a log bounded per key.
 */
import crypto, { createHash } from 'node:crypto';
import { CampaignStore, closeAllStores, getCampaignStore } from '../../lib/store';
import {
	apiKeyCalls,
	authenticateApiKey,
	checkApiKey,
	checkKeyRequest,
	createApiKey,
	hashApiKeySecret,
	listApiKeys,
	parseApiKey,
	recordApiKeyCall,
	revokeApiKey,
	SHOWN_ONCE_NOTICE,
} from '../../lib/api/apiKeys';
import { campaignInput, contacts } from '../helpers/fixtures';
import { createTestDatabase } from '../helpers/services';
import { sql } from '../helpers/sql';

jest.setTimeout(120_000);

type Backend = { name: string; open: () => Promise<{ store: CampaignStore; cleanup: () => Promise<void> }> };
const backends: Backend[] = [
	{
		name: 'postgres',
		open: async () => {
			const db = await createTestDatabase('eca_api_keys');
			const store = await getCampaignStore({ postgres: db.connection });
			return { store, cleanup: async () => (await closeAllStores(), await db.drop()) };
		},
	},
	{ name: 'pglite', open: async () => ({ store: await getCampaignStore({ inMemory: true }), cleanup: () => closeAllStores() }) },
];

const startBody = (campaignId: string) => ({ campaign: campaignInput({ id: campaignId }), contacts: contacts(3, 'keys.example'), dry_run: true });
/** Every table the keys touch, as text: what someone with a copy of the database would see. */
async function dump(store: CampaignStore): Promise<string> {
	const parts: string[] = [];
	for (const table of ['eca_api_keys', 'eca_api_key_calls', 'eca_api_rate']) parts.push(JSON.stringify((await sql(store).query(`SELECT * FROM ${table}`)).rows));
	return parts.join('\n');
}

describe.each(backends)('campaign API keys on $name', ({ open }) => {
	let store: CampaignStore;
	let cleanup: () => Promise<void>;
	beforeAll(async () => ({ store, cleanup } = await open()));
	afterAll(async () => cleanup?.());
	afterEach(() => jest.restoreAllMocks());

	it('stores only a salted hash: the key is shown once, and no table holds the secret in any form', async () => {
		const created = await createApiKey(store, { name: 'CRM sync', scopes: ['start', 'stats'], campaigns: 'spring-*, newsletter', perMinute: 30, createdBy: 'jane@acme.example' });
		expect(created.notice).toBe(SHOWN_ONCE_NOTICE);
		expect(created.apiKey).toMatch(/^eca_live_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
		const { id, secret } = parseApiKey(created.apiKey)!;
		expect(created.key).toMatchObject({ id, name: 'CRM sync', prefix: `eca_live_${id}…`, scopes: ['start', 'stats'], campaigns: ['spring-*', 'newsletter'], rate_limit_per_minute: 30, created_by: 'jane@acme.example', revoked_at: null, calls: 0 });
		expect(JSON.stringify(created.key)).not.toContain(secret);

		// A few calls, so the log and the rate table have rows too.
		await checkKeyRequest(store, created.apiKey, { kind: 'start', body: startBody('spring-1') });
		await checkKeyRequest(store, created.apiKey, { kind: 'stats', campaignId: 'newsletter' });
		const text = await dump(store);
		for (const needle of [created.apiKey, secret, Buffer.from(secret).toString('base64'), createHash('sha256').update(secret).digest('hex'), createHash('sha256').update(created.apiKey).digest('hex')])
			expect(text).not.toContain(needle);
		const row = (await sql(store).query<{ salt: string; secret_hash: string }>('SELECT salt, secret_hash FROM eca_api_keys WHERE id = $1', [id])).rows[0];
		expect(row.salt).toMatch(/^[0-9a-f]{32}$/);
		expect(row.secret_hash).toBe(hashApiKeySecret(secret, row.salt));
		// Two keys never share a salt, so equal secrets would not even have equal hashes.
		const other = await createApiKey(store, { name: 'second', scopes: ['start'], campaigns: '*', perMinute: 5, createdBy: 'x' });
		const salts = (await sql(store).query<{ salt: string }>('SELECT DISTINCT salt FROM eca_api_keys')).rows;
		expect(salts.length).toBe(2);
		// Lists carry no hash or salt.
		const listed = await listApiKeys(store);
		expect(listed.map((k) => k.id).sort()).toEqual([id, other.key.id].sort());
		for (const k of listed) expect(Object.keys(k)).not.toEqual(expect.arrayContaining(['salt']));
		expect(JSON.stringify(listed)).not.toMatch(/secret_hash|salt/);
	});

	it('compares in constant time: timingSafeEqual decides every check, also for a wrong secret or an unknown id', async () => {
		const created = await createApiKey(store, { name: 'ct', scopes: ['start'], campaigns: '*', perMinute: 100, createdBy: 'x' });
		const { id, secret } = parseApiKey(created.apiKey)!;
		const spy = jest.spyOn(crypto, 'timingSafeEqual');
		expect((await authenticateApiKey(store, created.apiKey)).ok).toBe(true);
		expect(spy).toHaveBeenCalledTimes(1);
		const flipped = `eca_live_${id}_${secret[0] === 'A' ? 'B' : 'A'}${secret.slice(1)}`;
		expect(await authenticateApiKey(store, flipped)).toMatchObject({ ok: false, status: 401, error: 'unknown API key' });
		expect(spy).toHaveBeenCalledTimes(2);
		expect(await authenticateApiKey(store, `eca_live_000000000000_${secret}`)).toMatchObject({ ok: false, status: 401, error: 'unknown API key' });
		expect(spy).toHaveBeenCalledTimes(3);
		// A malformed key is refused before the store is read.
		for (const bad of ['', 'eca_live_', `${created.apiKey}x`, created.apiKey.replace('eca_live_', 'eca_test_'), `eca_live_${id.toUpperCase()}_${secret}`])
			expect(await authenticateApiKey(store, bad)).toMatchObject({ ok: false, status: 401 });
	});

	it('a revoked key is refused on the very next call (no cache), and stays revoked with the first revocation', async () => {
		const created = await createApiKey(store, { name: 'revoke me', scopes: ['start'], campaigns: '*', perMinute: 100, createdBy: 'x' });
		expect((await checkKeyRequest(store, created.apiKey, { kind: 'start', body: startBody('any') })).json.status).toBe(202);
		const r = await revokeApiKey(store, created.key.prefix, 'security team');
		expect(r).toMatchObject({ already: false, key: { id: created.key.id, revoked_by: 'security team' } });
		expect(r.key.revoked_at).toEqual(expect.any(String));
		const refused = await checkKeyRequest(store, created.apiKey, { kind: 'start', body: startBody('any') });
		expect(refused).toEqual({ accepted: false, json: { status: 401, error: `API key ${created.key.prefix} was revoked`, fields: [] } });
		const again = await revokeApiKey(store, created.apiKey, 'someone else');
		expect(again).toMatchObject({ already: true, key: { revoked_by: 'security team', revoked_at: r.key.revoked_at } });
		// Revoked keys leave the default list, and come back when asked.
		expect((await listApiKeys(store)).map((k) => k.id)).not.toContain(created.key.id);
		expect((await listApiKeys(store, { includeRevoked: true })).map((k) => k.id)).toContain(created.key.id);
		await expect(revokeApiKey(store, 'eca_live_ffffffffffff…', 'x')).rejects.toThrow(/No API key eca_live_ffffffffffff… in the campaign store/);
		await expect(revokeApiKey(store, 'not a key', 'x')).rejects.toThrow(/Key ID/);
	});

	it('scopes: a stats-only key cannot start (403), a start-only key cannot read stats (403)', async () => {
		const stats = await createApiKey(store, { name: 'stats only', scopes: ['stats'], campaigns: '*', perMinute: 100, createdBy: 'x' });
		const start = await createApiKey(store, { name: 'start only', scopes: ['start'], campaigns: '*', perMinute: 100, createdBy: 'x' });
		expect((await checkKeyRequest(store, stats.apiKey, { kind: 'start', body: startBody('c1') })).json).toMatchObject({ status: 403, error: expect.stringMatching(/lacks the "start" scope/), api_key_id: stats.key.id });
		expect((await checkKeyRequest(store, stats.apiKey, { kind: 'stats', campaignId: 'c1' })).json).toMatchObject({ status: 200, campaign_id: 'c1', api_key_id: stats.key.id });
		expect((await checkKeyRequest(store, start.apiKey, { kind: 'stats', campaignId: 'c1' })).json).toMatchObject({ status: 403, error: expect.stringMatching(/lacks the "stats" scope/) });
		expect((await checkKeyRequest(store, start.apiKey, { kind: 'start', body: startBody('c1') })).json).toMatchObject({ status: 202, api_key_id: start.key.id, run_id: expect.stringMatching(/^run_/) });
	});

	it('allowed campaigns: exact ids and prefix* patterns; others are refused with 403; a restricted key must name its campaign', async () => {
		const k = await createApiKey(store, { name: 'spring', scopes: ['start', 'stats'], campaigns: ['spring-*', 'newsletter'], perMinute: 100, createdBy: 'x' });
		const start = (id: string) => checkKeyRequest(store, k.apiKey, { kind: 'start', body: startBody(id) });
		expect((await start('spring-2026')).json.status).toBe(202);
		expect((await start('spring-')).json.status).toBe(202);
		expect((await start('newsletter')).json.status).toBe(202);
		expect((await start('newsletter-2')).json).toMatchObject({ status: 403, error: expect.stringMatching(/may not use campaign "newsletter-2"/) });
		expect((await start('Spring-2026')).json.status).toBe(403);
		expect((await start('autumn')).json.status).toBe(403);
		expect((await checkKeyRequest(store, k.apiKey, { kind: 'stats', campaignId: 'spring-x' })).json.status).toBe(200);
		expect((await checkKeyRequest(store, k.apiKey, { kind: 'stats', campaignId: 'autumn' })).json.status).toBe(403);
		expect((await checkKeyRequest(store, k.apiKey, { kind: 'stats' })).json).toMatchObject({ status: 403, error: expect.stringMatching(/name one/) });
		// A key for every campaign may read stats of all.
		const all = await createApiKey(store, { name: 'all', scopes: ['stats'], campaigns: '*', perMinute: 100, createdBy: 'x' });
		expect((await checkKeyRequest(store, all.apiKey, { kind: 'stats' })).json).toMatchObject({ status: 200, campaign_id: null });
		// A bad body is a 400 naming the field, as for JWT callers.
		const bad = await checkKeyRequest(store, k.apiKey, { kind: 'start', body: { ...startBody('spring-1'), contacts: [] } });
		expect(bad.json).toMatchObject({ status: 400, fields: ['contacts'] });
	});

	it('each key has its own rate limit, independent of the others, with retry_after', async () => {
		const now = Date.UTC(2026, 10, 25, 9, 30, 20);
		const a = await createApiKey(store, { name: 'a', scopes: ['start'], campaigns: '*', perMinute: 2, createdBy: 'x' });
		const b = await createApiKey(store, { name: 'b', scopes: ['start'], campaigns: '*', perMinute: 4, createdBy: 'x' });
		const call = (key: string) => checkApiKey(store, key, { scope: 'start' }, now);
		const outA = [];
		for (let i = 0; i < 4; i++) outA.push(await call(a.apiKey));
		expect(outA.map((o) => (o.ok ? 200 : o.status))).toEqual([200, 200, 429, 429]);
		expect(outA[2]).toMatchObject({ retryAfter: 40, error: expect.stringMatching(/rate limit of 2 requests per minute for API key eca_live_/) });
		const outB = [];
		for (let i = 0; i < 5; i++) outB.push(await call(b.apiKey));
		expect(outB.map((o) => (o.ok ? 200 : o.status))).toEqual([200, 200, 200, 200, 429]);
		// The next minute starts afresh.
		expect((await checkApiKey(store, a.apiKey, { scope: 'start' }, now + 60_000)).ok).toBe(true);
		// Wrong secrets for a's id never count against a's limit (nothing is written for them).
		const { id } = parseApiKey(a.apiKey)!;
		const before = (await sql(store).query(`SELECT count(*)::int AS n FROM eca_api_rate`)).rows[0].n;
		for (let i = 0; i < 20; i++) await checkApiKey(store, `eca_live_${id}_${'x'.repeat(43)}`, { scope: 'start' }, now + 60_000);
		expect((await sql(store).query(`SELECT count(*)::int AS n FROM eca_api_rate`)).rows[0].n).toBe(before);
		expect((await checkApiKey(store, a.apiKey, { scope: 'start' }, now + 60_000)).ok).toBe(true);
	});

	it('every call of a key is recorded with its key id, scope, campaign, run id and status; unknown keys record nothing', async () => {
		const k = await createApiKey(store, { name: 'logged', scopes: ['start'], campaigns: 'shop-*', perMinute: 4, createdBy: 'x' });
		// One fixed minute, so the fifth call is over the limit whenever the test runs.
		const now = Date.UTC(2026, 10, 25, 9, 45, 1);
		const outcomes = [];
		outcomes.push(await checkKeyRequest(store, k.apiKey, { kind: 'start', body: startBody('shop-1') }, now)); // 202
		outcomes.push(await checkKeyRequest(store, k.apiKey, { kind: 'start', body: startBody('other') }, now)); // 403 campaign
		outcomes.push(await checkKeyRequest(store, k.apiKey, { kind: 'stats', campaignId: 'shop-1' }, now)); // 403 scope
		outcomes.push(await checkKeyRequest(store, k.apiKey, { kind: 'start', body: { nope: true } }, now)); // 400
		outcomes.push(await checkKeyRequest(store, k.apiKey, { kind: 'start', body: startBody('shop-2') }, now)); // 429
		expect(outcomes.map((o) => o.json.status)).toEqual([202, 403, 403, 400, 429]);
		const calls = await apiKeyCalls(store, k.key.id, 10);
		expect(calls.map((c) => [c.key_id, c.scope, c.campaign_id, c.status]).reverse()).toEqual([
			[k.key.id, 'start', 'shop-1', 202],
			[k.key.id, 'start', 'other', 403],
			[k.key.id, 'stats', 'shop-1', 403],
			[k.key.id, 'start', null, 400],
			[k.key.id, 'start', null, 429],
		]);
		expect(calls[calls.length - 1].run_id).toBe(outcomes[0].json.run_id);
		const listed = (await listApiKeys(store)).find((x) => x.id === k.key.id)!;
		expect(listed.calls).toBe(5);
		expect(listed.last_used_at).toEqual(expect.any(String));
		// Unknown ids, wrong secrets and garbage leave no row anywhere.
		const total = async () => (await sql(store).query(`SELECT count(*)::int AS n FROM eca_api_key_calls`)).rows[0].n as number;
		const n = await total();
		const { id } = parseApiKey(k.apiKey)!;
		for (const bad of [`eca_live_${id}_${'y'.repeat(43)}`, `eca_live_abcdefabcdef_${'y'.repeat(43)}`, 'Bearer nonsense'])
			expect((await checkKeyRequest(store, bad, { kind: 'start', body: startBody('shop-1') })).json.status).toBe(401);
		expect(await total()).toBe(n);
		expect(JSON.stringify(calls)).not.toContain(parseApiKey(k.apiKey)!.secret);
	});

	it('the call log is bounded per key (its latest calls kept) while the count stays exact; other keys keep theirs', async () => {
		const a = await createApiKey(store, { name: 'busy', scopes: ['start'], campaigns: '*', perMinute: 100, createdBy: 'x' });
		const b = await createApiKey(store, { name: 'quiet', scopes: ['start'], campaigns: '*', perMinute: 100, createdBy: 'x' });
		const retention = { keep: 5, every: 5 };
		for (let i = 1; i <= 3; i++) await recordApiKeyCall(store, { keyId: b.key.id, scope: 'start', status: 202, runId: `run_b${i}` }, undefined, retention);
		for (let i = 1; i <= 23; i++) await recordApiKeyCall(store, { keyId: a.key.id, scope: 'start', status: i % 2 ? 202 : 429, runId: `run_a${i}` }, undefined, retention);
		// Trimmed at the 20th call to the latest 5 (16-20), then 21-23 logged.
		expect((await apiKeyCalls(store, a.key.id, 100)).map((c) => c.run_id)).toEqual(['run_a23', 'run_a22', 'run_a21', 'run_a20', 'run_a19', 'run_a18', 'run_a17', 'run_a16']);
		expect((await apiKeyCalls(store, b.key.id, 100)).map((c) => c.run_id)).toEqual(['run_b3', 'run_b2', 'run_b1']);
		const listed = await listApiKeys(store);
		expect(listed.find((k) => k.id === a.key.id)!.calls).toBe(23);
		expect(listed.find((k) => k.id === b.key.id)!.calls).toBe(3);
		// A key that is gone records nothing.
		await recordApiKeyCall(store, { keyId: 'ffffffffffff', scope: 'start', status: 202 }, undefined, retention);
		expect(await apiKeyCalls(store, 'ffffffffffff')).toEqual([]);
	});

	it('refuses bad settings at creation, naming the parameter', async () => {
		const base = { name: 'x', scopes: ['start'], campaigns: '*', perMinute: 10, createdBy: 'x' };
		await expect(createApiKey(store, { ...base, name: ' ' })).rejects.toMatchObject({ field: 'keyName' });
		await expect(createApiKey(store, { ...base, scopes: [] })).rejects.toMatchObject({ field: 'scopes' });
		await expect(createApiKey(store, { ...base, scopes: ['admin'] })).rejects.toMatchObject({ field: 'scopes' });
		await expect(createApiKey(store, { ...base, campaigns: '' })).rejects.toMatchObject({ field: 'allowedCampaigns' });
		await expect(createApiKey(store, { ...base, campaigns: 'a*b' })).rejects.toMatchObject({ field: 'allowedCampaigns' });
		await expect(createApiKey(store, { ...base, perMinute: 0 })).rejects.toMatchObject({ field: 'keyPerMinute' });
		await expect(createApiKey(store, { ...base, perMinute: 1.5 })).rejects.toMatchObject({ field: 'keyPerMinute' });
	});
});
