/** The Redis-backed limiter holds one account's rate across processes (queue-mode workers). */
import Redis from 'ioredis';
import { RedisRateLimiter, RedisLike, TokenBucketLimiter } from '../../lib/sendgrid/rateLimiter';
import { ensureRedis, REDIS_URL } from '../helpers/services';

jest.setTimeout(30_000);

const clients: Redis[] = [];
beforeAll(() => ensureRedis());
afterAll(async () => Promise.all(clients.map((c) => c.quit())));

function limiter(account: string, rps: number): RedisRateLimiter {
	const c = new Redis(REDIS_URL);
	clients.push(c);
	return new RedisRateLimiter(c as unknown as RedisLike, account, { requestsPerSecond: rps, emailsPerSecond: 0 }, `eca:test:${process.pid}`);
}

it('two limiters on one account share 5 requests/s: 20 requests spread over 4 one-second windows', async () => {
	const account = `acct-${Date.now()}`;
	const [a, b] = [limiter(account, 5), limiter(account, 5)];
	const stamps: number[] = [];
	const t0 = Date.now();
	await Promise.all(Array.from({ length: 20 }, (_v, i) => (i % 2 ? a : b).acquire(1).then(() => stamps.push(Date.now() - t0))));
	// Never more than 5 in any one second window.
	const perSecond = new Map<number, number>();
	for (const s of stamps) perSecond.set(Math.floor((t0 + s) / 1000), (perSecond.get(Math.floor((t0 + s) / 1000)) ?? 0) + 1);
	expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(5);
	expect(perSecond.size).toBeGreaterThanOrEqual(4);
	expect(Math.max(...stamps)).toBeGreaterThan(2000);
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
