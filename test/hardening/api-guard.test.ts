/**
 * The campaign API's per-caller limit against callers who lie: a forged X-Forwarded-For never buys a
 * fresh limit, a token needs an expiry (and the configured audience and issuer), and however many
 * callers there are, the rate table holds about one minute of them.
 */
import { Client } from 'pg';
import { identifyCaller, clientAddress, trustedProxyList } from '../../lib/api/caller';
import { takeRateLimit } from '../../lib/api/startRequest';
import { CampaignStore, closeAllStores, getCampaignStore } from '../../lib/store';
import { createTestDatabase } from '../helpers/services';
import { recordTally } from '../helpers/tally';

jest.setTimeout(120_000);

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let store: CampaignStore;
let pg: Client;
let attacks = 0;
let letIn = 0;
let rejected = 0;

beforeAll(async () => {
	db = await createTestDatabase('eca_api_guard');
	store = await getCampaignStore({ postgres: db.connection });
	const { host, port, user, database } = db.connection;
	pg = new Client({ host, port, user, database });
	await pg.connect();
});
afterAll(async () => {
	recordTally({ suite: 'api guard: spoofed callers', inputs: attacks, attacks, let_in: letIn, rejected });
	await pg?.end();
	await closeAllStores();
	await db?.drop();
});

/** One request through identification and the limit, as the guard node runs it. */
async function call(request: { jwtPayload?: unknown; headers?: Record<string, string> }, policy: Parameters<typeof identifyCaller>[1], perMinute: number, now: number) {
	const who = identifyCaller(request, policy, now);
	if (!who.ok) return { status: who.status, caller: undefined };
	const limit = await takeRateLimit(store, who.caller, perMinute, now);
	return { status: limit.allowed ? 202 : 429, caller: who.caller };
}

const randomIp = (i: number) => `${(i * 7) % 223 + 1}.${(i * 13) % 256}.${(i * 29) % 256}.${(i * 31) % 256}`;

it('a different X-Forwarded-For on every request buys nothing without Trusted Proxies: one shared limit', async () => {
	const now = Date.UTC(2026, 10, 25, 12, 0, 5);
	const out = [];
	for (let i = 0; i < 200; i++) out.push(await call({ headers: { 'x-forwarded-for': randomIp(i), 'x-real-ip': randomIp(i + 1) } }, {}, 10, now));
	attacks += out.length;
	const through = out.filter((o) => o.status === 202).length;
	letIn += Math.max(0, through - 10);
	rejected += out.filter((o) => o.status === 429).length;
	expect(through).toBe(10);
	expect(new Set(out.map((o) => o.caller))).toEqual(new Set(['shared:unidentified']));
});

it('behind Trusted Proxies the client is the first address the proxies did not add; prepending forged hops changes nothing', async () => {
	const now = Date.UTC(2026, 10, 25, 12, 1, 5);
	const policy = { trustedProxies: ['10.0.0.0/8', '2001:db8::1'] };
	const out = [];
	for (let i = 0; i < 100; i++) out.push(await call({ headers: { 'x-forwarded-for': `${randomIp(i)}, 198.51.100.7, 10.1.2.3` } }, policy, 10, now));
	attacks += out.length;
	expect(new Set(out.map((o) => o.caller))).toEqual(new Set(['ip:198.51.100.7']));
	const through = out.filter((o) => o.status === 202).length;
	letIn += Math.max(0, through - 10);
	expect(through).toBe(10);
	// Another real client keeps its own limit; a garbled chain is nobody (shared bucket).
	expect((await call({ headers: { 'x-forwarded-for': '203.0.113.9, 10.0.0.2' } }, policy, 10, now)).caller).toBe('ip:203.0.113.9');
	expect(clientAddress('not-an-ip, 10.0.0.2', trustedProxyList(policy.trustedProxies))).toBeUndefined();
	expect(clientAddress('[2001:db8::5]:443, 2001:db8::1', trustedProxyList(policy.trustedProxies))).toBe('2001:db8::5');
});

it('tokens: no exp, expired, wrong aud or iss, no sub are refused; each subject has its own limit', async () => {
	const now = Date.UTC(2026, 10, 25, 12, 2, 5);
	const exp = now / 1000 + 600;
	const policy = { audience: 'campaign-api', issuer: 'https://auth.example' };
	const ok = { sub: 'system-a', exp, aud: 'campaign-api', iss: 'https://auth.example' };
	const bad = [
		{ ...ok, exp: undefined },
		{ ...ok, exp: now / 1000 - 1 },
		{ ...ok, exp: 'never' },
		{ ...ok, aud: 'other-api' },
		{ ...ok, aud: ['other-api'] },
		{ ...ok, iss: 'https://evil.example' },
		{ ...ok, sub: undefined },
		{ ...ok, sub: { nested: true } },
	];
	for (const payload of bad) {
		attacks++;
		const r = await call({ jwtPayload: payload }, policy, 10, now);
		if (r.status === 202) letIn++;
		else rejected++;
		expect([401, 403]).toContain(r.status);
	}
	expect((await call({ jwtPayload: ok }, policy, 10, now)).caller).toBe('jwt:system-a');
	// An X-Forwarded-For beside a token changes nothing: the subject is the caller.
	expect((await call({ jwtPayload: ok, headers: { 'x-forwarded-for': '1.2.3.4' } }, { ...policy, trustedProxies: ['0.0.0.0/0'] }, 10, now)).caller).toBe('jwt:system-a');
});

it('API keys identify callers by hash only; the rate table never holds a key', async () => {
	const now = Date.UTC(2026, 10, 25, 12, 3, 5);
	const r = await call({ headers: { 'x-api-key': 'live-key-0123456789' } }, { apiKeyHeader: 'X-Api-Key' }, 10, now);
	expect(r.caller).toMatch(/^key:[0-9a-f]{32}$/);
	const rows = await pg.query(`SELECT caller FROM eca_api_rate`);
	expect(rows.rows.some((row) => String(row.caller).includes('live-key'))).toBe(false);
});

it('the rate table is pruned as each minute starts: 5,000 spoofed callers leave about one window behind', async () => {
	const t0 = Date.UTC(2026, 10, 25, 13, 0, 1);
	const policy = { trustedProxies: ['10.0.0.1'] };
	for (let minute = 0; minute < 5; minute++)
		for (let i = 0; i < 1000; i++) {
			attacks++;
			await call({ headers: { 'x-forwarded-for': `${randomIp(minute * 1000 + i)}, 10.0.0.1` } }, policy, 10, t0 + minute * 60_000 + i);
		}
	const left = (await pg.query(`SELECT count(*)::int AS n, count(DISTINCT win)::int AS windows FROM eca_api_rate`)).rows[0];
	if (left.n > 1000) letIn++;
	expect(left.windows).toBe(1);
	expect(left.n).toBeLessThanOrEqual(1000);
});
