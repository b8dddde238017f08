/**
 * Limits on requests/s and emails/s. One limiter per SendGrid account and process is shared by
 * every execution (n8n runs several at once); a Redis-backed one holds the limit across queue-mode
 * workers. A 429 pauses everyone sharing the limiter until SendGrid's reset.
 */
import { createHash } from 'node:crypto';
import type { RedisOptions } from 'ioredis';
import { sleep } from './retry';
import { redactDetail, redactUrl } from '../redact';
import { CampaignError } from '../errors';

export interface RateLimits {
	/** 0 = unlimited */
	requestsPerSecond: number;
	/** 0 = unlimited */
	emailsPerSecond: number;
}

export interface RateLimiter {
	/** Waits until one request carrying `emails` recipients may go out. */
	acquire(emails: number): Promise<void>;
	/** Everyone sharing the limiter waits until this time (after a 429). */
	pauseUntil(epochMs: number): void;
	setLimits(limits: RateLimits): void;
	close?(): Promise<void>;
}

class Bucket {
	private tokens: number;
	private last: number;
	constructor(
		public rate: number,
		private readonly now: () => number,
	) {
		this.tokens = rate;
		this.last = now();
	}

	private refill(): void {
		const t = this.now();
		this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) / 1000) * this.rate);
		this.last = t;
	}

	/** How long until `n` may be taken (n is capped at one second's worth so big requests still pass). */
	waitFor(n: number): number {
		if (this.rate <= 0) return 0;
		this.refill();
		const need = Math.min(n, this.rate);
		return this.tokens >= need ? 0 : Math.ceil(((need - this.tokens) / this.rate) * 1000);
	}

	take(n: number): void {
		if (this.rate > 0) this.tokens -= n;
	}
}

export class TokenBucketLimiter implements RateLimiter {
	private readonly requests: Bucket;
	private readonly emails: Bucket;
	private pausedUntil = 0;
	private queue: Promise<void> = Promise.resolve();

	constructor(
		limits: RateLimits,
		private readonly now: () => number = Date.now,
		private readonly wait: (ms: number) => Promise<void> = sleep,
	) {
		this.requests = new Bucket(limits.requestsPerSecond, now);
		this.emails = new Bucket(limits.emailsPerSecond, now);
	}

	setLimits(limits: RateLimits): void {
		this.requests.rate = limits.requestsPerSecond;
		this.emails.rate = limits.emailsPerSecond;
	}

	pauseUntil(epochMs: number): void {
		this.pausedUntil = Math.max(this.pausedUntil, epochMs);
	}

	acquire(emails: number): Promise<void> {
		// Callers are served in order so a big request is not starved by small ones.
		const turn = this.queue.then(async () => {
			for (;;) {
				const paused = this.pausedUntil - this.now();
				const ms = Math.max(paused, this.requests.waitFor(1), this.emails.waitFor(emails));
				if (ms <= 0) break;
				await this.wait(ms);
			}
			this.requests.take(1);
			this.emails.take(emails);
		});
		this.queue = turn.catch(() => undefined);
		return turn;
	}
}

const shared = new Map<string, RateLimiter>();

/** An opaque key for an account: the API key is hashed, never kept. */
export function accountKey(apiKey: string, baseUrl: string): string {
	return createHash('sha256').update(`${baseUrl}\n${apiKey}`).digest('hex').slice(0, 24);
}

/** The in-process limiter shared by every execution using the same SendGrid account. */
export function sharedLimiter(account: string, limits: RateLimits): RateLimiter {
	let limiter = shared.get(account);
	if (!limiter) {
		limiter = new TokenBucketLimiter(limits);
		shared.set(account, limiter);
	} else limiter.setLimits(limits);
	return limiter;
}

/** Per-second windows in Redis, checked and taken atomically for requests and emails together. */
const REDIS_ACQUIRE = `
local req = tonumber(redis.call('GET', KEYS[1]) or '0')
local em = tonumber(redis.call('GET', KEYS[2]) or '0')
local pause = tonumber(redis.call('GET', KEYS[3]) or '0')
local now = tonumber(ARGV[4])
if pause > now then return pause - now end
local maxReq = tonumber(ARGV[1])
local maxEm = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
if (maxReq > 0 and req + 1 > maxReq) or (maxEm > 0 and em > 0 and em + n > maxEm) then
  return 1000 - (now % 1000)
end
redis.call('INCRBY', KEYS[1], 1)
redis.call('PEXPIRE', KEYS[1], 2000)
redis.call('INCRBY', KEYS[2], n)
redis.call('PEXPIRE', KEYS[2], 2000)
return 0
`;

export interface RedisLike {
	eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
	set(key: string, value: string, mode: 'PX', ms: number): Promise<unknown>;
	quit(): Promise<unknown>;
}

export class RedisRateLimiter implements RateLimiter {
	constructor(
		private readonly redis: RedisLike,
		private readonly account: string,
		private limits: RateLimits,
		private readonly prefix = 'eca:rl',
		private readonly now: () => number = Date.now,
	) {}

	setLimits(limits: RateLimits): void {
		this.limits = limits;
	}

	pauseUntil(epochMs: number): void {
		const ms = epochMs - this.now();
		if (ms > 0) void this.redis.set(`${this.prefix}:{${this.account}}:pause`, String(epochMs), 'PX', ms).catch(() => undefined);
	}

	async acquire(emails: number): Promise<void> {
		for (;;) {
			const t = this.now();
			const second = Math.floor(t / 1000);
			const base = `${this.prefix}:{${this.account}}`;
			const wait = Number(
				await this.redis.eval(
					REDIS_ACQUIRE,
					3,
					`${base}:req:${second}`,
					`${base}:em:${second}`,
					`${base}:pause`,
					this.limits.requestsPerSecond,
					this.limits.emailsPerSecond,
					emails,
					t,
				),
			);
			if (wait <= 0) return;
			await sleep(wait);
		}
	}

	async close(): Promise<void> {
		await this.redis.quit().catch(() => undefined);
	}
}

/** Where the shared limiter's Redis is (the Campaign Redis credential): options, never a URL holding the password. */
export interface RedisConnection {
	host: string;
	port: number;
	/** Database number (SELECT n). */
	db?: number;
	/** Redis 6 ACL user; empty for password-only auth. */
	username?: string;
	password?: string;
	tls?: boolean;
	/** Verify the server certificate (default true when tls is on). */
	tlsRejectUnauthorized?: boolean;
}

/** Lazy: the limiter connects and reports failures itself. A failed socket is dropped after 0.5 s, not ioredis' 2 s. */
const CLIENT_OPTIONS = { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: true, disconnectTimeout: 500 } as const;

/** ioredis options for a connection. */
export function redisOptions(conn: RedisConnection): RedisOptions {
	return {
		...CLIENT_OPTIONS,
		host: conn.host,
		port: conn.port,
		db: conn.db ?? 0,
		username: conn.username || undefined,
		password: conn.password || undefined,
		tls: conn.tls ? { rejectUnauthorized: conn.tlsRejectUnauthorized !== false } : undefined,
	};
}

export class RateLimiterError extends CampaignError {
	constructor(message: string) {
		super(message, { source: 'service' });
	}
}

const redisLimiters = new Map<string, Promise<RateLimiter>>();

/** Network failures in words: n8n replaces any message that contains a code such as ECONNREFUSED with a generic one. */
const NETWORK_REASONS: Record<string, string> = {
	ECONNREFUSED: 'connection refused',
	ENOTFOUND: 'host not found',
	EAI_AGAIN: 'host name lookup failed',
	ETIMEDOUT: 'timed out',
	ECONNRESET: 'connection reset',
	EHOSTUNREACH: 'host unreachable',
	ENETUNREACH: 'network unreachable',
};

function describeRedisError(connection: RedisConnection | string) {
	const secrets = typeof connection === 'string' ? [] : [connection.password];
	const where = typeof connection === 'string' ? redactUrl(connection) : `${connection.host}:${connection.port}`;
	// Errors name the server, never the password (a URL's userinfo is masked too).
	return (what: string, e: unknown) =>
		new RateLimiterError(
			`Campaign Redis at ${where} ${what}: ${NETWORK_REASONS[String((e as { code?: unknown })?.code)] ?? redactDetail(String((e as Error)?.message ?? e), secrets, 300)} — check the Campaign Redis credential (host, port, password, SSL) and that Redis is running`,
		);
}

async function connectRedis(connection: RedisConnection | string, describe: ReturnType<typeof describeRedisError>): Promise<import('ioredis').default> {
	const { default: Redis } = await import('ioredis');
	const redis = typeof connection === 'string' ? new Redis(connection, { ...CLIENT_OPTIONS }) : new Redis(redisOptions(connection));
	// An unhandled 'error' event would crash n8n; failures surface through the calls instead.
	let lastError: unknown;
	redis.on('error', (e) => (lastError = e));
	try {
		await redis.connect();
	} catch (e) {
		redis.disconnect(); // stop ioredis reconnecting in the background
		throw describe('could not be reached', lastError ?? e); // the 'error' event says why ("Connection is closed" does not)
	}
	return redis;
}

/** The Campaign Redis credential test: connect, PING, disconnect. */
export async function pingRedis(connection: RedisConnection): Promise<void> {
	const describe = describeRedisError(connection);
	const redis = await connectRedis({ ...connection }, describe);
	try {
		await redis.ping();
	} catch (e) {
		throw describe('did not answer PING', e);
	} finally {
		redis.disconnect();
	}
}

/**
 * A Redis-backed limiter shared by all workers (queue mode); one connection per process, Redis and
 * account. A URL is accepted for tests and scripts; nodes pass the credential's fields.
 */
export function sharedRedisLimiter(connection: RedisConnection | string, account: string, limits: RateLimits): Promise<RateLimiter> {
	const describe = describeRedisError(connection);
	const key = createHash('sha256').update(`${JSON.stringify(connection)}|${account}`).digest('hex');
	let limiter = redisLimiters.get(key);
	if (!limiter) {
		limiter = (async () => {
			const redis = await connectRedis(connection, describe);
			const inner = new RedisRateLimiter(redis as unknown as RedisLike, account, limits);
			const guarded: RateLimiter = {
				acquire: (emails) =>
					inner.acquire(emails).catch((e) => {
						throw describe('failed while rate limiting', e);
					}),
				pauseUntil: (epochMs) => inner.pauseUntil(epochMs),
				setLimits: (l) => inner.setLimits(l),
				close: () => inner.close(),
			};
			return guarded;
		})();
		redisLimiters.set(key, limiter);
		limiter.catch(() => redisLimiters.delete(key));
	}
	return limiter.then((l) => {
		l.setLimits(limits);
		return l;
	});
}
