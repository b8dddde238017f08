/**
 * Enrollment SQL: one row per (campaign, contact) with the next step and when it is due. Due rows are
 * claimed with FOR UPDATE SKIP LOCKED, so parallel scheduler runs or queue-mode workers never take the
 * same contact's step twice.
 */
import { driverOf, type CampaignStore } from './campaignStore';

export interface Enrollment {
	campaign_id: string;
	email: string;
	status: string;
	next_step: number | null;
	next_send_at: string | null;
	timezone: string | null;
	variant: string;
	fields: Record<string, string>;
	enrolled_at: string;
}

/** A contact to enroll: fields as JSON text, due as an ISO time. */
export interface NewEnrollment {
	email: string;
	tz: string | null;
	variant: string;
	fields: string;
	due: string;
}

/** Where an enrollment goes after a send (its claim is given back in the same statement). */
export interface EnrollmentMove {
	email: string;
	status: string;
	next_step: number | null;
	due: string | null;
	reason: string | null;
	variant: string;
}

export interface EnrollmentCount {
	status: string;
	next_step: number | null;
	stop_reason: string | null;
	n: number;
}

/** Enrolls contacts at a first step, active; those already enrolled keep their row. Returns how many rows were added. */
export async function insertEnrollments(store: CampaignStore, campaignId: string, firstStep: number, enrolledAt: string, rows: NewEnrollment[]): Promise<number> {
	const r = await driverOf(store).query(
		`INSERT INTO eca_enrollments (campaign_id, email, status, next_step, next_send_at, timezone, variant, fields, enrolled_at)
			 SELECT $1, t.e, 'active', $2, t.due, t.tz, t.v, t.f, $3 FROM unnest($4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::jsonb[]) AS t(e, due, tz, v, f)
			 ON CONFLICT (campaign_id, email) DO NOTHING`,
		[campaignId, firstStep, enrolledAt, rows.map((r) => r.email), rows.map((r) => r.due), rows.map((r) => r.tz), rows.map((r) => r.variant), rows.map((r) => r.fields)],
	);
	return r.rowCount;
}

/** Claims active enrollments due at `now` (paused campaigns — held — skipped, unexpired claims of others skipped) until now + leaseSeconds. */
export function claimDue(store: CampaignStore, o: { now: string; worker: string; limit: number; leaseSeconds: number; campaignId: string | null }): Promise<Enrollment[]> {
	return driverOf(store).transaction(async (tx) => {
		const r = await tx.query<Enrollment>(
			`WITH due AS (
				SELECT en.campaign_id, en.email FROM eca_enrollments en
				WHERE en.status = 'active' AND en.next_send_at <= $1::timestamptz
				  AND (en.claimed_until IS NULL OR en.claimed_until < $1::timestamptz)
				  AND ($4::text IS NULL OR en.campaign_id = $4)
				  AND NOT EXISTS (SELECT 1 FROM eca_holds h WHERE h.scope = 'campaign:' || en.campaign_id)
				ORDER BY en.next_send_at
				LIMIT $2
				FOR UPDATE SKIP LOCKED
			)
			UPDATE eca_enrollments en SET claimed_by = $3, claimed_until = $1::timestamptz + make_interval(secs => $5), updated_at = now()
			FROM due WHERE en.campaign_id = due.campaign_id AND en.email = due.email
			RETURNING en.campaign_id, en.email, en.status, en.next_step, en.next_send_at, en.timezone, en.variant, en.fields, en.enrolled_at`,
			[o.now, o.limit, o.worker, o.campaignId, o.leaseSeconds],
		);
		return r.rows;
	});
}

/** Moves active enrollments of a campaign on (step, due time, status, reason, variant) and gives their claims back. */
export async function moveEnrollments(store: CampaignStore, campaignId: string, moves: EnrollmentMove[]): Promise<void> {
	await driverOf(store).query(
		`UPDATE eca_enrollments en SET status = t.s, next_step = t.n, next_send_at = t.d, stop_reason = COALESCE(t.r, en.stop_reason), variant = t.v,
				claimed_by = NULL, claimed_until = NULL, updated_at = now()
			 FROM unnest($2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::text[]) AS t(e, s, n, d, r, v)
			 WHERE en.campaign_id = $1 AND en.email = t.e AND en.status = 'active'`,
		[campaignId, moves.map((u) => u.email), moves.map((u) => u.status), moves.map((u) => u.next_step), moves.map((u) => u.due), moves.map((u) => u.reason), moves.map((u) => u.variant)],
	);
}

/** Gives claims back untouched; with dueAt (ISO), the rows become due then instead. */
export async function releaseEnrollmentClaims(store: CampaignStore, campaignId: string, emails: string[], dueAt: string | null): Promise<void> {
	await driverOf(store).query(
		`UPDATE eca_enrollments SET claimed_by = NULL, claimed_until = NULL, next_send_at = COALESCE($3::timestamptz, next_send_at), updated_at = now()
		 WHERE campaign_id = $1 AND email = ANY($2::text[])`,
		[campaignId, emails, dueAt],
	);
}

/** Whether the store knows this campaign. */
export async function campaignExists(store: CampaignStore, campaignId: string): Promise<boolean> {
	return (await driverOf(store).query('SELECT 1 FROM eca_campaigns WHERE id = $1', [campaignId])).rows.length > 0;
}

/** A campaign's enrollments counted by status, next step and the kind of stop reason (the text before ':'). */
export async function enrollmentCounts(store: CampaignStore, campaignId: string): Promise<EnrollmentCount[]> {
	return (
		await driverOf(store).query<EnrollmentCount>(
			`SELECT status, next_step, split_part(COALESCE(stop_reason, ''), ':', 1) AS stop_reason, count(*)::int AS n
			 FROM eca_enrollments WHERE campaign_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
			[campaignId],
		)
	).rows;
}
