/**
 * The campaign store: campaigns, runs, deliveries (claimed before any API call), events,
 * suppressions, enrollments and the copy cache. One implementation over SqlDriver serves both
 * Postgres and embedded PGlite.
 */
import type { Campaign, DeliveryResult } from '../schemas';
import type { Queryable, SqlDriver } from './driver';
import { migrate } from './migrations';
import { CLAIMABLE, DeliveryState, DeliveryTransitionError, TRANSITIONS, sourcesOf } from '../delivery/states';
import { clip, redactSecrets } from '../redact';
import type { Hold } from '../guard/breaker';
import type { WarmupPlan } from '../guard/warmup';
import { holdIn, warmupAllowanceIn } from './guard';
import { workerId } from '../observability/worker';
import { bigintArrayOf, jsonList, pgJson, textArrayOf } from './listParams';

export interface ClaimRow {
	delivery_id: string;
	email: string;
	variant: string;
	/** The Message-ID header this send carries (replies are matched on it). */
	reply_message_id?: string;
}

/** Claim rows as the JSON text json_to_recordset reads (the columns the claim inserts, nothing else). */
const CLAIM_COLUMNS = ['delivery_id', 'variant', 'email', 'reply_message_id'];
function claimRowsJson(rows: ClaimRow[]): string {
	return pgJson(JSON.stringify(rows, CLAIM_COLUMNS));
}

export interface ClaimedRow extends ClaimRow {
	/** The row's primary key: later updates address it directly. */
	id: string;
}

export interface ExistingDelivery {
	email: string;
	delivery_id: string;
	status: string;
	message_id: string | null;
	run_id: string;
}

export interface ClaimOutcome {
	claimed: ClaimedRow[];
	/** Rows that already existed and were not claimable (sent, failed, in flight or unconfirmed). */
	existing: ExistingDelivery[];
	/** Addresses suppressed when the claim was made: never claimed (lower-case address → reason). */
	suppressed: Map<string, string>;
	/** Claimed rows the daily cap could not take: recorded deferred in the claim itself. */
	deferred: ClaimedRow[];
	/** Why they were deferred (the daily cap, or the day's warm-up allowance). */
	deferredReason?: string;
	/** A hold (paused campaign or account) found at the claim: nothing was claimed. */
	held?: Hold;
}

/** The day's sending limit of an account: a fixed cap, a warm-up allowance, or both (the lower wins). */
export interface DailyLimit {
	account: string;
	/** 0 = none (a warm-up alone limits the day). */
	cap: number;
	day: string;
	warmup?: WarmupPlan;
}

export interface ClaimOptions {
	/** Rows claimed or unconfirmed, never confirmed by a processed event for this long, are claimed again. */
	reclaimUnconfirmedAfterSeconds?: number;
	/** The ASM group the step is sent under: its group suppressions count too. */
	groupId?: number;
	/** Unix seconds the request is scheduled for: a claim is never reclaimed before it plus the grace. */
	sendAt?: number;
	/** Reserve the account's daily quota in the same transaction; rows past the cap become deferred. */
	dailyCap?: DailyLimit;
	/** Holds that stop this claim ('campaign:<id>', 'account:<key>'): checked inside the claim's transaction. */
	holdScopes?: string[];
	/** The copy's language (the request's): kept on the row for the dashboard's per-language numbers. */
	language?: string;
}

/** A status change of claimed rows, as the run that claimed them asks for it. */
export interface OutcomeRequest {
	runId: string;
	ids: string[];
	status: DeliveryState;
	error?: string;
	http_status?: number;
	/** Only for 'sent': SendGrid's X-Message-Id. */
	message_id?: string;
	/** The daily quota these rows reserved when claimed: given back in the same transaction when nothing went out. */
	quota?: { account: string; day: string };
}

/** The delivery an inbound reply answers. */
export interface ReplyTarget {
	delivery_id: string;
	campaign_id: string;
	run_id: string;
	step: number;
	variant: string;
	email: string;
	matched_by: 'message_id' | 'x_message_id';
}

export interface Suppression {
	email: string;
	/** 'global' or 'group:<asm group id>' */
	scope: string;
	reason: string;
	source?: string;
}

export interface RunCounts {
	[status: string]: number;
}

export interface CachedCopy {
	copy: unknown;
	model: string | null;
	prompt_tokens: number;
	completion_tokens: number;
}

/** Error texts are stored redacted (a server may have echoed a key or a URL with a password) and bounded. */
function storedError(error: string | null | undefined): string | null {
	return error === null || error === undefined ? null : clip(redactSecrets(String(error)), 2000);
}

/** The columns every logged delivery row has, in the order recordResults' INSERTs list them. */
function rowColumns(part: DeliveryResult[]): unknown[][] {
	return [
		part.map((x) => x.delivery_id),
		part.map((x) => x.campaign_id),
		part.map((x) => x.run_id),
		part.map((x) => x.step),
		part.map((x) => x.variant),
		part.map((x) => x.email.toLowerCase()),
		part.map((x) => x.status),
	];
}

/** Outcomes after which nothing went out: the quota the row reserved is given back. */
const RELEASES_QUOTA: ReadonlySet<DeliveryState> = new Set(['retry', 'failed', 'suppressed']);
/** The (from, to) pairs a run's own report may make: generated from the state table. */
const OUTCOME_PAIRS = TRANSITIONS.filter((t) => t.cause === 'outcome');
const OUTCOME_STATES: ReadonlySet<string> = new Set(OUTCOME_PAIRS.map((t) => t.to));

export class CampaignStore {
	constructor(private readonly db: SqlDriver) {}


	get kind(): SqlDriver['kind'] {
		return this.db.kind;
	}

	migrate(): Promise<number[]> {
		return migrate(this.db);
	}

	close(): Promise<void> {
		return this.db.close();
	}

	async upsertCampaign(c: Campaign): Promise<void> {
		await this.db.query(
			`INSERT INTO eca_campaigns (id, name, definition) VALUES ($1, $2, $3)
			 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, definition = EXCLUDED.definition, updated_at = now()`,
			[c.id, c.name ?? null, JSON.stringify(c)],
		);
	}

	async getCampaign(id: string): Promise<Campaign | undefined> {
		const r = await this.db.query<{ definition: Campaign }>('SELECT definition FROM eca_campaigns WHERE id = $1', [id]);
		return r.rows[0]?.definition;
	}

	/**
	 * Records a run (once); `account` is the opaque key of the SendGrid account it sends with, so its events count for that account.
	 * `worker` (default: this process, host:pid) is who runs it now: the metrics count runs in progress per worker.
	 */
	async startRun(run: { runId: string; campaignId: string; step?: number; mode: string; total?: number; account?: string; worker?: string }): Promise<void> {
		await this.db.query(
			`INSERT INTO eca_runs (run_id, campaign_id, step, mode, total, account, worker) VALUES ($1, $2, $3, $4, $5, $6, $7)
			 ON CONFLICT (run_id) DO UPDATE SET total = GREATEST(eca_runs.total, EXCLUDED.total), account = COALESCE(EXCLUDED.account, eca_runs.account), worker = EXCLUDED.worker, updated_at = now()`,
			[run.runId, run.campaignId, run.step ?? null, run.mode, run.total ?? 0, run.account ?? null, run.worker ?? workerId()],
		);
	}

	/** The first hold among these scopes, if any (checked right before each SendGrid request). */
	activeHold(scopes: string[]): Promise<Hold | undefined> {
		return holdIn(this.db, scopes);
	}

	/** Live progress of a run (the dashboard's progress bar). */
	async recordProgress(runId: string, progress: { step: number; total: number; processed: number; counts: RunCounts }): Promise<void> {
		await this.db.query('UPDATE eca_runs SET progress = $2, updated_at = now() WHERE run_id = $1', [runId, JSON.stringify(progress)]);
	}

	async getRun(runId: string): Promise<Record<string, unknown> | undefined> {
		return (await this.db.query('SELECT * FROM eca_runs WHERE run_id = $1', [runId])).rows[0];
	}

	/**
	 * Claims deliveries before SendGrid is called, in one transaction: suppressed addresses are left
	 * out (checked inside the claim), claimable rows (see lib/delivery) become this run's, the daily
	 * quota is reserved and rows past it are deferred. Rows already sent, failed or in flight are
	 * returned as `existing` and are never sent again by this call; a row still `claimed` by a run
	 * that never reported becomes `unconfirmed`.
	 */
	async claimDeliveries(campaignId: string, runId: string, step: number, rows: ClaimRow[], options: ClaimOptions = {}): Promise<ClaimOutcome> {
		if (rows.length === 0) return { claimed: [], existing: [], suppressed: new Map(), deferred: [] };
		// Claimed but never confirmed by a processed event for this long (and past its send_at): SendGrid did not take it, send again.
		const reclaimAfter = options.reclaimUnconfirmedAfterSeconds ?? null;
		// Each address lower-cased once (every lookup below is by the lower-case address); rows are
		// worked on by their index in the caller's list, which is also the caller's order.
		const lower = rows.map((r) => r.email.toLowerCase());
		// One lock order for everyone (sorted addresses), so concurrent claimers never deadlock.
		const order = lower.map((_e, i) => i).sort((a, b) => (lower[a] < lower[b] ? -1 : lower[a] > lower[b] ? 1 : 0));
		const outcome = await this.db.transaction(async (tx): Promise<ClaimOutcome> => {
			// A paused campaign or account claims nobody: unsent recipients stay unclaimed until it is resumed.
			const held = await holdIn(tx, options.holdScopes ?? []);
			if (held) return { claimed: [], existing: [], suppressed: new Map(), deferred: [], held };
			const suppressed = await this.suppressedIn(tx, order.map((i) => lower[i]), options.groupId, campaignId, true);
			const wanted = order.filter((i) => !suppressed.has(lower[i]));
			// The rows go as one JSON text, read back with json_to_recordset: per-element array literals
			// (node-postgres' text[] encoding) were the claim's largest allocation, over 200 bytes a value.
			const inserted = await tx.query<{ id: string; email: string }>(
				`INSERT INTO eca_deliveries (delivery_id, campaign_id, run_id, step, variant, email, mode, status, attempts, claimed_at, reply_message_id, send_at, language)
				 SELECT t.delivery_id, $1, $2, $3, t.variant, t.email, 'live', 'claimed', 1, now(), t.reply_message_id, to_timestamp($8::float8), $9
				 FROM json_to_recordset($4::json) AS t(delivery_id text, variant text, email text, reply_message_id text)
				 ON CONFLICT (campaign_id, step, lower(email)) WHERE mode = 'live'
				 DO UPDATE SET status = 'claimed', run_id = EXCLUDED.run_id, variant = EXCLUDED.variant,
					delivery_id = EXCLUDED.delivery_id, attempts = eca_deliveries.attempts + 1,
					reply_message_id = COALESCE(EXCLUDED.reply_message_id, eca_deliveries.reply_message_id),
					send_at = EXCLUDED.send_at, language = EXCLUDED.language,
					claimed_at = now(), error = NULL, http_status = NULL, updated_at = now()
				 WHERE eca_deliveries.status = ANY($5::text[])
					OR ($6::float8 IS NOT NULL AND eca_deliveries.status = ANY($7::text[]) AND eca_deliveries.processed_at IS NULL
						AND eca_deliveries.claimed_at < now() - make_interval(secs => $6::float8)
						AND (eca_deliveries.send_at IS NULL OR eca_deliveries.send_at < now() - make_interval(secs => $6::float8)))
				 RETURNING id::text AS id, lower(email) AS email`,
				[
					campaignId,
					runId,
					step,
					claimRowsJson(wanted.map((i) => rows[i])),
					CLAIMABLE,
					reclaimAfter,
					sourcesOf('claimed', 'reclaim'),
					options.sendAt ?? null,
					options.language ?? null,
				],
			);
			const idOf = new Map(inserted.rows.map((r) => [r.email, r.id]));
			let claimed: ClaimedRow[] = [];
			/** Each claimed row's index in the caller's list. */
			const claimedAt: number[] = [];
			const others: string[] = [];
			for (const i of wanted) {
				const id = idOf.get(lower[i]);
				if (id === undefined) others.push(lower[i]);
				else {
					claimed.push({ ...rows[i], id });
					claimedAt.push(i);
				}
			}
			let existing: ExistingDelivery[] = [];
			if (others.length > 0) {
				existing = (
					await tx.query<ExistingDelivery>(
						`UPDATE eca_deliveries SET status = CASE WHEN status = ANY($4::text[]) AND run_id <> $5 THEN 'unconfirmed' ELSE status END,
							updated_at = CASE WHEN status = ANY($4::text[]) AND run_id <> $5 THEN now() ELSE updated_at END
						 WHERE id IN (
							SELECT id FROM eca_deliveries WHERE mode = 'live' AND campaign_id = $1 AND step = $2 AND lower(email) = ANY(${textArrayOf(3)})
							ORDER BY lower(email) FOR UPDATE)
						 RETURNING lower(email) AS email, delivery_id, status, message_id, run_id`,
						[campaignId, step, jsonList(others), sourcesOf('unconfirmed', 'orphan'), runId],
					)
				).rows;
			}
			let deferred: ClaimedRow[] = [];
			let deferredReason: string | undefined;
			if (options.dailyCap && claimed.length > 0) {
				const quota = await this.reserveQuotaIn(tx, options.dailyCap, claimed.length);
				if (quota.granted < claimed.length) {
					// Past the daily cap, the first addresses in the caller's order go out today.
					const byOrder = claimed.map((c, k) => ({ c, at: claimedAt[k] })).sort((x, y) => x.at - y.at).map((x) => x.c);
					deferred = byOrder.slice(quota.granted);
					deferredReason = `${quota.limit} reached; goes out on the next run after ${options.dailyCap.day}`;
					await this.transitionIn(tx, { runId, ids: deferred.map((d) => d.id), status: 'deferred', error: deferredReason });
					const gone = new Set(deferred);
					claimed = claimed.filter((c) => !gone.has(c));
				}
			}
			return { claimed, existing, suppressed, deferred, deferredReason };
		});
		await this.keepStatisticsFresh(outcome.claimed.length + outcome.deferred.length);
		return outcome;
	}

	/**
	 * Campaign rows arrive faster than autovacuum re-analyzes; with statistics from an empty table
	 * Postgres plans per-batch updates as scans of the whole campaign. Re-analyzing when the rows
	 * this process added double keeps plans on the indexes at a handful of ANALYZEs per campaign.
	 */
	private insertedRows = 0;
	private nextAnalyzeAt = 5000;
	private async keepStatisticsFresh(inserted: number): Promise<void> {
		this.insertedRows += inserted;
		if (this.insertedRows < this.nextAnalyzeAt || this.db.kind !== 'postgres') return;
		this.nextAnalyzeAt = this.insertedRows * 2;
		await this.db.query('ANALYZE eca_deliveries');
	}

	/**
	 * Records what happened to rows this run claimed (sent, unconfirmed, retry, failed, deferred,
	 * suppressed), in one transaction with the quota they give back. Only the run holding the claim,
	 * and only a transition lib/delivery allows: anything else is refused and reported.
	 */
	async recordOutcome(req: OutcomeRequest): Promise<void> {
		if (req.ids.length === 0) return;
		const refused = await this.db.transaction((tx) => this.transitionIn(tx, req));
		if (refused.length > 0) throw new DeliveryTransitionError(req.status, 'outcome', refused);
	}

	/** The rows that did not move, with the state they are in (null: not this run's claim). */
	private async transitionIn(tx: Queryable, req: OutcomeRequest): Promise<Array<{ id: string; from: string | null }>> {
		const from = sourcesOf(req.status, 'outcome');
		const sent = req.status === 'sent';
		const moved = await tx.query<{ id: string }>(
			`UPDATE eca_deliveries SET status = $3, error = $4, http_status = $5, updated_at = now(),
				message_id = CASE WHEN $6::boolean THEN COALESCE($7, message_id) ELSE message_id END,
				sent_at = CASE WHEN $6::boolean THEN COALESCE(sent_at, now()) ELSE sent_at END
			 WHERE id = ANY(${bigintArrayOf(1)}) AND run_id = $2 AND status = ANY($8::text[])
			 RETURNING id::text AS id`,
			[jsonList(req.ids), req.runId, req.status, sent ? null : storedError(req.error), req.http_status ?? null, sent, req.message_id ?? null, from],
		);
		if (req.quota && RELEASES_QUOTA.has(req.status) && moved.rowCount > 0)
			await tx.query('UPDATE eca_daily_quota SET used = GREATEST(0, used - $3) WHERE account = $1 AND day = $2', [req.quota.account, req.quota.day, moved.rowCount]);
		if (moved.rowCount === req.ids.length) return [];
		const done = new Set(moved.rows.map((r) => r.id));
		const left = req.ids.filter((id) => !done.has(String(id)));
		const now = await tx.query<{ id: string; status: string; run_id: string }>(`SELECT id::text AS id, status, run_id FROM eca_deliveries WHERE id = ANY(${bigintArrayOf(1)})`, [jsonList(left)]);
		const state = new Map(now.rows.map((r) => [r.id, r]));
		return left
			.map((id) => ({ id: String(id), row: state.get(String(id)) }))
			.filter((x) => !(x.row && x.row.run_id === req.runId && x.row.status === req.status))
			.map((x) => ({ id: x.id, from: x.row && x.row.run_id === req.runId ? x.row.status : null }));
	}

	/**
	 * Writes result rows (Log Campaign Result). A live row missing from the store (the send ran
	 * without one) is inserted; an existing row changes only when this result's run holds its claim
	 * and lib/delivery allows the move, so a stale report can never undo a newer run's claim. The
	 * results that were refused come back with the row's state. Dry-run and sandbox rows live apart
	 * from the live key so a rehearsal never blocks the real send.
	 */
	async recordResults(results: DeliveryResult[]): Promise<{ written: number; refused: Array<{ email: string; status: string; run_id: string; stored_status: string; stored_run_id: string }> }> {
		let written = 0;
		const refused: Array<{ email: string; status: string; run_id: string; stored_status: string; stored_run_id: string }> = [];
		const live = results.filter((r) => OUTCOME_STATES.has(r.status));
		const rehearsal = results.filter((r) => r.status === 'dry_run' || r.status === 'sandbox');
		const chunk = 5000;
		for (let i = 0; i < live.length; i += chunk) {
			const part = live.slice(i, i + chunk);
			const r = await this.db.query<{ email: string; campaign_id: string; step: number }>(
				`INSERT INTO eca_deliveries AS d (delivery_id, campaign_id, run_id, step, variant, email, mode, status, message_id, http_status, error, attempts, sent_at)
				 SELECT t.d, t.c, t.r, t.s, t.v, t.e, 'live', t.st, t.m, t.h, t.err, t.a, CASE WHEN t.st = 'sent' THEN now() END
				 FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::text[], $11::int[])
					AS t(d, c, r, s, v, e, st, m, h, err, a)
				 ON CONFLICT (campaign_id, step, lower(email)) WHERE mode = 'live'
				 DO UPDATE SET status = EXCLUDED.status, message_id = COALESCE(EXCLUDED.message_id, d.message_id),
					http_status = COALESCE(EXCLUDED.http_status, d.http_status), error = EXCLUDED.error, updated_at = now(),
					sent_at = COALESCE(d.sent_at, EXCLUDED.sent_at)
				 WHERE d.run_id = EXCLUDED.run_id
					AND (d.status, EXCLUDED.status) IN (SELECT * FROM unnest($12::text[], $13::text[]))
				 RETURNING lower(email) AS email, campaign_id, step`,
				[
					...rowColumns(part),
					part.map((x) => x.message_id ?? null),
					part.map((x) => x.http_status ?? null),
					part.map((x) => storedError(x.error)),
					part.map((x) => x.attempts ?? 0),
					OUTCOME_PAIRS.map((t) => t.from),
					OUTCOME_PAIRS.map((t) => t.to),
				],
			);
			written += r.rowCount;
			const done = new Set(r.rows.map((x) => `${x.campaign_id}\n${x.step}\n${x.email}`));
			const rest = part.filter((x) => !done.has(`${x.campaign_id}\n${x.step}\n${x.email.toLowerCase()}`));
			if (rest.length > 0) {
				// Not written: already in that state for that run (a repeated log), or refused — tell which.
				const now = await this.db.query<{ email: string; campaign_id: string; step: number; status: string; run_id: string }>(
					`SELECT lower(d.email) AS email, d.campaign_id, d.step, d.status, d.run_id
					 FROM unnest($1::text[], $2::int[], $3::text[]) AS t(c, s, e)
					 JOIN eca_deliveries d ON d.mode = 'live' AND d.campaign_id = t.c AND d.step = t.s AND lower(d.email) = t.e`,
					[rest.map((x) => x.campaign_id), rest.map((x) => x.step), rest.map((x) => x.email.toLowerCase())],
				);
				const stored = new Map(now.rows.map((x) => [`${x.campaign_id}\n${x.step}\n${x.email}`, x]));
				for (const x of rest) {
					const row = stored.get(`${x.campaign_id}\n${x.step}\n${x.email.toLowerCase()}`);
					// The store already saying the same (another run's unconfirmed claim reported as unconfirmed) is no conflict.
					if (row && row.status !== x.status)
						refused.push({ email: x.email, status: x.status, run_id: x.run_id, stored_status: row.status, stored_run_id: row.run_id });
				}
			}
		}
		for (let i = 0; i < rehearsal.length; i += chunk) {
			const part = rehearsal.slice(i, i + chunk);
			const r = await this.db.query(
				`INSERT INTO eca_deliveries (delivery_id, campaign_id, run_id, step, variant, email, mode, status)
				 SELECT t.d, t.c, t.r, t.s, t.v, t.e, t.st, t.st
				 FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[]) AS t(d, c, r, s, v, e, st)
				 ON CONFLICT (run_id, delivery_id) WHERE mode <> 'live' DO NOTHING`,
				rowColumns(part),
			);
			written += r.rowCount;
		}
		return { written, refused };
	}

	/**
	 * Recounts a run from its delivery rows and stores the counts on the run row. With `finished`
	 * the run ends: `failed` when an error is given, else `finished`; `interrupted` (resumable, with
	 * its error) is for a run that keeps a checkpoint to resume from.
	 */
	async refreshRun(
		runId: string,
		extra: { finished?: boolean; total?: number; llmCalls?: number; llmTokens?: number; error?: string; outcome?: 'finished' | 'failed' | 'interrupted' | 'paused' } = {},
	): Promise<RunCounts> {
		const counts: RunCounts = {};
		const rows = await this.db.query<{ status: string; n: number }>(
			'SELECT status, count(*)::int AS n FROM eca_deliveries WHERE run_id = $1 GROUP BY status',
			[runId],
		);
		for (const r of rows.rows) counts[r.status] = r.n;
		const outcome = extra.finished ? (extra.outcome ?? (extra.error ? 'failed' : 'finished')) : null;
		await this.db.query(
			`UPDATE eca_runs SET counts = $2, updated_at = now(),
				llm_calls = llm_calls + $3, llm_tokens = llm_tokens + $4,
				status = COALESCE($5::text, status),
				finished_at = CASE WHEN $5::text IS NOT NULL THEN now() ELSE finished_at END,
				error = CASE WHEN $5::text = 'finished' THEN NULL ELSE COALESCE($6, error) END,
				total = GREATEST(total, COALESCE($7::int, 0))
			 WHERE run_id = $1`,
			[runId, JSON.stringify(counts), extra.llmCalls ?? 0, extra.llmTokens ?? 0, outcome, storedError(extra.error), extra.total ?? null],
		);
		return counts;
	}

	/** Ends a run that stopped on an error; never throws (the store may be the thing that failed). */
	async failRun(runId: string, error: unknown, outcome: 'failed' | 'interrupted' = 'failed'): Promise<void> {
		const message = error instanceof Error ? error.message : String(error);
		await this.refreshRun(runId, { finished: true, error: message || 'failed', outcome }).catch(() => undefined);
	}

	async deliveries(filter: { campaignId?: string; runId?: string; step?: number; mode?: string } = {}): Promise<Array<Record<string, unknown>>> {
		const where: string[] = [];
		const params: unknown[] = [];
		const add = (sql: string, v: unknown) => {
			params.push(v);
			where.push(sql.replace('?', `$${params.length}`));
		};
		if (filter.campaignId) add('campaign_id = ?', filter.campaignId);
		if (filter.runId) add('run_id = ?', filter.runId);
		if (filter.step !== undefined) add('step = ?', filter.step);
		if (filter.mode) add('mode = ?', filter.mode);
		return (
			await this.db.query(`SELECT * FROM eca_deliveries ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id`, params)
		).rows;
	}

	/**
	 * The delivery a reply answers: one whose own Message-ID is among `messageIds` (In-Reply-To and
	 * References), else one sent to `sender` whose SendGrid X-Message-Id is among `xMessageIds`
	 * (SendGrid's own Message-ID is built from it; one X-Message-Id covers a whole request, hence the address).
	 */
	async findReplyTarget(messageIds: string[], xMessageIds: string[], sender: string | undefined): Promise<ReplyTarget | undefined> {
		if (messageIds.length > 0) {
			const r = await this.db.query<ReplyTarget>(
				`SELECT delivery_id, campaign_id, run_id, step, variant, lower(email) AS email, 'message_id' AS matched_by FROM eca_deliveries
				 WHERE reply_message_id = ANY($1::text[]) AND mode = 'live' ORDER BY id DESC LIMIT 1`,
				[messageIds],
			);
			if (r.rows[0]) return r.rows[0];
		}
		if (xMessageIds.length > 0 && sender) {
			const r = await this.db.query<ReplyTarget>(
				`SELECT delivery_id, campaign_id, run_id, step, variant, lower(email) AS email, 'x_message_id' AS matched_by FROM eca_deliveries
				 WHERE lower(email) = $2 AND message_id = ANY($1::text[]) AND mode = 'live' ORDER BY id DESC LIMIT 1`,
				[xMessageIds, sender.toLowerCase()],
			);
			if (r.rows[0]) return r.rows[0];
		}
		return undefined;
	}

	/**
	 * Records a matched reply once (keyed by its event id) in one transaction: the event row, the
	 * delivery's replied_at, the contact's enrollments in that campaign stopped, and a global
	 * suppression only when asked. A reply seen before changes nothing.
	 */
	async recordReply(reply: {
		eventId: string;
		target: ReplyTarget;
		at: string;
		payload: Record<string, unknown>;
		suppressGlobally?: boolean;
	}): Promise<{ fresh: boolean; sequencesStopped: number; suppressed: boolean }> {
		const { target } = reply;
		return this.db.transaction(async (tx) => {
			const ins = await tx.query(
				`INSERT INTO eca_events (sg_event_id, event, email, ts, campaign_id, run_id, step, variant, delivery_id, payload)
				 VALUES ($1, 'reply', $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (sg_event_id) DO NOTHING RETURNING sg_event_id`,
				[reply.eventId, target.email, reply.at, target.campaign_id, target.run_id, target.step, target.variant, target.delivery_id, JSON.stringify(reply.payload)],
			);
			if (ins.rowCount === 0) return { fresh: false, sequencesStopped: 0, suppressed: false };
			await tx.query(
				`UPDATE eca_deliveries SET replied_at = COALESCE(replied_at, $3), updated_at = now()
				 WHERE mode = 'live' AND delivery_id = $1 AND campaign_id = $2`,
				[target.delivery_id, target.campaign_id, reply.at],
			);
			const stopped = await tx.query(
				`UPDATE eca_enrollments SET status = 'stopped', stop_reason = 'replied', next_step = NULL, next_send_at = NULL, updated_at = now()
				 WHERE campaign_id = $1 AND lower(email) = $2 AND status = 'active'`,
				[target.campaign_id, target.email],
			);
			let suppressed = false;
			if (reply.suppressGlobally)
				suppressed = (await this.addSuppressions([{ email: target.email, scope: 'global', reason: 'replied', source: `inbound:${reply.eventId}` }], tx)) > 0;
			return { fresh: true, sequencesStopped: stopped.rowCount, suppressed };
		});
	}

	/** Which of these addresses may not be emailed (global suppressions, the given unsubscribe group's, the given campaign's). */
	async suppressedAmong(emails: string[], groupId?: number, campaignId?: string): Promise<Map<string, string>> {
		return this.suppressedIn(this.db, emails, groupId, campaignId);
	}

	/** Suppressed addresses among `emails` (global, the ASM group the step is sent under, or this campaign only): lower-case address → reason. */
	private async suppressedIn(q: Queryable, emails: string[], groupId?: number, campaignId?: string, lowerCased = false): Promise<Map<string, string>> {
		const out = new Map<string, string>();
		if (emails.length === 0) return out;
		const scopes = ['global'];
		if (groupId) scopes.push(`group:${groupId}`);
		if (campaignId) scopes.push(`campaign:${campaignId}`);
		const r = await q.query<{ email: string; reason: string }>(
			`SELECT email, reason FROM eca_suppressions WHERE email = ANY(${textArrayOf(1)}) AND scope = ANY($2::text[])`,
			[jsonList(lowerCased ? emails : emails.map((e) => e.toLowerCase())), scopes],
		);
		for (const row of r.rows) if (!out.has(row.email)) out.set(row.email, row.reason);
		return out;
	}

	async addSuppressions(list: Suppression[], tx: Queryable = this.db): Promise<number> {
		if (list.length === 0) return 0;
		const r = await tx.query(
			`INSERT INTO eca_suppressions (email, scope, reason, source)
			 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
			 ON CONFLICT (email, scope) DO NOTHING`,
			[list.map((s) => s.email.toLowerCase()), list.map((s) => s.scope), list.map((s) => s.reason), list.map((s) => s.source ?? null)],
		);
		return r.rowCount;
	}

	/** Lifts a suppression now, and remembers when: a SendGrid event from before the lift, re-posted later, does not suppress again. */
	async liftSuppression(email: string, scope: string, tx: Queryable = this.db): Promise<number> {
		await tx.query(
			`INSERT INTO eca_suppression_lifts AS l (email, scope, lifted_at, source) VALUES ($1, $2, now(), 'user')
			 ON CONFLICT (email, scope) DO UPDATE SET lifted_at = GREATEST(l.lifted_at, EXCLUDED.lifted_at), source = EXCLUDED.source`,
			[email.toLowerCase(), scope],
		);
		return (await tx.query('DELETE FROM eca_suppressions WHERE email = $1 AND scope = $2', [email.toLowerCase(), scope])).rowCount;
	}

	/**
	 * Reserves up to `wanted` sends from today's cap for an account; returns how many were granted.
	 * Atomic, so parallel executions and workers share one cap.
	 */
	async reserveDailyQuota(account: string, wanted: number, cap: number, day: string): Promise<number> {
		if (wanted <= 0) return 0;
		return (await this.db.transaction((tx) => this.reserveQuotaIn(tx, { account, cap, day }, wanted))).granted;
	}

	/**
	 * Takes up to `wanted` of the day's limit for the account (the cap, or the warm-up allowance when
	 * lower); returns how many it got and the limit, in words, that stopped the rest.
	 */
	private async reserveQuotaIn(tx: Queryable, limit: DailyLimit, wanted: number): Promise<{ granted: number; limit: string }> {
		const { account, day } = limit;
		let cap = limit.cap > 0 ? limit.cap : Infinity;
		let words = `daily cap of ${limit.cap}`;
		if (limit.warmup) {
			const w = await warmupAllowanceIn(tx, account, day, limit.warmup);
			if (w.allowance < cap) [cap, words] = [w.allowance, `warm-up allowance of ${w.allowance} for ${day} (${w.note})`];
		}
		await tx.query('INSERT INTO eca_daily_quota (account, day, used) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING', [account, day]);
		const row = await tx.query<{ used: number }>('SELECT used FROM eca_daily_quota WHERE account = $1 AND day = $2 FOR UPDATE', [account, day]);
		const used = row.rows[0]?.used ?? 0;
		const granted = Math.max(0, Math.min(wanted, cap - used));
		if (granted > 0) await tx.query('UPDATE eca_daily_quota SET used = used + $3 WHERE account = $1 AND day = $2', [account, day, granted]);
		return { granted, limit: words };
	}

	/** The day's quota the account has used (the dashboard, tests). */
	async dailyQuotaUsed(account: string, day: string): Promise<number> {
		return (await this.db.query<{ used: number }>('SELECT used FROM eca_daily_quota WHERE account = $1 AND day = $2', [account, day])).rows[0]?.used ?? 0;
	}

	/** Counts one call of a campaign API caller in a fixed window; returns the calls so far in it. */
	async countApiCall(caller: string, window: number): Promise<number> {
		const r = await this.db.query<{ n: number }>(
			`INSERT INTO eca_api_rate (caller, win, n) VALUES ($1, $2, 1) ON CONFLICT (caller, win) DO UPDATE SET n = eca_api_rate.n + 1 RETURNING n`,
			[caller, window],
		);
		return r.rows[0].n;
	}

	/** Drops the rate counts of windows before this one: the table holds about one window of callers. */
	async pruneApiCalls(beforeWindow: number): Promise<number> {
		return (await this.db.query('DELETE FROM eca_api_rate WHERE win < $1', [beforeWindow])).rowCount;
	}

	async getCachedCopy(key: string): Promise<CachedCopy | undefined> {
		return (await this.db.query<CachedCopy>('SELECT copy, model, prompt_tokens, completion_tokens FROM eca_copy_cache WHERE cache_key = $1', [key])).rows[0];
	}

	/** Forgets a cached copy that may no longer be used (the copy validator refuses it). */
	async dropCachedCopy(key: string): Promise<void> {
		await this.db.query('DELETE FROM eca_copy_cache WHERE cache_key = $1', [key]);
	}

	async putCachedCopy(entry: {
		key: string;
		campaignId: string;
		step: number;
		variant: string;
		language: string;
		tone: string;
		copy: unknown;
		model?: string;
		promptTokens: number;
		completionTokens: number;
	}): Promise<void> {
		await this.db.query(
			`INSERT INTO eca_copy_cache (cache_key, campaign_id, step, variant, language, tone, copy, model, prompt_tokens, completion_tokens)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (cache_key) DO NOTHING`,
			[entry.key, entry.campaignId, entry.step, entry.variant, entry.language, entry.tone, JSON.stringify(entry.copy), entry.model ?? null, entry.promptTokens, entry.completionTokens],
		);
	}

	/** What earlier steps of the sequence said, so a follow-up builds on them instead of repeating (language tags match case-insensitively: pt-br is pt-BR). */
	async previousStepCopies(campaignId: string, step: number, variant: string, language: string, tone: string): Promise<Array<{ step: number; subject: string; summary: string }>> {
		const r = await this.db.query<{ step: number; copy: { subject: string; text: string } }>(
			`SELECT DISTINCT ON (step) step, copy FROM eca_copy_cache
			 WHERE campaign_id = $1 AND step < $2 AND variant = $3 AND lower(language) = lower($4) AND tone = $5
			 ORDER BY step, created_at DESC`,
			[campaignId, step, variant, language, tone],
		);
		return r.rows.map((row) => ({ step: row.step, subject: row.copy.subject, summary: row.copy.text.slice(0, 400) }));
	}

	/** Tokens spent on this campaign's copy so far (cache rows are written once per generated copy). */
	async campaignTokenUsage(campaignId: string): Promise<{ prompt_tokens: number; completion_tokens: number; generations: number }> {
		const r = await this.db.query<{ p: number; c: number; n: number }>(
			'SELECT COALESCE(sum(prompt_tokens),0)::int AS p, COALESCE(sum(completion_tokens),0)::int AS c, count(*)::int AS n FROM eca_copy_cache WHERE campaign_id = $1',
			[campaignId],
		);
		const row = r.rows[0];
		return { prompt_tokens: row?.p ?? 0, completion_tokens: row?.c ?? 0, generations: row?.n ?? 0 };
	}
}

/** The store's driver, for the SQL functions in lib/store/*.ts: only lib/store may use it (not re-exported from lib/store/index.ts). */
export function driverOf(store: CampaignStore): SqlDriver {
	return store['db'];
}
