/**
 * The reputation guard's SQL: holds (paused campaigns and accounts) with their log, event counters per
 * scope and minute, and warm-up allowances per account and day. The rules live in lib/guard.
 */
import { type GuardThresholds, type Hold, type ReputationCounts, judge } from '../guard/breaker';
import { type WarmupDay, type WarmupPlan, accountOfQuotaKey, nextWarmupDay } from '../guard/warmup';
import type { Queryable } from './driver';
import { driverOf, type CampaignStore } from './campaignStore';

const HOLD_COLUMNS = `scope, cause, reason, detail, held_by, held_at::text AS held_at`;

/** The first hold among these scopes (an account hold before a campaign one), or undefined. */
export async function holdIn(q: Queryable, scopes: string[]): Promise<Hold | undefined> {
	if (scopes.length === 0) return undefined;
	const r = await q.query<Hold>(`SELECT ${HOLD_COLUMNS} FROM eca_holds WHERE scope = ANY($1::text[]) ORDER BY scope LIMIT 1`, [scopes]);
	return r.rows[0];
}

export function activeHold(store: CampaignStore, scopes: string[]): Promise<Hold | undefined> {
	return holdIn(driverOf(store), scopes);
}

/** Every hold in place (the dashboard, Get Status). */
export async function listHolds(store: CampaignStore, scopes?: string[]): Promise<Hold[]> {
	const r = await driverOf(store).query<Hold>(
		`SELECT ${HOLD_COLUMNS} FROM eca_holds WHERE $1::text[] IS NULL OR scope = ANY($1::text[]) ORDER BY held_at DESC LIMIT 200`,
		[scopes ?? null],
	);
	return r.rows;
}

/** Holds a scope; returns the new hold, or undefined when it was already held (the first hold and its reason stay). */
export async function placeHoldIn(q: Queryable, h: { scope: string; cause: string; reason: string; detail?: Record<string, unknown>; by: string }): Promise<Hold | undefined> {
	const r = await q.query<Hold>(
		`INSERT INTO eca_holds (scope, cause, reason, detail, held_by) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT (scope) DO NOTHING RETURNING ${HOLD_COLUMNS}`,
		[h.scope, h.cause, h.reason, JSON.stringify(h.detail ?? {}), h.by],
	);
	const hold = r.rows[0];
	if (hold)
		await q.query(`INSERT INTO eca_hold_log (scope, action, cause, reason, detail, actor) VALUES ($1, 'pause', $2, $3, $4, $5)`, [h.scope, h.cause, h.reason, JSON.stringify(h.detail ?? {}), h.by]);
	return hold;
}

export function placeHold(store: CampaignStore, h: { scope: string; cause: string; reason: string; detail?: Record<string, unknown>; by: string }): Promise<Hold | undefined> {
	return driverOf(store).transaction((tx) => placeHoldIn(tx, h));
}

/**
 * Lifts holds and records who did. The breaker's counters of those scopes start again from zero: the
 * events that tripped it would otherwise trip it again on the next bounce.
 */
export async function liftHolds(store: CampaignStore, scopes: string[], actor: string): Promise<Hold[]> {
	if (scopes.length === 0) return [];
	return driverOf(store).transaction(async (tx) => {
		const r = await tx.query<Hold>(`DELETE FROM eca_holds WHERE scope = ANY($1::text[]) RETURNING ${HOLD_COLUMNS}`, [scopes]);
		for (const h of r.rows)
			await tx.query(`INSERT INTO eca_hold_log (scope, action, cause, reason, actor) VALUES ($1, 'resume', $2, $3, $4)`, [h.scope, h.cause, h.reason, actor]);
		await tx.query('DELETE FROM eca_reputation WHERE scope = ANY($1::text[])', [r.rows.map((h) => h.scope)]);
		return r.rows;
	});
}

export interface HoldLogEntry {
	scope: string;
	action: 'pause' | 'resume';
	cause: string | null;
	reason: string | null;
	actor: string;
	at: string;
}

/** Who paused and resumed these scopes, newest first. */
export async function holdLog(store: CampaignStore, scopes: string[], limit = 20): Promise<HoldLogEntry[]> {
	const r = await driverOf(store).query<HoldLogEntry>(
		'SELECT scope, action, cause, reason, actor, at::text AS at FROM eca_hold_log WHERE scope = ANY($1::text[]) ORDER BY at DESC, id DESC LIMIT $2',
		[scopes, limit],
	);
	return r.rows;
}

/** The SendGrid accounts (opaque keys) a campaign's runs sent with. */
export async function accountsOfCampaign(store: CampaignStore, campaignId: string): Promise<string[]> {
	const r = await driverOf(store).query<{ account: string }>('SELECT DISTINCT account FROM eca_runs WHERE campaign_id = $1 AND account IS NOT NULL', [campaignId]);
	return r.rows.map((x) => x.account);
}

/** Fresh events of one campaign and run, counted for the breaker (test sends and unmatched events excluded by the caller). */
export interface ReputationDelta extends ReputationCounts {
	campaign_id: string;
	run_id: string | null;
}

/**
 * Adds a post's fresh events to the counters of their campaign and of the account their run sent
 * with, in the current minute; returns every scope it counted for: bounces or complaints trip a
 * limit, and so do deliveries that bring a window with many bounces up to the minimum sends (SendGrid
 * posts a bounce in one batch and the deliveries that make the rate meaningful in later ones). Run
 * inside the events' transaction, last, so its row locks are held only until the commit.
 */
export async function countReputationIn(tx: Queryable, deltas: ReputationDelta[]): Promise<string[]> {
	if (deltas.length === 0) return [];
	const col = (k: keyof ReputationCounts) => deltas.map((d) => d[k]);
	const r = await tx.query<{ scope: string }>(
		`WITH ${reputationCountCtes('SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[], $6::int[], $7::int[]) AS t(campaign_id, run_id, p, d, b, h, s)')}
		 SELECT scope FROM post`,
		[deltas.map((d) => d.campaign_id), deltas.map((d) => d.run_id), col('processed'), col('delivered'), col('bounced'), col('hard_bounced'), col('spam_reports')],
	);
	return r.rows.map((x) => x.scope);
}

/**
 * The counting as SQL: `post` (the counts per scope: the rows' campaign, and the account their run
 * sent with) and `counted` (added to the current minute's counters), from a query answering
 * campaign_id, run_id and the 0/1 or counts p (processed), d (delivered), b (bounced), h (hard
 * bounced), s (spam reports). countReputationIn and the events' one-statement store both count with it.
 */
export function reputationCountCtes(rows: string): string {
	return `post AS (
			SELECT sc.scope, sum(t.p)::int AS p, sum(t.d)::int AS d, sum(t.b)::int AS b, sum(t.h)::int AS h, sum(t.s)::int AS s
			FROM (${rows}) AS t
			LEFT JOIN eca_runs ru ON ru.run_id = t.run_id
			CROSS JOIN LATERAL (VALUES ('campaign:' || t.campaign_id), ('account:' || ru.account)) AS sc(scope)
			WHERE sc.scope IS NOT NULL
			GROUP BY sc.scope),
		 counted AS (
			INSERT INTO eca_reputation AS r (scope, minute, processed, delivered, bounced, hard_bounced, spam_reports)
			SELECT scope, date_trunc('minute', now()), p, d, b, h, s FROM post ORDER BY scope
			ON CONFLICT (scope, minute) DO UPDATE SET processed = r.processed + EXCLUDED.processed, delivered = r.delivered + EXCLUDED.delivered,
				bounced = r.bounced + EXCLUDED.bounced, hard_bounced = r.hard_bounced + EXCLUDED.hard_bounced, spam_reports = r.spam_reports + EXCLUDED.spam_reports
			RETURNING scope)`;
}

/** The counters of these scopes summed over the window (and since the scope was last resumed: lifting clears them). */
export async function reputationIn(q: Queryable, scopes: string[], windowHours: number, since?: string): Promise<Map<string, ReputationCounts>> {
	const r = await q.query<ReputationCounts & { scope: string }>(
		`SELECT scope, sum(processed)::int AS processed, sum(delivered)::int AS delivered, sum(bounced)::int AS bounced,
			sum(hard_bounced)::int AS hard_bounced, sum(spam_reports)::int AS spam_reports
		 FROM eca_reputation WHERE scope = ANY($1::text[]) AND minute > now() - make_interval(secs => $2::float8 * 3600)
			AND ($3::timestamptz IS NULL OR minute >= date_trunc('minute', $3::timestamptz))
		 GROUP BY scope`,
		[scopes, windowHours, since ?? null],
	);
	return new Map(r.rows.map(({ scope, ...c }) => [scope, c]));
}

export function reputationOf(store: CampaignStore, scopes: string[], windowHours: number): Promise<Map<string, ReputationCounts>> {
	return reputationIn(driverOf(store), scopes, windowHours);
}

/**
 * The breaker, inside the events' transaction: each scope whose bounces or complaints grew is judged
 * over the window; those past a limit are held (an existing hold stays as it was). Counters older than
 * a week past the window are dropped for those scopes.
 */
export async function tripBreakersIn(tx: Queryable, scopes: string[], t: GuardThresholds): Promise<Hold[]> {
	const allowed = scopes.filter((s) => t.scopes.some((k) => s.startsWith(`${k}:`)));
	if (allowed.length === 0) return [];
	const counts = await reputationIn(tx, allowed, t.windowHours);
	const placed: Hold[] = [];
	for (const scope of allowed) {
		const c = counts.get(scope);
		if (!c) continue;
		const v = judge(c, t);
		if (!v.trip) continue;
		const hold = await placeHoldIn(tx, {
			scope,
			cause: v.cause!,
			reason: v.reason!,
			detail: { ...c, sends: v.sends, hard_bounce_rate: v.hardBounceRate, spam_rate: v.spamRate, thresholds: { ...t } },
			by: 'reputation guard',
		});
		if (hold) placed.push(hold);
	}
	await tx.query(`DELETE FROM eca_reputation WHERE scope = ANY($1::text[]) AND minute < now() - make_interval(secs => $2::float8 * 3600) - interval '7 days'`, [allowed, t.windowHours]);
	return placed;
}

/**
 * Today's warm-up allowance for an account: set by the first claim of the day (from the previous
 * sending day's allowance and the account's bounces and complaints since it was set) and the same for
 * every later claim, run and worker.
 */
export async function warmupAllowanceIn(tx: Queryable, account: string, day: string, plan: WarmupPlan): Promise<WarmupDay> {
	const today = await tx.query<WarmupDay>('SELECT allowance, day_number, note FROM eca_warmup WHERE account = $1 AND day = $2::date', [account, day]);
	if (today.rows[0]) return today.rows[0];
	const prev = (
		await tx.query<{ allowance: number; day_number: number; decided_at: string }>(
			'SELECT allowance, day_number, decided_at::text AS decided_at FROM eca_warmup WHERE account = $1 AND day < $2::date ORDER BY day DESC LIMIT 1',
			[account, day],
		)
	).rows[0];
	// An IP pool's warm-up (key `<account>|pool:<name>`) reads its account's bounces and complaints.
	const scope = `account:${accountOfQuotaKey(account)}`;
	const since = prev ? (await reputationIn(tx, [scope], 24 * 30, prev.decided_at)).get(scope) : undefined;
	const next = nextWarmupDay(prev, plan, {
		outcomes: (since?.delivered ?? 0) + (since?.bounced ?? 0),
		hard_bounced: since?.hard_bounced ?? 0,
		delivered: since?.delivered ?? 0,
		spam_reports: since?.spam_reports ?? 0,
	});
	await tx.query('INSERT INTO eca_warmup (account, day, allowance, day_number, note) VALUES ($1, $2::date, $3, $4, $5) ON CONFLICT DO NOTHING', [
		account,
		day,
		next.allowance,
		next.day_number,
		next.note,
	]);
	// Another claimer may have set it first: everyone uses the stored one.
	return (await tx.query<WarmupDay>('SELECT allowance, day_number, note FROM eca_warmup WHERE account = $1 AND day = $2::date', [account, day])).rows[0];
}

/** The warm-up days of an account so far (Get Status, tests). */
export async function warmupHistory(store: CampaignStore, account: string): Promise<Array<WarmupDay & { day: string }>> {
	const r = await driverOf(store).query<WarmupDay & { day: string }>('SELECT day::text AS day, allowance, day_number, note FROM eca_warmup WHERE account = $1 ORDER BY day', [account]);
	return r.rows;
}
