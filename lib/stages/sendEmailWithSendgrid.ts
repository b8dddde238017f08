/**
 * Stage `send_email_with_sendgrid`: claims each batch's recipients in the store, then sends them
 * as batched /v3/mail/send requests under the account's rate limits, with retries, so that each
 * recipient gets a step at most once and every recipient ends with a reported status.
 */
import { DeliveryResult, DeliveryStatus, EmailPayload, Recipient } from '../schemas';
import { MailRequest, buildMailRequests, messageIdsOf } from '../sendgrid/mailRequest';
import { SendGridApiError, SendGridTransport } from '../sendgrid/client';
import { type SendOverrides, withOverrides } from '../sendgrid/senders';
import type { RateLimiter } from '../sendgrid/rateLimiter';
import { BackoffPolicy, defaultBackoff, jitteredDelay, resetDelay } from '../sendgrid/retry';
import { placeHold, runSchedule, unsubscribeSecret, type CampaignStore } from '../store';
import { type SendStats, recordSendStats } from '../store/metrics';
import { PreflightError, preflightRun, type PreflightFinding } from '../preview/preflight';
import { DeliveryTransitionError, DeliveryState, isDeliveryState } from '../delivery/states';
import { CampaignHeldError, type Hold, accountScope, campaignScope, describeHold, isAccountRefusal } from '../guard/breaker';
import { type WarmupPlan, quotaKey } from '../guard/warmup';
import { CampaignError } from '../errors';
import { CampaignInputError } from '../schemas';
import { type BatchedMailBody, batchIdsForRuns } from '../sendgrid/scheduled';

export interface SendOptions {
	dryRun?: boolean;
	/** 0 = no daily cap. */
	dailyCap?: number;
	/** A warm-up schedule for the account (per IP pool when a payload names one): the day's allowance (shared by every campaign and worker) limits sends like the daily cap. */
	warmup?: WarmupPlan;
	/** Opaque account key for the daily cap (hash of the API key and base URL); the quota is kept per account and IP pool (quotaKey). */
	account?: string;
	/** A From, IP pool or unsubscribe group put over every payload's for this send (node options). */
	overrides?: SendOverrides;
	/** Requests in flight at once. */
	concurrency?: number;
	/**
	 * Send again to recipients claimed at least this long ago and never confirmed by a processed
	 * event (their sender crashed before SendGrid answered). Needs the SendGrid Trigger to be
	 * receiving processed events; leave unset to only report them as unconfirmed.
	 */
	resendUnconfirmedAfterSeconds?: number;
	/**
	 * A request that got no answer (timeout, connection reset) may have been accepted. Default
	 * 'unconfirmed': never re-send blindly; processed events confirm, Resend Unconfirmed After sends
	 * the rest. 'retry' retries at once and can duplicate when SendGrid did accept.
	 */
	onAmbiguousFailure?: 'retry' | 'unconfirmed';
	backoff?: Partial<BackoffPolicy>;
	now?: () => number;
}

export interface SendDeps {
	transport?: SendGridTransport;
	store?: CampaignStore;
	limiter?: RateLimiter;
	onProgress?: (p: SendProgress) => void;
	/** Once per run when the send ends (done or stopped): its 429s, retries and rate-limit waits in this send (the nodes' log lines). */
	onRunStats?: (runId: string, stats: SendStats) => void;
	/**
	 * As each batch ends (in the order batches end; its progress already counted): what it returns is
	 * kept in place of the batch's result and of its payload's recipients from then on, so a large send
	 * can write each batch's results away (the stage nodes' results files) and not hold every
	 * recipient until it returns. A throw stops the send like a failed batch.
	 */
	onBatchDone?: (index: number, result: BatchResult) => BatchResult | Promise<BatchResult>;
}

export interface SendProgress {
	batches: number;
	batchesDone: number;
	recipients: number;
	sent: number;
	failed: number;
	deferred: number;
	requests: number;
	/** SendGrid's 429 answers, requests sent again, and milliseconds waited for the rate limiter (all batches so far). */
	rate_limited: number;
	retries: number;
	limiter_wait_ms: number;
}

const noStats = (): SendStats => ({ rate_limited: 0, retries: 0, limiter_wait_ms: 0 });

export interface BatchResult {
	campaign_id: string;
	run_id: string;
	step: number;
	variant: string;
	batch: number;
	requests: number;
	results: DeliveryResult[];
	/** Preflight warnings for this step and variant (on its first batch only), e.g. a long subject or no preheader. */
	preflight?: PreflightFinding[];
	/** The hold (a paused campaign or SendGrid account) that stopped this batch: its unsent recipients are `paused`, unclaimed. */
	paused?: Hold;
}

/** Thrown when continuing would only fail every batch the same way (bad key, missing permission). */
export class SendAbortedError extends CampaignError {
	constructor(
		message: string,
		readonly partial: BatchResult[],
		httpStatus?: number,
		/** What to fix (e.g. 'credentials' for a refused key): n8n's description and an error report's error_field. */
		field?: string,
	) {
		super(message, { source: httpStatus ? 'service' : 'input', httpStatus, field });
	}
}

/** Results whose outcome this send wrote to the rows it claimed: the store has them, logging them again would change nothing. */
const storedResults = new WeakSet<DeliveryResult>();

/** True when the send stage already wrote this result's outcome to the store (the Campaign Agent's log then skips it). */
export function storedBySend(r: DeliveryResult): boolean {
	return storedResults.has(r);
}

function utcDay(ms: number): string {
	return new Date(ms).toISOString().slice(0, 10);
}

class BatchSender {
	readonly results = new Map<string, DeliveryResult>();
	/** Claimed row id per address: outcomes are written to exactly the rows this batch claimed. */
	readonly claimedIds = new Map<string, string>();
	/** The account and day the claimed rows reserved daily quota under (when a cap is set). */
	quota?: { account: string; day: string };
	/** The hold that stopped this batch, if one did. */
	held?: Hold;
	requests = 0;

	constructor(
		readonly payload: EmailPayload,
		private readonly deps: SendDeps,
		private readonly policy: BackoffPolicy,
		private readonly options: SendOptions,
		/** This batch's run's 429s, retries and rate-limit waits (shared by its batches; stored when the send ends). */
		readonly stats: SendStats = noStats(),
	) {}

	result(r: Recipient, status: DeliveryStatus, extra: Partial<DeliveryResult> = {}): void {
		const p = this.payload;
		this.results.set(r.email, {
			delivery_id: r.delivery_id,
			campaign_id: p.campaign_id,
			run_id: p.run_id,
			step: p.step,
			variant: p.variant,
			email: r.email,
			status,
			attempts: extra.attempts ?? 0,
			at: new Date(this.policy.now()).toISOString(),
			...extra,
		});
	}

	/** Results for these recipients, and the same outcome on the rows this batch claimed (`stored` when the store's state differs from the result). */
	async record(recipients: Recipient[], status: DeliveryStatus, extra: Partial<DeliveryResult> = {}, stored?: DeliveryState): Promise<void> {
		for (const r of recipients) this.result(r, status, extra);
		if (!this.deps.store || this.payload.sandbox || this.options.dryRun) return;
		const ids = recipients.map((r) => this.claimedIds.get(r.email)).filter((id): id is string => id !== undefined);
		const state = stored ?? status;
		if (!isDeliveryState(state)) return;
		const markStored = (r: Recipient) => {
			const result = this.results.get(r.email);
			if (result && this.claimedIds.has(r.email)) storedResults.add(result);
		};
		try {
			await this.deps.store.recordOutcome({ runId: this.payload.run_id, ids, status: state, error: extra.error, http_status: extra.http_status ?? (state === 'sent' ? 202 : undefined), message_id: extra.message_id, quota: this.quota });
			recipients.forEach(markStored);
		} catch (e) {
			if (!(e instanceof DeliveryTransitionError)) throw e;
			// Another run took these rows over (past the resend grace) or they moved on: the store keeps their state; say so.
			const byId = new Map([...this.claimedIds].map(([email, id]) => [id, email]));
			for (const x of e.refused) {
				const email = byId.get(x.id);
				const r = email ? this.results.get(email) : undefined;
				if (r) r.error = `${r.error ? `${r.error}; ` : ''}not recorded as ${status}: ${x.from === null ? 'another run holds this claim now' : `the row is ${x.from}`}`;
			}
		}
	}

	/** Claimed recipients a hold stopped before their request: given back (retry, quota released) and reported paused. */
	async release(recipients: Recipient[], hold: Hold): Promise<void> {
		if (recipients.length > 0) await this.record(recipients, 'paused', { error: describeHold(hold) }, 'retry');
	}

	/** The scopes whose hold stops this batch: its campaign, and the SendGrid account it sends with. */
	get holdScopes(): string[] {
		return [campaignScope(this.payload.campaign_id), ...(this.options.account ? [accountScope(this.options.account)] : [])];
	}

	/** Right before a request leaves: addresses suppressed while it waited (limiter, 429 pause, backoff) are taken out. */
	async withoutSuppressed(req: MailRequest): Promise<MailRequest | undefined> {
		const { store } = this.deps;
		if (!store || this.payload.sandbox || this.options.dryRun) return req;
		const suppressed = await store.suppressedAmong(req.recipients.map((r) => r.email), this.payload.asm_group_id, this.payload.campaign_id);
		if (suppressed.size === 0) return req;
		// One outcome write per reason, not per recipient.
		const byReason = new Map<string, Recipient[]>();
		for (const r of req.recipients) {
			const reason = suppressed.get(r.email.toLowerCase());
			if (reason !== undefined) byReason.set(reason, [...(byReason.get(reason) ?? []), r]);
		}
		for (const [reason, gone] of byReason) await this.record(gone, 'suppressed', { error: `suppressed while waiting to send: ${reason}` });
		const keep = new Set(req.recipients.filter((r) => !suppressed.has(r.email.toLowerCase())));
		return keep.size > 0 ? subset(req, keep) : undefined;
	}

	/** Sends one request; on a 400 that names recipients, drops them and sends the rest; a request-wide 400 stops the run. */
	async send(req: MailRequest): Promise<void> {
		const { transport, limiter } = this.deps;
		let transient = 0;
		let rateLimited = 0;
		let ambiguous = false;
		for (;;) {
			const waitFrom = performance.now();
			await limiter?.acquire(req.recipients.length);
			this.stats.limiter_wait_ms += performance.now() - waitFrom;
			// Paused while this batch waited (the reputation guard tripped, a user paused it, another worker's key was refused): no request.
			const hold = this.deps.store && !this.payload.sandbox && !this.options.dryRun ? await this.deps.store.activeHold(this.holdScopes) : undefined;
			if (hold) throw new CampaignHeldError(hold);
			const checked = await this.withoutSuppressed(req);
			if (!checked) return;
			req = checked;
			this.requests++;
			try {
				const res = await transport!.sendMail(req.body);
				const status: DeliveryStatus = this.payload.sandbox ? 'sandbox' : 'sent';
				await this.record(req.recipients, status, { message_id: res.headers['x-message-id'], http_status: res.status, attempts: transient + rateLimited + 1 });
				return;
			} catch (e) {
				if (!(e instanceof SendGridApiError)) throw e;
				const attempts = transient + rateLimited + 1;
				if (e.status === 429) this.stats.rate_limited++;
				if (e.status === 429 && rateLimited < this.policy.maxRateLimitRetries) {
					const wait = resetDelay(e.headers, this.policy.now()) ?? jitteredDelay(rateLimited, this.policy);
					rateLimited++;
					this.stats.retries++;
					limiter?.pauseUntil(this.policy.now() + wait);
					if (!limiter) {
						// No shared limiter to wait in (the next acquire measures that): this sleep is the rate-limit wait.
						const sleptFrom = performance.now();
						await this.policy.sleep(wait);
						this.stats.limiter_wait_ms += performance.now() - sleptFrom;
					}
					continue;
				}
				if (e.status === undefined && e.ambiguous) {
					ambiguous = true;
					if (this.options.onAmbiguousFailure !== 'retry') {
						await this.record(req.recipients, 'unconfirmed', { error: `${e.message}; SendGrid may or may not have accepted it — confirm with the SendGrid Trigger's processed events`, attempts });
						return;
					}
				}
				if (e.retryable && e.status !== 429 && transient < this.policy.maxRetries) {
					this.stats.retries++;
					await this.policy.sleep(jitteredDelay(transient++, this.policy));
					continue;
				}
				if (e.retryable) {
					// Out of retries: nothing confirmed. If an earlier attempt got no answer it may have gone out.
					const status: DeliveryStatus = ambiguous ? 'unconfirmed' : 'retry';
					await this.record(req.recipients, status, { error: `${e.message} (after ${attempts} attempts${status === 'retry' ? '; a re-run will send these' : ''})`, http_status: e.status, attempts });
					return;
				}
				if (isAccountRefusal(e.status, e.message)) {
					await this.record(req.recipients, 'retry', { error: e.message, http_status: e.status, attempts });
					// Every campaign on this key would be refused the same way: the account is paused for all of them, on every worker.
					const held = await this.holdAccount(e);
					throw new SendAbortedError(
						`SendGrid refused the API key (${e.status}): ${e.message.slice(0, 200)} — check the SendGrid API credential's key, that it has the Mail Send permission and that the account is in good standing${held ? '; every campaign sent with this key is paused until you resume it (Campaign Sequence → Resume, Resume SendGrid Account on)' : ''}`,
						[],
						undefined,
						'credentials',
					);
				}
				if (e.status === 403) {
					await this.record(req.recipients, 'retry', { error: e.message, http_status: 403, attempts });
					throw new SendAbortedError(`SendGrid refused the request (403): ${e.message.slice(0, 300)} — fix the sender in the campaign or in SendGrid and run again; nobody was sent`, []);
				}
				if (e.status === 400) {
					const wide = requestWideProblem(e);
					if (wide) {
						// Every other batch would fail the same way: stop, and give the claims back for a re-run once it is fixed.
						await this.record(req.recipients, 'retry', { error: `SendGrid refused the whole request: ${wide}`, http_status: 400, attempts });
						throw new SendAbortedError(`SendGrid refused the whole request (400): ${wide} — fix that in the campaign or the node's settings and run again; nobody was sent`, []);
					}
					return this.splitRejected(req, e, attempts);
				}
				await this.record(req.recipients, 'failed', { error: e.message, http_status: e.status, attempts });
				return;
			}
		}
	}

	/** Holds the SendGrid account after an account refusal (401, a 403 about the account); false when there is no store or account key. */
	private async holdAccount(e: SendGridApiError): Promise<boolean> {
		const { store } = this.deps;
		if (!store || !this.options.account) return false;
		await placeHold(store, {
			scope: accountScope(this.options.account),
			cause: 'account_refused',
			reason: `SendGrid answered ${e.status}: ${e.message.slice(0, 300)}`,
			detail: { http_status: e.status, campaign_id: this.payload.campaign_id, run_id: this.payload.run_id },
			by: `run ${this.payload.run_id}`,
		});
		return true;
	}

	/** A 400 names the bad personalizations (field personalizations.N...): fail those, send the others. Only called when it names some. */
	private async splitRejected(req: MailRequest, e: SendGridApiError, attempts: number): Promise<void> {
		const bad = new Map<number, string>();
		for (const err of e.errors) {
			const m = /^personalizations\.(\d+)/.exec(err.field ?? '');
			if (m) bad.set(Number(m[1]), err.message);
		}
		const named = [...bad.keys()].filter((i) => i < req.recipients.length);
		if (named.length > 0 && named.length < req.recipients.length) {
			for (const i of named)
				await this.record([req.recipients[i]], 'failed', { error: `SendGrid rejected this recipient: ${bad.get(i)}`, http_status: 400, attempts });
			const keep = new Set(req.recipients.filter((_r, i) => !bad.has(i)));
			return this.send(subset(req, keep));
		}
		await this.record(req.recipients, 'failed', { error: e.message, http_status: 400, attempts });
	}
}

/**
 * A 400 that names no personalization (the sender, the ASM group, a content part...) is about the
 * request as a whole: halving it would only send the same mistake again. Its fields and messages, or
 * undefined when the 400 names at least one personalization.
 */
function requestWideProblem(e: SendGridApiError): string | undefined {
	if (e.errors.some((x) => (x.field ?? '').startsWith('personalizations.'))) return undefined;
	const named = e.errors.map((x) => (x.field ? `${x.field}: ${x.message}` : x.message)).filter(Boolean);
	return named.length > 0 ? named.slice(0, 5).join('; ') : e.message;
}

/** The same request for fewer recipients (personalizations kept in order). */
function subset(req: MailRequest, keep: Set<Recipient>): MailRequest {
	const recipients: Recipient[] = [];
	const personalizations = req.body.personalizations.filter((_p, i) => {
		const r = req.recipients[i];
		if (!keep.has(r)) return false;
		recipients.push(r);
		return true;
	});
	return { recipients, body: { ...req.body, personalizations } };
}

async function sendBatch(payload: EmailPayload, deps: SendDeps, policy: BackoffPolicy, options: SendOptions, batchId?: string, stats?: SendStats): Promise<BatchResult> {
	const sender = new BatchSender(payload, deps, policy, options, stats);
	const out = (): BatchResult => ({
		campaign_id: payload.campaign_id,
		run_id: payload.run_id,
		step: payload.step,
		variant: payload.variant,
		batch: payload.batch,
		requests: sender.requests,
		results: payload.recipients.map((r) => sender.results.get(r.email)!).filter(Boolean),
		...(sender.held ? { paused: sender.held } : {}),
	});
	let recipients = payload.recipients;
	const { store } = deps;

	// Sandbox sends claim nothing, so they check suppressions here; live sends check inside the claim.
	if (store && !options.dryRun && payload.sandbox) {
		const suppressed = await store.suppressedAmong(recipients.map((r) => r.email), payload.asm_group_id, payload.campaign_id);
		for (const r of recipients) if (suppressed.has(r.email)) sender.result(r, 'suppressed', { error: `suppressed: ${suppressed.get(r.email)}` });
		recipients = recipients.filter((r) => !suppressed.has(r.email));
	}

	if (recipients.length === 0) return out();
	// Built before anything is claimed, so a payload SendGrid would reject (no copy, send_at too far) claims nobody.
	const refused = new Set<Recipient>();
	// Live List-Unsubscribe links are signed with the store's secret (made on the first send that needs one).
	const secret = store && payload.unsubscribe_url && !options.dryRun ? await unsubscribeSecret(store, { create: true }) : undefined;
	const requests = buildMailRequests(
		{ ...payload, recipients },
		options.now?.(),
		(r, reason) => {
			refused.add(r);
			// Not claimed, so nothing is final: once the value or a fallback is there, a re-run sends it.
			sender.result(r, 'retry', { error: `not sent: ${reason}` });
		},
		secret,
	);
	if (refused.size > 0) recipients = recipients.filter((r) => !refused.has(r));
	if (recipients.length === 0) return out();
	// A scheduled run sends every request under its SendGrid batch id, so Cancel Scheduled can stop it before send_at.
	if (batchId) for (const req of requests) (req.body as BatchedMailBody).batch_id = batchId;

	if (options.dryRun) {
		for (const r of recipients) sender.result(r, 'dry_run');
		return out();
	}

	// Cancelled (Cancel Scheduled) while this run was still sending: its batch is discarded at send_at, so nothing more is claimed or sent.
	if (batchId && store && (await runSchedule(store, payload.run_id))?.scheduled_status === 'cancel')
		throw new SendAbortedError(`Run ${payload.run_id} was cancelled (Cancel Scheduled) while it was sending: the rest of it was not sent — send those recipients as a new run`, []);

	// Exactly once: claim before any API call. Sandbox sends deliver nothing, so they claim nothing.
	let sendable = new Set(recipients);
	if (store && !payload.sandbox) {
		// The Message-ID each recipient goes out with is stored in the claim: replies are matched on it.
		const replyIds = new Map<Recipient, string | undefined>();
		for (const req of requests) messageIdsOf(req).forEach((id, i) => replyIds.set(req.recipients[i], id));
		await store.startRun({ runId: payload.run_id, campaignId: payload.campaign_id, step: payload.step, mode: 'live', account: options.account });
		const capped = (options.dailyCap && options.dailyCap > 0) || options.warmup;
		const cap = capped ? { account: quotaKey(options.account ?? 'default', payload.ip_pool_name), cap: options.dailyCap ?? 0, day: utcDay(policy.now()), warmup: options.warmup } : undefined;
		const claim = await store.claimDeliveries(
			payload.campaign_id,
			payload.run_id,
			payload.step,
			recipients.map((r) => ({ delivery_id: r.delivery_id, email: r.email, variant: payload.variant, reply_message_id: replyIds.get(r) })),
			{ reclaimUnconfirmedAfterSeconds: options.resendUnconfirmedAfterSeconds, groupId: payload.asm_group_id, sendAt: payload.send_at, dailyCap: cap, holdScopes: sender.holdScopes, language: payload.language },
		);
		if (claim.held) {
			sender.held = claim.held;
			for (const r of recipients) sender.result(r, 'paused', { error: describeHold(claim.held) });
			return out();
		}
		if (cap) sender.quota = { account: cap.account, day: cap.day };
		const byEmail = new Map(recipients.map((r) => [r.email, r]));
		for (const r of recipients) {
			const reason = claim.suppressed.get(r.email.toLowerCase());
			if (reason) sender.result(r, 'suppressed', { error: `suppressed: ${reason}` });
		}
		for (const d of claim.deferred) {
			const r = byEmail.get(d.email);
			if (r) sender.result(r, 'deferred', { error: claim.deferredReason ?? 'daily limit reached; goes out on the next run' });
		}
		for (const x of claim.existing) {
			const r = byEmail.get(x.email);
			if (!r) continue;
			if (x.status === 'sent') sender.result(r, 'already_sent', { message_id: x.message_id ?? undefined, error: `already sent in run ${x.run_id}` });
			else if (x.status === 'failed') sender.result(r, 'failed', { error: `not retried: it failed for good in run ${x.run_id}` });
			else sender.result(r, 'unconfirmed', { error: `claimed by run ${x.run_id} but never confirmed; not re-sent — the SendGrid Trigger's processed event confirms it` });
		}
		for (const c of claim.claimed) sender.claimedIds.set(c.email.toLowerCase(), c.id);
		sendable = new Set(recipients.filter((r) => sender.claimedIds.has(r.email)));
	}
	try {
		for (const req of requests) {
			const keep = new Set(req.recipients.filter((r) => sendable.has(r)));
			if (keep.size === 0) continue;
			await sender.send(keep.size === req.recipients.length ? req : subset(req, keep));
		}
	} catch (e) {
		if (e instanceof CampaignHeldError) {
			// Paused between the claim and a request: everything this batch claimed and did not send is given back.
			sender.held = e.hold;
			await sender.release([...sendable].filter((r) => !sender.results.has(r.email)), e.hold);
			return out();
		}
		if (!(e instanceof SendAbortedError)) throw e;
		// Nothing after the refusal went out: give those claims back so a re-run sends them.
		const unsent = [...sendable].filter((r) => !sender.results.has(r.email));
		await sender.record(unsent, 'retry', { error: e.message });
		throw new SendAbortedError(e.message, [out()], e.httpStatus, e.field);
	}
	return out();
}

/** A batch never started because its campaign or account is paused: every recipient reported paused, nobody claimed. */
function pausedBatch(p: EmailPayload, hold: Hold, now: number): BatchResult {
	const error = describeHold(hold);
	const at = new Date(now).toISOString();
	return {
		campaign_id: p.campaign_id,
		run_id: p.run_id,
		step: p.step,
		variant: p.variant,
		batch: p.batch,
		requests: 0,
		results: p.recipients.map((r) => ({ delivery_id: r.delivery_id, campaign_id: p.campaign_id, run_id: p.run_id, step: p.step, variant: p.variant, email: r.email, status: 'paused' as const, attempts: 0, at, error })),
		paused: hold,
	};
}

function totalStats(stats: Map<string, SendStats>): SendStats {
	const t = noStats();
	for (const s of stats.values()) {
		t.rate_limited += s.rate_limited;
		t.retries += s.retries;
		t.limiter_wait_ms += s.limiter_wait_ms;
	}
	t.limiter_wait_ms = Math.round(t.limiter_wait_ms);
	return t;
}

/** Sends the payloads (each a batch of one variant) and returns one result list per batch. */
export async function sendEmailWithSendgrid(payloads: EmailPayload[], deps: SendDeps, options: SendOptions = {}): Promise<BatchResult[]> {
	if (!options.dryRun && !deps.transport)
		throw new CampaignInputError('Sending needs a SendGrid API credential — add one, or turn on Dry Run to record what would be sent', 'credentials');
	// Its own list: with onBatchDone, a finished batch's payload is kept without its recipients.
	payloads = [...withOverrides(payloads, options.overrides)];
	// Preflight for every live batch before any is claimed: its errors (no way to unsubscribe, an empty
	// text part, a merge tag that matches nothing) stop the run with nothing sent; warnings are reported.
	const live = options.dryRun ? [] : payloads.filter((p) => !p.sandbox);
	const findings = preflightRun(live, { live: true });
	const errors = findings.filter((f) => f.level === 'error');
	if (errors.length > 0) throw new PreflightError(errors);
	const policy = defaultBackoff({ ...options.backoff, ...(options.now ? { now: options.now } : {}) });
	// Runs with send_at get their SendGrid batch id (the stored one on a resume or re-run); others make no request for it.
	const batchIds = options.dryRun || !deps.transport ? new Map<string, string>() : await batchIdsForRuns(payloads, { transport: deps.transport, store: deps.store }, { account: options.account, backoff: options.backoff });
	const concurrency = Math.max(1, Math.min(options.concurrency ?? 4, 32));
	const results: BatchResult[] = new Array(payloads.length);
	const progress: SendProgress = {
		batches: payloads.length,
		batchesDone: 0,
		recipients: payloads.reduce((n, p) => n + p.recipients.length, 0),
		sent: 0,
		failed: 0,
		deferred: 0,
		requests: 0,
		rate_limited: 0,
		retries: 0,
		limiter_wait_ms: 0,
	};
	// Per run: its 429s, retries and rate-limit waits, added to the run row when this send ends (the metrics endpoint's).
	const stats = new Map<string, SendStats>();
	const statsOf = (runId: string) => {
		let s = stats.get(runId);
		if (!s) stats.set(runId, (s = noStats()));
		return s;
	};
	const storeStats = async () => {
		for (const [runId, s] of stats) deps.onRunStats?.(runId, { ...s, limiter_wait_ms: Math.round(s.limiter_wait_ms) });
		if (!deps.store || options.dryRun) return;
		for (const [runId, s] of stats) await recordSendStats(deps.store, runId, s);
	};
	let next = 0;
	let aborted: SendAbortedError | undefined;
	// A paused campaign or account: batches not started are reported paused without being claimed.
	let held: Hold | undefined;
	// A batch that fails (the store went away, say) stops the others from starting new batches, and the
	// stage answers only once the requests already under way have landed: nothing sends after it failed.
	let failure: { error: unknown } | undefined;
	const worker = async () => {
		while (!aborted && !failure && !held && next < payloads.length) {
			const i = next++;
			try {
				results[i] = await sendBatch(payloads[i], deps, policy, options, payloads[i].send_at && !payloads[i].sandbox ? batchIds.get(payloads[i].run_id) : undefined, statsOf(payloads[i].run_id));
				held ??= results[i].paused;
			} catch (e) {
				// Which campaign, run and step failed: an error workflow reports it (lib/observability, sentry).
				if (e instanceof CampaignError) e.inCampaign({ campaign_id: payloads[i].campaign_id, run_id: payloads[i].run_id, step: String(payloads[i].step), variant: payloads[i].variant });
				if (e instanceof SendAbortedError) {
					aborted = aborted ?? e;
					e.partial.forEach((b) => (results[i] = b));
				} else failure ??= { error: e };
				return;
			}
			progress.batchesDone++;
			progress.requests += results[i].requests;
			Object.assign(progress, totalStats(stats));
			for (const r of results[i].results) {
				if (r.status === 'sent' || r.status === 'sandbox' || r.status === 'dry_run') progress.sent++;
				else if (r.status === 'failed') progress.failed++;
				else if (r.status === 'deferred') progress.deferred++;
			}
			deps.onProgress?.({ ...progress });
			if (deps.onBatchDone)
				try {
					results[i] = await deps.onBatchDone(i, results[i]);
					payloads[i] = { ...payloads[i], recipients: [] };
				} catch (e) {
					failure ??= { error: e };
					return;
				}
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, payloads.length) }, worker));
	if (held) for (let i = 0; i < payloads.length; i++) results[i] ??= pausedBatch(payloads[i], held, policy.now());
	const stopped = failure ? failure.error : aborted ? new SendAbortedError(aborted.message, results.filter(Boolean), aborted.httpStatus, aborted.field).inCampaign(aborted.context ?? {}) : undefined;
	if (stopped) {
		// The store may be what failed: its counters are best effort here, the run's end is not.
		await storeStats().catch(() => undefined);
		// The run ends here with its error, so the dashboard never shows it running for ever.
		if (deps.store && !options.dryRun) for (const runId of new Set(payloads.map((p) => p.run_id))) await deps.store.failRun(runId, stopped);
		throw stopped;
	}
	await storeStats();
	// Each step, variant and language's warnings on its first batch.
	const warned = new Set<string>();
	results.forEach((b, i) => {
		const language = payloads[i]?.language;
		const key = `${b.step}\n${b.variant}\n${language}`;
		if (warned.has(key)) return;
		warned.add(key);
		const mine = findings.filter((f) => f.step === b.step && f.variant === b.variant && (f.language === undefined || f.language === language));
		if (mine.length > 0) b.preflight = mine;
	});
	return results;
}
