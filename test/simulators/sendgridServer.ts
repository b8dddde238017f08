/**
 * A loopback SendGrid v3 server for tests and benchmarks. It enforces the rules of the real
 * /v3/mail/send (what SendGrid refuses with 400 is refused here too, in SendGrid's error shape),
 * rate limits with X-RateLimit-* headers, seeded faults, sandbox mode, the Event Webhook settings
 * API, and it posts signed event batches (ECDSA P-256 over timestamp + raw body) like SendGrid does.
 */
import { createSign, generateKeyPairSync, randomBytes, randomUUID, KeyObject } from 'node:crypto';
import http from 'node:http';
import { LoopbackServer } from './loopback';
import { rng } from '../../lib/ab/simulate';
import { renderHandlebars } from './handlebars';

export interface SendGridFaults {
	rate429?: number;
	rate500?: number;
	rate503?: number;
	/** Destroy the socket after reading the body, without an answer (nothing accepted). */
	rateDrop?: number;
	rateSlow?: number;
	slowMs?: number;
	seed?: number;
	omitResetHeader?: boolean;
	/** With rateDrop: accept the mail, then drop the connection (the ambiguous case). */
	dropAfterAccept?: boolean;
}

export interface SendGridSimulatorOptions {
	apiKeys?: string[];
	latencyMs?: number;
	rateLimit?: { limit: number; windowMs: number };
	faults?: SendGridFaults;
	maxBodyBytes?: number;
	/**
	 * Verified Sender Identities: when set, a From address not among them (nor on a listed domain,
	 * '@acme.example') is refused with 403 and SendGrid's message, as a real account does.
	 */
	verifiedSenders?: string[];
	/**
	 * Sender Identities as GET /v3/verified_senders lists them (verified or not); a From must match a
	 * verified one (or verifiedSenders). Unset: the addresses of verifiedSenders, all verified.
	 */
	senderIdentities?: Array<Partial<SenderIdentity> & { from_email: string }>;
	/** IP pools as GET /v3/ips/pools lists them. */
	ipPools?: string[];
	/** The simulator's clock (ms) for scheduled sends: when a cancelled batch is discarded, a paused one expires, the 10-minute deadline. */
	now?: () => number;
}

/** A batch id from POST /v3/mail/batch, with the pause or cancellation set on it (Cancel Scheduled Sends API). */
export interface MailBatch {
	batch_id: string;
	created: number;
	status?: 'pause' | 'cancel';
}

/** A scheduled message SendGrid will never deliver: its batch was cancelled (discarded at send_at) or paused past 72 h after send_at (Expired). */
export type DiscardedMessage = AcceptedMessage & { discarded: 'cancelled' | 'expired' };

/** SendGrid's rules for pausing and cancelling batches (Cancel Scheduled Sends API). */
export const SCHEDULED_SENDS = { maxPausedOrCancelled: 10, deadlineMinutes: 10, pausedExpiryHours: 72 } as const;

/** A Sender Identity in the shape of SendGrid's VerifiedSenderResponse. */
export interface SenderIdentity {
	id: number;
	nickname: string;
	from_email: string;
	from_name: string;
	reply_to: string;
	reply_to_name: string;
	address: string;
	address2: string;
	state: string;
	city: string;
	zip: string;
	country: string;
	verified: boolean;
	locked: boolean;
}

export interface AcceptedMessage {
	requestIndex: number;
	messageId: string;
	sgMessageId: string;
	to: string;
	kind: 'to' | 'cc' | 'bcc';
	from: string;
	subject: string;
	text?: string;
	html?: string;
	customArgs: Record<string, string>;
	headers: Record<string, string>;
	categories: string[];
	sendAt?: number;
	asmGroupId?: number;
	ipPoolName?: string;
	/** The batch it was sent under (mail send's batch_id). */
	batchId?: string;
	/** The dynamic template it was rendered from (subject, text and html are the rendered version). */
	templateId?: string;
	/** The personalization's dynamic_template_data, as sent. */
	templateData?: Record<string, unknown>;
	at: number;
}

/** A version of a transactional template, in SendGrid's shape (GET /v3/templates lists them under each template). */
export interface TemplateVersion {
	id: string;
	template_id: string;
	active: 0 | 1;
	name: string;
	subject: string;
	html_content?: string;
	plain_content?: string;
	generate_plain_content: boolean;
	editor: 'code' | 'design';
	updated_at: string;
}

export interface TransactionalTemplate {
	id: string;
	name: string;
	generation: 'legacy' | 'dynamic';
	updated_at: string;
	versions: TemplateVersion[];
}

/** What validateMail needs to know about the account's templates. */
export type TemplateLookup = (id: string) => TransactionalTemplate | undefined;

export interface SendGridEvent {
	email: string;
	event: string;
	timestamp: number;
	sg_event_id: string;
	sg_message_id: string;
	[key: string]: unknown;
}

export interface EventPlan {
	/** Fractions (0..1) or explicit address lists per event type. */
	open?: number | string[];
	click?: number | string[];
	bounce?: number | string[];
	unsubscribe?: number | string[];
	spamreport?: number | string[];
	dropped?: number | string[];
	deferred?: number | string[];
	machineOpen?: number;
	/** Leave custom args out of bounces (real async bounces lack them). */
	asyncBounces?: boolean;
	/** Skip processed/delivered events. */
	noDelivery?: boolean;
	seed?: number;
}

type ErrorItem = { message: string; field: string | null; help: string | null };

const RESERVED_HEADERS = new Set(['x-sg-id', 'x-sg-eid', 'received', 'dkim-signature', 'content-type', 'content-transfer-encoding', 'to', 'from', 'subject', 'reply-to', 'cc', 'bcc']);
const EMAIL_RE = /^[^\s@"<>(),;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;
const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';

/** mulberry32: small, seeded, repeatable (the one the A/B simulations use). */
export const seededRandom = rng;

const messageId = () => randomBytes(16).toString('base64url').slice(0, 22);
const uuid = () => randomUUID();
const byteLength = (s: string) => Buffer.byteLength(s, 'utf8');

export interface WebhookSetting {
	id: string;
	url: string;
	enabled: boolean;
	friendly_name?: string;
	signed: boolean;
	[flag: string]: unknown;
}

export class SendGridSimulator extends LoopbackServer {
	accepted: AcceptedMessage[] = [];
	requests: Array<{ method: string; path: string; status: number; recipients: number; at: number }> = [];
	webhooks: WebhookSetting[] = [];
	readonly publicKey: string;
	private readonly privateKey: KeyObject;
	protected override keepAliveTimeoutMs = 30_000;
	private random: () => number;
	private windowStart = 0;
	private windowCount = 0;
	private mailRequests = 0;
	private lastPost?: { url: string; body: Buffer; headers: Record<string, string> };
	private strings = new Map<string, string>();
	/** The account's transactional templates, in creation order (tests add them with addTemplate). */
	templates: TransactionalTemplate[] = [];
	/** Batch ids created with POST /v3/mail/batch, and their pause or cancellation. */
	batches = new Map<string, MailBatch>();
	/**
	 * Scheduled messages whose batch is paused or cancelled: accepted by the API (202) but not in
	 * `accepted` (which is what SendGrid delivers) — no processed or delivered event. A pause or
	 * cancellation deleted in time puts them back in `accepted`.
	 */
	held: AcceptedMessage[] = [];
	/** Held messages SendGrid discarded: a cancelled batch at its send_at, a paused one 72 h after send_at. */
	discarded: DiscardedMessage[] = [];

	constructor(private opts: SendGridSimulatorOptions = {}) {
		super();
		const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
		this.publicKey = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
		this.privateKey = privateKey;
		this.random = seededRandom(opts.faults?.seed ?? 1);
	}

	/** The package's SendGrid credential pointed at this simulator (region "custom", its base URL). */
	credential(apiKey = 'SG.test-key'): { apiKey: string; region: 'custom'; baseUrl: string } {
		return { apiKey, region: 'custom', baseUrl: this.baseUrl };
	}

	setFaults(f: SendGridFaults | undefined): void {
		this.opts.faults = f;
		this.random = seededRandom(f?.seed ?? 1);
	}

	setRateLimit(r: SendGridSimulatorOptions['rateLimit']): void {
		this.opts.rateLimit = r;
		this.windowCount = 0;
	}

	setVerifiedSenders(list: string[] | undefined): void {
		this.opts.verifiedSenders = list;
	}

	setSenderIdentities(list: SendGridSimulatorOptions['senderIdentities']): void {
		this.opts.senderIdentities = list;
	}

	setIpPools(names: string[] | undefined): void {
		this.opts.ipPools = names;
	}

	/** The account's Sender Identities in SendGrid's shape, ids ascending. */
	senderIdentities(): SenderIdentity[] {
		const given = this.opts.senderIdentities ?? (this.opts.verifiedSenders ?? []).filter((s) => !s.startsWith('@')).map((from_email) => ({ from_email }));
		return given.map((g, i) => ({
			id: i + 1,
			nickname: g.from_email.split('@')[0],
			from_name: '',
			reply_to: g.from_email,
			reply_to_name: '',
			address: '1 Example St.',
			address2: '',
			state: 'CA',
			city: 'San Francisco',
			zip: '94105',
			country: 'USA',
			verified: true,
			locked: false,
			...g,
		}));
	}

	/**
	 * Adds a template with one active version, as the template editor would leave it; dynamic ones get a
	 * `d-` + 32 hex id like SendGrid's. Returns the stored template.
	 */
	addTemplate(t: { id?: string; name: string; generation?: 'legacy' | 'dynamic'; subject?: string; html?: string; text?: string; active?: boolean }): TransactionalTemplate {
		const generation = t.generation ?? 'dynamic';
		const id = t.id ?? (generation === 'dynamic' ? `d-${randomBytes(16).toString('hex')}` : uuid());
		const updated_at = new Date().toISOString().slice(0, 19).replace('T', ' ');
		const template: TransactionalTemplate = {
			id,
			name: t.name,
			generation,
			updated_at,
			versions: [
				{
					id: uuid(),
					template_id: id,
					active: t.active === false ? 0 : 1,
					name: `${t.name} v1`,
					subject: t.subject ?? '',
					...(t.html !== undefined ? { html_content: t.html } : {}),
					...(t.text !== undefined ? { plain_content: t.text } : {}),
					generate_plain_content: t.text === undefined,
					editor: 'code',
					updated_at,
				},
			],
		};
		this.templates.push(template);
		return template;
	}

	private templateById: TemplateLookup = (id) => this.templates.find((t) => t.id === id);

	/** The simulator's clock (ms): Date.now unless a test set one. */
	now(): number {
		return this.opts.now ? this.opts.now() : Date.now();
	}

	setClock(now: (() => number) | undefined): void {
		this.opts.now = now;
	}

	/**
	 * Applies time to held messages as SendGrid does: a cancelled batch's messages are discarded once
	 * their send_at is reached, a paused batch's once 72 hours past send_at. Runs before every request;
	 * tests call it after moving the clock.
	 */
	settleScheduled(): void {
		const now = this.now() / 1000;
		const keep: AcceptedMessage[] = [];
		for (const m of this.held) {
			const status = m.batchId ? this.batches.get(m.batchId)?.status : undefined;
			const at = m.sendAt ?? 0;
			if (status === 'cancel' && now >= at) this.discarded.push({ ...m, discarded: 'cancelled' });
			else if (status === 'pause' && now >= at + SCHEDULED_SENDS.pausedExpiryHours * 3600) this.discarded.push({ ...m, discarded: 'expired' });
			else keep.push(m);
		}
		this.held = keep;
	}

	/** Messages under this batch that SendGrid has (accepted for delivery or held), with their earliest send_at. */
	private batchMessages(batchId: string): AcceptedMessage[] {
		return [...this.accepted.filter((m) => m.batchId === batchId), ...this.held.filter((m) => m.batchId === batchId)];
	}

	setLatency(ms: number): void {
		this.opts.latencyMs = ms;
	}

	reset(): void {
		this.accepted = [];
		this.held = [];
		this.discarded = [];
		this.requests = [];
		this.mailRequests = 0;
		this.windowCount = 0;
	}

	deliveriesTo(email: string): AcceptedMessage[] {
		return this.accepted.filter((m) => m.to === email.toLowerCase());
	}

	/** Keys accepted more than once (default: campaign + step + address). */
	duplicateRecipients(key: (m: AcceptedMessage) => string = (m) => `${m.customArgs.campaign_id}|${m.customArgs.step}|${m.to}`): string[] {
		const seen = new Map<string, number>();
		for (const m of this.accepted) seen.set(key(m), (seen.get(key(m)) ?? 0) + 1);
		return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
	}

	// ---------------------------------------------------------------- HTTP

	protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
		const chunks: Buffer[] = [];
		let size = 0;
		const max = this.opts.maxBodyBytes ?? 30 * 1024 * 1024;
		for await (const c of req) {
			size += (c as Buffer).length;
			if (size <= max) chunks.push(c as Buffer);
		}
		const url = new URL(req.url ?? '/', 'http://x');
		const path = url.pathname.replace(/\/+$/, '');
		const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
			this.requests.push({ method: req.method ?? '', path, status, recipients: 0, at: Date.now() });
			res.writeHead(status, { 'content-type': 'application/json', ...headers });
			res.end(body === undefined ? '' : JSON.stringify(body));
		};
		const auth = req.headers.authorization ?? '';
		const keys = this.opts.apiKeys ?? ['SG.test-key'];
		if (!auth.startsWith('Bearer ') || !keys.includes(auth.slice(7)))
			return send(401, { errors: [{ field: null, message: 'The provided authorization grant is invalid, expired, or revoked', help: null }] });
		if (size > max) return send(413, { errors: [{ field: null, message: 'Payload too large', help: null }] });
		let body: unknown;
		if (chunks.length) {
			try {
				body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
			} catch {
				return send(400, { errors: [{ field: null, message: 'Bad Request', help: null }] });
			}
		}
		this.settleScheduled();
		if (req.method === 'POST' && path === '/v3/mail/send') return this.mailSend(req, res, body);
		if (path === '/v3/mail/batch' || path.startsWith('/v3/mail/batch/') || path === '/v3/user/scheduled_sends' || path.startsWith('/v3/user/scheduled_sends/'))
			return this.scheduledSends(req.method ?? 'GET', path, body, send);
		if (req.method === 'GET' && path === '/v3/scopes') return send(200, { scopes: ['mail.send', 'user.webhooks.event.settings.read', 'user.webhooks.event.settings.update', 'asm.groups.read'] });
		if (req.method === 'GET' && path === '/v3/asm/groups')
			return send(200, [
				{ id: 101, name: 'Newsletter', description: 'Monthly news', is_default: true },
				{ id: 102, name: 'Product offers', description: 'Sales and launches', is_default: false },
			]);
		if (req.method === 'GET' && path === '/v3/verified_senders') {
			// Paged as SendGrid documents it: limit, lastSeenID (ids after it), id (that one only).
			const q = url.searchParams;
			for (const k of ['limit', 'lastSeenID', 'id'])
				if (q.has(k) && !/^\d+$/.test(q.get(k)!)) return send(400, { errors: [{ field: k, message: `${k} must be a number`, help: null }] });
			let list = this.senderIdentities();
			if (q.has('id')) list = list.filter((x) => x.id === Number(q.get('id')));
			if (q.has('lastSeenID')) list = list.filter((x) => x.id > Number(q.get('lastSeenID')));
			if (q.has('limit')) list = list.slice(0, Number(q.get('limit')));
			return send(200, { results: list });
		}
		if (req.method === 'GET' && path === '/v3/templates') return this.listTemplates(url.searchParams, send);
		if (req.method === 'GET' && path.startsWith('/v3/templates/') && path.split('/').length === 4) {
			// One template with every version in full (html_content, plain_content), as GET /v3/templates/{template_id} answers.
			const template = this.templateById(decodeURIComponent(path.slice('/v3/templates/'.length)));
			return template ? send(200, template) : send(404, { errors: [{ field: null, message: 'Template not found', help: null }] });
		}
		if (req.method === 'GET' && path === '/v3/ips/pools') return send(200, (this.opts.ipPools ?? []).map((name) => ({ name })));
		if (path.startsWith('/v3/user/webhooks/event/settings')) return this.webhookSettings(req.method ?? 'GET', path, body, send);
		return send(404, { errors: [{ field: null, message: 'resource not found', help: null }] });
	}

	/**
	 * GET /v3/templates as SendGrid's Templates API describes it: page_size (1-200) is required,
	 * generations is legacy (the default), dynamic or legacy,dynamic; page_token is the next page's token
	 * from _metadata.next.
	 */
	private listTemplates(q: URLSearchParams, send: (s: number, b?: unknown) => void): void {
		const size = q.get('page_size');
		if (size === null || !/^\d+$/.test(size) || Number(size) < 1 || Number(size) > 200)
			return send(400, { errors: [{ field: 'page_size', message: 'page_size is required and must be a number from 1 to 200', error_id: 'page_size' }] });
		const generations = (q.get('generations') ?? 'legacy').split(',');
		if (generations.some((g) => g !== 'legacy' && g !== 'dynamic'))
			return send(400, { errors: [{ field: 'generations', message: 'generations must be legacy, dynamic or legacy,dynamic', error_id: 'generations' }] });
		const all = this.templates.filter((t) => generations.includes(t.generation));
		const start = q.has('page_token') ? Number(Buffer.from(q.get('page_token')!, 'base64url').toString('utf8')) || 0 : 0;
		const page = all.slice(start, start + Number(size));
		const base = `${this.baseUrl}/v3/templates`;
		const token = (n: number) => Buffer.from(String(n), 'utf8').toString('base64url');
		const _metadata: Record<string, unknown> = { self: `${base}?page_size=${size}`, count: all.length };
		if (start + Number(size) < all.length) _metadata.next = `${base}?page_size=${size}&page_token=${token(start + Number(size))}`;
		if (start > 0) _metadata.prev = `${base}?page_size=${size}&page_token=${token(Math.max(0, start - Number(size)))}`;
		send(200, { result: page, _metadata });
	}

	/**
	 * Batch ids and the Cancel Scheduled Sends API: POST /v3/mail/batch (201 {batch_id}), GET
	 * /v3/mail/batch/{id} (200, or 400 "invalid batch id"), and /v3/user/scheduled_sends: POST
	 * {batch_id, status: pause|cancel} (201; 400 if the batch already has a status, past the 10 at a
	 * time, or later than 10 minutes before the batch's send_at), GET (all, or one batch as an array),
	 * PATCH /{id} {status} (204), DELETE /{id} (204: the held messages go back to the queue).
	 */
	private scheduledSends(method: string, path: string, body: unknown, send: (s: number, b?: unknown) => void): void {
		const bad = (field: string | null, message: string) => send(400, { errors: [{ field, message }] });
		const notFound = () => send(404, { errors: [{ field: null, message: 'batch id not found' }] });
		if (path === '/v3/mail/batch') {
			if (method !== 'POST') return send(405, { errors: [{ field: null, message: 'method not allowed' }] });
			const batch_id = randomBytes(24).toString('base64url');
			this.batches.set(batch_id, { batch_id, created: this.now() });
			return send(201, { batch_id });
		}
		const one = /^\/v3\/mail\/batch\/([^/]+)$/.exec(path);
		if (one) {
			if (method !== 'GET') return send(405, { errors: [{ field: null, message: 'method not allowed' }] });
			return this.batches.has(decodeURIComponent(one[1])) ? send(200, { batch_id: decodeURIComponent(one[1]) }) : bad(null, 'invalid batch id');
		}
		const b = (body ?? {}) as { batch_id?: unknown; status?: unknown };
		const statusOk = (v: unknown): v is 'pause' | 'cancel' => v === 'pause' || v === 'cancel';
		const withStatus = () => [...this.batches.values()].filter((x) => x.status);
		const tooLate = (batchId: string) => {
			const first = Math.min(...this.batchMessages(batchId).map((m) => m.sendAt ?? Infinity));
			return Number.isFinite(first) && this.now() / 1000 > first - SCHEDULED_SENDS.deadlineMinutes * 60;
		};
		// Messages still waiting for their send_at are held with the batch; those already due (or sent without send_at) have gone out.
		const waiting = (m: AcceptedMessage, batchId: string) => m.batchId === batchId && m.sendAt !== undefined && m.sendAt > this.now() / 1000;
		const hold = (batchId: string) => {
			const moving = this.accepted.filter((m) => waiting(m, batchId));
			if (moving.length === 0) return;
			this.accepted = this.accepted.filter((m) => !waiting(m, batchId));
			this.held.push(...moving);
		};
		if (path === '/v3/user/scheduled_sends') {
			if (method === 'GET') return send(200, withStatus().map((x) => ({ batch_id: x.batch_id, status: x.status })));
			if (method !== 'POST') return send(405, { errors: [{ field: null, message: 'method not allowed' }] });
			if (typeof b.batch_id !== 'string' || !this.batches.has(b.batch_id)) return bad('batch_id', 'invalid batch id');
			if (!statusOk(b.status)) return bad('status', 'status must be either pause or cancel');
			const batch = this.batches.get(b.batch_id)!;
			if (batch.status) return bad(null, `batch id ${b.batch_id} already has a status of ${batch.status}: use PATCH to change it or DELETE to remove it`);
			if (withStatus().length >= SCHEDULED_SENDS.maxPausedOrCancelled) return bad(null, `max limit reached: you cannot pause or cancel more than ${SCHEDULED_SENDS.maxPausedOrCancelled} batches at one time`);
			if (tooLate(b.batch_id)) return bad(null, `a batch can only be paused or cancelled up to ${SCHEDULED_SENDS.deadlineMinutes} minutes before its send_at`);
			batch.status = b.status;
			hold(b.batch_id);
			return send(201, { batch_id: b.batch_id, status: b.status });
		}
		const sched = /^\/v3\/user\/scheduled_sends\/([^/]+)$/.exec(path);
		if (!sched) return send(404, { errors: [{ field: null, message: 'resource not found' }] });
		const id = decodeURIComponent(sched[1]);
		const batch = this.batches.get(id);
		if (method === 'GET') return send(200, batch?.status ? [{ batch_id: id, status: batch.status }] : []);
		if (!batch?.status) return notFound();
		if (method === 'PATCH') {
			if (!statusOk(b.status)) return bad('status', 'status must be either pause or cancel');
			if (tooLate(id)) return bad(null, `a batch can only be paused or cancelled up to ${SCHEDULED_SENDS.deadlineMinutes} minutes before its send_at`);
			batch.status = b.status;
			return send(204);
		}
		if (method === 'DELETE') {
			batch.status = undefined;
			// Not discarded yet: back in the queue, delivered at send_at (at once when it has passed).
			const back = this.held.filter((m) => m.batchId === id);
			this.held = this.held.filter((m) => m.batchId !== id);
			this.accepted.push(...back);
			return send(204);
		}
		return send(405, { errors: [{ field: null, message: 'method not allowed' }] });
	}

	private rateHeaders(): Record<string, string> {
		const rl = this.opts.rateLimit;
		if (!rl) return {};
		return {
			'x-ratelimit-limit': String(rl.limit),
			'x-ratelimit-remaining': String(Math.max(0, rl.limit - this.windowCount)),
			'x-ratelimit-reset': String(Math.ceil((this.windowStart + rl.windowMs) / 1000)),
		};
	}

	private inFlight = 0;

	/** Mail requests being worked on now (one sent just before its client died still lands). */
	get inFlightRequests(): number {
		return this.inFlight;
	}

	private async mailSend(req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<void> {
		this.inFlight++;
		try {
			await this.mailSendWork(req, res, body);
		} finally {
			this.inFlight--;
		}
	}

	private async mailSendWork(req: http.IncomingMessage, res: http.ServerResponse, body: unknown): Promise<void> {
		const index = this.mailRequests++;
		const latency = this.opts.latencyMs ?? 0;
		const f = this.opts.faults;
		const roll = f ? this.random() : 1;
		let slow = 0;
		if (f?.rateSlow && this.random() < f.rateSlow) slow = f.slowMs ?? 2000;
		if (latency + slow > 0) await new Promise((r) => setTimeout(r, latency + slow));
		const recipients = countRecipients(body);
		const answer = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
			this.requests.push({ method: 'POST', path: '/v3/mail/send', status, recipients, at: Date.now() });
			res.writeHead(status, { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...this.rateHeaders(), ...headers });
			res.end(payload === undefined ? '' : JSON.stringify(payload));
		};
		// Account rate limit (fixed window per key).
		const rl = this.opts.rateLimit;
		if (rl) {
			const now = Date.now();
			if (now - this.windowStart >= rl.windowMs) {
				this.windowStart = now;
				this.windowCount = 0;
			}
			if (this.windowCount >= rl.limit) return answer(429, { errors: [{ field: null, message: 'too many requests', help: null }] });
			this.windowCount++;
		}
		if (f) {
			let edge = 0;
			if (roll < (edge += f.rate429 ?? 0)) {
				const h = this.rateHeaders();
				if (f.omitResetHeader) delete h['x-ratelimit-reset'];
				else h['x-ratelimit-reset'] = h['x-ratelimit-reset'] ?? String(Math.ceil(Date.now() / 1000));
				this.requests.push({ method: 'POST', path: '/v3/mail/send', status: 429, recipients, at: Date.now() });
				res.writeHead(429, { 'content-type': 'application/json', ...h });
				return void res.end(JSON.stringify({ errors: [{ field: null, message: 'too many requests', help: null }] }));
			}
			if (roll < (edge += f.rate500 ?? 0)) return answer(500, { errors: [{ field: null, message: 'Internal Server Error', help: null }] });
			if (roll < (edge += f.rate503 ?? 0)) return answer(503, { errors: [{ field: null, message: 'Service Unavailable', help: null }] });
			if (roll < (edge += f.rateDrop ?? 0)) {
				if (f.dropAfterAccept && validateMail(body, this.templateById, this.batchKnown).length === 0) this.accept(body as MailBody, index);
				this.requests.push({ method: 'POST', path: '/v3/mail/send', status: 0, recipients, at: Date.now() });
				return void req.socket.destroy();
			}
		}
		const errors = validateMail(body, this.templateById, this.batchKnown);
		if (errors.length) return answer(400, { errors });
		const mail = body as MailBody;
		const senders = this.opts.verifiedSenders;
		const identities = this.opts.senderIdentities;
		const from = mail.from.email.toLowerCase();
		const verified =
			senders?.some((s) => (s.startsWith('@') ? from.endsWith(s.toLowerCase()) : from === s.toLowerCase())) ||
			identities?.some((i) => i.verified !== false && i.from_email.toLowerCase() === from);
		if ((senders || identities) && !verified)
			return answer(403, {
				errors: [
					{
						field: 'from',
						message:
							'The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements',
						help: null,
					},
				],
			});
		if (mail.mail_settings?.sandbox_mode?.enable) return answer(200);
		const id = this.accept(mail, index);
		answer(202, undefined, { 'x-message-id': id });
	}

	private batchKnown = (id: string) => this.batches.has(id);

	private intern(s: string | undefined): string | undefined {
		if (s === undefined) return undefined;
		let v = this.strings.get(s);
		if (v === undefined) this.strings.set(s, (v = s));
		return v;
	}

	private accept(mail: MailBody, index: number): string {
		const id = messageId();
		const text = mail.content?.find((c) => c.type === 'text/plain')?.value;
		const html = mail.content?.find((c) => c.type === 'text/html')?.value;
		const template = mail.template_id ? this.templateById(mail.template_id) : undefined;
		const version = template?.versions.find((v) => v.active === 1);
		let n = 0;
		for (const p of mail.personalizations) {
			if (template?.generation === 'dynamic') {
				// What the recipient sees: the active version rendered with this personalization's data (SendGrid
				// makes the text part from the html when the version has none and generate_plain_content is on).
				const data = p.dynamic_template_data ?? {};
				const rendered = {
					subject: renderHandlebars(version?.subject || p.subject || mail.subject || '', data),
					html: version?.html_content !== undefined ? renderHandlebars(version.html_content, data) : undefined,
					text: version?.plain_content !== undefined ? renderHandlebars(version.plain_content, data) : undefined,
				};
				n = this.acceptEach(mail, p, index, id, n, { ...rendered, templateId: template.id, templateData: data });
				continue;
			}
			const subs = p.substitutions ?? {};
			const apply = (s: string | undefined) => {
				if (s === undefined) return undefined;
				let out = s;
				for (const [k, v] of Object.entries(subs)) out = out.split(k).join(v);
				return out;
			};
			const hasSubs = Object.keys(subs).length > 0;
			const subject = apply(p.subject ?? mail.subject) ?? '';
			n = this.acceptEach(mail, p, index, id, n, { subject, text: hasSubs ? apply(text) : this.intern(text), html: hasSubs ? apply(html) : this.intern(html) });
		}
		return id;
	}

	/** Records one accepted message per to/cc/bcc address of a personalization, with what it renders to; returns the next sequence number. */
	private acceptEach(mail: MailBody, p: MailBody['personalizations'][number], index: number, id: string, n: number, content: Pick<AcceptedMessage, 'subject' | 'text' | 'html' | 'templateId' | 'templateData'>): number {
		// Sent under a paused or cancelled batch: SendGrid takes it (202) and holds it with the batch.
		const into = mail.batch_id && this.batches.get(mail.batch_id)?.status ? this.held : this.accepted;
		for (const [kind, list] of [['to', p.to], ['cc', p.cc ?? []], ['bcc', p.bcc ?? []]] as const)
			for (const a of list)
				into.push({
					requestIndex: index,
					messageId: id,
					sgMessageId: `${id}.filterdrecv-${index}-${n++}.0`,
					to: a.email.toLowerCase(),
					kind,
					from: mail.from.email,
					...content,
					customArgs: { ...(mail.custom_args ?? {}), ...(p.custom_args ?? {}) },
					headers: { ...(mail.headers ?? {}), ...(p.headers ?? {}) },
					categories: mail.categories ?? [],
					sendAt: p.send_at ?? mail.send_at,
					asmGroupId: mail.asm?.group_id,
					ipPoolName: mail.ip_pool_name,
					...(mail.batch_id ? { batchId: mail.batch_id } : {}),
					at: Date.now(),
				});
		return n;
	}

	private webhookSettings(method: string, path: string, body: unknown, send: (s: number, b?: unknown) => void): void {
		const rest = path.slice('/v3/user/webhooks/event/settings'.length);
		const b = (body ?? {}) as Record<string, unknown>;
		const view = (w: WebhookSetting) => {
			const { signed, ...v } = w;
			return { ...v, public_key: signed ? this.publicKey : '' };
		};
		if (method === 'GET' && rest === '/all') return send(200, { max_allowed: 5, webhooks: this.webhooks.map(view) });
		if (method === 'POST' && rest === '') {
			if (typeof b.url !== 'string' || !/^https?:\/\//.test(b.url)) return send(400, { errors: [{ field: 'url', message: 'url must be a valid http(s) URL', help: null }] });
			if (this.webhooks.length >= 5) return send(400, { errors: [{ field: null, message: 'you have reached the maximum number of webhooks', help: null }] });
			for (const [k, v] of Object.entries(b)) if (WEBHOOK_FLAGS.has(k) && typeof v !== 'boolean') return send(400, { errors: [{ field: k, message: `${k} must be a boolean`, help: null }] });
			const w: WebhookSetting = { ...b, id: randomBytes(8).toString('hex'), url: b.url, enabled: b.enabled !== false, signed: false };
			this.webhooks.push(w);
			return send(201, view(w));
		}
		const signed = /^\/signed\/([^/]+)$/.exec(rest);
		if (signed) {
			const w = this.webhooks.find((x) => x.id === signed[1]);
			if (!w) return send(404, { errors: [{ field: 'id', message: 'webhook not found', help: null }] });
			if (method === 'PATCH') {
				// The signing toggle needs its boolean: a body without it is refused, never read as "off".
				if (typeof b.enabled !== 'boolean') return send(400, { errors: [{ field: 'enabled', message: 'enabled is required and must be a boolean', help: null }] });
				w.signed = b.enabled;
			}
			return send(200, { id: w.id, public_key: w.signed ? this.publicKey : '' });
		}
		const one = /^\/([^/]+)$/.exec(rest);
		if (one) {
			const i = this.webhooks.findIndex((x) => x.id === one[1]);
			if (i < 0) return send(404, { errors: [{ field: 'id', message: 'webhook not found', help: null }] });
			if (method === 'DELETE') {
				this.webhooks.splice(i, 1);
				return send(204);
			}
			if (method === 'PATCH') Object.assign(this.webhooks[i], b);
			return send(200, view(this.webhooks[i]));
		}
		return send(404, { errors: [{ field: null, message: 'resource not found', help: null }] });
	}

	// ---------------------------------------------------------------- events

	signPayload(rawBody: string | Buffer, timestamp = String(Math.floor(Date.now() / 1000))): { signature: string; timestamp: string } {
		const s = createSign('sha256');
		s.update(timestamp);
		s.update(rawBody);
		return { signature: s.sign(this.privateKey).toString('base64'), timestamp };
	}

	/** Realistic events for accepted messages: processed + delivered, then what the plan says. */
	eventsFor(messages: AcceptedMessage[], plan: EventPlan = {}): SendGridEvent[] {
		const rnd = seededRandom(plan.seed ?? 7);
		const chosen = (which: number | string[] | undefined, m: AcceptedMessage) =>
			which === undefined ? false : Array.isArray(which) ? which.includes(m.to) : rnd() < which;
		const out: SendGridEvent[] = [];
		let t = Math.floor(Date.now() / 1000);
		const base = (m: AcceptedMessage, event: string, withArgs = true): SendGridEvent => ({
			email: m.to,
			event,
			timestamp: t++,
			sg_event_id: randomBytes(16).toString('base64url'),
			sg_message_id: m.sgMessageId,
			category: m.categories,
			...(withArgs ? m.customArgs : {}),
		});
		for (const m of messages) {
			// A paused or cancelled batch is not delivered: no processed, no delivered, nothing after.
			if (m.batchId && this.batches.get(m.batchId)?.status) continue;
			const bounce = chosen(plan.bounce, m);
			const dropped = chosen(plan.dropped, m);
			if (!plan.noDelivery) out.push({ ...base(m, 'processed'), 'smtp-id': `<${m.messageId}@ismtpd-sim>` });
			if (dropped) {
				out.push({ ...base(m, 'dropped'), reason: 'Bounced Address', status: '5.0.0' });
				continue;
			}
			if (chosen(plan.deferred, m)) out.push({ ...base(m, 'deferred'), response: '400 try again later', attempt: '1' });
			if (bounce) {
				out.push({ ...base(m, 'bounce', !plan.asyncBounces), type: 'bounce', reason: '550 5.1.1 The email account that you tried to reach does not exist', status: '5.1.1', bounce_classification: 'Invalid Address' });
				continue;
			}
			if (!plan.noDelivery) out.push({ ...base(m, 'delivered'), response: '250 OK', 'smtp-id': `<${m.messageId}@ismtpd-sim>` });
			if (chosen(plan.open, m)) out.push({ ...base(m, 'open'), useragent: 'Mozilla/5.0', ip: '192.0.2.1', sg_machine_open: plan.machineOpen !== undefined && rnd() < plan.machineOpen });
			if (chosen(plan.click, m)) out.push({ ...base(m, 'click'), url: 'https://acme.example/sale', useragent: 'Mozilla/5.0', ip: '192.0.2.1' });
			if (chosen(plan.unsubscribe, m)) out.push(m.asmGroupId ? { ...base(m, 'group_unsubscribe'), asm_group_id: m.asmGroupId } : base(m, 'unsubscribe'));
			if (chosen(plan.spamreport, m)) out.push(base(m, 'spamreport'));
		}
		return out;
	}

	/** POSTs events as SendGrid does: JSON arrays of up to batchSize, signed; returns each answer. */
	async postEvents(
		url: string,
		events: SendGridEvent[],
		opts: { batchSize?: number; tamper?: boolean; timestamp?: string; omitSignature?: boolean; concurrency?: number } = {},
	): Promise<Array<{ status: number; ms: number }>> {
		const size = opts.batchSize ?? 1000;
		const batches: SendGridEvent[][] = [];
		for (let i = 0; i < events.length; i += size) batches.push(events.slice(i, i + size));
		const results: Array<{ status: number; ms: number }> = new Array(batches.length);
		let next = 0;
		const worker = async () => {
			while (next < batches.length) {
				const i = next++;
				const body = Buffer.from(JSON.stringify(batches[i]));
				const { signature, timestamp } = this.signPayload(body, opts.timestamp);
				const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'SendGrid Event API' };
				if (!opts.omitSignature) {
					headers['x-twilio-email-event-webhook-signature'] = signature;
					headers['x-twilio-email-event-webhook-timestamp'] = timestamp;
				}
				const sent = opts.tamper ? Buffer.from(body.toString().replace(/"event":"(\w+)"/, '"event":"click"')) : body;
				this.lastPost = { url, body: sent, headers };
				const t0 = performance.now();
				const r = await fetch(url, { method: 'POST', headers, body: sent });
				await r.arrayBuffer();
				results[i] = { status: r.status, ms: performance.now() - t0 };
			}
		};
		await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, worker));
		return results;
	}

	/** Re-POSTs the last batch byte for byte (SendGrid retries for up to 24 h). */
	async replayLastBatch(): Promise<{ status: number }> {
		if (!this.lastPost) throw new Error('nothing posted yet');
		const r = await fetch(this.lastPost.url, { method: 'POST', headers: this.lastPost.headers, body: this.lastPost.body });
		await r.arrayBuffer();
		return { status: r.status };
	}

	/**
	 * Inbound Parse: a reply as multipart/form-data with SendGrid's field names (parsed mode), or with the
	 * whole MIME message in `email` (raw: true, SendGrid's "POST the raw, full MIME message"). `secret`
	 * goes in the URL as ?secret=… (or in the X-Inbound-Secret header with secretIn: 'header').
	 * `charset` other than UTF-8 sends the text in that charset's bytes, as SendGrid forwards them.
	 */
	async postInboundReply(
		url: string,
		reply: {
			from: string;
			to: string;
			subject: string;
			text: string;
			inReplyTo?: string;
			references?: string;
			secret?: string;
			secretIn?: 'url' | 'header';
			headers?: Record<string, string>;
			spf?: string;
			dkim?: string;
			raw?: boolean;
			charset?: 'utf-8' | 'iso-8859-1' | 'windows-1252';
		},
	): Promise<{ status: number; body: string }> {
		const msgId = `<${randomBytes(8).toString('hex')}@mail.example>`;
		const domain = reply.from.replace(/.*@/, '').replace(/>.*/, '');
		const charset = reply.charset ?? 'utf-8';
		const extra = Object.entries(reply.headers ?? {}).map(([k, v]) => `${k}: ${v}\n`).join('');
		const threading = `${reply.inReplyTo ? `In-Reply-To: ${reply.inReplyTo}\n` : ''}${reply.references ? `References: ${reply.references}\n` : ''}`;
		const headers = `Message-ID: ${msgId}\nFrom: ${reply.from}\nTo: ${reply.to}\nSubject: ${reply.subject}\n${threading}${extra}`;
		const fields: Record<string, string | Buffer> = {};
		const envelope = JSON.stringify({ to: [reply.to.replace(/.*<|>.*/g, '')], from: reply.from.replace(/.*<|>.*/g, '') });
		if (reply.raw) {
			const qp = quotedPrintable(Buffer.from(reply.text, charset === 'utf-8' ? 'utf8' : 'latin1'));
			fields.email = `${headers.replace(/\n/g, '\r\n')}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=${charset.toUpperCase()}\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n${qp}\r\n`;
			fields.charsets = JSON.stringify({ to: 'UTF-8', from: 'UTF-8', subject: 'UTF-8' });
		} else {
			fields.headers = headers;
			fields.text = charset === 'utf-8' ? reply.text : Buffer.from(reply.text, 'latin1');
			fields.html = `<p>${reply.text}</p>`;
			fields.charsets = JSON.stringify({ to: 'UTF-8', from: 'UTF-8', subject: charset.toUpperCase(), text: charset.toUpperCase(), html: 'UTF-8' });
		}
		const subject = reply.raw || charset === 'utf-8' ? reply.subject : Buffer.from(reply.subject, 'latin1');
		Object.assign(fields, { from: reply.from, to: reply.to, subject, envelope, SPF: reply.spf ?? 'pass', dkim: reply.dkim ?? `{@${domain} : pass}`, sender_ip: '192.0.2.25', spam_score: '0.1' });
		return this.postInbound(url, fields, { secret: reply.secret, secretIn: reply.secretIn });
	}

	/** POSTs Inbound Parse fields as multipart/form-data (text fields, some as raw bytes); returns the answer. */
	async postInbound(url: string, fields: Record<string, string | Buffer>, opts: { secret?: string; secretIn?: 'url' | 'header' } = {}): Promise<{ status: number; body: string }> {
		const { body, contentType } = multipartBody(fields);
		const target = new URL(url);
		const headers: Record<string, string> = { 'content-type': contentType, 'user-agent': 'Sendlib/1.0 inbound.sendgrid.net' };
		if (opts.secret !== undefined) {
			if (opts.secretIn === 'header') headers['x-inbound-secret'] = opts.secret;
			else target.searchParams.set('secret', opts.secret);
		}
		const r = await fetch(target, { method: 'POST', headers, body });
		return { status: r.status, body: await r.text() };
	}
}

/** multipart/form-data from text fields; Buffers go out as their bytes (a charset other than UTF-8). */
export function multipartBody(fields: Record<string, string | Buffer>): { body: Buffer; contentType: string } {
	const boundary = `xYzZY${randomBytes(8).toString('hex')}`;
	const parts: Buffer[] = [];
	for (const [name, value] of Object.entries(fields)) {
		parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n`));
		parts.push(typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
		parts.push(Buffer.from('\r\n'));
	}
	parts.push(Buffer.from(`--${boundary}--\r\n`));
	return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Quoted-printable (RFC 2045) for a test body: bytes outside printable ASCII and "=" escaped, soft line breaks at 76. */
function quotedPrintable(bytes: Buffer): string {
	let out = '';
	let line = 0;
	for (const b of bytes) {
		const piece = b === 10 ? '\r\n' : b === 13 ? '' : (b >= 33 && b <= 126 && b !== 61) || b === 32 ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
		if (piece === '\r\n') {
			out += piece;
			line = 0;
			continue;
		}
		if (line + piece.length > 75) {
			out += '=\r\n';
			line = 0;
		}
		out += piece;
		line += piece.length;
	}
	return out;
}

// ---------------------------------------------------------------- /v3/mail/send rules

interface Address {
	email: string;
	name?: string;
}
interface MailBody {
	personalizations: Array<{
		to: Address[];
		cc?: Address[];
		bcc?: Address[];
		subject?: string;
		substitutions?: Record<string, string>;
		dynamic_template_data?: Record<string, unknown>;
		custom_args?: Record<string, string>;
		headers?: Record<string, string>;
		send_at?: number;
	}>;
	from: Address;
	reply_to?: Address;
	subject?: string;
	content?: Array<{ type: string; value: string }>;
	template_id?: string;
	custom_args?: Record<string, string>;
	headers?: Record<string, string>;
	categories?: string[];
	send_at?: number;
	batch_id?: string;
	asm?: { group_id: number; groups_to_display?: number[] };
	ip_pool_name?: string;
	mail_settings?: Record<string, { enable?: unknown } | undefined>;
	tracking_settings?: Record<string, { enable?: unknown; enable_text?: unknown } | undefined>;
}

/** Event Webhook settings that are flags: JSON booleans only ("true" is refused, as SendGrid's schema says). */
const WEBHOOK_FLAGS = new Set(['enabled', 'bounce', 'click', 'deferred', 'delivered', 'dropped', 'group_resubscribe', 'group_unsubscribe', 'open', 'processed', 'spam_report', 'unsubscribe']);

function countRecipients(body: unknown): number {
	const ps = (body as MailBody | undefined)?.personalizations;
	if (!Array.isArray(ps)) return 0;
	return ps.reduce((n, p) => n + (p?.to?.length ?? 0) + (p?.cc?.length ?? 0) + (p?.bcc?.length ?? 0), 0);
}

/** The checks SendGrid makes before accepting a message; each error names its field. */
export function validateMail(body: unknown, templates?: TemplateLookup, batches?: (id: string) => boolean): ErrorItem[] {
	const errors: ErrorItem[] = [];
	const err = (field: string | null, message: string) => errors.push({ field, message, help: HELP });
	if (!body || typeof body !== 'object') {
		err(null, 'Bad Request');
		return errors;
	}
	const m = body as MailBody;
	// template_id: a template of this account (a d- id is a dynamic one); its active version may bring the subject and content.
	let template: TransactionalTemplate | undefined;
	if (m.template_id !== undefined) {
		template = typeof m.template_id === 'string' ? templates?.(m.template_id) : undefined;
		if (!template) err('template_id', 'The template_id must be a valid template ID of your account.');
	}
	const dynamic = template?.generation === 'dynamic' || (typeof m.template_id === 'string' && m.template_id.startsWith('d-'));
	const activeSubject = template?.versions.find((v) => v.active === 1)?.subject ?? '';
	const email = (a: unknown, field: string) => {
		const addr = a as Address | undefined;
		// Mail send has no SMTPUTF8: a non-ASCII local part (josé@…) is refused; IDN domains must come in punycode.
		if (!addr || typeof addr.email !== 'string' || !EMAIL_RE.test(addr.email) || /[^\x00-\x7f]/.test(addr.email)) err(field, 'Does not contain a valid address.');
		if (addr?.name !== undefined && (typeof addr.name !== 'string' || /[\r\n]/.test(addr.name))) err(`${field.replace(/\.email$/, '')}.name`, 'The name must be a string without line breaks.');
	};
	const strings = (obj: unknown, field: string, limit?: number) => {
		if (obj === undefined) return;
		if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
			err(field, `The ${field.split('.').pop()} must be an object.`);
			return;
		}
		let bytes = 0;
		for (const [k, v] of Object.entries(obj)) {
			if (typeof v !== 'string') err(`${field}.${k}`, `${field.split('.').pop()} values must be strings.`);
			else bytes += byteLength(k) + byteLength(v);
		}
		if (limit && bytes > limit) err(field, `The ${field.split('.').pop()} may not exceed ${limit} bytes.`);
	};
	const headers = (obj: unknown, field: string) => {
		if (obj === undefined) return;
		strings(obj, field);
		for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
			if (RESERVED_HEADERS.has(k.toLowerCase())) err(`${field}.${k}`, `The header ${k} is reserved and cannot be set.`);
			if (typeof v === 'string' && /[\r\n]/.test(v)) err(`${field}.${k}`, 'Header values may not contain line breaks.');
		}
	};
	if (!Array.isArray(m.personalizations) || m.personalizations.length === 0) err('personalizations', 'The personalizations field is required and must have at least one personalization.');
	else if (m.personalizations.length > 1000) err('personalizations', 'The personalizations field may not contain more than 1000 personalizations.');
	else {
		let total = 0;
		const seenInRequest = new Set<string>();
		m.personalizations.forEach((p, i) => {
			const f = `personalizations.${i}`;
			if (!Array.isArray(p?.to) || p.to.length === 0) err(`${f}.to`, 'The to array is required for all personalization objects, and must have at least one email object with a valid email address.');
			const local = new Set<string>();
			for (const [kind, list] of [['to', p?.to], ['cc', p?.cc], ['bcc', p?.bcc]] as const) {
				if (list === undefined) continue;
				if (!Array.isArray(list)) {
					err(`${f}.${kind}`, `The ${kind} must be an array.`);
					continue;
				}
				list.forEach((a, j) => {
					email(a, `${f}.${kind}.${j}.email`);
					const e = String((a as Address)?.email ?? '').toLowerCase();
					if (local.has(e)) err(`${f}.${kind}.${j}.email`, 'Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [' + e + '] in the personalizations.' + i + '.' + kind + ' field.');
					else if (seenInRequest.has(e)) err(`${f}.${kind}.${j}.email`, `Each unique email address in the personalizations array should only be included once. We found the first duplicate instance of [${e}] in the personalizations.${i}.${kind} field.`);
					local.add(e);
					total++;
				});
			}
			for (const e of local) seenInRequest.add(e);
			if (p?.subject !== undefined && (typeof p.subject !== 'string' || /[\r\n]/.test(p.subject))) err(`${f}.subject`, 'The subject must be a string without line breaks.');
			if (dynamic && p?.substitutions !== undefined) err(`${f}.substitutions`, 'Substitutions may not be used with dynamic templating');
			else strings(p?.substitutions, `${f}.substitutions`, 10_000);
			if (p?.dynamic_template_data !== undefined && (!p.dynamic_template_data || typeof p.dynamic_template_data !== 'object' || Array.isArray(p.dynamic_template_data)))
				err(`${f}.dynamic_template_data`, 'The dynamic_template_data must be an object.');
			strings(p?.custom_args, `${f}.custom_args`, 10_000);
			headers(p?.headers, `${f}.headers`);
			if (p?.send_at !== undefined) checkSendAt(p.send_at, `${f}.send_at`, err);
		});
		if (total > 1000) err('personalizations', 'The total number of recipients across all personalizations may not exceed 1000.');
	}
	email(m.from, 'from.email');
	if (m.reply_to !== undefined) email(m.reply_to, 'reply_to.email');
	const everySubject = Array.isArray(m.personalizations) && m.personalizations.every((p) => typeof p?.subject === 'string' && p.subject.length > 0);
	if (!activeSubject.trim() && !everySubject && (typeof m.subject !== 'string' || m.subject.trim() === ''))
		err('subject', 'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.');
	if (typeof m.subject === 'string' && /[\r\n]/.test(m.subject)) err('subject', 'The subject must be a string without line breaks.');
	if (!template || m.content !== undefined) {
		if (!Array.isArray(m.content) || m.content.length === 0) err('content', 'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.');
		else {
			const types = m.content.map((c) => c?.type);
			m.content.forEach((c, i) => {
				if (typeof c?.type !== 'string' || !c.type) err(`content.${i}.type`, 'The content type is required.');
				if (typeof c?.value !== 'string' || c.value.length === 0) err(`content.${i}.value`, 'The content value must be a string at least one character in length.');
			});
			if (new Set(types).size !== types.length) err('content', 'Each content type may only be used once.');
			const plain = types.indexOf('text/plain');
			const html = types.indexOf('text/html');
			if (plain > 0 || (html >= 0 && plain > html)) err('content', 'If present, text/plain must be first, followed by text/html, followed by any other content.');
		}
	}
	strings(m.custom_args, 'custom_args', 10_000);
	headers(m.headers, 'headers');
	if (m.categories !== undefined) {
		if (!Array.isArray(m.categories) || m.categories.length > 10) err('categories', 'You may not have more than 10 categories per request.');
		else {
			if (new Set(m.categories).size !== m.categories.length) err('categories', 'The categories must be unique.');
			m.categories.forEach((c, i) => {
				if (typeof c !== 'string' || c.length > 255) err(`categories.${i}`, 'A category cannot have more than 255 characters.');
			});
		}
	}
	if (m.send_at !== undefined) checkSendAt(m.send_at, 'send_at', err);
	// batch_id: one made by POST /v3/mail/batch on this account (the same 400 as SendGrid's batch validation otherwise).
	if (m.batch_id !== undefined && (typeof m.batch_id !== 'string' || !m.batch_id || (batches && !batches(m.batch_id)))) err('batch_id', 'invalid batch id');
	// Settings are objects of JSON booleans: a string "true" is refused with the field, as SendGrid does.
	for (const [group, settings] of [['mail_settings', m.mail_settings], ['tracking_settings', m.tracking_settings]] as const) {
		if (settings === undefined) continue;
		if (!settings || typeof settings !== 'object' || Array.isArray(settings)) {
			err(group, `The ${group} must be an object.`);
			continue;
		}
		for (const [name, setting] of Object.entries(settings)) {
			if (!setting || typeof setting !== 'object') err(`${group}.${name}`, `The ${group}.${name} must be an object.`);
			else for (const flag of ['enable', 'enable_text'] as const) if (flag in setting && typeof (setting as Record<string, unknown>)[flag] !== 'boolean') err(`${group}.${name}.${flag}`, `The ${flag} value must be a boolean.`);
		}
	}
	if (typeof m.subject === 'string' && m.subject.length > 0 && m.subject.trim() === '') err('subject', 'The subject is required and may not be blank.');
	if (m.asm !== undefined) {
		if (!Number.isInteger(m.asm.group_id)) err('asm.group_id', 'The asm.group_id must be an integer.');
		if (m.asm.groups_to_display && m.asm.groups_to_display.length > 25) err('asm.groups_to_display', 'The asm.groups_to_display may not have more than 25 groups.');
	}
	// Mail send's schema: ip_pool_name is a string of 2 to 64 characters.
	if (m.ip_pool_name !== undefined && (typeof m.ip_pool_name !== 'string' || m.ip_pool_name.length < 2 || m.ip_pool_name.length > 64))
		err('ip_pool_name', 'The ip_pool_name must be a string of 2 to 64 characters.');
	return errors;
}

function checkSendAt(v: unknown, field: string, err: (f: string, m: string) => void): void {
	if (!Number.isInteger(v)) err(field, 'The send_at must be a unix timestamp (integer).');
	else if ((v as number) > Math.floor(Date.now() / 1000) + 72 * 3600) err(field, 'The send_at parameter can not be scheduled more than 72 hours in advance.');
}
