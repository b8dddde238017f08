/**
 * Scheduled sends you can cancel. A run whose payloads carry send_at sends every request under one
 * SendGrid batch id (POST /v3/mail/batch), created once per run and kept on its run row, so a resumed
 * or re-run run of the same id reuses it. Pause, Cancel and Resume Scheduled act on that batch through
 * SendGrid's Cancel Scheduled Sends API (/v3/user/scheduled_sends) under SendGrid's rules:
 *  - a batch can be paused or cancelled only until 10 minutes before its send_at;
 *  - at most 10 batches may be paused or cancelled at one time (SendGrid answers 400 beyond);
 *  - a cancelled batch is discarded at send_at; a paused one is held, and discarded as Expired once
 *    72 hours past send_at; deleting the pause (Resume) before then sends it;
 *  - send_at itself is at most 72 hours ahead (checked when payloads are built).
 * Runs without send_at make no batch request at all.
 */
import type { EmailPayload } from '../schemas';
import { ScheduledSendError } from '../errors';
import { cancelRunDeliveries, keepRunBatch, runSchedule, setRunScheduledStatus, uncancelRunDeliveries, type CampaignStore, type RunSchedule, type ScheduledStatus } from '../store';
import { SendGridApiError, type SendGridResponse, type SendGridTransport } from './client';
import type { MailSendBody } from './mailRequest';
import { type BackoffPolicy, defaultBackoff, jitteredDelay, resetDelay } from './retry';

export const SCHEDULED_SEND_RULES = {
	/** Pause and cancel must reach SendGrid at least this long before the batch's send_at. */
	minMinutesBeforeSendAt: 10,
	/** Batches paused or cancelled at one time, per account. */
	maxBatchesPausedOrCancelled: 10,
	/** A paused batch is discarded (Expired) this long after its send_at. */
	pausedExpiresAfterHours: 72,
	/** How far ahead send_at may be. */
	maxSendAtHours: 72,
} as const;

/** The one sentence the node shows about SendGrid's limits. */
export const SCHEDULED_SEND_LIMITS_TEXT =
	'SendGrid pauses or cancels a scheduled run only until 10 minutes before its send_at, holds at most 10 paused or cancelled batches per account at a time, ' +
	'schedules at most 72 hours ahead, and discards a paused run as Expired 72 hours after its send_at (resume it before then).';

/** A /v3/mail/send body sent under a batch. */
export type BatchedMailBody = MailSendBody & { batch_id?: string };

/**
 * One SendGrid call with the package's retry rules: 429 waits for X-RateLimit-Reset (or backs off),
 * 5xx and network errors back off; other 4xx are returned to the caller as SendGridApiError.
 */
async function call(transport: SendGridTransport, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body: unknown, policy: BackoffPolicy): Promise<SendGridResponse> {
	let transient = 0;
	let limited = 0;
	for (;;) {
		try {
			return await transport.request(method, path, body);
		} catch (e) {
			if (!(e instanceof SendGridApiError) || !e.retryable) throw e;
			if (e.status === 429 && limited < policy.maxRateLimitRetries) {
				await policy.sleep(resetDelay(e.headers, policy.now()) ?? jitteredDelay(limited++, policy));
				continue;
			}
			if (e.status !== 429 && transient < policy.maxRetries) {
				await policy.sleep(jitteredDelay(transient++, policy));
				continue;
			}
			throw e;
		}
	}
}

/** POST /v3/mail/batch: a new batch id. */
export async function createBatchId(transport: SendGridTransport, backoff: Partial<BackoffPolicy> = {}): Promise<string> {
	const res = await call(transport, 'POST', '/v3/mail/batch', undefined, defaultBackoff(backoff));
	const id = (res.body as { batch_id?: unknown } | undefined)?.batch_id;
	if (typeof id !== 'string' || !id) throw new SendGridApiError(`SendGrid created no batch id (HTTP ${res.status})`, res.status, [], res.headers);
	return id;
}

/** GET /v3/mail/batch/{id}: whether SendGrid knows the batch id (400 "invalid batch id" when not). */
export async function isValidBatchId(transport: SendGridTransport, batchId: string, backoff: Partial<BackoffPolicy> = {}): Promise<boolean> {
	try {
		await call(transport, 'GET', `/v3/mail/batch/${encodeURIComponent(batchId)}`, undefined, defaultBackoff(backoff));
		return true;
	} catch (e) {
		if (e instanceof SendGridApiError && (e.status === 400 || e.status === 404)) return false;
		throw e;
	}
}

/** GET /v3/user/scheduled_sends/{id}: the pause or cancellation SendGrid has for the batch, if any. */
export async function scheduledSendStatus(transport: SendGridTransport, batchId: string, backoff: Partial<BackoffPolicy> = {}): Promise<ScheduledStatus | undefined> {
	try {
		const res = await call(transport, 'GET', `/v3/user/scheduled_sends/${encodeURIComponent(batchId)}`, undefined, defaultBackoff(backoff));
		const list = Array.isArray(res.body) ? (res.body as Array<{ batch_id?: unknown; status?: unknown }>) : [];
		const status = list.find((x) => x?.batch_id === batchId)?.status;
		return status === 'pause' || status === 'cancel' ? status : undefined;
	} catch (e) {
		if (e instanceof SendGridApiError && e.status === 404) return undefined;
		throw e;
	}
}

/** SendGrid's 400 for the 11th paused or cancelled batch, said with what to do. */
function sendGridRefusal(e: unknown, runId: string, action: string): unknown {
	if (!(e instanceof SendGridApiError) || e.status !== 400) return e;
	const text = e.errors.map((x) => x.message).join('; ') || e.message;
	const limit = /maximum|max|limit|too many/i.test(text);
	return new ScheduledSendError(`SendGrid refused to ${action} run ${runId}: ${text}`, {
		source: 'service',
		httpStatus: 400,
		hint: limit
			? `SendGrid holds at most ${SCHEDULED_SEND_RULES.maxBatchesPausedOrCancelled} paused or cancelled batches per account at a time: resume one (Resume Scheduled) or wait until one's send_at has passed, then try again`
			: 'Check the run ID and that the run was sent with Send At by this SendGrid account',
		cause: e,
	});
}

/** Sets the batch's status: POST when SendGrid has none for it, PATCH to change one (SendGrid refuses a second POST). */
export async function setScheduledSendStatus(transport: SendGridTransport, batchId: string, status: ScheduledStatus, backoff: Partial<BackoffPolicy> = {}): Promise<void> {
	const policy = defaultBackoff(backoff);
	const current = await scheduledSendStatus(transport, batchId, backoff);
	if (current === status) return;
	if (current) await call(transport, 'PATCH', `/v3/user/scheduled_sends/${encodeURIComponent(batchId)}`, { status }, policy);
	else await call(transport, 'POST', '/v3/user/scheduled_sends', { batch_id: batchId, status }, policy);
}

/** DELETE /v3/user/scheduled_sends/{id}: removes the pause or cancellation; false when there was none. */
export async function deleteScheduledSendStatus(transport: SendGridTransport, batchId: string, backoff: Partial<BackoffPolicy> = {}): Promise<boolean> {
	try {
		await call(transport, 'DELETE', `/v3/user/scheduled_sends/${encodeURIComponent(batchId)}`, undefined, defaultBackoff(backoff));
		return true;
	} catch (e) {
		if (e instanceof SendGridApiError && e.status === 404) return false;
		throw e;
	}
}

/**
 * The batch id of every run among these payloads that is scheduled (a live, non-sandbox payload with
 * send_at): the one on the run row when there is one, else a new one (POST /v3/mail/batch) kept there.
 * Payloads without send_at make no request. A cancelled run is refused: its batch is discarded at
 * send_at, so anything sent under it again would be lost; send it as a new run.
 */
export async function batchIdsForRuns(
	payloads: EmailPayload[],
	deps: { transport: SendGridTransport; store?: CampaignStore },
	options: { account?: string; backoff?: Partial<BackoffPolicy> } = {},
): Promise<Map<string, string>> {
	const runs = new Map<string, { campaignId: string; step: number; first: number; last: number }>();
	for (const p of payloads) {
		if (!p.send_at || p.sandbox) continue;
		const r = runs.get(p.run_id);
		if (r) [r.first, r.last] = [Math.min(r.first, p.send_at), Math.max(r.last, p.send_at)];
		else runs.set(p.run_id, { campaignId: p.campaign_id, step: p.step, first: p.send_at, last: p.send_at });
	}
	const out = new Map<string, string>();
	for (const [runId, r] of runs) {
		const { store } = deps;
		if (!store) {
			out.set(runId, await createBatchId(deps.transport, options.backoff));
			continue;
		}
		const known = await runSchedule(store, runId);
		// A batch id belongs to the SendGrid account that made it: another account's requests would be refused (400 batch_id).
		if (known?.batch_id && known.account && options.account && known.account !== options.account)
			throw new ScheduledSendError(`Run ${runId} was scheduled under a SendGrid batch of another SendGrid account: its batch id is not valid for this credential`, {
				hint: 'Send it with the SendGrid credential it started with, or as a new run (a new Run ID)',
			});
		await store.startRun({ runId, campaignId: r.campaignId, step: r.step, mode: 'live', account: options.account });
		if (known?.scheduled_status === 'cancel')
			throw new ScheduledSendError(`Run ${runId} was cancelled (Cancel Scheduled): SendGrid discards everything sent under its batch`, {
				hint: 'Send it as a new run (a new Run ID): its cancelled recipients are claimed again. Or Resume Scheduled before send_at to send the cancelled run after all.',
			});
		const batchId = known?.batch_id ?? (await createBatchId(deps.transport, options.backoff));
		// Two processes sending the same run at once: the first kept id wins and both use it.
		const kept = await keepRunBatch(store, runId, batchId, r);
		out.set(runId, kept ?? batchId);
	}
	return out;
}

export interface ScheduledRunResult {
	run_id: string;
	campaign_id: string;
	batch_id: string;
	/** What SendGrid now has for the batch: 'pause', 'cancel', or 'scheduled' (sending at send_at). */
	status: ScheduledStatus | 'scheduled';
	previous: ScheduledStatus | 'scheduled';
	send_at: string;
	/** Deliveries moved to cancelled (Cancel, or Resume of a paused run past its 72 hours), or back to sent (Resume or Pause of a cancelled run). */
	deliveries_cancelled: number;
	deliveries_restored: number;
	by: string;
	message: string;
}

const iso = (s: number) => new Date(s * 1000).toISOString();

async function scheduledRun(store: CampaignStore, runId: string): Promise<RunSchedule & { batch_id: string; send_at_first: number }> {
	const run = await runSchedule(store, runId);
	if (!run) throw new ScheduledSendError(`No run "${runId}" in the campaign store`, { hint: 'Give the Run ID of a run sent with Send At (the run_id in the send output or on the dashboard)' });
	if (!run.batch_id || run.send_at_first === null)
		throw new ScheduledSendError(`Run ${runId} was not scheduled: it was sent without Send At, so SendGrid sent it at once and there is nothing to pause or cancel`, {
			hint: 'Only runs built with Send At (Build Email Payload → Options → Send At) go out under a SendGrid batch that can be paused or cancelled',
		});
	return run as RunSchedule & { batch_id: string; send_at_first: number };
}

/**
 * Pause, Cancel or Resume a scheduled run: checks SendGrid's rules, tells SendGrid, and records it
 * (run row; a cancelled run's deliveries become `cancelled`, a resumed one's go back to `sent`).
 */
export async function changeScheduledRun(
	store: CampaignStore,
	transport: SendGridTransport,
	runId: string,
	action: 'pause' | 'cancel' | 'resume',
	by: string,
	options: { now?: number; backoff?: Partial<BackoffPolicy> } = {},
): Promise<ScheduledRunResult> {
	const run = await scheduledRun(store, runId);
	const now = Math.floor((options.now ?? Date.now()) / 1000);
	const previous: ScheduledStatus | 'scheduled' = run.scheduled_status ?? 'scheduled';
	const base = { run_id: runId, campaign_id: run.campaign_id, batch_id: run.batch_id, previous, send_at: iso(run.send_at_first), by, deliveries_cancelled: 0, deliveries_restored: 0 };
	if (action === 'resume') {
		if (!run.scheduled_status) {
			// Nothing set through the package; SendGrid may still have a pause or cancellation set elsewhere (its API, another tool).
			const remote = await scheduledSendStatus(transport, run.batch_id, options.backoff);
			if (!remote) return { ...base, status: 'scheduled', message: 'Nothing was paused or cancelled: the run goes out at send_at' };
			await deleteScheduledSendStatus(transport, run.batch_id, options.backoff);
			await setRunScheduledStatus(store, runId, null, by);
			return { ...base, previous: remote, status: 'scheduled', message: `Resumed: SendGrid had the run's batch set to ${remote} outside this package; that is removed` };
		}
		await deleteScheduledSendStatus(transport, run.batch_id, options.backoff);
		await setRunScheduledStatus(store, runId, null, by);
		const expiredAt = (run.send_at_last ?? run.send_at_first) + SCHEDULED_SEND_RULES.pausedExpiresAfterHours * 3600;
		if (run.scheduled_status === 'pause' && now >= expiredAt) {
			const n = await cancelRunDeliveries(store, runId, `expired: paused for more than ${SCHEDULED_SEND_RULES.pausedExpiresAfterHours} hours after send_at, SendGrid discarded it`);
			return { ...base, status: 'scheduled', deliveries_cancelled: n, message: `Resumed too late: SendGrid discards a paused batch ${SCHEDULED_SEND_RULES.pausedExpiresAfterHours} hours after send_at; ${n} deliveries are cancelled — send them as a new run` };
		}
		if (run.scheduled_status === 'cancel' && now >= run.send_at_first)
			return { ...base, status: 'scheduled', message: 'The cancellation was removed after send_at: SendGrid had already discarded the batch, so its deliveries stay cancelled — send them as a new run' };
		const restored = run.scheduled_status === 'cancel' ? await uncancelRunDeliveries(store, runId) : 0;
		return { ...base, status: 'scheduled', deliveries_restored: restored, message: now >= run.send_at_first ? 'Resumed: SendGrid sends the held batch now' : `Resumed: the run goes out at ${iso(run.send_at_first)}` };
	}
	const status: ScheduledStatus = action;
	if (run.scheduled_status === status) return { ...base, status, message: `Already ${status === 'pause' ? 'paused' : 'cancelled'}` };
	const deadline = run.send_at_first - SCHEDULED_SEND_RULES.minMinutesBeforeSendAt * 60;
	if (now > deadline)
		throw new ScheduledSendError(
			`Too late to ${action} run ${runId}: it is scheduled for ${iso(run.send_at_first)}, and SendGrid ${action === 'pause' ? 'pauses' : 'cancels'} a scheduled send only until ${SCHEDULED_SEND_RULES.minMinutesBeforeSendAt} minutes before its send_at`,
			{ hint: `${action === 'cancel' ? 'Cancel' : 'Pause'} scheduled runs at least ${SCHEDULED_SEND_RULES.minMinutesBeforeSendAt} minutes before Send At; past that, SendGrid sends them` },
		);
	try {
		await setScheduledSendStatus(transport, run.batch_id, status, options.backoff);
	} catch (e) {
		throw sendGridRefusal(e, runId, action);
	}
	await setRunScheduledStatus(store, runId, status, by);
	if (status === 'cancel') {
		const n = await cancelRunDeliveries(store, runId, `cancelled by ${by} before send_at ${iso(run.send_at_first)} (SendGrid batch ${run.batch_id})`);
		return { ...base, status, deliveries_cancelled: n, message: `Cancelled: SendGrid discards the run at send_at; ${n} deliveries are cancelled and never counted as sent (Resume Scheduled before send_at undoes it)` };
	}
	const restored = run.scheduled_status === 'cancel' ? await uncancelRunDeliveries(store, runId) : 0;
	return { ...base, status, deliveries_restored: restored, message: `Paused: SendGrid holds the run past send_at until Resume Scheduled (for at most ${SCHEDULED_SEND_RULES.pausedExpiresAfterHours} hours after send_at)` };
}
