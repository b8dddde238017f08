/**
 * Enrollments: one row per (campaign, contact) with the next step and when it is due. Due rows are
 * claimed with FOR UPDATE SKIP LOCKED, so parallel scheduler runs or queue-mode workers never take
 * the same contact's step twice (and the delivery claim is the second guard).
 */
import { RESULT_MEANING } from '../delivery/states';
import { createHash } from 'node:crypto';
import type { Campaign, Contact, DeliveryResult } from '../schemas';
import { variantFor } from '../ids';
import { campaignPowerCheck, type PowerCheck } from '../ab/power';
import {
	claimDue,
	enrollmentCounts,
	insertEnrollments,
	moveEnrollments,
	releaseEnrollmentClaims,
	type CampaignStore,
	type Enrollment,
	type EnrollmentCount,
	type EnrollmentMove,
} from '../store';
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

export type { Enrollment } from '../store';

function firstStep(campaign: Campaign) {
	return [...campaign.steps].sort((a, b) => a.step - b.step)[0];
}

function dueFor(campaign: Campaign, stepNo: number, enrolledAt: number, tz: string | undefined, variant: string): number {
	const step = campaign.steps.find((s) => s.step === stepNo)!;
	const wait = variant === HOLDOUT && campaign.abTest ? campaign.abTest.waitHours * 3_600_000 : 0;
	return stepDueAt(enrolledAt, step.delayHours, tz ?? campaign.timezone, campaign.sendWindow) + wait;
}

/** Enrolls contacts (those already enrolled keep their place); returns how many are new. */
export async function enrollContacts(
	store: CampaignStore,
	campaign: Campaign,
	contacts: Contact[],
	now: number,
	timezoneField = 'timezone',
): Promise<{ enrolled: number; already: number; ab_power?: PowerCheck }> {
	await store.upsertCampaign(campaign);
	const step = firstStep(campaign);
	let enrolled = 0;
	const perVariant = new Map<string, number>();
	for (let i = 0; i < contacts.length; i += 5000) {
		const part = contacts.slice(i, i + 5000);
		const rows = part.map((c) => {
			const { email, ...fields } = c;
			const tz = fields[timezoneField] || undefined;
			const variant = abGroup(campaign, email);
			perVariant.set(variant, (perVariant.get(variant) ?? 0) + 1);
			return { email, tz: tz ?? null, variant, fields: JSON.stringify(fields), due: new Date(dueFor(campaign, step.step, now, tz, variant)).toISOString() };
		});
		enrolled += await insertEnrollments(store, campaign.id, step.step, new Date(now).toISOString(), rows);
	}
	const out: { enrolled: number; already: number; ab_power?: PowerCheck } = { enrolled, already: contacts.length - enrolled };
	// Before the test starts: can this sample detect a plausible lift? (The first tick reports it again for what was sent.)
	const power = campaignPowerCheck(campaign, [...perVariant].filter(([v]) => v !== HOLDOUT).map(([, n]) => n));
	if (power) out.ab_power = power;
	return out;
}

/** Claims due enrollments for this worker; a claim expires after leaseSeconds if the worker dies. */
export async function claimDueEnrollments(
	store: CampaignStore,
	options: { now: number; worker: string; limit?: number; leaseSeconds?: number; campaignId?: string },
): Promise<Enrollment[]> {
	const now = new Date(options.now).toISOString();
	return claimDue(store, { now, worker: options.worker, limit: options.limit ?? 100_000, leaseSeconds: options.leaseSeconds ?? 900, campaignId: options.campaignId ?? null });
}

/** Moves each contact on after a send: next step and its due time, completed, stopped, or retried later. */
export async function advanceEnrollments(store: CampaignStore, campaign: Campaign, step: number, rows: Enrollment[], results: Map<string, DeliveryResult>, now: number): Promise<Record<string, number>> {
	const ordered = [...campaign.steps].sort((a, b) => a.step - b.step);
	const next = ordered.find((s) => s.step > step);
	const updates: EnrollmentMove[] = [];
	const tally: Record<string, number> = {};
	for (const row of rows) {
		const r = results.get(row.email);
		let u: (typeof updates)[number];
		const keep = { email: row.email, status: 'active', next_step: step, due: row.next_send_at, reason: null, variant: row.variant };
		const meaning = r ? RESULT_MEANING[r.status].outcome : 'pending';
		if (!r || meaning === 'pending') u = keep;
		else if (meaning === 'went_out') {
			const variant = row.variant === HOLDOUT ? r.variant : row.variant;
			u = next
				? { email: row.email, status: 'active', next_step: next.step, due: new Date(Math.max(now, dueFor(campaign, next.step, Date.parse(row.enrolled_at), row.timezone ?? undefined, variant))).toISOString(), reason: null, variant }
				: { email: row.email, status: 'completed', next_step: null, due: null, reason: null, variant };
		} else u = { email: row.email, status: 'stopped', next_step: null, due: null, reason: `${r.status}: ${r.error ?? ''}`.slice(0, 500), variant: row.variant };
		const outcome = u.status !== 'active' ? u.status : u.next_step === step ? 'waiting' : 'advanced';
		tally[outcome] = (tally[outcome] ?? 0) + 1;
		updates.push(u);
	}
	if (updates.length) await moveEnrollments(store, campaign.id, updates);
	return tally;
}

/** Gives claimed rows back untouched, optionally due later (holdout waiting for an A/B winner). */
export async function releaseEnrollments(store: CampaignStore, campaignId: string, emails: string[], dueAt?: number): Promise<void> {
	if (!emails.length) return;
	await releaseEnrollmentClaims(store, campaignId, emails, dueAt ? new Date(dueAt).toISOString() : null);
}

export async function sequenceStatus(store: CampaignStore, campaignId: string): Promise<EnrollmentCount[]> {
	return enrollmentCounts(store, campaignId);
}
