/** The dashboard's audit log: every action a verified actor took, with its target and how it ended. */
import { driverOf, type CampaignStore } from './campaignStore';

export interface AuditEntry {
	id: string;
	at: string;
	actor: string;
	action: string;
	campaign_id: string | null;
	target: string | null;
	outcome: 'done' | 'refused' | 'failed';
	message: string;
	detail: Record<string, unknown> | null;
}

export async function recordAudit(store: CampaignStore, e: Omit<AuditEntry, 'id' | 'at'>): Promise<void> {
	await driverOf(store).query(`INSERT INTO eca_audit (actor, action, campaign_id, target, outcome, message, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
		e.actor,
		e.action,
		e.campaign_id,
		e.target,
		e.outcome,
		e.message.slice(0, 2000),
		e.detail === null ? null : JSON.stringify(e.detail),
	]);
}

/** The newest entries, of one campaign or of all. */
export async function auditLog(store: CampaignStore, campaignId: string | null, limit = 50): Promise<AuditEntry[]> {
	const r = await driverOf(store).query<AuditEntry>(
		`SELECT id::text, at::text, actor, action, campaign_id, target, outcome, message, detail FROM eca_audit
		 WHERE $1::text IS NULL OR campaign_id = $1 ORDER BY id DESC LIMIT $2`,
		[campaignId, Math.min(Math.max(limit, 1), 500)],
	);
	return r.rows;
}

/** A campaign's sequence cancelled: every contact still active in it stops (reason `cancelled`); returns how many. */
export async function cancelSequence(store: CampaignStore, campaignId: string, by: string): Promise<number> {
	const r = await driverOf(store).query(
		`UPDATE eca_enrollments SET status = 'stopped', stop_reason = $2, next_step = NULL, next_send_at = NULL, claimed_by = NULL, claimed_until = NULL, updated_at = now()
		 WHERE campaign_id = $1 AND status = 'active'`,
		[campaignId, `cancelled:${by}`.slice(0, 200)],
	);
	return r.rowCount;
}

/** The suppressions held for one address (every scope), newest first. */
export async function suppressionsOf(store: CampaignStore, email: string): Promise<Array<{ email: string; scope: string; reason: string; source: string | null; created_at: string }>> {
	const r = await driverOf(store).query<{ email: string; scope: string; reason: string; source: string | null; created_at: string }>(
		`SELECT email, scope, reason, source, created_at::text FROM eca_suppressions WHERE email = $1 ORDER BY created_at DESC LIMIT 100`,
		[email.trim().toLowerCase()],
	);
	return r.rows;
}

/**
 * Asks for an interrupted run to be resumed (the dashboard): only a live run that is interrupted; a
 * request already there stays with who made it first. Returns the run's campaign, or undefined when
 * the run is not (or no longer) interrupted.
 */
export async function requestResume(store: CampaignStore, runId: string, by: string): Promise<{ campaign_id: string; already: boolean } | undefined> {
	const r = await driverOf(store).query<{ campaign_id: string; already: boolean }>(
		`WITH before AS (SELECT run_id, resume_requested_at FROM eca_runs WHERE run_id = $1 FOR UPDATE)
		 UPDATE eca_runs r SET resume_requested_at = COALESCE(r.resume_requested_at, now()), resume_requested_by = COALESCE(r.resume_requested_by, $2)
		 FROM before b WHERE r.run_id = b.run_id AND r.status = 'interrupted' AND r.mode = 'live'
		 RETURNING r.campaign_id, b.resume_requested_at IS NOT NULL AS already`,
		[runId, by.slice(0, 200)],
	);
	return r.rows[0];
}

/** Takes the oldest resume request of a campaign's interrupted runs, clearing it: one taker per request. */
export async function takeResumeRequest(store: CampaignStore, campaignId: string): Promise<{ run_id: string; requested_by: string } | undefined> {
	const r = await driverOf(store).query<{ run_id: string; requested_by: string }>(
		`UPDATE eca_runs r SET resume_requested_at = NULL, resume_requested_by = NULL
		 FROM (SELECT run_id, resume_requested_by FROM eca_runs
		       WHERE campaign_id = $1 AND status = 'interrupted' AND resume_requested_at IS NOT NULL
		       ORDER BY resume_requested_at LIMIT 1 FOR UPDATE SKIP LOCKED) t
		 WHERE r.run_id = t.run_id
		 RETURNING r.run_id, t.resume_requested_by AS requested_by`,
		[campaignId],
	);
	return r.rows[0];
}
