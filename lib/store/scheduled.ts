/**
 * Scheduled sends in the store: the SendGrid batch id a run with send_at sends under (one per run,
 * kept on its eca_runs row), the span of its send_at, and the pause or cancellation a user set on it.
 * Cancelling moves the run's delivery rows to `cancelled` along lib/delivery's table (cause 'cancel'),
 * deleting the cancellation moves them back (cause 'uncancel'). The rules live in lib/sendgrid/scheduled.ts.
 */
import { sourcesOf } from '../delivery/states';
import { driverOf, type CampaignStore } from './campaignStore';

export type ScheduledStatus = 'pause' | 'cancel';

export interface RunSchedule {
	run_id: string;
	campaign_id: string;
	account: string | null;
	batch_id: string | null;
	/** Unix seconds: the earliest and latest send_at of the run's requests. */
	send_at_first: number | null;
	send_at_last: number | null;
	/** SendGrid's status of the batch as we set it: null = sending as scheduled. */
	scheduled_status: ScheduledStatus | null;
	scheduled_by: string | null;
	scheduled_changed_at: string | null;
}

const SCHEDULE_COLUMNS = `run_id, campaign_id, account, batch_id,
	extract(epoch FROM send_at_first)::float8 AS send_at_first, extract(epoch FROM send_at_last)::float8 AS send_at_last,
	scheduled_status, scheduled_by, scheduled_changed_at::text AS scheduled_changed_at`;

/** The run's batch id, send_at span and scheduled status; undefined when the run is not in the store. */
export async function runSchedule(store: CampaignStore, runId: string): Promise<RunSchedule | undefined> {
	const r = await driverOf(store).query<RunSchedule>(`SELECT ${SCHEDULE_COLUMNS} FROM eca_runs WHERE run_id = $1`, [runId]);
	return r.rows[0];
}

/** The campaign's runs sent with send_at, newest first (at most 20): what Pause / Cancel / Resume Scheduled act on. */
export async function scheduledRunsOf(store: CampaignStore, campaignId: string): Promise<RunSchedule[]> {
	const r = await driverOf(store).query<RunSchedule>(
		`SELECT ${SCHEDULE_COLUMNS} FROM eca_runs WHERE campaign_id = $1 AND batch_id IS NOT NULL ORDER BY started_at DESC LIMIT 20`,
		[campaignId],
	);
	return r.rows;
}

/**
 * Keeps `batchId` as the run's batch unless it already has one (the first writer wins, so two
 * processes sending the same run agree), and widens the run's send_at span. Returns the batch id the
 * run sends under. The run row must exist (startRun).
 */
export async function keepRunBatch(store: CampaignStore, runId: string, batchId: string | undefined, sendAt: { first: number; last: number }): Promise<string | undefined> {
	const r = await driverOf(store).query<{ batch_id: string | null }>(
		`UPDATE eca_runs SET batch_id = COALESCE(batch_id, $2),
			send_at_first = LEAST(send_at_first, to_timestamp($3::float8)), send_at_last = GREATEST(send_at_last, to_timestamp($4::float8)), updated_at = now()
		 WHERE run_id = $1 RETURNING batch_id`,
		[runId, batchId ?? null, sendAt.first, sendAt.last],
	);
	return r.rows[0]?.batch_id ?? undefined;
}

/** Records the status SendGrid now has for the run's batch (null: the pause or cancellation was deleted) and who set it. */
export async function setRunScheduledStatus(store: CampaignStore, runId: string, status: ScheduledStatus | null, by: string): Promise<void> {
	await driverOf(store).query(`UPDATE eca_runs SET scheduled_status = $2, scheduled_by = $3, scheduled_changed_at = now(), updated_at = now() WHERE run_id = $1`, [runId, status, by.slice(0, 200)]);
}

/**
 * The run's deliveries that went to SendGrid under its batch (sent, or unconfirmed: maybe taken)
 * become `cancelled`; returns how many. The run's counts are recounted, so it is never counted as sent.
 */
export async function cancelRunDeliveries(store: CampaignStore, runId: string, reason: string): Promise<number> {
	const r = await driverOf(store).query(
		`UPDATE eca_deliveries SET status = 'cancelled', error = $3, updated_at = now()
		 WHERE run_id = $1 AND mode = 'live' AND status = ANY($2::text[])`,
		[runId, sourcesOf('cancelled', 'cancel'), reason.slice(0, 2000)],
	);
	await store.refreshRun(runId);
	return r.rowCount;
}

/**
 * The run's cancelled deliveries (their cancellation was deleted before send_at) go back to `sent` when
 * they had been sent (sent_at is set), else to `unconfirmed` (in flight or unanswered when cancelled:
 * SendGrid's processed event confirms them); returns how many moved.
 */
export async function uncancelRunDeliveries(store: CampaignStore, runId: string): Promise<number> {
	const r = await driverOf(store).query(
		`UPDATE eca_deliveries SET status = CASE WHEN sent_at IS NOT NULL THEN 'sent' ELSE 'unconfirmed' END,
			error = CASE WHEN sent_at IS NOT NULL THEN NULL ELSE 'cancellation deleted before send_at; never confirmed by SendGrid' END, updated_at = now()
		 WHERE run_id = $1 AND mode = 'live'
			AND ((sent_at IS NOT NULL AND status = ANY($2::text[])) OR (sent_at IS NULL AND status = ANY($3::text[])))`,
		[runId, sourcesOf('sent', 'uncancel'), sourcesOf('unconfirmed', 'uncancel')],
	);
	await store.refreshRun(runId);
	return r.rowCount;
}
