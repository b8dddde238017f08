/**
 * Applying SendGrid events to the store in one transaction: each event stored once (its sg_event_id,
 * and its natural key: message id + address + event + time, + url for clicks), delivery rows updated
 * (processed confirms unconfirmed sends; events without custom args joined by message id or smtp-id),
 * suppressions added or lifted in event time order, and sequences stopped for people who left.
 */
import type { CampaignEvent } from '../events/normalize';
import { isTestSendEvent, messageIdOf, messageIdOfSmtpId, stopFor, suppressionFor, timeWasGuessed } from '../events/normalize';
import { sourcesOf } from '../delivery/states';
import type { Queryable } from './driver';
import { driverOf, type CampaignStore } from './campaignStore';
import type { GuardThresholds, Hold } from '../guard/breaker';
import { type ReputationDelta, countReputationIn, reputationCountCtes, tripBreakersIn } from './guard';
import { CampaignError } from '../errors';

export interface ApplyEventsResult {
	received: number;
	inserted: number;
	duplicates: number;
	matched: number;
	suppressionsAdded: number;
	suppressionsLifted: number;
	sequencesStopped: number;
	/** Events the database refused even one at a time: stored as a bare row (id, event, the error) and not applied. */
	quarantined: number;
	/** The events that were new (not replays), in input order. */
	fresh: CampaignEvent[];
	/** Campaigns or accounts the reputation guard paused because of this post. */
	paused: Hold[];
}

export interface ApplyEventsOptions {
	/** Opens flagged sg_machine_open (Apple Mail Privacy Protection) do not count as opens. */
	countMachineOpens?: boolean;
	/** Contacts who click leave their sequences (off by default). */
	stopSequenceOnClick?: boolean;
	/** The reputation guard's limits: a campaign or account past them is paused in the same transaction. Absent: events are counted, nobody is paused. */
	guard?: GuardThresholds;
	/**
	 * false: a post is stored, applied to deliveries and counted in a statement each, as posts with
	 * events to join or suppressions always are (tests compare both ways). Default: one statement when it can.
	 */
	combine?: boolean;
}

/** What a post's fresh events add to the breaker's counters, per campaign and run (the run names the account). */
function reputationDeltas(events: CampaignEvent[]): ReputationDelta[] {
	const by = new Map<string, ReputationDelta>();
	for (const e of events) {
		if (!e.campaign_id) continue;
		const counts = e.event === 'processed' || e.event === 'delivered' || e.event === 'bounce' || e.event === 'spamreport';
		if (!counts) continue;
		const key = `${e.campaign_id}\n${e.run_id ?? ''}`;
		let d = by.get(key);
		if (!d) by.set(key, (d = { campaign_id: e.campaign_id, run_id: e.run_id ?? null, processed: 0, delivered: 0, bounced: 0, hard_bounced: 0, spam_reports: 0 }));
		if (e.event === 'processed') d.processed++;
		else if (e.event === 'delivered') d.delivered++;
		else if (e.event === 'spamreport') d.spam_reports++;
		else {
			d.bounced++;
			// SendGrid's bounce types: 'bounce' (permanent) and 'blocked' (temporary, a soft bounce).
			if ((e.type ?? 'bounce') === 'bounce') d.hard_bounced++;
		}
	}
	return [...by.values()];
}

/**
 * The second dedupe key: SendGrid may re-post an event under a new sg_event_id, but its message,
 * address, type and time (and the link, for clicks) stay. None when the time was made up on arrival
 * or the event names no message.
 */
export function naturalKeyOf(e: CampaignEvent): string | null {
	if (timeWasGuessed(e)) return null;
	// sg_message_id names one recipient's message; the X-Message-Id in an smtp-id a whole request, so the address must be there too.
	const smtp = e.sg_message_id ? undefined : messageIdOfSmtpId(e.smtp_id);
	const mid = e.sg_message_id ?? (smtp && e.email ? `smtp:${smtp}` : undefined);
	if (!mid) return null;
	return `${mid}\u001f${e.email}\u001f${e.event}\u001f${e.timestamp}\u001f${e.event === 'click' ? (e.url ?? '') : ''}`;
}

interface Agg {
	first: string;
	last: string;
	n: number;
	extra?: string;
	extra2?: string;
}

function aggregate(
	events: Array<CampaignEvent & { delivery_id: string }>,
	extraOf: (e: CampaignEvent) => string | undefined,
	extra2Of: (e: CampaignEvent) => string | undefined,
): Agg[] & { ids: string[] } {
	const by = new Map<string, Agg>();
	for (const e of events) {
		const a = by.get(e.delivery_id);
		if (!a) by.set(e.delivery_id, { first: e.timestamp, last: e.timestamp, n: 1, extra: extraOf(e), extra2: extra2Of(e) });
		else {
			if (e.timestamp < a.first) a.first = e.timestamp;
			if (e.timestamp > a.last) a.last = e.timestamp;
			a.n++;
		}
	}
	const list = [...by.values()] as Agg[] & { ids: string[] };
	list.ids = [...by.keys()];
	return list;
}

/** The states a processed or delivered event confirms as sent (lib/delivery's table; constants, written into the SQL). */
const CONFIRMABLE = sourcesOf('sent', 'event').map((x) => `'${x}'`).join(', ');

/** What a post's pivoted rows t (one per delivery: see UPDATE_DELIVERIES) set on the delivery row d. */
const DELIVERY_SET = `
		processed_at = COALESCE(LEAST(d.processed_at, t.p_first), t.p_first),
		sg_message_id = COALESCE(d.sg_message_id, t.p_extra),
		message_id = COALESCE(d.message_id, t.p_extra2),
		status = CASE WHEN (t.p_first IS NOT NULL OR t.dl_first IS NOT NULL) AND d.status IN (${CONFIRMABLE}) THEN 'sent' ELSE d.status END,
		sent_at = COALESCE(d.sent_at, t.p_first),
		delivered_at = COALESCE(LEAST(d.delivered_at, t.dl_first), t.dl_first),
		opened_at = COALESCE(LEAST(d.opened_at, t.o_first), t.o_first), open_count = d.open_count + COALESCE(t.o_n, 0),
		clicked_at = COALESCE(LEAST(d.clicked_at, t.c_first), t.c_first), click_count = d.click_count + COALESCE(t.c_n, 0),
		bounced_at = COALESCE(d.bounced_at, t.b_first),
		bounce_type = CASE WHEN t.b_first IS NOT NULL THEN t.b_extra ELSE d.bounce_type END,
		bounce_reason = COALESCE(t.dr_extra2, CASE WHEN t.b_first IS NOT NULL THEN t.b_extra2 ELSE d.bounce_reason END),
		dropped_at = COALESCE(d.dropped_at, t.dr_first),
		deferred_count = d.deferred_count + COALESCE(t.df_n, 0),
		unsubscribed_at = COALESCE(d.unsubscribed_at, t.u_first, t.gu_first),
		spam_reported_at = COALESCE(d.spam_reported_at, t.s_first),
		updated_at = now()
`;

/**
 * Every kind's delivery update in one statement: a post's rows [kind, delivery_id, first, n, extra, extra2]
 * (one per kind and delivery) pivoted to one row per delivery, each column set as the kinds would set
 * it one after the other in this order: processed, delivered, open, click, bounce, dropped, deferred,
 * unsubscribe, group_unsubscribe, spamreport (a kind a delivery has no row of leaves its columns as they
 * are: LEAST and COALESCE pass over NULL). One round trip instead of one per kind. `kinds` counts the
 * kinds that matched a row, as a statement per kind counted its rows.
 */
const UPDATE_DELIVERIES = `WITH up AS (
	UPDATE eca_deliveries d SET ${DELIVERY_SET}
	FROM (SELECT x->>1 AS id, count(*)::int AS kinds,
			min((x->>2)::timestamptz) FILTER (WHERE x->>0 = 'processed') AS p_first, min(x->>4) FILTER (WHERE x->>0 = 'processed') AS p_extra, min(x->>5) FILTER (WHERE x->>0 = 'processed') AS p_extra2,
			min((x->>2)::timestamptz) FILTER (WHERE x->>0 = 'delivered') AS dl_first,
			min((x->>2)::timestamptz) FILTER (WHERE x->>0 = 'open') AS o_first, sum((x->>3)::int) FILTER (WHERE x->>0 = 'open') AS o_n,
			min((x->>2)::timestamptz) FILTER (WHERE x->>0 = 'click') AS c_first, sum((x->>3)::int) FILTER (WHERE x->>0 = 'click') AS c_n,
			min((x->>2)::timestamptz) FILTER (WHERE x->>0 = 'bounce') AS b_first, min(x->>4) FILTER (WHERE x->>0 = 'bounce') AS b_extra, min(x->>5) FILTER (WHERE x->>0 = 'bounce') AS b_extra2,
			min((x->>2)::timestamptz) FILTER (WHERE x->>0 = 'dropped') AS dr_first, min(x->>5) FILTER (WHERE x->>0 = 'dropped') AS dr_extra2,
			sum((x->>3)::int) FILTER (WHERE x->>0 = 'deferred') AS df_n,
			min((x->>2)::timestamptz) FILTER (WHERE x->>0 = 'unsubscribe') AS u_first,
			min((x->>2)::timestamptz) FILTER (WHERE x->>0 = 'group_unsubscribe') AS gu_first,
			min((x->>2)::timestamptz) FILTER (WHERE x->>0 = 'spamreport') AS s_first
		  FROM jsonb_array_elements($1::jsonb) AS x GROUP BY x->>1) AS t
	WHERE d.mode = 'live' AND d.delivery_id = t.id
	RETURNING t.kinds)
 SELECT COALESCE(sum(kinds), 0)::int AS matched FROM up`;

/** The kinds that update deliveries, in the order their updates apply. */
const DELIVERY_KINDS = ['processed', 'delivered', 'open', 'click', 'bounce', 'dropped', 'deferred', 'unsubscribe', 'group_unsubscribe', 'spamreport'];

// The events travel as JSON text (encodeEvents): one native JSON.stringify per piece, instead of pg
// escaping a text[] element by element, and as shapes and rows. A natural key is sent as 1 when it is made of the event's own stored fields
// (sg_message_id, email, event, timestamp, url for clicks: the common case) and then built here, the
// same text naturalKeyOf builds, so the md5 matches rows stored before; else as its text, or null for none.
// $1: the shapes; $3…: the pieces of rows, in order. `src` is every event of the post with its row.
const eventsSource = (pieces: number): string => `src AS (
	 SELECT piece.n AS pn, e.i, e.row, p.value, r.timestamp AS ev_ts, r.*
	 FROM (SELECT $1::jsonb AS shapes) AS doc
	 CROSS JOIN (VALUES ${Array.from({ length: pieces }, (_x, k) => `($${k + 3}::jsonb, ${k})`).join(', ')}) AS piece(rows, n)
	 CROSS JOIN LATERAL jsonb_array_elements(piece.rows) WITH ORDINALITY AS e(row, i)
	 CROSS JOIN LATERAL (SELECT jsonb_object_agg(f.key, e.row -> (f.n::int + ${ROW_LEAD - 1})) AS value
	                     FROM jsonb_array_elements_text(doc.shapes -> (e.row ->> 0)::int) WITH ORDINALITY AS f(key, n)) AS p
	 CROSS JOIN LATERAL jsonb_to_record(p.value) AS r(sg_event_id text, event text, email text, timestamp timestamptz, sg_message_id text,
	                                                  campaign_id text, run_id text, step int, variant text, delivery_id text, type text, reason text)),
	ins AS (
	 INSERT INTO eca_events (sg_event_id, event, email, ts, sg_message_id, campaign_id, run_id, step, variant, delivery_id, natural_key, payload)
	 SELECT sg_event_id, event, email, ev_ts, sg_message_id, campaign_id, run_id, step, variant, delivery_id,
	        CASE jsonb_typeof(row -> 1)
	          WHEN 'string' THEN md5(row ->> 1)
	          WHEN 'number' THEN md5(sg_message_id || chr(31) || email || chr(31) || event || chr(31) || (value->>'timestamp') || chr(31) || CASE WHEN event = 'click' THEN coalesce(value->>'url', '') ELSE '' END)
	        END,
	        value
	 FROM src
	 ORDER BY pn, i
	 ON CONFLICT DO NOTHING
	 RETURNING sg_event_id)`;

/**
 * The insert alone. The answer is one row: how many were inserted and, only when that is fewer than
 * the $2 sent (replays), which — not a row per event for pg to read back.
 */
const insertEventsSql = (pieces: number): string => `WITH ${eventsSource(pieces)}
	 SELECT count(*)::int AS n, CASE WHEN count(*) < $2 THEN array_agg(sg_event_id) END AS ids FROM ins`;

/**
 * The insert, the delivery updates and the reputation counters of a post in one statement, for a post
 * with no event to join by message id and none that suppresses or stops anyone (the common case):
 * one round trip instead of three, and the delivery rows are pivoted by Postgres from the events it
 * inserted instead of sent again as JSON. Row slot 2 says what a new event does besides being stored
 * (0: nothing, a test send; 1: it counts for the reputation guard; 2: it also updates its delivery —
 * the same events byKind picks), slot 3 is a processed event's X-Message-Id (messageIdOf). The delivery
 * columns are pivoted as UPDATE_DELIVERIES pivots aggregate()'s rows (first time, count, and the extra
 * fields of the first event of its kind in the post), and the counters as countReputationIn counts
 * reputationDeltas. Answers n and ids as the insert alone does, matched (as updateDeliveries) and the
 * scopes counted (as countReputationIn).
 */
const applyEventsSql = (pieces: number): string => `WITH ${eventsSource(pieces)},
	fresh AS (SELECT s.* FROM src s JOIN ins USING (sg_event_id) WHERE (s.row ->> 2)::int > 0),
	t AS (
	 SELECT delivery_id AS id, count(DISTINCT event)::int AS kinds,
		min(ev_ts) FILTER (WHERE event = 'processed') AS p_first,
		(array_agg(sg_message_id ORDER BY pn, i) FILTER (WHERE event = 'processed'))[1] AS p_extra,
		(array_agg(row ->> 3 ORDER BY pn, i) FILTER (WHERE event = 'processed'))[1] AS p_extra2,
		min(ev_ts) FILTER (WHERE event = 'delivered') AS dl_first,
		min(ev_ts) FILTER (WHERE event = 'open') AS o_first, count(*) FILTER (WHERE event = 'open') AS o_n,
		min(ev_ts) FILTER (WHERE event = 'click') AS c_first, count(*) FILTER (WHERE event = 'click') AS c_n,
		min(ev_ts) FILTER (WHERE event = 'bounce') AS b_first,
		(array_agg(type ORDER BY pn, i) FILTER (WHERE event = 'bounce'))[1] AS b_extra,
		(array_agg(reason ORDER BY pn, i) FILTER (WHERE event = 'bounce'))[1] AS b_extra2,
		min(ev_ts) FILTER (WHERE event = 'dropped') AS dr_first,
		(array_agg(reason ORDER BY pn, i) FILTER (WHERE event = 'dropped'))[1] AS dr_extra2,
		count(*) FILTER (WHERE event = 'deferred') AS df_n,
		min(ev_ts) FILTER (WHERE event = 'unsubscribe') AS u_first,
		min(ev_ts) FILTER (WHERE event = 'group_unsubscribe') AS gu_first,
		min(ev_ts) FILTER (WHERE event = 'spamreport') AS s_first
	 FROM fresh WHERE (row ->> 2)::int = 2 AND event IN (${DELIVERY_KINDS.map((k) => `'${k}'`).join(', ')})
	 GROUP BY delivery_id),
	up AS (
	 UPDATE eca_deliveries d SET ${DELIVERY_SET}
	 FROM t WHERE d.mode = 'live' AND d.delivery_id = t.id
	 RETURNING t.kinds),
	${reputationCountCtes(`SELECT campaign_id, run_id, (event = 'processed')::int AS p, (event = 'delivered')::int AS d, (event = 'bounce')::int AS b,
	       (event = 'bounce' AND coalesce(type, 'bounce') = 'bounce')::int AS h, (event = 'spamreport')::int AS s
	 FROM fresh WHERE campaign_id IS NOT NULL AND event IN ('processed', 'delivered', 'bounce', 'spamreport')`)}
	 SELECT (SELECT count(*)::int FROM ins) AS n, (SELECT CASE WHEN count(*) < $2 THEN array_agg(sg_event_id) END FROM ins) AS ids,
	        (SELECT COALESCE(sum(kinds), 0)::int FROM up) AS matched, ARRAY(SELECT scope FROM post ORDER BY scope) AS scopes`;

/**
 * Events per piece of rows: each piece is its own JSON text and parameter, well under the ~128 KB
 * from which V8 allocates a string in its large-object space (fresh pages mapped for each: about
 * 0.5 ms for the 134 KB a 1,000-event post made as one text, on n8n's main thread).
 */
export const ROWS_PER_PIECE = 256;
/** Slots of a row before the event's values: shape, natural key, what it does (applyEventsSql), X-Message-Id. */
const ROW_LEAD = 4;

/** What a new event does besides being stored, for applyEventsSql: 0 nothing (a test send), 1 counts for the guard, 2 also updates its delivery (as byKind picks). */
function effectOf(e: CampaignEvent, options: ApplyEventsOptions): 0 | 1 | 2 {
	if (isTestSendEvent(e)) return 0;
	return !e.delivery_id || (e.event === 'open' && e.machine_open && !options.countMachineOpens) ? 1 : 2;
}

/**
 * The events as the insert reads them: the shapes (each the field names an event has, in order:
 * normalizeEvent adds them in one fixed order, so a post has a few) and pieces of rows, each row its
 * shape's index, the event's natural key (naturalKeyParam), what it does (effectOf), a processed
 * event's X-Message-Id, and then the values. Every event's field names went over the wire once per
 * event before — about 45 % of a post's bytes, which pg copied into its buffer and the socket took.
 * Postgres puts each object back together (jsonb_object_agg): the same jsonb payload as
 * JSON.stringify of the event, undefined fields left out.
 */
export function encodeEvents(events: readonly CampaignEvent[], options: ApplyEventsOptions = {}, perPiece = ROWS_PER_PIECE): { shapes: string; pieces: string[] } {
	// A shape is found by walking a tree of the field names in order (one Map lookup per field), not by
	// joining them into a text per event to look up.
	const root: ShapeNode = { next: new Map(), shape: -1 };
	const names: string[][] = [];
	const pieces: string[] = [];
	for (let at = 0; at < events.length; at += perPiece) {
		const rows: unknown[][] = new Array(Math.min(perPiece, events.length - at));
		for (let j = 0; j < rows.length; j++) {
			const e = events[at + j] as unknown as Record<string, unknown>;
			const row: unknown[] = [0, naturalKeyParam(e as unknown as CampaignEvent), effectOf(e as unknown as CampaignEvent, options), e.event === 'processed' ? (messageIdOf(e.sg_message_id as string | undefined) ?? null) : 0];
			let node = root;
			for (const k in e) {
				const v = e[k];
				if (v === undefined) continue;
				let next = node.next.get(k);
				if (!next) node.next.set(k, (next = { next: new Map(), shape: -1 }));
				node = next;
				row.push(v);
			}
			if (node.shape < 0) {
				node.shape = names.length;
				const keys: string[] = [];
				for (const k in e) if (e[k] !== undefined) keys.push(k);
				names.push(keys);
			}
			row[0] = node.shape;
			rows[j] = row;
		}
		pieces.push(JSON.stringify(rows));
	}
	return { shapes: JSON.stringify(names), pieces };
}

interface ShapeNode {
	next: Map<string, ShapeNode>;
	/** The shape whose field names are the path to here, or -1. */
	shape: number;
}

/** The statements' texts by number of pieces, made once (a post of up to 1,000 events has up to 4 pieces). */
const texts = new Map<(pieces: number) => string, string[]>();
const textOf = (sql: (pieces: number) => string, pieces: number): string => {
	let known = texts.get(sql);
	if (!known) texts.set(sql, (known = []));
	return (known[pieces] ??= sql(pieces));
};

/** A statement over these events (insertEventsSql or applyEventsSql) and its parameters. */
function eventsQuery(sql: (pieces: number) => string, events: readonly CampaignEvent[], options: ApplyEventsOptions = {}): [string, unknown[]] {
	const { shapes, pieces } = encodeEvents(events, options);
	return [pieces.length <= 64 ? textOf(sql, pieces.length) : sql(pieces.length), [shapes, events.length, ...pieces]];
}

/** What the insert gets for an event's natural key: 1 (built in SQL from its fields), the key's text, or null. */
export function naturalKeyParam(e: CampaignEvent): 1 | string | null {
	if (e.sg_message_id && typeof e.email === 'string' && typeof e.event === 'string' && typeof e.timestamp === 'string' && !timeWasGuessed(e)) return 1;
	return naturalKeyOf(e);
}

/**
 * The database refused the batch insert itself (an SQL error such as a value out of range), told apart
 * from a lost connection or a deadlock (thrown as they are: the driver retries a deadlock, SendGrid a 5xx).
 * It keeps the SQL code, so the driver passes it through unchanged.
 */
class BatchRefused extends CampaignError {
	constructor(readonly refused: Error & { code: string }) {
		super(refused.message, { cause: refused, source: 'service', field: 'events' });
	}
	get code(): string {
		return this.refused.code;
	}
}
const refusedByDatabase = (e: unknown): e is Error & { code: string } => {
	const code = (e as { code?: unknown })?.code;
	return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|40|53|57|58)/.test(code);
};

interface InsertAnswer {
	n: number;
	ids: string[] | null;
}
/** Every event of the batch was inserted (the common case: no set of ids to build and look up). */
const ALL = 'all' as const;
type Inserted = Set<string> | typeof ALL;

/**
 * One statement per batch, the events passed as JSON (encodeEvents): JSON.stringify instead of
 * eleven text arrays escaped element by element (bench:events measured the difference); with
 * `combined` (the options), the statement also applies the post (applyEventsSql). Either key
 * (sg_event_id or natural key) already there: not inserted. The batch goes without a savepoint (two
 * round trips less per post): when the database refuses it, the statement throws BatchRefused and
 * applyEvents runs the whole transaction again with `oneByOne`, where the events go in one at a time
 * under savepoints, and one the database refuses alone is kept as a bare row: the rest of the post
 * is stored and SendGrid is answered 2xx.
 */
async function insertEvents(
	tx: Queryable,
	events: CampaignEvent[],
	oneByOne: boolean,
	combined?: ApplyEventsOptions,
): Promise<{ inserted: Inserted; quarantined: Set<string>; applied?: { matched: number; scopes: string[] } }> {
	const quarantined = new Set<string>();
	if (!oneByOne) {
		let row: InsertAnswer & { matched?: number; scopes?: string[] };
		try {
			row = (await tx.query<InsertAnswer & { matched?: number; scopes?: string[] }>(...(combined ? eventsQuery(applyEventsSql, events, combined) : eventsQuery(insertEventsSql, events)))).rows[0];
		} catch (e) {
			throw refusedByDatabase(e) ? new BatchRefused(e) : e;
		}
		const inserted = row.n === events.length ? ALL : new Set(row.ids ?? []);
		return { inserted, quarantined, applied: combined ? { matched: row.matched ?? 0, scopes: row.scopes ?? [] } : undefined };
	}
	const inserted = new Set<string>();
	for (let i = 0; i < events.length; i++) {
		const e = events[i];
		const one = await guarded(tx, 'eca_events_one', () => tx.query<InsertAnswer>(...eventsQuery(insertEventsSql, [e])));
		if (one.ok) {
			if (one.value.rows[0].n === 1) inserted.add(e.sg_event_id);
			continue;
		}
		const bare = { sg_event_id: String(e.sg_event_id).slice(0, 200), event: String(e.event).slice(0, 64), problems: [`not storable: ${one.error.slice(0, 300)}`] };
		const kept = await guarded(tx, 'eca_events_one', () =>
			tx.query<{ sg_event_id: string }>(
				`INSERT INTO eca_events (sg_event_id, event, payload) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING sg_event_id`,
				[bare.sg_event_id, bare.event, JSON.stringify(bare)],
			),
		);
		if (kept.ok && kept.value.rows.length > 0) quarantined.add(e.sg_event_id);
	}
	return { inserted, quarantined };
}

/** Runs one statement under a savepoint: a refused statement is rolled back alone, the transaction goes on. */
async function guarded<T>(tx: Queryable, name: string, run: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
	await tx.query(`SAVEPOINT ${name}`);
	try {
		const value = await run();
		await tx.query(`RELEASE SAVEPOINT ${name}`);
		return { ok: true, value };
	} catch (e) {
		// A lost connection fails here too and is thrown: SendGrid retries the post.
		await tx.query(`ROLLBACK TO SAVEPOINT ${name}`);
		return { ok: false, error: (e as Error).message ?? String(e) };
	}
}

/**
 * Joins events without custom args (async bounces, processed events of sends that lost them) to their
 * delivery: through the sg_message_id, the X-Message-Id in it or in the smtp-id (SendGrid's Message-ID,
 * "<x-message-id@…>"), or the Message-ID the delivery went out with. One X-Message-Id covers a whole
 * request, so the address must match too.
 */
const isOrphan = (e: CampaignEvent): boolean => !e.delivery_id && !!e.email && !!(e.sg_message_id || e.smtp_id);

async function resolveByMessageId(tx: Queryable, events: CampaignEvent[]): Promise<void> {
	const orphans = events.filter(isOrphan);
	if (orphans.length === 0) return;
	const r = await tx.query<{ i: number; delivery_id: string; campaign_id: string; run_id: string; step: number; variant: string }>(
		`SELECT DISTINCT ON (t.i) t.i, d.delivery_id, d.campaign_id, d.run_id, d.step, d.variant
		 FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(i, smid, mid, smtpmid, smtp, email)
		 JOIN eca_deliveries d ON d.mode = 'live' AND lower(d.email) = t.email
			AND (d.sg_message_id = t.smid OR d.message_id = t.mid OR d.message_id = t.smtpmid OR d.reply_message_id = t.smtp)
		 ORDER BY t.i, d.id DESC`,
		[
			orphans.map((_e, i) => i),
			orphans.map((e) => e.sg_message_id ?? null),
			orphans.map((e) => messageIdOf(e.sg_message_id) ?? null),
			orphans.map((e) => messageIdOfSmtpId(e.smtp_id) ?? null),
			orphans.map((e) => e.smtp_id?.trim() ?? null),
			orphans.map((e) => e.email),
		],
	);
	if (r.rows.length === 0) return;
	for (const row of r.rows) {
		const e = orphans[row.i];
		Object.assign(e, { delivery_id: row.delivery_id, campaign_id: row.campaign_id, run_id: row.run_id, step: row.step, variant: row.variant });
	}
	await tx.query(
		`UPDATE eca_events ev SET delivery_id = t.d, campaign_id = t.c, run_id = t.r, step = t.s, variant = t.v
		 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[]) AS t(id, d, c, r, s, v)
		 WHERE ev.sg_event_id = t.id`,
		[
			r.rows.map((x) => orphans[x.i].sg_event_id),
			r.rows.map((x) => x.delivery_id),
			r.rows.map((x) => x.campaign_id),
			r.rows.map((x) => x.run_id),
			r.rows.map((x) => x.step),
			r.rows.map((x) => x.variant),
		],
	);
}

async function updateDeliveries(tx: Queryable, byKind: Map<string, Array<CampaignEvent & { delivery_id: string }>>): Promise<number> {
	// One JSON text of rows [kind, id, first, n, extra, extra2]: no per-element array escaping.
	const rows: Array<[string, string, string, number, string | null, string | null]> = [];
	for (const kind of DELIVERY_KINDS) {
		const events = byKind.get(kind);
		if (!events || events.length === 0) continue;
		const agg =
			kind === 'processed'
				? aggregate(events, (e) => e.sg_message_id, (e) => messageIdOf(e.sg_message_id))
				: aggregate(events, (e) => e.type, (e) => e.reason);
		for (let i = 0; i < agg.length; i++) rows.push([kind, agg.ids[i], agg[i].first, agg[i].n, agg[i].extra ?? null, agg[i].extra2 ?? null]);
	}
	if (rows.length === 0) return 0;
	const r = await tx.query<{ matched: number }>(UPDATE_DELIVERIES, [JSON.stringify(rows)]);
	return r.rows[0]?.matched ?? 0;
}

interface ScopeAction {
	email: string;
	scope: string;
	at: string;
	/** Suppression reason; absent for a lift. */
	reason?: string;
	source: string;
}

interface Stop {
	email: string;
	reason: string;
	group?: number;
	campaign?: string;
}

/**
 * Suppressions and lifts in event time order: per address and scope only the latest event of the
 * post counts (ties: the later one in the post); against the store, an unsubscribe older than the
 * last lift changes nothing, and a lift removes only suppressions made before it. Sequences stop on
 * every unsubscribe, bounce or spam report not older than a lift made before this post (a resubscribe
 * lifts the suppression but does not restart a stopped sequence, however SendGrid batched the two).
 */
async function applySuppressions(tx: Queryable, fresh: CampaignEvent[], result: ApplyEventsResult, options: ApplyEventsOptions): Promise<void> {
	const latest = new Map<string, ScopeAction>();
	const stops: Stop[] = [];
	const scopedStops: Array<Stop & { scope: string; at: string }> = [];
	for (const e of fresh) {
		if (!e.email) continue;
		const s = suppressionFor(e);
		const stop = stopFor(e, options);
		if (stop && s && !('lift' in s)) scopedStops.push({ email: e.email, ...stop, campaign: e.campaign_id, scope: s.scope, at: e.timestamp });
		else if (stop) stops.push({ email: e.email, ...stop, campaign: e.campaign_id });
		if (!s) continue;
		const scope = 'lift' in s ? s.lift : s.scope;
		const key = `${e.email}\n${scope}`;
		const before = latest.get(key);
		if (before && before.at > e.timestamp) continue;
		latest.set(key, { email: e.email, scope, at: e.timestamp, reason: 'lift' in s ? undefined : s.reason, source: `sendgrid:${e.sg_event_id}` });
	}
	if (scopedStops.length > 0) {
		// Lifts known before this post: an event older than one of them is history and stops nothing.
		const r = await tx.query<{ i: number }>(
			`SELECT t.i FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[]) AS t(email, scope, at, i)
			 WHERE NOT EXISTS (SELECT 1 FROM eca_suppression_lifts l WHERE l.email = t.email AND l.scope = t.scope AND l.lifted_at > t.at)`,
			[scopedStops.map((x) => x.email), scopedStops.map((x) => x.scope), scopedStops.map((x) => x.at), scopedStops.map((_x, i) => i)],
		);
		for (const row of r.rows) stops.push(scopedStops[row.i]);
	}
	const actions = [...latest.values()];
	const lifts = actions.filter((a) => a.reason === undefined);
	const adds = actions.filter((a) => a.reason !== undefined);
	if (lifts.length > 0) {
		await tx.query(
			`INSERT INTO eca_suppression_lifts AS l (email, scope, lifted_at, source)
			 SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[])
			 ON CONFLICT (email, scope) DO UPDATE SET lifted_at = EXCLUDED.lifted_at, source = EXCLUDED.source WHERE l.lifted_at < EXCLUDED.lifted_at`,
			[lifts.map((a) => a.email), lifts.map((a) => a.scope), lifts.map((a) => a.at), lifts.map((a) => a.source)],
		);
		const r = await tx.query(
			`DELETE FROM eca_suppressions s USING unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(email, scope, at)
			 WHERE s.email = t.email AND s.scope = t.scope AND (s.event_at IS NULL OR s.event_at <= t.at)`,
			[lifts.map((a) => a.email), lifts.map((a) => a.scope), lifts.map((a) => a.at)],
		);
		result.suppressionsLifted += r.rowCount;
	}
	if (adds.length > 0) {
		// An unsubscribe older than the last lift of its scope is history: no suppression.
		const r = await tx.query<{ n: number }>(
			`WITH t AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS t(email, scope, reason, source, at)),
			 up AS (
				INSERT INTO eca_suppressions AS s (email, scope, reason, source, event_at)
				SELECT email, scope, reason, source, at FROM t
				WHERE NOT EXISTS (SELECT 1 FROM eca_suppression_lifts l WHERE l.email = t.email AND l.scope = t.scope AND l.lifted_at > t.at)
				ON CONFLICT (email, scope) DO UPDATE SET event_at = EXCLUDED.event_at WHERE s.event_at IS NOT NULL AND s.event_at < EXCLUDED.event_at
				RETURNING (xmax = 0) AS inserted)
			 SELECT count(*) FILTER (WHERE inserted)::int AS n FROM up`,
			[adds.map((a) => a.email), adds.map((a) => a.scope), adds.map((a) => a.reason), adds.map((a) => a.source), adds.map((a) => a.at)],
		);
		result.suppressionsAdded += r.rows[0]?.n ?? 0;
	}
	if (stops.length === 0) return;
	// First stop reason per address and group wins; a group stop ends only what is sent under that group:
	// campaigns whose definition names it, and the campaign the event came from.
	const seen = new Set<string>();
	const unique = stops.filter((s) => {
		const k = `${s.email}\n${s.group ?? ''}\n${s.group ? (s.campaign ?? '') : ''}`;
		if (seen.has(k)) return false;
		seen.add(k);
		return true;
	});
	const r = await tx.query(
		`UPDATE eca_enrollments en SET status = 'stopped', stop_reason = t.reason, next_step = NULL, next_send_at = NULL, updated_at = now()
		 FROM (SELECT DISTINCT ON (email, campaign_id) * FROM (
			SELECT t.email, t.reason, e2.campaign_id, t.i FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[]) AS t(email, reason, grp, campaign, i)
			JOIN eca_enrollments e2 ON e2.email = t.email AND e2.status = 'active'
			WHERE t.grp IS NULL OR e2.campaign_id = t.campaign
				OR EXISTS (SELECT 1 FROM eca_campaigns c WHERE c.id = e2.campaign_id AND c.definition->>'unsubscribeGroupId' = t.grp)
		 ) x ORDER BY email, campaign_id, i) t
		 WHERE en.email = t.email AND en.campaign_id = t.campaign_id AND en.status = 'active'`,
		[unique.map((s) => s.email), unique.map((s) => s.reason), unique.map((s) => (s.group === undefined ? null : String(s.group))), unique.map((s) => s.campaign ?? null), unique.map((_s, i) => i)],
	);
	result.sequencesStopped += r.rowCount;
}

export async function applyEvents(store: CampaignStore, events: CampaignEvent[], options: ApplyEventsOptions = {}): Promise<ApplyEventsResult> {
	const result: ApplyEventsResult = {
		received: events.length,
		inserted: 0,
		duplicates: 0,
		matched: 0,
		suppressionsAdded: 0,
		suppressionsLifted: 0,
		sequencesStopped: 0,
		quarantined: 0,
		fresh: [],
		paused: [],
	};
	if (events.length === 0) return result;
	// The same sg_event_id twice in one POST counts once: the last one, in the first one's place (a copy is made only then).
	let unique = events;
	const at = new Map<string, number>();
	for (let i = 0; i < events.length; i++) {
		const j = at.get(events[i].sg_event_id);
		if (j !== undefined) (unique === events ? (unique = events.slice(0, i)) : unique)[j] = events[i];
		else {
			at.set(events[i].sg_event_id, unique === events ? i : unique.length);
			if (unique !== events) unique.push(events[i]);
		}
	}
	const run = (oneByOne: boolean) =>
		driverOf(store).transaction(async (tx) => {
			// The common post (nothing to join by message id, nobody suppressed or stopped) is stored, applied to its
			// deliveries and counted for the guard in one statement (applyEventsSql); any other goes step by step.
			const combined = !oneByOne && options.combine !== false && !unique.some((e) => isOrphan(e) || suppressionFor(e) !== undefined || stopFor(e, options) !== undefined);
			const { inserted, quarantined, applied } = await insertEvents(tx, unique, oneByOne, combined ? options : undefined);
			const stored: CampaignEvent[] = [];
			const fresh: CampaignEvent[] = [];
			let newOnes = 0;
			for (const e of unique) {
				const isNew = inserted === ALL || inserted.has(e.sg_event_id);
				if (!isNew && !quarantined.has(e.sg_event_id)) continue;
				stored.push(e);
				if (!isNew) continue;
				newOnes++;
				// Test sends (Campaign Preview) are kept as events and nothing more: a seed that bounces or
				// unsubscribes from a test is suppressed nowhere, and no delivery row is touched.
				if (!isTestSendEvent(e)) fresh.push(e);
			}
			result.inserted = newOnes + quarantined.size;
			result.quarantined = quarantined.size;
			result.duplicates = events.length - result.inserted;
			result.fresh = stored;
			// The fresh events each kind updates deliveries with, in one pass (opens flagged as machine opens only when counted).
			const byKind = (among: CampaignEvent[]) => {
				const out = new Map<string, Array<CampaignEvent & { delivery_id: string }>>();
				for (const e of among) {
					if (!e.delivery_id || (e.event === 'open' && e.machine_open && !options.countMachineOpens)) continue;
					let list = out.get(e.event);
					if (!list) out.set(e.event, (list = []));
					list.push(e as CampaignEvent & { delivery_id: string });
				}
				return out;
			};
			if (applied) result.matched += applied.matched;
			else if (!fresh.some(isOrphan)) result.matched += await updateDeliveries(tx, byKind(fresh));
			else {
				// processed first: it records the sg_message_id that later events without custom args join on.
				const processedWithIds = byKind(fresh).get('processed') ?? [];
				result.matched += await updateDeliveries(tx, new Map([['processed', processedWithIds]]));
				await resolveByMessageId(tx, fresh);
				// processed events joined through their message id confirm their delivery too; every other kind after.
				const done = new Set(processedWithIds);
				const joined = byKind(fresh);
				joined.set('processed', (joined.get('processed') ?? []).filter((e) => !done.has(e)));
				result.matched += await updateDeliveries(tx, joined);
			}
			await applySuppressions(tx, fresh, result, options);
			// Last, so the counter rows stay locked only until the commit; the breaker judges in the same
			// transaction: a pause is stored with the events that caused it, or neither is (SendGrid retries).
			const counted = applied ? applied.scopes : await countReputationIn(tx, reputationDeltas(fresh));
			if (options.guard && counted.length > 0) result.paused = await tripBreakersIn(tx, counted, options.guard);
		});
	try {
		await run(false);
	} catch (e) {
		if (!(e instanceof BatchRefused)) throw e;
		// The database refused the batch (nothing of this transaction was kept): again, one event at a time.
		result.paused = [];
		result.matched = result.suppressionsAdded = result.suppressionsLifted = result.sequencesStopped = 0;
		await run(true);
	}
	return result;
}

/** Why messages were deferred, bounced or dropped, counted: SendGrid's response for deferrals, classification and type for bounces, reason for drops. */
export interface EventOutcome {
	event: 'deferred' | 'bounce' | 'dropped';
	kind: string;
	n: number;
	last_at: string;
}

/** The 20 most frequent kinds of each (one campaign, or every campaign for null), from the stored events. */
export async function eventOutcomes(store: CampaignStore, campaignId: string | null): Promise<EventOutcome[]> {
	const r = await driverOf(store).query<EventOutcome>(
		`SELECT event, kind, n, last_at FROM (
			SELECT event, kind, count(*)::int AS n, max(ts)::text AS last_at, row_number() OVER (PARTITION BY event ORDER BY count(*) DESC, kind) AS rank
			FROM (
				SELECT event, left(CASE event
					WHEN 'deferred' THEN COALESCE(payload->>'response', payload->>'reason', '')
					WHEN 'bounce' THEN concat_ws(' · ', COALESCE(payload->>'bounce_classification', 'unclassified'), payload->>'type')
					ELSE COALESCE(payload->>'reason', '') END, 200) AS kind, ts
				FROM eca_events WHERE event IN ('deferred', 'bounce', 'dropped') AND ($1::text IS NULL OR campaign_id = $1)
			) x GROUP BY event, kind
		 ) y WHERE rank <= 20 ORDER BY event, n DESC, kind`,
		[campaignId],
	);
	return r.rows;
}
