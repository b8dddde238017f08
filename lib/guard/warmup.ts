/**
 * Warm-up: a new SendGrid account (or IP pool) sends a small daily allowance that grows day by day
 * (e.g. 50, then ×1.5 each sending day up to a target), shared by every campaign, run and worker
 * through the store's daily quota. Growth pauses on its own while bounces or complaints since the
 * last allowance are elevated, and resumes when they fall.
 */
import { CampaignInputError } from '../schemas';

export interface WarmupPlan {
	/** The first day's allowance. */
	start: number;
	/** Multiplier from one sending day to the next (1.5 = +50 %). */
	growth: number;
	/** Where growth stops (0 or absent: only the Daily Cap, if any, limits it). */
	target?: number;
}

/** Elevated, not yet tripping the breaker: growth holds. Half the breaker's default limits. */
export const WARMUP_SLOWDOWN = { hardBounceRate: 0.025, spamRate: 0.0005, minOutcomes: 50 } as const;

export interface WarmupHealth {
	/** Delivered + bounced since the previous allowance was set. */
	outcomes: number;
	hard_bounced: number;
	delivered: number;
	spam_reports: number;
}

export interface WarmupDay {
	allowance: number;
	day_number: number;
	note: string;
}

/** Checks a plan given as node parameters. */
export function warmupPlan(input: { start?: number; growth?: number; target?: number }): WarmupPlan | undefined {
	const start = Number(input.start ?? 0);
	if (!start) return undefined;
	const growth = Number(input.growth ?? 1.5);
	const target = Number(input.target ?? 0);
	if (!Number.isInteger(start) || start < 1) throw new CampaignInputError(`Warm-Up Start must be a whole number of emails per day, at least 1 (got ${input.start})`, 'Limits → Warm-Up Start');
	if (!Number.isFinite(growth) || growth < 1 || growth > 10) throw new CampaignInputError(`Warm-Up Daily Growth must be from 1 to 10 (got ${input.growth})`, 'Limits → Warm-Up Daily Growth');
	if (!Number.isFinite(target) || target < 0) throw new CampaignInputError(`Warm-Up Target must be 0 (none) or a number of emails per day (got ${input.target})`, 'Limits → Warm-Up Target');
	return { start, growth, target: target > 0 ? target : undefined };
}

/** The allowance of a new sending day from the previous one and what happened since it was set. */
export function nextWarmupDay(previous: { allowance: number; day_number: number } | undefined, plan: WarmupPlan, health: WarmupHealth): WarmupDay {
	const cap = (n: number) => (plan.target ? Math.min(plan.target, n) : n);
	if (!previous) return { allowance: cap(plan.start), day_number: 1, note: 'warm-up day 1' };
	const day = previous.day_number + 1;
	const hardRate = health.outcomes > 0 ? health.hard_bounced / health.outcomes : 0;
	const spamRate = health.delivered > 0 ? health.spam_reports / health.delivered : 0;
	const elevated = health.outcomes >= WARMUP_SLOWDOWN.minOutcomes && (hardRate >= WARMUP_SLOWDOWN.hardBounceRate || spamRate >= WARMUP_SLOWDOWN.spamRate);
	if (elevated) {
		const why = hardRate >= WARMUP_SLOWDOWN.hardBounceRate ? `hard bounces at ${(hardRate * 100).toFixed(1)}%` : `spam complaints at ${(spamRate * 100).toFixed(2)}%`;
		return { allowance: previous.allowance, day_number: day, note: `warm-up day ${day}, held at the previous allowance: ${why} since it was set; growth resumes when they fall` };
	}
	const allowance = cap(Math.max(previous.allowance, Math.round(previous.allowance * plan.growth)));
	return { allowance, day_number: day, note: `warm-up day ${day}` };
}

const POOL_MARK = '|pool:';

/**
 * The key a day's quota and warm-up are kept under: the SendGrid account, or the account and IP pool
 * (`<account>|pool:<name>`) when a send names one, so each pool warms up and counts on its own.
 */
export function quotaKey(account: string, ipPoolName?: string): string {
	return ipPoolName ? `${account}${POOL_MARK}${ipPoolName}` : account;
}

/** The account a quota key belongs to (bounces and complaints are counted per account). */
export function accountOfQuotaKey(key: string): string {
	const i = key.indexOf(POOL_MARK);
	return i < 0 ? key : key.slice(0, i);
}
