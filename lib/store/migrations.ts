/**
 * Versioned schema migrations. Applied in one transaction under an advisory lock, so several n8n
 * processes starting at once apply each version exactly once. Never edit a released migration:
 * add the next version.
 */
import type { SqlDriver } from './driver';

export interface Migration {
	version: number;
	name: string;
	sql: string;
}

export const MIGRATIONS: Migration[] = [
	{
		version: 1,
		name: 'campaign store',
		sql: `
CREATE TABLE eca_campaigns (
	id text PRIMARY KEY,
	name text,
	definition jsonb NOT NULL,
	status text NOT NULL DEFAULT 'active',
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE eca_runs (
	run_id text PRIMARY KEY,
	campaign_id text NOT NULL,
	step int,
	mode text NOT NULL DEFAULT 'live',
	status text NOT NULL DEFAULT 'running',
	total int NOT NULL DEFAULT 0,
	counts jsonb NOT NULL DEFAULT '{}'::jsonb,
	llm_calls int NOT NULL DEFAULT 0,
	llm_tokens int NOT NULL DEFAULT 0,
	error text,
	started_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz
);
CREATE INDEX eca_runs_campaign ON eca_runs (campaign_id, started_at DESC);

CREATE TABLE eca_deliveries (
	id bigserial PRIMARY KEY,
	delivery_id text NOT NULL,
	campaign_id text NOT NULL,
	run_id text NOT NULL,
	step int NOT NULL,
	variant text NOT NULL DEFAULT 'A',
	email text NOT NULL,
	mode text NOT NULL DEFAULT 'live',
	status text NOT NULL,
	message_id text,
	sg_message_id text,
	http_status int,
	error text,
	attempts int NOT NULL DEFAULT 0,
	claimed_at timestamptz,
	sent_at timestamptz,
	processed_at timestamptz,
	delivered_at timestamptz,
	deferred_count int NOT NULL DEFAULT 0,
	opened_at timestamptz,
	open_count int NOT NULL DEFAULT 0,
	clicked_at timestamptz,
	click_count int NOT NULL DEFAULT 0,
	bounced_at timestamptz,
	bounce_type text,
	bounce_reason text,
	dropped_at timestamptz,
	unsubscribed_at timestamptz,
	spam_reported_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 70);
-- Room on each page lets 'claimed' → 'sent' be a HOT update: no indexed column changes then.
-- The exactly-once key: one live delivery per campaign, step and address.
CREATE UNIQUE INDEX eca_deliveries_once ON eca_deliveries (campaign_id, step, lower(email)) WHERE mode = 'live';
CREATE UNIQUE INDEX eca_deliveries_rehearsal ON eca_deliveries (run_id, delivery_id) WHERE mode <> 'live';
CREATE INDEX eca_deliveries_delivery ON eca_deliveries (delivery_id);
CREATE INDEX eca_deliveries_run ON eca_deliveries (run_id);
-- Events without custom args are joined by address, then message id (not indexed: it changes on send).
CREATE INDEX eca_deliveries_email ON eca_deliveries (lower(email));

CREATE TABLE eca_events (
	sg_event_id text PRIMARY KEY,
	event text NOT NULL,
	email text,
	ts timestamptz,
	sg_message_id text,
	campaign_id text,
	run_id text,
	step int,
	variant text,
	delivery_id text,
	payload jsonb NOT NULL,
	received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX eca_events_campaign ON eca_events (campaign_id, event);

CREATE TABLE eca_suppressions (
	email text NOT NULL,
	scope text NOT NULL,
	reason text NOT NULL,
	source text,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (email, scope)
);

CREATE TABLE eca_enrollments (
	campaign_id text NOT NULL,
	email text NOT NULL,
	status text NOT NULL DEFAULT 'active',
	next_step int,
	next_send_at timestamptz,
	timezone text,
	variant text,
	fields jsonb NOT NULL DEFAULT '{}'::jsonb,
	stop_reason text,
	claimed_by text,
	claimed_until timestamptz,
	enrolled_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (campaign_id, email)
);
CREATE INDEX eca_enrollments_due ON eca_enrollments (next_send_at) WHERE status = 'active';

CREATE TABLE eca_copy_cache (
	cache_key text PRIMARY KEY,
	campaign_id text NOT NULL,
	step int NOT NULL,
	variant text NOT NULL,
	language text NOT NULL,
	tone text NOT NULL,
	copy jsonb NOT NULL,
	model text,
	prompt_tokens int NOT NULL DEFAULT 0,
	completion_tokens int NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE eca_daily_quota (
	account text NOT NULL,
	day date NOT NULL,
	used int NOT NULL DEFAULT 0,
	PRIMARY KEY (account, day)
);
`,
	},
	{
		version: 2,
		name: 'campaign agent checkpoints',
		sql: `
CREATE TABLE eca_checkpoints (
	thread_id text NOT NULL,
	checkpoint_ns text NOT NULL DEFAULT '',
	checkpoint_id text NOT NULL,
	parent_id text,
	type text NOT NULL,
	checkpoint bytea NOT NULL,
	metadata bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);

CREATE TABLE eca_checkpoint_writes (
	thread_id text NOT NULL,
	checkpoint_ns text NOT NULL DEFAULT '',
	checkpoint_id text NOT NULL,
	task_id text NOT NULL,
	idx int NOT NULL,
	channel text NOT NULL,
	type text NOT NULL,
	value bytea NOT NULL,
	task_path text NOT NULL DEFAULT '',
	PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);

ALTER TABLE eca_runs ADD COLUMN progress jsonb NOT NULL DEFAULT '{}'::jsonb;
`,
	},
	{
		version: 3,
		name: 'a/b decisions',
		sql: `
CREATE TABLE eca_ab_decisions (
	campaign_id text NOT NULL,
	step int NOT NULL,
	metric text NOT NULL,
	confidence double precision NOT NULL,
	decided boolean NOT NULL,
	winner text,
	leader text,
	send_variant text,
	reason text NOT NULL,
	p_value double precision,
	variants jsonb NOT NULL,
	decided_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (campaign_id, step)
);
CREATE INDEX eca_enrollments_campaign ON eca_enrollments (campaign_id, status, next_step);
`,
	},
	{
		version: 4,
		name: 'campaign api rate limits',
		sql: `
CREATE TABLE eca_api_rate (
	caller text NOT NULL,
	win bigint NOT NULL,
	n int NOT NULL,
	PRIMARY KEY (caller, win)
);
`,
	},
	{
		version: 5,
		name: 'events: drop the unused campaign index from the write path',
		// Nothing reads eca_events by campaign (stats come from eca_deliveries); the index cost about a
		// fifth of every event batch's insert time (bench:events).
		sql: `DROP INDEX IF EXISTS eca_events_campaign;`,
	},
	{
		version: 6,
		name: 'campaign api rate limits: past windows are pruned by window',
		sql: `CREATE INDEX IF NOT EXISTS eca_api_rate_win ON eca_api_rate (win);`,
	},
	{
		version: 7,
		name: 'events: natural-key dedupe; suppressions and lifts in event time order',
		// SendGrid re-posts events, sometimes under a new sg_event_id: a second unique key made of the
		// message id, address, event, time (and url for clicks), hashed to keep the index small.
		// Suppressions keep the time of the event that made them, and lifts (group resubscribes, a user's
		// lift) are remembered, so an older unsubscribe arriving after a newer resubscribe changes nothing.
		sql: `
ALTER TABLE eca_events ADD COLUMN IF NOT EXISTS natural_key text;
CREATE UNIQUE INDEX IF NOT EXISTS eca_events_natural_key ON eca_events (natural_key);
-- The stats page's deferral, bounce and drop reasons: a partial index, so opens and clicks pay nothing for it.
CREATE INDEX IF NOT EXISTS eca_events_outcomes ON eca_events (campaign_id) WHERE event IN ('deferred', 'bounce', 'dropped');
ALTER TABLE eca_suppressions ADD COLUMN IF NOT EXISTS event_at timestamptz;
CREATE TABLE IF NOT EXISTS eca_suppression_lifts (
	email text NOT NULL,
	scope text NOT NULL,
	lifted_at timestamptz NOT NULL,
	source text,
	PRIMARY KEY (email, scope)
);
`,
	},
	{
		version: 8,
		name: 'replies: the Message-ID each delivery went out with, and when it was answered',
		// Set when the delivery is claimed (before the request), so a reply matches even before SendGrid confirms;
		// message_id stays unindexed (claimed → sent stays a HOT update): SendGrid-id matches go through the address index.
		sql: `
ALTER TABLE eca_deliveries ADD COLUMN IF NOT EXISTS reply_message_id text;
ALTER TABLE eca_deliveries ADD COLUMN IF NOT EXISTS replied_at timestamptz;
CREATE INDEX IF NOT EXISTS eca_deliveries_reply_message_id ON eca_deliveries (reply_message_id) WHERE reply_message_id IS NOT NULL;
`,
	},
	{
		version: 9,
		name: 'deliveries: the send_at a claim was scheduled for (never reclaimed before it plus the grace)',
		sql: `ALTER TABLE eca_deliveries ADD COLUMN IF NOT EXISTS send_at timestamptz;`,
	},
	{
		version: 10,
		name: 'secrets kept by the store: the key unsubscribe links are signed with',
		// Made once (the first live send that needs it) and never shown: links are HMACs under it, so an
		// address alone is not enough to unsubscribe anyone.
		sql: `
CREATE TABLE IF NOT EXISTS eca_secrets (
	name text PRIMARY KEY,
	value bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
`,
	},
	{
		version: 11,
		name: 'a/b decisions: the evidence (lift and interval, always-valid p-value, detectable lift, expected time, power) and the sequential running state',
		sql: `ALTER TABLE eca_ab_decisions ADD COLUMN IF NOT EXISTS evidence jsonb;`,
	},
	{
		version: 12,
		name: 'reputation guard: holds (paused campaigns and SendGrid accounts) with their log, event counters per minute, warm-up allowances per day',
		// A hold stops every claim of its scope ('campaign:<id>' or 'account:<key>') until someone lifts it;
		// the log says who paused and who resumed. The counters are what the breaker reads: fresh events
		// counted per scope and minute, so a rolling window is a sum of a few rows, never a scan of deliveries.
		// A run remembers the SendGrid account (an opaque key) it sent with, so events find their account.
		sql: `
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS account text;
CREATE TABLE IF NOT EXISTS eca_holds (
	scope text PRIMARY KEY,
	cause text NOT NULL,
	reason text NOT NULL,
	detail jsonb NOT NULL DEFAULT '{}'::jsonb,
	held_by text NOT NULL,
	held_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS eca_hold_log (
	id bigserial PRIMARY KEY,
	scope text NOT NULL,
	action text NOT NULL,
	cause text,
	reason text,
	detail jsonb,
	actor text NOT NULL,
	at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS eca_hold_log_scope ON eca_hold_log (scope, at DESC);
CREATE TABLE IF NOT EXISTS eca_reputation (
	scope text NOT NULL,
	minute timestamptz NOT NULL,
	processed int NOT NULL DEFAULT 0,
	delivered int NOT NULL DEFAULT 0,
	bounced int NOT NULL DEFAULT 0,
	hard_bounced int NOT NULL DEFAULT 0,
	spam_reports int NOT NULL DEFAULT 0,
	PRIMARY KEY (scope, minute)
);
CREATE TABLE IF NOT EXISTS eca_warmup (
	account text NOT NULL,
	day date NOT NULL,
	allowance int NOT NULL,
	day_number int NOT NULL,
	note text,
	decided_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (account, day)
);
-- Sequences paused before holds existed stay paused.
INSERT INTO eca_holds (scope, cause, reason, held_by)
	SELECT 'campaign:' || id, 'manual', 'paused by a user', 'Campaign Sequence' FROM eca_campaigns WHERE status = 'paused'
	ON CONFLICT (scope) DO NOTHING;
`,
	},
	{
		version: 13,
		name: 'scheduled sends: the SendGrid batch id a run with send_at sends under, its send_at span, and its pause or cancellation',
		// One batch id per run (created once, reused by a resumed or re-run run of the same id); Pause,
		// Cancel and Resume Scheduled act on it. scheduled_status is SendGrid's status of the batch as
		// we set it: NULL (sending as scheduled), 'pause' or 'cancel'.
		sql: `
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS batch_id text;
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS send_at_first timestamptz;
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS send_at_last timestamptz;
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS scheduled_status text;
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS scheduled_by text;
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS scheduled_changed_at timestamptz;
`,
	},
	{
		version: 14,
		name: 'campaign API keys: hashed keys with scopes, allowed campaigns and a rate limit each; the log of their calls',
		// The secret of a key is never stored: only an HMAC-SHA256 of it under the key's own random salt.
		// campaigns NULL = every campaign; else a JSON list of ids and "prefix*" patterns.
		// Every authenticated call is counted on its key and logged with its outcome (never the secret).
		sql: `
CREATE TABLE IF NOT EXISTS eca_api_keys (
	id text PRIMARY KEY,
	name text NOT NULL,
	prefix text NOT NULL,
	salt text NOT NULL,
	secret_hash text NOT NULL,
	scopes jsonb NOT NULL,
	campaigns jsonb,
	rate_limit int NOT NULL,
	created_by text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz,
	revoked_by text,
	last_used_at timestamptz,
	calls bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS eca_api_key_calls (
	id bigserial PRIMARY KEY,
	key_id text NOT NULL,
	at timestamptz NOT NULL DEFAULT now(),
	scope text NOT NULL,
	campaign_id text,
	run_id text,
	status int NOT NULL,
	error text
);
CREATE INDEX IF NOT EXISTS eca_api_key_calls_key ON eca_api_key_calls (key_id, id DESC);
`,
	},
	{
		version: 16,
		name: 'dashboard actions: who did what to which campaign, when, and how it ended',
		// Written by the dashboard's actions only after the actor was verified and the CSRF token checked.
		sql: `
CREATE TABLE IF NOT EXISTS eca_audit (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT now(),
	actor text NOT NULL,
	action text NOT NULL,
	campaign_id text,
	target text,
	outcome text NOT NULL,
	message text NOT NULL,
	detail jsonb
);
CREATE INDEX IF NOT EXISTS eca_audit_campaign ON eca_audit (campaign_id, id DESC);
`,
	},
	{
		version: 17,
		name: 'dashboard reads: keyset indexes on deliveries, the events timeline, suppression sources, next due step per campaign',
		// Every dashboard page query walks one of these (test/integration/dashboard-scale.test.ts checks the
		// plans on 1,000,000 deliveries and 3,000,000 events; bench:dashboard times them):
		// - deliveries pages by id DESC: (campaign_id, id) — INCLUDE'd columns let the campaigns overview
		//   count a campaign's totals with an index-only scan; open_count / click_count stay out of it so a
		//   repeat open or click (count only) is still a HOT update; (campaign_id, status, id), (status, id);
		//   addresses exact or by prefix: (lower(email) COLLATE "C", id). No (campaign_id, step, id): a
		//   campaign has a few steps, so (campaign_id, id) finds a page of one step within a few pages' rows.
		//   Cost: status and the first delivered/open/click/bounce times are indexed now, so those changes are
		//   no longer HOT updates (each writes its index entries: README Design, "Dashboard reads").
		// - the timeline and link clicks: eca_events (campaign_id, event, ts) INCLUDE (step, variant, email);
		//   migration 5 dropped the bare (campaign_id, event) index from the write path, this one pays for reads.
		// - suppressions caused by a campaign: eca_suppressions (source COLLATE "C") for 'sendgrid:<id>' and 'link:%'.
		// - the next due step of a campaign: eca_enrollments (campaign_id, next_send_at) of active enrollments.
		sql: `
CREATE INDEX IF NOT EXISTS eca_deliveries_dash_campaign ON eca_deliveries (campaign_id, id)
	INCLUDE (step, variant, status, delivered_at, opened_at, clicked_at, bounced_at, dropped_at, unsubscribed_at, spam_reported_at) WHERE mode = 'live';
CREATE INDEX IF NOT EXISTS eca_deliveries_dash_campaign_status ON eca_deliveries (campaign_id, status, id) WHERE mode = 'live';
CREATE INDEX IF NOT EXISTS eca_deliveries_dash_status ON eca_deliveries (status, id) WHERE mode = 'live';
CREATE INDEX IF NOT EXISTS eca_deliveries_dash_email ON eca_deliveries ((lower(email) COLLATE "C"), id) WHERE mode = 'live';
CREATE INDEX IF NOT EXISTS eca_events_dash_timeline ON eca_events (campaign_id, event, ts) INCLUDE (step, variant, email);
CREATE INDEX IF NOT EXISTS eca_suppressions_dash_source ON eca_suppressions ((source COLLATE "C"));
CREATE INDEX IF NOT EXISTS eca_enrollments_dash_next ON eca_enrollments (campaign_id, next_send_at) WHERE status = 'active';
`,
	},
	{
		version: 18,
		name: 'dashboard: the copy cache by campaign (the copy of each variant on a campaign page)',
		// Per-recipient copy (Personalize) puts a row per recipient in the cache: the campaign page reads its
		// newest copy per step, variant and language through this index, never the whole cache.
		sql: `
CREATE INDEX IF NOT EXISTS eca_copy_cache_campaign ON eca_copy_cache (campaign_id, step, variant, language, created_at DESC);
`,
	},
	{
		version: 19,
		name: "deliveries: the copy's language, for the dashboard's numbers per step, variant and language",
		// Written once by the claim (the request's language) and never changed by an event, so carrying it in
		// the dashboard's campaign index adds no write: the index is rebuilt with it (rows before it: NULL).
		sql: `
ALTER TABLE eca_deliveries ADD COLUMN IF NOT EXISTS language text;
DROP INDEX IF EXISTS eca_deliveries_dash_campaign;
CREATE INDEX IF NOT EXISTS eca_deliveries_dash_campaign_lang ON eca_deliveries (campaign_id, id)
	INCLUDE (step, variant, language, status, delivered_at, opened_at, clicked_at, bounced_at, dropped_at, unsubscribed_at, spam_reported_at) WHERE mode = 'live';
`,
	},
	{
		version: 20,
		name: 'runs: SendGrid 429s, retries and rate-limit waits; the worker running it (campaign metrics)',
		// Counted by the send stage per run and added when its sends are recorded; the worker (host:pid) is
		// written by startRun, so the metrics endpoint can count runs in progress per worker (queue mode).
		sql: `
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS sg_rate_limited int NOT NULL DEFAULT 0;
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS sg_retries int NOT NULL DEFAULT 0;
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS limiter_wait_ms bigint NOT NULL DEFAULT 0;
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS worker text;
CREATE INDEX IF NOT EXISTS eca_runs_running ON eca_runs (worker) WHERE status = 'running';
`,
	},
	{
		version: 21,
		name: 'runs: a resume asked for on the dashboard, for the Campaign Agent to take up',
		// The dashboard asks; a Campaign Agent with Resume Requested Runs on takes the request (clearing it in
		// the same statement, so two executions never resume the same run) and continues the run.
		sql: `
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS resume_requested_at timestamptz;
ALTER TABLE eca_runs ADD COLUMN IF NOT EXISTS resume_requested_by text;
`,
	},
];

const LOCK_KEY = 72_612_345; // any constant; shared by every process that migrates this store

export async function migrate(db: SqlDriver): Promise<number[]> {
	return db.transaction(async (tx) => {
		await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
		await tx.query(`CREATE TABLE IF NOT EXISTS eca_schema_migrations (
			version int PRIMARY KEY,
			name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`);
		const done = new Set((await tx.query<{ version: number }>('SELECT version FROM eca_schema_migrations')).rows.map((r) => r.version));
		const applied: number[] = [];
		for (const m of MIGRATIONS) {
			if (done.has(m.version)) continue;
			await tx.exec(m.sql);
			await tx.query('INSERT INTO eca_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
			applied.push(m.version);
		}
		return applied;
	});
}
