/**
 * The dashboard's reads on a big store: the campaigns overview, a campaign's timeline, link clicks and
 * the suppressions it caused, and the deliveries page (keyset-paginated, never OFFSET) with its CSV
 * export. Every query is shaped to one of the indexes of migration 14 (see its comments), so a page
 * costs what it shows, not the size of eca_deliveries (millions of rows) or eca_events.
 *
 * Inputs are checked here and only ever travel as bind parameters: the SQL text is assembled from
 * fixed fragments chosen by which filters are present, never from input strings.
 */
import { createHash } from 'node:crypto';
import { DELIVERY_STATES, type DeliveryState } from '../delivery/states';
import { CampaignError } from '../errors';
import { redactSecrets } from '../redact';
import { driverOf, type CampaignStore } from './campaignStore';
import type { StepCounts } from './stats';

/** A campaign's live deliveries counted as lib/store/stats.ts stepCounts counts a step's, plus the cancelled ones. */
export interface Totals extends Omit<StepCounts, 'campaign_id' | 'step' | 'variant'> {
	/** Sent under a scheduled run that was cancelled: never delivered, never counted as sent. */
	cancelled: number;
}

/** 0..1, 4 decimals; denominators as lib/stats/campaignStats.ts (sent, or delivered when there are delivered counts). */
export interface Rates {
	delivered: number;
	open: number;
	click: number;
	bounce: number;
	unsubscribe: number;
	/** Drops over sent (campaignStats shows it too). */
	drop: number;
}

export interface CampaignOverview {
	id: string;
	name: string | null;
	status: 'active' | 'paused';
	created_at: string;
	last_run: { run_id: string; status: string; started_at: string; finished_at: string | null; mode: string; step: number | null } | null;
	/** The earliest due step of the campaign's active enrollments: when, and how many active contacts wait for that step. */
	next_step: { step: number; at: string; contacts: number } | null;
	enrolled_active: number;
	/** Every enrollment of the campaign (active, completed, stopped...): progress is enrolled_active of it. */
	enrolled_total: number;
	totals: Totals;
	rates: Rates;
}

export interface TimelinePoint {
	/** ISO start of the hour or day, UTC. */
	bucket: string;
	step: number;
	variant: string;
	opens: number;
	unique_opens: number;
	clicks: number;
	unique_clicks: number;
	delivered: number;
	bounces: number;
}

export interface DeliveryRow {
	id: string;
	email: string;
	campaign_id: string;
	step: number;
	variant: string;
	status: string;
	error: string | null;
	attempts: number;
	sent_at: string | null;
	delivered_at: string | null;
	opened_at: string | null;
	clicked_at: string | null;
	bounced_at: string | null;
	bounce_reason: string | null;
	updated_at: string;
}

export interface DeliveryQuery {
	campaignId?: string;
	status?: string;
	step?: number;
	/** An exact address, or a prefix ending in `*` (`ann*`). */
	email?: string;
}

const MAX_CAMPAIGN_LIMIT = 500;
const MAX_PAGE = 500;
const MAX_BUCKETS = 1000;
const MAX_ID = 200;
const MAX_EMAIL = 320;
const MAX_STEP = 1_000_000;
/** Link urls are grouped on their first 2,000 characters (and shown so). */
const MAX_URL = 2000;

/** An ISO 8601 UTC text of a timestamptz column, whatever the session's TimeZone. */
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const rate = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 10_000) / 10_000 : 0);

function inputError(field: string, message: string, hint?: string): CampaignError {
	return new CampaignError(message, { field, hint });
}

function checkText(field: string, value: unknown, max: number): string {
	if (typeof value !== 'string' || value.length === 0 || value.length > max) throw inputError(field, `${field} must be a non-empty text of at most ${max} characters`);
	return value;
}

function checkLimit(field: string, value: unknown, dflt: number, max: number): number {
	if (value === undefined || value === null) return dflt;
	if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw inputError(field, `${field} must be a positive whole number (at most ${max})`);
	return Math.min(value, max);
}

// ─── campaigns overview ──────────────────────────────────────────────────────────────────────────

interface OverviewRow {
	id: string;
	name: string | null;
	paused: boolean;
	created_at: string;
	run_id: string | null;
	run_status: string | null;
	run_mode: string | null;
	run_step: number | null;
	run_started_at: string | null;
	run_finished_at: string | null;
	next_at: string | null;
	next_step: number | null;
	next_contacts: number | null;
	enrolled_active: number | null;
	enrolled_total: number | null;
	sent: number | null;
	delivered: number | null;
	opened: number | null;
	clicked: number | null;
	bounced: number | null;
	dropped: number | null;
	unsubscribed: number | null;
	spam: number | null;
	failed: number | null;
	cancelled: number | null;
}

/**
 * Totals come from one index-only scan per campaign of eca_deliveries_dashboard (campaign_id, id)
 * INCLUDE (status and the event timestamps). Opened and clicked are read as opened_at / clicked_at set:
 * the event update sets them together with open_count / click_count (lib/store/events.ts), so the
 * numbers equal stepCounts', and repeat opens and clicks (count only) stay HOT updates.
 */
const OVERVIEW_SQL = `
SELECT c.id, c.name, (h.scope IS NOT NULL) AS paused, ${iso('c.created_at')} AS created_at,
	r.run_id, r.status AS run_status, r.mode AS run_mode, r.step AS run_step,
	${iso('r.started_at')} AS run_started_at, ${iso('r.finished_at')} AS run_finished_at,
	${iso('n.next_send_at')} AS next_at, n.next_step,
	(SELECT count(*)::int FROM eca_enrollments e2 WHERE e2.campaign_id = c.id AND e2.status = 'active' AND e2.next_step = n.next_step) AS next_contacts,
	(SELECT count(*)::int FROM eca_enrollments e3 WHERE e3.campaign_id = c.id AND e3.status = 'active') AS enrolled_active,
	(SELECT count(*)::int FROM eca_enrollments e4 WHERE e4.campaign_id = c.id) AS enrolled_total,
	t.*
FROM (
	SELECT id, name, created_at FROM eca_campaigns
	WHERE ($1::text IS NULL OR strpos(lower(id), $1) > 0 OR strpos(lower(coalesce(name, '')), $1) > 0)
	  AND ($2::text IS NULL OR (EXISTS (SELECT 1 FROM eca_holds hh WHERE hh.scope = 'campaign:' || eca_campaigns.id)) = ($2 = 'paused'))
	  AND ($4::text IS NULL OR id = $4)
	ORDER BY created_at DESC, id
	LIMIT $3
) c
LEFT JOIN eca_holds h ON h.scope = 'campaign:' || c.id
LEFT JOIN LATERAL (
	SELECT run_id, status, mode, step, started_at, finished_at FROM eca_runs WHERE campaign_id = c.id ORDER BY started_at DESC LIMIT 1
) r ON true
LEFT JOIN LATERAL (
	SELECT next_send_at, next_step FROM eca_enrollments
	WHERE campaign_id = c.id AND status = 'active' AND next_send_at IS NOT NULL
	ORDER BY next_send_at LIMIT 1
) n ON true
LEFT JOIN LATERAL (
	SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent,
		count(*) FILTER (WHERE delivered_at IS NOT NULL)::int AS delivered,
		count(*) FILTER (WHERE opened_at IS NOT NULL)::int AS opened,
		count(*) FILTER (WHERE clicked_at IS NOT NULL)::int AS clicked,
		count(*) FILTER (WHERE bounced_at IS NOT NULL)::int AS bounced,
		count(*) FILTER (WHERE dropped_at IS NOT NULL AND bounced_at IS NULL)::int AS dropped,
		count(*) FILTER (WHERE unsubscribed_at IS NOT NULL)::int AS unsubscribed,
		count(*) FILTER (WHERE spam_reported_at IS NOT NULL)::int AS spam,
		count(*) FILTER (WHERE status = 'failed')::int AS failed,
		count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled
	FROM eca_deliveries d WHERE d.campaign_id = c.id AND d.mode = 'live'
) t ON true
ORDER BY c.created_at DESC, c.id`;

export async function listCampaignOverviews(
	store: CampaignStore,
	filter: { search?: string; status?: 'active' | 'paused'; limit?: number; /** Exactly this campaign (the campaign page). */ id?: string } = {},
): Promise<CampaignOverview[]> {
	const search = filter.search === undefined || filter.search === '' ? null : checkText('search', filter.search, MAX_ID).toLowerCase();
	if (filter.status !== undefined && filter.status !== 'active' && filter.status !== 'paused') throw inputError('status', "status must be 'active' or 'paused'");
	const limit = checkLimit('limit', filter.limit, 100, MAX_CAMPAIGN_LIMIT);
	const id = filter.id === undefined ? null : checkText('id', filter.id, MAX_ID);
	const r = await driverOf(store).query<OverviewRow>(OVERVIEW_SQL, [search, filter.status ?? null, limit, id]);
	return r.rows.map((x) => {
		const totals: Totals = {
			sent: x.sent ?? 0,
			delivered: x.delivered ?? 0,
			opened: x.opened ?? 0,
			clicked: x.clicked ?? 0,
			bounced: x.bounced ?? 0,
			dropped: x.dropped ?? 0,
			unsubscribed: x.unsubscribed ?? 0,
			spam: x.spam ?? 0,
			failed: x.failed ?? 0,
			cancelled: x.cancelled ?? 0,
		};
		return {
			id: x.id,
			name: x.name,
			status: x.paused ? 'paused' : 'active',
			created_at: x.created_at,
			last_run:
				x.run_id === null
					? null
					: { run_id: x.run_id, status: x.run_status ?? '', started_at: x.run_started_at ?? '', finished_at: x.run_finished_at, mode: x.run_mode ?? 'live', step: x.run_step },
			next_step: x.next_at === null || x.next_step === null ? null : { step: x.next_step, at: x.next_at, contacts: x.next_contacts ?? 0 },
			enrolled_active: x.enrolled_active ?? 0,
			enrolled_total: x.enrolled_total ?? 0,
			totals,
			rates: ratesOf(totals),
		};
	});
}

/** The rates of lib/stats/campaignStats.ts, from totals. */
export function ratesOf(t: Totals): Rates {
	const reached = t.delivered || t.sent;
	return {
		delivered: rate(t.delivered, t.sent),
		open: rate(t.opened, reached),
		click: rate(t.clicked, reached),
		bounce: rate(t.bounced, t.sent),
		unsubscribe: rate(t.unsubscribed, reached),
		drop: rate(t.dropped, t.sent),
	};
}

// ─── one campaign ────────────────────────────────────────────────────────────────────────────────

/**
 * Opens, clicks, deliveries and bounces per hour or day (UTC) and step × variant. Event counts come
 * from eca_events_dash_timeline (campaign_id, event, ts) INCLUDE (step, variant, email), one index
 * range per bucket (a hash of a few step × variant groups each, never a sort of the whole window);
 * unique_opens / unique_clicks are recipients whose FIRST open / click falls in the bucket (the
 * deliveries' opened_at / clicked_at, an index-only scan of (campaign_id, id) INCLUDE ...), so they add
 * up over buckets to the campaign's opened / clicked totals. Buckets without any of these are left out.
 */
export async function campaignTimeline(
	store: CampaignStore,
	campaignId: string,
	opts: { bucket: 'hour' | 'day'; since?: Date; until?: Date },
): Promise<TimelinePoint[]> {
	checkText('campaignId', campaignId, MAX_ID);
	if (opts?.bucket !== 'hour' && opts?.bucket !== 'day') throw inputError('bucket', "bucket must be 'hour' or 'day'");
	const unit = opts.bucket === 'hour' ? 3_600_000 : 86_400_000;
	const checkDate = (field: string, d: unknown) => {
		if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw inputError(field, `${field} must be a valid date`);
		return d;
	};
	const until = opts.until === undefined ? new Date() : checkDate('until', opts.until);
	let since = opts.since === undefined ? new Date(until.getTime() - (opts.bucket === 'hour' ? 72 : 14) * unit) : checkDate('since', opts.since);
	if (since.getTime() > until.getTime()) throw inputError('since', 'since must not be after until');
	// At most 1,000 buckets: the window keeps its end and loses its oldest part.
	const lastStart = Math.floor((until.getTime() - 1) / unit) * unit;
	if (lastStart - Math.floor(since.getTime() / unit) * unit >= MAX_BUCKETS * unit) since = new Date(lastStart - (MAX_BUCKETS - 1) * unit);
	const starts: string[] = [];
	for (let b = Math.floor(since.getTime() / unit) * unit; b < until.getTime(); b += unit) starts.push(new Date(b).toISOString());
	if (starts.length === 0) return [];
	const db = driverOf(store);
	const window = [campaignId, since.toISOString(), until.toISOString()];
	const [events, firsts] = await Promise.all([
		db.query<{ bucket: string; step: number; variant: string; opens: number; clicks: number; delivered: number; bounces: number }>(
			`SELECT ${iso('b.start')} AS bucket, x.step, x.variant, x.opens, x.clicks, x.delivered, x.bounces
			 FROM unnest($4::timestamptz[]) AS b(start)
			 CROSS JOIN LATERAL (
				SELECT coalesce(step, 0) AS step, coalesce(variant, '') AS variant,
					count(*) FILTER (WHERE event = 'open')::int AS opens,
					count(*) FILTER (WHERE event = 'click')::int AS clicks,
					count(*) FILTER (WHERE event = 'delivered')::int AS delivered,
					count(*) FILTER (WHERE event = 'bounce')::int AS bounces
				FROM eca_events
				WHERE campaign_id = $1 AND event IN ('open', 'click', 'delivered', 'bounce')
				  AND ts >= greatest(b.start, $2::timestamptz) AND ts < least(b.start + $5::interval, $3::timestamptz)
				GROUP BY 1, 2
			 ) x`,
			[...window, starts, opts.bucket === 'hour' ? '1 hour' : '1 day'],
		),
		db.query<{ bucket: string; step: number; variant: string; kind: 'open' | 'click'; n: number }>(
			`SELECT ${iso(`date_trunc($4, f.at, 'UTC')`)} AS bucket, d.step, d.variant, f.kind, count(*)::int AS n
			 FROM eca_deliveries d CROSS JOIN LATERAL (VALUES ('open', d.opened_at), ('click', d.clicked_at)) AS f(kind, at)
			 WHERE d.campaign_id = $1 AND d.mode = 'live' AND f.at >= $2::timestamptz AND f.at < $3::timestamptz
			   AND ((d.opened_at >= $2::timestamptz AND d.opened_at < $3::timestamptz) OR (d.clicked_at >= $2::timestamptz AND d.clicked_at < $3::timestamptz))
			 GROUP BY 1, 2, 3, 4`,
			[...window, opts.bucket],
		),
	]);
	const points = new Map<string, TimelinePoint>();
	const point = (bucket: string, step: number, variant: string) => {
		const key = `${bucket}\u0000${step}\u0000${variant}`;
		let p = points.get(key);
		if (!p) points.set(key, (p = { bucket, step, variant, opens: 0, unique_opens: 0, clicks: 0, unique_clicks: 0, delivered: 0, bounces: 0 }));
		return p;
	};
	for (const e of events.rows) Object.assign(point(e.bucket, e.step, e.variant), { opens: e.opens, clicks: e.clicks, delivered: e.delivered, bounces: e.bounces });
	for (const f of firsts.rows) {
		const p = point(f.bucket, f.step, f.variant);
		if (f.kind === 'open') p.unique_opens = f.n;
		else p.unique_clicks = f.n;
	}
	return [...points.values()].sort((a, b) => (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : a.step - b.step || (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0)));
}

/** Clicks per link (its first 2,000 characters), most clicked first, with the number of different clickers. */
export async function linkClicks(store: CampaignStore, campaignId: string, limit?: number): Promise<Array<{ url: string; clicks: number; unique_clickers: number }>> {
	checkText('campaignId', campaignId, MAX_ID);
	const n = checkLimit('limit', limit, 50, 500);
	const r = await driverOf(store).query<{ url: string; clicks: number; unique_clickers: number }>(
		`SELECT left(coalesce(payload->>'url', ''), ${MAX_URL}) AS url, count(*)::int AS clicks, count(DISTINCT email)::int AS unique_clickers
		 FROM eca_events WHERE campaign_id = $1 AND event = 'click'
		 GROUP BY 1 ORDER BY clicks DESC, url LIMIT $2`,
		[campaignId, n],
	);
	return r.rows;
}

/**
 * Suppressions whose recorded source is this campaign: an event of it (SendGrid bounce, spam report,
 * unsubscribe: source 'sendgrid:<sg_event_id>'; a reply: 'inbound:<event id>') or one of its unsubscribe
 * links ('link:<delivery_id>'). A suppression a later event re-recorded counts for that later event's campaign.
 */
export async function suppressionsCaused(store: CampaignStore, campaignId: string): Promise<Array<{ reason: string; n: number }>> {
	checkText('campaignId', campaignId, MAX_ID);
	const r = await driverOf(store).query<{ reason: string; n: number }>(
		`SELECT reason, count(*)::int AS n FROM (
			SELECT s.reason FROM eca_events e
			JOIN eca_suppressions s ON s.source COLLATE "C" IN ('sendgrid:' || e.sg_event_id, 'inbound:' || e.sg_event_id)
			WHERE e.campaign_id = $1 AND e.event IN ('bounce', 'dropped', 'spamreport', 'unsubscribe', 'group_unsubscribe', 'reply')
			UNION ALL
			SELECT s.reason FROM eca_suppressions s
			WHERE s.source COLLATE "C" >= 'link:' AND s.source COLLATE "C" < 'link;'
			  AND EXISTS (SELECT 1 FROM eca_deliveries d WHERE d.delivery_id = substr(s.source, 6) AND d.campaign_id = $1 AND d.mode = 'live')
		 ) x GROUP BY reason ORDER BY n DESC, reason`,
		[campaignId],
	);
	return r.rows;
}

/** A campaign's live deliveries per step, variant and copy language (null: sent before the language was kept). */
export interface LanguageRow {
	step: number;
	variant: string;
	language: string | null;
	sent: number;
	delivered: number;
	opened: number;
	clicked: number;
	bounced: number;
	unsubscribed: number;
}

/** Per step × variant × language, from the campaign index alone (the claim writes the language; events never change it). */
export async function languageBreakdown(store: CampaignStore, campaignId: string): Promise<LanguageRow[]> {
	checkText('campaignId', campaignId, MAX_ID);
	const r = await driverOf(store).query<LanguageRow>(
		`SELECT step, variant, language,
			count(*) FILTER (WHERE status = 'sent')::int AS sent,
			count(*) FILTER (WHERE delivered_at IS NOT NULL)::int AS delivered,
			count(*) FILTER (WHERE opened_at IS NOT NULL)::int AS opened,
			count(*) FILTER (WHERE clicked_at IS NOT NULL)::int AS clicked,
			count(*) FILTER (WHERE bounced_at IS NOT NULL)::int AS bounced,
			count(*) FILTER (WHERE unsubscribed_at IS NOT NULL)::int AS unsubscribed
		 FROM eca_deliveries WHERE campaign_id = $1 AND mode = 'live'
		 GROUP BY step, variant, language ORDER BY step, variant, language NULLS FIRST LIMIT 500`,
		[campaignId],
	);
	return r.rows;
}

// ─── deliveries ──────────────────────────────────────────────────────────────────────────────────

interface Cursor {
	/** Order: 'id' = newest first (id DESC); 'email' = by address then id (a prefix search). */
	o: 'id' | 'email';
	id: string;
	e?: string;
	/** The filters the cursor was made for: a cursor is refused under other filters. */
	f: string;
}

interface CheckedQuery {
	campaignId: string | null;
	status: DeliveryState | null;
	step: number | null;
	exact: string | null;
	prefix: string | null;
}

function checkQuery(q: DeliveryQuery): CheckedQuery {
	if (q === null || typeof q !== 'object') throw inputError('query', 'the deliveries query must be an object');
	const campaignId = q.campaignId === undefined || q.campaignId === null ? null : checkText('campaignId', q.campaignId, MAX_ID);
	let status: DeliveryState | null = null;
	if (q.status !== undefined && q.status !== null && q.status !== '') {
		if (!(DELIVERY_STATES as readonly string[]).includes(q.status as string))
			throw inputError('status', `status must be one of ${DELIVERY_STATES.join(', ')}`, 'Pick a delivery state from the list');
		status = q.status as DeliveryState;
	}
	let step: number | null = null;
	if (q.step !== undefined && q.step !== null) {
		if (typeof q.step !== 'number' || !Number.isInteger(q.step) || q.step < 1 || q.step > MAX_STEP) throw inputError('step', 'step must be a positive whole number');
		step = q.step;
	}
	let exact: string | null = null;
	let prefix: string | null = null;
	if (q.email !== undefined && q.email !== null && q.email !== '') {
		const e = checkText('email', q.email, MAX_EMAIL).trim().toLowerCase();
		const star = e.indexOf('*');
		if (star === -1) exact = e;
		else if (star === e.length - 1 && star > 0) prefix = e.slice(0, -1);
		else throw inputError('email', 'email must be an address, or the start of one followed by a single * (e.g. ann*)');
	}
	return { campaignId, status, step, exact, prefix };
}

const fingerprint = (q: CheckedQuery) => createHash('sha256').update(JSON.stringify([q.campaignId, q.status, q.step, q.exact, q.prefix])).digest('base64url').slice(0, 16);

function encodeCursor(c: Cursor): string {
	return Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');
}

function decodeCursor(after: unknown, q: CheckedQuery): Cursor {
	const bad = (why: string) => inputError('after', `after is not a cursor of this deliveries query (${why})`, "Use the 'next' value of the previous page with the same filters, or leave it empty for the first page");
	if (typeof after !== 'string' || after.length === 0 || after.length > 2000 || !/^[A-Za-z0-9_-]+$/.test(after)) throw bad('malformed');
	let c: unknown;
	try {
		c = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
	} catch {
		throw bad('malformed');
	}
	const o = c as Partial<Cursor> | null;
	if (o === null || typeof o !== 'object' || Array.isArray(o)) throw bad('malformed');
	if (typeof o.id !== 'string' || !/^[1-9][0-9]{0,18}$/.test(o.id) || BigInt(o.id) > 9_223_372_036_854_775_807n) throw bad('malformed');
	if (o.f !== fingerprint(q)) throw bad('made for other filters');
	const order = q.prefix === null ? 'id' : 'email';
	if (o.o !== order) throw bad('malformed');
	if (order === 'email' && (typeof o.e !== 'string' || o.e.length > MAX_EMAIL || !o.e.startsWith(q.prefix as string))) throw bad('malformed');
	return { o: order, id: o.id, e: order === 'email' ? o.e : undefined, f: o.f };
}

/** The smallest text greater than every text starting with p, in C (code point) order. */
function prefixEnd(p: string): string {
	const cps = Array.from(p);
	while (cps.length > 0) {
		let cp = (cps.pop() as string).codePointAt(0) as number;
		if (cp < 0x10ffff) {
			cp += 1;
			if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xe000;
			return cps.join('') + String.fromCodePoint(cp);
		}
	}
	// Only U+10FFFF characters: no upper bound in practice; the last code point (never in an address) will do.
	return '\u{10FFFF}'.repeat(p.length + 1);
}

const DELIVERY_COLUMNS = `id::text AS id, email, campaign_id, step, variant, status, error, attempts,
	${iso('sent_at')} AS sent_at, ${iso('delivered_at')} AS delivered_at, ${iso('opened_at')} AS opened_at,
	${iso('clicked_at')} AS clicked_at, ${iso('bounced_at')} AS bounced_at, bounce_reason, ${iso('updated_at')} AS updated_at`;

/**
 * One page of live deliveries, newest first (a prefix search: by address, then id), keyset-paginated:
 * the next page starts after the last row shown, so a page costs its size whatever its depth, and rows
 * inserted while someone pages never shift or repeat rows (they are newer than the first page).
 * Index per filter (migration 14): campaign → (campaign_id, id); + status → (campaign_id, status, id);
 * + step → (campaign_id, id) (a few steps: a page of one is near); status alone → (status, id); address → (lower(email) C, id);
 * none → the primary key.
 */
export async function deliveriesPage(
	store: CampaignStore,
	q: DeliveryQuery & { after?: string; limit?: number },
): Promise<{ rows: DeliveryRow[]; next: string | null }> {
	const cq = checkQuery(q);
	const limit = checkLimit('limit', q.limit, 50, MAX_PAGE);
	const cursor = q.after === undefined || q.after === null || q.after === '' ? null : decodeCursor(q.after, cq);
	const where = [`mode = 'live'`];
	const params: unknown[] = [];
	const p = (v: unknown) => (params.push(v), `$${params.length}`);
	if (cq.campaignId !== null) where.push(`campaign_id = ${p(cq.campaignId)}`);
	if (cq.status !== null) where.push(`status = ${p(cq.status)}`);
	if (cq.step !== null) where.push(`step = ${p(cq.step)}`);
	let order: string;
	if (cq.exact !== null) where.push(`lower(email) COLLATE "C" = ${p(cq.exact)}`);
	if (cq.prefix !== null) {
		where.push(`lower(email) COLLATE "C" >= ${p(cq.prefix)}`, `lower(email) COLLATE "C" < ${p(prefixEnd(cq.prefix))}`);
		if (cursor) where.push(`(lower(email) COLLATE "C", id) > (${p(cursor.e)}, ${p(cursor.id)}::bigint)`);
		order = `lower(d.email) COLLATE "C", d.id`;
	} else {
		if (cursor) where.push(`id < ${p(cursor.id)}::bigint`);
		order = 'd.id DESC';
	}
	// ORDER BY names d.id: a bare id would be the id::text output column (text order).
	const sql = `SELECT ${DELIVERY_COLUMNS}, lower(email) AS sort_email FROM eca_deliveries d WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ${p(limit + 1)}`;
	const r = await driverOf(store).query<DeliveryRow & { sort_email: string }>(sql, params);
	const more = r.rows.length > limit;
	const page = more ? r.rows.slice(0, limit) : r.rows;
	const last = page[page.length - 1];
	const next = more && last ? encodeCursor({ o: cq.prefix === null ? 'id' : 'email', id: last.id, e: cq.prefix === null ? undefined : last.sort_email, f: fingerprint(cq) }) : null;
	return {
		rows: page.map(({ sort_email: _sort, ...row }) => ({
			...row,
			// Rows written before errors were redacted at the store may still hold a secret: never show one.
			error: row.error === null ? null : redactSecrets(row.error),
			bounce_reason: row.bounce_reason === null ? null : redactSecrets(row.bounce_reason),
		})),
		next,
	};
}

/** The CSV export's columns, in order (the header line). */
export const DELIVERY_CSV_COLUMNS: ReadonlyArray<keyof DeliveryRow> = [
	'id',
	'email',
	'campaign_id',
	'step',
	'variant',
	'status',
	'error',
	'attempts',
	'sent_at',
	'delivered_at',
	'opened_at',
	'clicked_at',
	'bounced_at',
	'bounce_reason',
	'updated_at',
];

/** One CSV cell: formula starters neutralised with a leading ' (OWASP CSV injection), then quoted per RFC 4180 when needed. */
export function csvCell(value: unknown): string {
	if (value === null || value === undefined) return '';
	let s = String(value);
	const c = s.charAt(0);
	if (c === '=' || c === '+' || c === '-' || c === '@' || c === '\t' || c === '\r') s = `'${s}`;
	if (/[",\r\n]/.test(s) || s !== s.trim()) return `"${s.replace(/"/g, '""')}"`;
	return s;
}

/** One delivery as a CSV line (CRLF), its cells in DELIVERY_CSV_COLUMNS order. */
export function csvLine(row: DeliveryRow): string {
	return DELIVERY_CSV_COLUMNS.map((k) => csvCell(row[k])).join(',') + '\r\n';
}

/** The deliveries of a query as CSV: the header line, then one line per row (CRLF), read page by page by keyset (500 a page). */
export async function* deliveriesCsv(store: CampaignStore, q: DeliveryQuery): AsyncIterable<string> {
	checkQuery(q); // refuse a bad query before the header goes out
	yield DELIVERY_CSV_COLUMNS.join(',') + '\r\n';
	let after: string | undefined;
	for (;;) {
		const page = await deliveriesPage(store, { ...q, after, limit: MAX_PAGE });
		if (page.rows.length > 0) yield page.rows.map(csvLine).join('');
		if (page.next === null) return;
		after = page.next;
	}
}
