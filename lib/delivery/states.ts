/**
 * The delivery state machine, as data. A live delivery row — one per (campaign, step, address) — is
 * in exactly one of these states, and moves only along the transitions below. Every SQL statement
 * that changes a row's status takes its allowed source states from this table (`sourcesOf`), so the
 * rules live here and nowhere else.
 *
 *   (none) ──claim──▶ claimed ──request accepted──▶ sent
 *                       │ ├──no answer (timeout, reset)──▶ unconfirmed ──processed event──▶ sent
 *                       │ ├──transient error / aborted──▶ retry ──────┐
 *                       │ ├──daily cap reached──────────▶ deferred ───┤──next run claims──▶ claimed
 *                       │ ├──suppressed before the request▶ suppressed┘
 *                       │ └──permanent refusal──────────▶ failed
 *                       └──processed event (the answer was lost, SendGrid took it)──▶ sent
 *   claimed / unconfirmed, never confirmed, past the resend grace ──reclaim──▶ claimed
 *   claimed, found by another run whose owner vanished ──▶ unconfirmed (the owner may still report)
 *   sent / unconfirmed / claimed, of a run scheduled with send_at ──Cancel Scheduled (its SendGrid batch)──▶ cancelled
 *   cancelled ──the cancellation deleted before send_at (Resume Scheduled)──▶ sent (it had been sent),
 *                                                                           or unconfirmed (never confirmed)
 *   cancelled ──a later run claims it (SendGrid discarded it: nothing was delivered)──▶ claimed
 * Only the run that holds a claim (its run_id on the row) may record an outcome for it. Cancel and
 * uncancel act on every row of one run (the run's batch id covers exactly its requests).
 */
import type { DeliveryStatus } from '../schemas';
import { CampaignError } from '../errors';

/** Where a live delivery row can be. */
export const DELIVERY_STATES = ['claimed', 'sent', 'unconfirmed', 'retry', 'failed', 'deferred', 'suppressed', 'cancelled'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** Why a row moves: who is asking decides which transitions are open to it. */
export type TransitionCause =
	/** A run claims a recipient before any API call. */
	| 'claim'
	/** A run claims again a row never confirmed, past the resend grace (its claimant crashed or got no answer). */
	| 'reclaim'
	/** The run that claimed the row records what SendGrid answered (or why it did not ask). */
	| 'outcome'
	/** A claimer finds a row still claimed by a run that never recorded an outcome. */
	| 'orphan'
	/** SendGrid's processed or delivered event says it took the message. */
	| 'event'
	/** A user cancelled the run's scheduled send (its SendGrid batch) before send_at, or SendGrid discarded a paused one as expired. */
	| 'cancel'
	/** A user deleted the run's cancellation before send_at: SendGrid sends the batch after all. */
	| 'uncancel';

export interface Transition {
	from: DeliveryState;
	to: DeliveryState;
	cause: TransitionCause;
	/** One line: when this happens. */
	when: string;
}

/** Every allowed transition. Anything not listed is refused and reported. */
export const TRANSITIONS: readonly Transition[] = [
	{ from: 'retry', to: 'claimed', cause: 'claim', when: 'a later run claims a recipient nothing was accepted for' },
	{ from: 'deferred', to: 'claimed', cause: 'claim', when: 'a later run claims a recipient the daily cap held back' },
	{ from: 'suppressed', to: 'claimed', cause: 'claim', when: 'a later run claims a recipient whose suppression was lifted' },
	{ from: 'cancelled', to: 'claimed', cause: 'claim', when: "a later run claims a recipient whose scheduled send was cancelled: SendGrid discarded it, nothing was delivered" },
	{ from: 'claimed', to: 'claimed', cause: 'reclaim', when: 'never confirmed past the resend grace: its claimant crashed before the request' },
	{ from: 'unconfirmed', to: 'claimed', cause: 'reclaim', when: 'never confirmed by a processed event past the resend grace' },
	{ from: 'claimed', to: 'sent', cause: 'outcome', when: 'SendGrid accepted the request (202)' },
	{ from: 'claimed', to: 'unconfirmed', cause: 'outcome', when: 'the request got no answer: SendGrid may or may not have taken it' },
	{ from: 'claimed', to: 'retry', cause: 'outcome', when: 'a transient error outlasted the retries, or the run stopped before this request' },
	{ from: 'claimed', to: 'failed', cause: 'outcome', when: 'SendGrid refused this recipient for good (a 4xx naming it)' },
	{ from: 'claimed', to: 'deferred', cause: 'outcome', when: "the daily cap was reached before this recipient's request" },
	{ from: 'claimed', to: 'suppressed', cause: 'outcome', when: 'the address was suppressed while the request waited' },
	// Another run may have marked the claim unconfirmed while its run was still waiting for the answer: the owner's report still counts.
	{ from: 'unconfirmed', to: 'sent', cause: 'outcome', when: "the owning run's request was accepted after another run had marked its claim unconfirmed" },
	{ from: 'unconfirmed', to: 'retry', cause: 'outcome', when: 'the owning run learned nothing was accepted (it never sent, or SendGrid answered 5xx)' },
	{ from: 'unconfirmed', to: 'failed', cause: 'outcome', when: 'the owning run got a permanent refusal for this recipient' },
	{ from: 'unconfirmed', to: 'deferred', cause: 'outcome', when: "the owning run's daily cap held it back" },
	{ from: 'unconfirmed', to: 'suppressed', cause: 'outcome', when: 'the owning run found the address suppressed before its request' },
	{ from: 'claimed', to: 'unconfirmed', cause: 'orphan', when: 'another run found the claim left behind by a run that never answered' },
	{ from: 'claimed', to: 'sent', cause: 'event', when: "SendGrid's processed event arrived before (or instead of) the answer" },
	{ from: 'unconfirmed', to: 'sent', cause: 'event', when: "SendGrid's processed event confirms a request that got no answer" },
	// Scheduled sends (a run with send_at sends every request under one SendGrid batch id, kept on the run row).
	{ from: 'sent', to: 'cancelled', cause: 'cancel', when: "the run's scheduled send was cancelled at least 10 minutes before send_at (or SendGrid discarded it, paused, 72 h after send_at)" },
	{ from: 'unconfirmed', to: 'cancelled', cause: 'cancel', when: 'the run\'s scheduled send was cancelled: a request that got no answer was either never taken or is discarded with the batch' },
	{ from: 'claimed', to: 'cancelled', cause: 'cancel', when: "the run was cancelled with this request in flight: if SendGrid takes it, it is discarded with the batch (the owner's later report is refused)" },
	{ from: 'cancelled', to: 'sent', cause: 'uncancel', when: "the run's cancellation was deleted (Resume Scheduled) before send_at and this one had been sent: SendGrid sends the batch after all" },
	{ from: 'cancelled', to: 'unconfirmed', cause: 'uncancel', when: 'the cancellation was deleted before send_at, but SendGrid never confirmed taking this one: its processed event confirms it' },
];

/** Rows in these states may be claimed by a new run without any grace: nothing was accepted for them. */
export const CLAIMABLE: readonly DeliveryState[] = sourcesOf('claimed', 'claim');
/**
 * A row in one of these states will never be sent again for its step: nothing moves it on its own.
 * Only a user cancelling a scheduled run (cause 'cancel') takes a `sent` row out, before send_at.
 */
export const FINAL: readonly DeliveryState[] = DELIVERY_STATES.filter((s) => !TRANSITIONS.some((t) => t.from === s && t.cause !== 'cancel'));

export function isDeliveryState(s: string): s is DeliveryState {
	return (DELIVERY_STATES as readonly string[]).includes(s);
}

export function canTransition(from: string, to: string, cause?: TransitionCause): boolean {
	return TRANSITIONS.some((t) => t.from === from && t.to === to && (cause === undefined || t.cause === cause));
}

/** The states a row may be in for `cause` to move it to `to`: the WHERE list of the statement that does it. */
export function sourcesOf(to: DeliveryState, cause: TransitionCause): DeliveryState[] {
	return TRANSITIONS.filter((t) => t.to === to && t.cause === cause).map((t) => t.from);
}

/** A status change the table does not allow, reported with the rows it concerned. */
export class DeliveryTransitionError extends CampaignError {
	constructor(
		readonly to: string,
		readonly cause: TransitionCause,
		readonly refused: Array<{ id: string; from: string | null }>,
	) {
		super(
			`${refused.length} deliver${refused.length === 1 ? 'y' : 'ies'} could not move to "${to}" (${cause}): ` +
				refused
					.slice(0, 5)
					.map((r) => (r.from === null ? `row ${r.id} is not this run's claim` : `row ${r.id} is ${r.from}`))
					.join(', ') +
				(refused.length > 5 ? ` and ${refused.length - 5} more` : ''),
		);
		this.name = 'DeliveryTransitionError';
	}
}

/**
 * `cancelled` is a store state only: no run reports it for a recipient (a run's results are what it
 * sent; the cancellation comes later, from Cancel Scheduled), so it is not a result status.
 *
 * What a run's per-recipient result (lib/schemas DELIVERY_STATUSES: the store's states plus
 * `already_sent`, `dry_run`, `sandbox`) means for the contact: the message went out, it is still to
 * go (a later run sends it), or it will not go (the contact's sequence stops). `skipped` results were
 * not sent by this run on purpose.
 */
export const RESULT_MEANING = {
	sent: { outcome: 'went_out', skipped: false },
	already_sent: { outcome: 'went_out', skipped: true },
	unconfirmed: { outcome: 'pending', skipped: true },
	retry: { outcome: 'pending', skipped: false },
	deferred: { outcome: 'pending', skipped: false },
	dry_run: { outcome: 'pending', skipped: false },
	sandbox: { outcome: 'pending', skipped: false },
	paused: { outcome: 'pending', skipped: false },
	failed: { outcome: 'stopped', skipped: false },
	suppressed: { outcome: 'stopped', skipped: true },
} as const satisfies Record<DeliveryStatus, { outcome: 'went_out' | 'pending' | 'stopped'; skipped: boolean }>;

/** How many results are in each status: the one tally of the stage node, the agent and the scheduler. */
export function countByStatus(results: Iterable<{ status: string }>): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const r of results) counts[r.status] = (counts[r.status] ?? 0) + 1;
	return counts;
}
