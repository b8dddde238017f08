/**
 * Enrollments: one row per (campaign, contact) with the next step and when it is due. Due rows are
 * claimed with FOR UPDATE SKIP LOCKED, so parallel scheduler runs or queue-mode workers never take
 * the same contact's step twice (and the delivery claim is the second guard).
 */
import { createHash } from 'node:crypto';
import type { Campaign, Contact, DeliveryResult } from '../schemas';
import { variantFor } from '../ids';
import type { CampaignStore } from '../store';
import { stepDueAt } from './schedule';

export const HOLDOUT = 'holdout';

/** A/B sample mode: a stable share of contacts is tested first; the rest wait for the winner. */
export function abGroup(campaign: Campaign, email: string): string {
	const ab = campaign.abTest;
	if (ab?.mode === 'sample' && campaign.variants > 1) {
		const h = createHash('sha256').update(`sample\n${campaign.id}\n${email.toLowerCase()}`).digest().readUInt32BE(0);
		if ((h % 10_000) / 100 >= ab.samplePercent) return HOLDOUT;
	}
	return variantFor(campaign.id, email, campaign.variants);
}

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

function firstStep(campaign: Campaign) {
	return [...campaign.steps].sort((a, b) => a.step - b.step)[0];
}

function dueFor(campaign: Campaign, stepNo: number, enrolledAt: number, tz: string | undefined, variant: string): number {
	const step = campaign.steps.find((s) => s.step === stepNo)!;
	const wait = variant === HOLDOUT && campaign.abTest ? campaign.abTest.waitHours * 3_600_000 : 0;
	return stepDueAt(enrolledAt, step.delayHours, tz ?? campaign.timezone, campaign.sendWindow) + wait;
}

/** Enrolls contacts (those already enrolled keep their place); returns how many are new. */
export async function enrollContacts(store: CampaignStore, campaign: Campaign, contacts: Contact[], now: number, timezoneField = 'timezone'): Promise<{ enrolled: number; already: number }> {
	await store.upsertCampaign(campaign);
	const step = firstStep(campaign);
	let enrolled = 0;
	for (let i = 0; i < contacts.length; i += 5000) {
		const part = contacts.slice(i, i + 5000);
		const rows = part.map((c) => {
			const { email, ...fields } = c;
			const tz = fields[timezoneField] || undefined;
			const variant = abGroup(campaign, email);
			return { email, tz: tz ?? null, variant, fields: JSON.stringify(fields), due: new Date(dueFor(campaign, step.step, now, tz, variant)).toISOString() };
		});
		const r = await store.db.query(
			`INSERT INTO eca_enrollments (campaign_id, email, status, next_step, next_send_at, timezone, variant, fields, enrolled_at)
			 SELECT $1, t.e, 'active', $2, t.due, t.tz, t.v, t.f, $3 FROM unnest($4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::jsonb[]) AS t(e, due, tz, v, f)
			 ON CONFLICT (campaign_id, email) DO NOTHING`,
			[campaign.id, step.step, new Date(now).toISOString(), rows.map((r) => r.email), rows.map((r) => r.due), rows.map((r) => r.tz), rows.map((r) => r.variant), rows.map((r) => r.fields)],
		);
		enrolled += r.rowCount;
	}
	return { enrolled, already: contacts.length - enrolled };
}

/** Claims due enrollments for this worker; a claim expires after leaseSeconds if the worker dies. */
export async function claimDueEnrollments(
	store: CampaignStore,
	options: { now: number; worker: string; limit?: number; leaseSeconds?: number; campaignId?: string },
): Promise<Enrollment[]> {
	const now = new Date(options.now).toISOString();
	return store.db.transaction(async (tx) => {
		const r = await tx.query<Enrollment>(
			`WITH due AS (
				SELECT en.campaign_id, en.email FROM eca_enrollments en
				WHERE en.status = 'active' AND en.next_send_at <= $1::timestamptz
				  AND (en.claimed_until IS NULL OR en.claimed_until < $1::timestamptz)
				  AND ($4::text IS NULL OR en.campaign_id = $4)
				  AND NOT EXISTS (SELECT 1 FROM eca_campaigns c WHERE c.id = en.campaign_id AND c.status = 'paused')
				ORDER BY en.next_send_at
				LIMIT $2
				FOR UPDATE SKIP LOCKED
			)
			UPDATE eca_enrollments en SET claimed_by = $3, claimed_until = $1::timestamptz + make_interval(secs => $5), updated_at = now()
			FROM due WHERE en.campaign_id = due.campaign_id AND en.email = due.email
			RETURNING en.campaign_id, en.email, en.status, en.next_step, en.next_send_at, en.timezone, en.variant, en.fields, en.enrolled_at`,
			[now, options.limit ?? 100_000, options.worker, options.campaignId ?? null, options.leaseSeconds ?? 900],
		);
		return r.rows;
	});
}

/** Moves each contact on after a send: next step and its due time, completed, stopped, or retried later. */
export async function advanceEnrollments(store: CampaignStore, campaign: Campaign, step: number, rows: Enrollment[], results: Map<string, DeliveryResult>, now: number): Promise<Record<string, number>> {
	const ordered = [...campaign.steps].sort((a, b) => a.step - b.step);
	const next = ordered.find((s) => s.step > step);
	const updates: Array<{ email: string; status: string; next_step: number | null; due: string | null; reason: string | null; variant: string }> = [];
	const tally: Record<string, number> = {};
	for (const row of rows) {
		const r = results.get(row.email);
		let u: (typeof updates)[number];
		const keep = { email: row.email, status: 'active', next_step: step, due: row.next_send_at, reason: null, variant: row.variant };
		if (!r || ['retry', 'deferred', 'unconfirmed', 'dry_run', 'sandbox'].includes(r.status)) u = keep;
		else if (r.status === 'sent' || r.status === 'already_sent') {
			const variant = row.variant === HOLDOUT ? r.variant : row.variant;
			u = next
				? { email: row.email, status: 'active', next_step: next.step, due: new Date(Math.max(now, dueFor(campaign, next.step, Date.parse(row.enrolled_at), row.timezone ?? undefined, variant))).toISOString(), reason: null, variant }
				: { email: row.email, status: 'completed', next_step: null, due: null, reason: null, variant };
		} else u = { email: row.email, status: 'stopped', next_step: null, due: null, reason: `${r.status}: ${r.error ?? ''}`.slice(0, 500), variant: row.variant };
		const outcome = u.status !== 'active' ? u.status : u.next_step === step ? 'waiting' : 'advanced';
		tally[outcome] = (tally[outcome] ?? 0) + 1;
		updates.push(u);
	}
	if (updates.length)
		await store.db.query(
			`UPDATE eca_enrollments en SET status = t.s, next_step = t.n, next_send_at = t.d, stop_reason = COALESCE(t.r, en.stop_reason), variant = t.v,
				claimed_by = NULL, claimed_until = NULL, updated_at = now()
			 FROM unnest($2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::text[], $7::text[]) AS t(e, s, n, d, r, v)
			 WHERE en.campaign_id = $1 AND en.email = t.e AND en.status = 'active'`,
			[campaign.id, updates.map((u) => u.email), updates.map((u) => u.status), updates.map((u) => u.next_step), updates.map((u) => u.due), updates.map((u) => u.reason), updates.map((u) => u.variant)],
		);
	return tally;
}

/** Gives claimed rows back untouched, optionally due later (holdout waiting for an A/B winner). */
export async function releaseEnrollments(store: CampaignStore, campaignId: string, emails: string[], dueAt?: number): Promise<void> {
	if (!emails.length) return;
	await store.db.query(
		`UPDATE eca_enrollments SET claimed_by = NULL, claimed_until = NULL, next_send_at = COALESCE($3::timestamptz, next_send_at), updated_at = now()
		 WHERE campaign_id = $1 AND email = ANY($2::text[])`,
		[campaignId, emails, dueAt ? new Date(dueAt).toISOString() : null],
	);
}

export async function setSequenceStatus(store: CampaignStore, campaignId: string, status: 'active' | 'paused'): Promise<number> {
	const r = await store.db.query('UPDATE eca_campaigns SET status = $2, updated_at = now() WHERE id = $1', [campaignId, status]);
	return r.rowCount;
}

export async function sequenceStatus(store: CampaignStore, campaignId: string): Promise<Array<{ status: string; next_step: number | null; stop_reason: string | null; n: number }>> {
	return (
		await store.db.query<{ status: string; next_step: number | null; stop_reason: string | null; n: number }>(
			`SELECT status, next_step, split_part(COALESCE(stop_reason, ''), ':', 1) AS stop_reason, count(*)::int AS n
			 FROM eca_enrollments WHERE campaign_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
			[campaignId],
		)
	).rows;
}
