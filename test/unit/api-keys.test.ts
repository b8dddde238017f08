/** The rules of campaign API keys that need no store: key format, where a key is read from, allowed campaigns, scopes, hashing. */
import { randomBytes } from 'node:crypto';
import {
	apiKeyFromHeaders,
	apiKeyIdOf,
	campaignAllowed,
	hashApiKeySecret,
	parseApiKey,
	parseCampaignPatterns,
	parseScopes,
	verifyApiKeySecret,
} from '../../lib/api/apiKeys';
import { redactSecrets } from '../../lib/redact';

const ID = '3f9a0c12b4d7';
const SECRET = randomBytes(32).toString('base64url');
const KEY = `eca_live_${ID}_${SECRET}`;

describe('key format', () => {
	it('reads eca_live_<12 hex>_<43 base64url> and nothing else', () => {
		expect(parseApiKey(KEY)).toEqual({ id: ID, secret: SECRET });
		expect(parseApiKey(` ${KEY} `)).toEqual({ id: ID, secret: SECRET });
		for (const bad of ['', KEY.slice(0, -1), `${KEY}A`, KEY.replace('eca_live_', 'eca_test_'), KEY.replace(ID, ID.toUpperCase()), KEY.replace(`${ID}_`, `${ID}-`), `eca_live_${ID}_${SECRET.slice(0, 42)}=`])
			expect(parseApiKey(bad)).toBeUndefined();
	});

	it('names a key by id, listed prefix or the whole key', () => {
		for (const ref of [ID, `eca_live_${ID}`, `eca_live_${ID}…`, `eca_live_${ID}...`, KEY, ` ${ID} `]) expect(apiKeyIdOf(ref)).toBe(ID);
		for (const ref of ['', 'eca_live_', '3f9a0c12b4d', 'zzzzzzzzzzzz', `${ID}0`]) expect(apiKeyIdOf(ref)).toBeUndefined();
	});

	it('is read from Authorization: Bearer (ours only) or the configured header', () => {
		expect(apiKeyFromHeaders({ authorization: `Bearer ${KEY}` })).toBe(KEY);
		expect(apiKeyFromHeaders({ authorization: `bearer   ${KEY}` })).toBe(KEY);
		// A JWT in Authorization is not a key; the configured header is read then.
		expect(apiKeyFromHeaders({ authorization: 'Bearer eyJhbGciOi.x.y' })).toBeUndefined();
		expect(apiKeyFromHeaders({ authorization: 'Bearer eyJhbGciOi.x.y', 'x-api-key': KEY }, 'X-Api-Key')).toBe(KEY);
		expect(apiKeyFromHeaders({ 'x-api-key': [KEY] }, 'x-api-key')).toBe(KEY);
		expect(apiKeyFromHeaders({ 'x-api-key': KEY })).toBeUndefined();
		expect(apiKeyFromHeaders(undefined, 'x-api-key')).toBeUndefined();
	});

	it('is masked in text by redaction; the listed prefix is kept', () => {
		expect(redactSecrets(`key ${KEY} refused`)).toBe('key eca_live_*** refused');
		expect(redactSecrets(`key eca_live_${ID}… revoked`)).toBe(`key eca_live_${ID}… revoked`);
	});
});

describe('hashing', () => {
	it('is an HMAC under the salt: another salt, another hash; verification needs the exact secret', () => {
		const salt = randomBytes(16).toString('hex');
		const hash = hashApiKeySecret(SECRET, salt);
		expect(hash).toMatch(/^[0-9a-f]{64}$/);
		expect(hash).not.toBe(hashApiKeySecret(SECRET, randomBytes(16).toString('hex')));
		expect(verifyApiKeySecret(SECRET, salt, hash)).toBe(true);
		expect(verifyApiKeySecret(`${SECRET.slice(0, -1)}${SECRET.endsWith('A') ? 'B' : 'A'}`, salt, hash)).toBe(false);
		expect(verifyApiKeySecret(SECRET, salt, hash.slice(0, 62))).toBe(false);
	});
});

describe('allowed campaigns', () => {
	it('* is every campaign; prefix* matches a prefix; anything else exactly', () => {
		expect(parseCampaignPatterns('*')).toBeNull();
		expect(parseCampaignPatterns('a, *')).toBeNull();
		const p = parseCampaignPatterns('spring-*, newsletter\nq3.launch, newsletter');
		expect(p).toEqual(['spring-*', 'newsletter', 'q3.launch']);
		expect([...['spring-2026', 'spring-', 'newsletter', 'q3.launch'].map((c) => campaignAllowed(p, c))]).toEqual([true, true, true, true]);
		expect(['spring', 'Spring-2026', 'newsletter-2', 'q3xlaunch', '', undefined].map((c) => campaignAllowed(p, c))).toEqual([false, false, false, false, false, false]);
		expect(campaignAllowed(null, undefined)).toBe(true);
		expect(campaignAllowed(null, 'anything')).toBe(true);
	});

	it('refuses an empty list, * inside an entry and ids the schema would refuse', () => {
		for (const bad of ['', ' , ', 'a*b', '**', 'spring-**', '-x', 'has space', 'x'.repeat(101)]) expect(() => parseCampaignPatterns(bad)).toThrow(/Allowed Campaigns/);
		expect(() => parseCampaignPatterns(Array.from({ length: 201 }, (_, i) => `c${i}`))).toThrow(/at most 200/);
	});
});

describe('scopes', () => {
	it('known scopes in order; none or an unknown one is refused', () => {
		expect(parseScopes(['stats', 'start', 'stats'])).toEqual(['start', 'stats']);
		expect(parseScopes('Start')).toEqual(['start']);
		expect(() => parseScopes([])).toThrow(/at least one/);
		expect(() => parseScopes(['admin'])).toThrow(/unknown scope "admin"/);
	});
});
