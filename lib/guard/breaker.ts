/**
 * The reputation guard's circuit breaker, as rules over counts: when, within a rolling window, hard
 * bounces or spam complaints pass their limits (after enough sends to mean something), a campaign or
 * a whole SendGrid account is held. A hold stops every claim of its scope, in every execution and on
 * every worker (they share the store), until someone resumes it. The counts come from the SendGrid
 * Trigger's events (lib/store/events.ts counts them; lib/store/guard.ts keeps holds and counters).
 */
import { CampaignError } from '../errors';
import { CampaignInputError } from '../schemas';

/** Where a hold applies: one campaign, or every campaign sent with one SendGrid account (an opaque key). */
export type HoldScope = `campaign:${string}` | `account:${string}`;

export const campaignScope = (campaignId: string): HoldScope => `campaign:${campaignId}`;
export const accountScope = (account: string): HoldScope => `account:${account}`;

/** Why a scope is held. */
export type HoldCause = 'hard_bounces' | 'spam_reports' | 'account_refused' | 'manual';

export interface Hold {
	scope: string;
	cause: HoldCause | string;
	/** One line for people: what was measured against which limit. */
	reason: string;
	detail?: Record<string, unknown>;
	held_by: string;
	held_at: string;
}

export interface GuardThresholds {
	/** Hard bounces as a fraction of delivered + bounced (0.05 = 5 %). */
	hardBounceRate: number;
	/** Spam reports as a fraction of delivered (0.001 = 0.1 %). */
	spamRate: number;
	/** No verdict before this many sends in the window. */
	minSends: number;
	windowHours: number;
	/** Which scopes the breaker may hold. */
	scopes: ReadonlyArray<'campaign' | 'account'>;
}

/**
 * Gmail and Yahoo throttle senders whose complaint rate passes 0.3 %; the default trips well before.
 * SendGrid reviews accounts with high bounce rates; 5 % hard bounces means the list is not clean.
 */
export const DEFAULT_GUARD: GuardThresholds = { hardBounceRate: 0.05, spamRate: 0.001, minSends: 200, windowHours: 24, scopes: ['campaign', 'account'] };

/** Fresh events of one scope in the window, counted by the store. */
export interface ReputationCounts {
	processed: number;
	delivered: number;
	bounced: number;
	hard_bounced: number;
	spam_reports: number;
}

export interface Verdict {
	trip: boolean;
	cause?: 'hard_bounces' | 'spam_reports';
	reason?: string;
	sends: number;
	hardBounceRate: number;
	spamRate: number;
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 ? 2 : 1)}%`;

/** Sends: SendGrid's processed events, or what came back when processed is not subscribed. */
export function sendsOf(c: ReputationCounts): number {
	return Math.max(c.processed, c.delivered + c.bounced);
}

/** The breaker's rule: strictly above a limit, once the window holds at least minSends sends. */
export function judge(c: ReputationCounts, t: GuardThresholds): Verdict {
	const sends = sendsOf(c);
	const outcomes = c.delivered + c.bounced;
	const hardBounceRate = outcomes > 0 ? c.hard_bounced / outcomes : 0;
	const spamBase = c.delivered > 0 ? c.delivered : sends;
	const spamRate = spamBase > 0 ? c.spam_reports / spamBase : 0;
	const v: Verdict = { trip: false, sends, hardBounceRate, spamRate };
	if (sends < t.minSends) return v;
	const window = `over the last ${t.windowHours} h`;
	if (hardBounceRate > t.hardBounceRate)
		return { ...v, trip: true, cause: 'hard_bounces', reason: `hard bounces at ${pct(hardBounceRate)} of delivered + bounced (${c.hard_bounced} of ${outcomes}) ${window}, above the ${pct(t.hardBounceRate)} limit` };
	if (spamRate > t.spamRate)
		return { ...v, trip: true, cause: 'spam_reports', reason: `spam complaints at ${pct(spamRate)} of delivered (${c.spam_reports} of ${spamBase}) ${window}, above the ${pct(t.spamRate)} limit` };
	return v;
}

/** Reads thresholds given in percent (node parameters) into fractions, refusing nonsense with the field named. */
export function guardThresholds(input: { hardBounceRatePercent?: number; spamRatePercent?: number; minSends?: number; windowHours?: number; scopes?: string[] }): GuardThresholds {
	const num = (v: unknown, field: string, min: number, max: number, fallback: number) => {
		if (v === undefined || v === null || v === '') return fallback;
		const n = Number(v);
		if (!Number.isFinite(n) || n < min || n > max) throw new CampaignInputError(`${field} must be a number from ${min} to ${max} (got ${String(v)})`, `Reputation Limits → ${field}`);
		return n;
	};
	const scopes = (input.scopes ?? DEFAULT_GUARD.scopes).filter((s): s is 'campaign' | 'account' => s === 'campaign' || s === 'account');
	return {
		hardBounceRate: num(input.hardBounceRatePercent, 'Max Hard Bounce Rate (%)', 0, 100, DEFAULT_GUARD.hardBounceRate * 100) / 100,
		spamRate: num(input.spamRatePercent, 'Max Spam Complaint Rate (%)', 0, 100, DEFAULT_GUARD.spamRate * 100) / 100,
		minSends: Math.round(num(input.minSends, 'Minimum Sends', 1, 10_000_000, DEFAULT_GUARD.minSends)),
		windowHours: num(input.windowHours, 'Window (Hours)', 1, 24 * 30, DEFAULT_GUARD.windowHours),
		scopes,
	};
}

/** What a hold means for the person reading a run's output: what, why, since when, and how to go on. */
export function describeHold(h: Hold): string {
	const [kind, id] = [h.scope.slice(0, h.scope.indexOf(':')), h.scope.slice(h.scope.indexOf(':') + 1)];
	const what = kind === 'account' ? `the SendGrid account (key ${id.slice(0, 8)}…)` : `campaign "${id}"`;
	const how =
		kind === 'account'
			? 'fix the account in SendGrid, then resume it with Campaign Sequence → Resume (Resume SendGrid Account on)'
			: 'clean the list or fix the cause, then resume it with Campaign Sequence → Resume';
	return `${what} is paused since ${h.held_at} by ${h.held_by}: ${h.reason} — unsent recipients stay unclaimed; ${how}`;
}

/** Thrown inside a send when a hold appears between claim and request: the batch gives its claims back. */
export class CampaignHeldError extends CampaignError {
	constructor(readonly hold: Hold) {
		super(describeHold(hold));
	}
}

/** 401, or a 403 about the account (not about a sender or a setting): every request with this key would fail. */
export function isAccountRefusal(status: number | undefined, message: string): boolean {
	if (status === 401) return true;
	if (status !== 403) return false;
	// A 403 naming the From address (unverified Sender Identity) is the campaign's problem, not the account's.
	return !/sender identity|from address/i.test(message);
}
