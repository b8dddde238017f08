/**
 * Backoff for SendGrid (and the LLM endpoint): 429 waits until X-RateLimit-Reset when SendGrid
 * says when, otherwise exponential backoff with full jitter; 5xx and network errors back off too.
 */

export interface BackoffPolicy {
	/** Retries after the first attempt for 5xx, timeouts and connection errors. */
	maxRetries: number;
	/** Retries for 429 (rate limited) responses; these are expected under load, so they get their own budget. */
	maxRateLimitRetries: number;
	baseDelayMs: number;
	maxDelayMs: number;
	random: () => number;
	sleep: (ms: number) => Promise<void>;
	now: () => number;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function defaultBackoff(overrides: Partial<BackoffPolicy> = {}): BackoffPolicy {
	return {
		maxRetries: 5,
		maxRateLimitRetries: 20,
		baseDelayMs: 500,
		maxDelayMs: 30_000,
		random: Math.random,
		sleep,
		now: Date.now,
		...overrides,
	};
}

/** Full jitter: a uniform wait in [0, min(cap, base·2^attempt)]. */
export function jitteredDelay(attempt: number, policy: Pick<BackoffPolicy, 'baseDelayMs' | 'maxDelayMs' | 'random'>): number {
	const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
	return Math.floor(policy.random() * ceiling);
}

/**
 * Milliseconds until the rate-limit window resets, from X-RateLimit-Reset (unix seconds) or
 * Retry-After (seconds); undefined when the response says neither.
 */
export function resetDelay(headers: Record<string, string>, now: number): number | undefined {
	const reset = Number(headers['x-ratelimit-reset']);
	if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - now) + 50;
	const after = Number(headers['retry-after']);
	if (Number.isFinite(after) && after >= 0) return after * 1000;
	return undefined;
}
