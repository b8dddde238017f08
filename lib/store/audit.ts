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
