/** The Redis-backed limiter holds one account's rate across processes (queue-mode workers). */
import Redis from 'ioredis';
import { RedisRateLimiter, RedisLike, TokenBucketLimiter } from '../../lib/sendgrid/rateLimiter';
import { ensureRedis, REDIS_URL } from '../helpers/services';

jest.setTimeout(30_000);

const clients: Redis[] = [];
beforeAll(() => ensureRedis());
afterAll(async () => Promise.all(clients.map((c) => c.quit())));

/** Window keys of the grants the limiter made, in the limiter's own clock: what it decided, not when the event loop got round to it. */
const grants: string[] = [];

function limiter(account: string, rps: number): RedisRateLimiter {
	const c = new Redis(REDIS_URL);
	clients.push(c);
	const recording: RedisLike = {
		eval: async (script, numKeys, ...args) => {
			const wait = await c.eval(script, numKeys, ...args);
			if (Number(wait) <= 0) grants.push(String(args[0]));
			return wait;
		},
		set: (key, value, mode, ms) => c.set(key, value, mode, ms),
		quit: () => c.quit(),
	};
	return new RedisRateLimiter(recording, account, { requestsPerSecond: rps, emailsPerSecond: 0 }, `eca:test:${process.pid}`);
}

it('two limiters on one account share 5 requests/s: 20 requests spread over 4 one-second windows', async () => {
	const account = `acct-${Date.now()}`;
	const [a, b] = [limiter(account, 5), limiter(account, 5)];
	grants.length = 0;
	await Promise.all(Array.from({ length: 20 }, (_v, i) => (i % 2 ? a : b).acquire(1)));
	// Counted per window the shared Redis granted them in (a busy machine may resolve a promise late, into the next second; the limit is on grants).
	expect(grants).toHaveLength(20);
	const perWindow = new Map<string, number>();
	for (const key of grants) perWindow.set(key, (perWindow.get(key) ?? 0) + 1);
	expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(5);
	expect(perWindow.size).toBeGreaterThanOrEqual(4);
	const seconds = [...perWindow.keys()].map((k) => Number(k.slice(k.lastIndexOf(':') + 1)));
	expect(Math.max(...seconds) - Math.min(...seconds)).toBeGreaterThanOrEqual(3);
});

it('a 429 pause set by one process holds back the others until the reset', async () => {
	const account = `acct-pause-${Date.now()}`;
	const [a, b] = [limiter(account, 0), limiter(account, 0)];
	a.pauseUntil(Date.now() + 1500);
	await new Promise((r) => setTimeout(r, 50));
	const t0 = Date.now();
	await b.acquire(1);
	expect(Date.now() - t0).toBeGreaterThanOrEqual(1300);
});

it('the in-process limiter spaces emails per second too', async () => {
	const l = new TokenBucketLimiter({ requestsPerSecond: 0, emailsPerSecond: 1000 });
	const t0 = Date.now();
	for (let i = 0; i < 4; i++) await l.acquire(1000);
	expect(Date.now() - t0).toBeGreaterThanOrEqual(2800);
});
