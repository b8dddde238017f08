/**
 * Errors to Sentry over HTTP, in Sentry's documented envelope format
 * (https://develop.sentry.dev/sdk/envelopes/): no SDK, so nothing is installed into n8n's process
 * (no global handlers, no patched modules) — one POST per report to `/api/<project>/envelope/`.
 *
 * Everything that leaves passes `scrub`: the package's secret redaction (lib/redact.ts) and an
 * address mask (every e-mail address becomes "[email]"). Reports carry names and ids — campaign, run,
 * step, node, workflow, execution, the error's field and hint — never contacts, credentials or bodies.
 */
import { randomBytes } from 'node:crypto';
import { CampaignError } from '../errors';
import { clip, redactSecrets } from '../redact';

export const SENTRY_CLIENT = 'n8n-nodes-email-campaign-agent/0.1.0';
export const ADDRESS_MASK = '[email]';

/** The parts of a DSN `https://<public_key>@<host>[/<path>]/<project_id>` and where its envelopes go. */
export interface SentryDsn {
	/** The DSN as given (trimmed). */
	dsn: string;
	publicKey: string;
	projectId: string;
	/** scheme://host[:port][/path] — everything before /api/. */
	origin: string;
	envelopeUrl: string;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Reads a DSN. Refused, naming `field`: anything that is not http(s)://key@host/project, a legacy
 * DSN with a secret key (key:secret@), a project id that is not a number, a query or fragment, and
 * plain http except to this machine (a local relay or a test endpoint).
 */
export function parseDsn(input: unknown, field = 'DSN'): SentryDsn {
	const dsn = typeof input === 'string' ? input.trim() : '';
	const fail = (why: string) =>
		new CampaignError(`The ${field} is not a Sentry DSN: ${why}`, {
			field,
			hint: "Copy the DSN from Sentry → Project Settings → Client Keys (DSN); it looks like https://<public key>@o123.ingest.sentry.io/<project id>",
		});
	if (!dsn) throw fail('it is empty');
	let url: URL;
	try {
		url = new URL(dsn);
	} catch {
		throw fail('it is not a URL');
	}
	if (url.protocol !== 'https:' && url.protocol !== 'http:') throw fail(`the scheme must be https, not ${url.protocol.replace(':', '')}`);
	if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname) && !url.hostname.startsWith('127.')) throw fail('plain http is only accepted for this machine (127.0.0.1, localhost); use https');
	if (url.password) throw fail('it has a secret key (key:secret@), the legacy form: use the DSN without the secret');
	if (!url.username) throw fail('it has no public key before the @');
	if (!/^[A-Za-z0-9]{8,64}$/.test(url.username)) throw fail('the public key (before the @) must be 8 to 64 letters and digits');
	if (url.search || url.hash) throw fail('it has a query or fragment');
	let end = url.pathname.length;
	while (end > 0 && url.pathname.charCodeAt(end - 1) === 47) end--;
	const path = url.pathname.slice(0, end);
	const slash = path.lastIndexOf('/');
	const projectId = path.slice(slash + 1);
	if (!/^[0-9]{1,20}$/.test(projectId)) throw fail('it must end in the numeric project id (…/123456)');
	const origin = `${url.protocol}//${url.host}${path.slice(0, slash)}`;
	return { dsn, publicKey: url.username, projectId, origin, envelopeUrl: `${origin}/api/${projectId}/envelope/` };
}

/** The X-Sentry-Auth header of a request for this DSN (the public key only; a DSN has no secret). */
export function sentryAuthHeader(dsn: SentryDsn, client = SENTRY_CLIENT): string {
	return `Sentry sentry_version=7, sentry_key=${dsn.publicKey}, sentry_client=${client}`;
}

/** Secrets (lib/redact.ts, plus the given known ones) and e-mail addresses masked. */
export function scrub(text: string, knownSecrets: ReadonlyArray<string | null | undefined> = []): string {
	if (typeof text !== 'string' || text.length === 0) return text;
	return maskAddresses(redactSecrets(text, knownSecrets));
}

const isLocalChar = (c: number) =>
	(c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45 || c === 39 || c === 33 || c === 35 || c === 36 || c === 38 || c === 42 || c === 61 || c === 63 || c === 94 || c === 96 || c === 123 || c === 124 || c === 125 || c === 126 || c >= 128;
const isDomainChar = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 45 || c >= 128;

/**
 * Every e-mail address (local@domain.tld, also internationalised) → "[email]". One forward scan: at
 * each '@' it looks back at most 64 characters (a local part's limit) and forward at most 255 (a
 * domain's), so the work is linear in the text.
 */
export function maskAddresses(text: string): string {
	let out = '';
	let last = 0;
	let from = 0;
	for (;;) {
		const at = text.indexOf('@', from);
		if (at < 0) break;
		let s = at;
		while (s > last && at - s < 64 && isLocalChar(text.charCodeAt(s - 1))) s--;
		let e = at + 1;
		while (e < text.length && e - at <= 255 && isDomainChar(text.charCodeAt(e))) e++;
		// A sentence's full stop or a hyphen is not part of the domain.
		while (e > at + 1 && (text.charCodeAt(e - 1) === 46 || text.charCodeAt(e - 1) === 45)) e--;
		const domain = text.slice(at + 1, e);
		const dot = domain.indexOf('.');
		// The last label is a top-level domain: it has a letter (so a release such as app@1.2.3 stays).
		const tld = domain.slice(domain.lastIndexOf('.') + 1);
		let letter = false;
		for (let k = 0; k < tld.length && !letter; k++) letter = isDomainChar(tld.charCodeAt(k)) && !(tld.charCodeAt(k) >= 48 && tld.charCodeAt(k) <= 57) && tld.charCodeAt(k) !== 45;
		if (s < at && dot > 0 && dot < domain.length - 1 && letter) {
			out += text.slice(last, s) + ADDRESS_MASK;
			last = e;
		}
		from = Math.max(e, at + 1);
	}
	return last === 0 ? text : out + text.slice(last);
}

/** What one report says: the failure, where it happened, and what to do about it. Every string is scrubbed before it is sent. */
export interface ErrorReport {
	/** The error's message (first line is the title in Sentry). */
	message: string;
	/** The error's class name (CampaignError, NodeApiError...). */
	type?: string;
	stack?: string;
	level?: 'fatal' | 'error' | 'warning' | 'info';
	campaignId?: string;
	runId?: string;
	step?: string | number;
	variant?: string;
	node?: string;
	nodeType?: string;
	workflow?: string;
	workflowId?: string;
	executionId?: string;
	executionMode?: string;
	executionUrl?: string;
	/** CampaignError.field: the parameter or data field to fix. */
	field?: string;
	/** CampaignError.hint: what to do about it. */
	hint?: string;
	httpStatus?: number;
	itemIndex?: number;
	source?: string;
	/** What the report is about when it is not a failed execution: 'run_failed', 'circuit_breaker', 'webhook_refused'. */
	kind?: string;
}

/** What `report` takes: the report, and the DSN's settings. */
export interface EnvelopeOptions {
	environment?: string;
	release?: string;
	/** Strings masked wherever they appear (the credential's own secrets). */
	knownSecrets?: ReadonlyArray<string | null | undefined>;
	/** For tests: a fixed clock and event id. */
	now?: number;
	eventId?: string;
}

/** An HTTP request ready to send (or to hand to n8n's HTTP Request node). */
export interface EnvelopeRequest {
	url: string;
	method: 'POST';
	headers: Record<string, string>;
	body: string;
	eventId: string;
	/** The event's tags, for the node's output. */
	tags: Record<string, string>;
}

const MAX_TAG = 200;
const MAX_MESSAGE = 8_000;
const MAX_FRAMES = 50;

/** A tag value as Sentry keeps it: one line, at most 200 characters, scrubbed. */
function tagValue(v: unknown, known: EnvelopeOptions['knownSecrets']): string | undefined {
	if (v === undefined || v === null || v === '') return undefined;
	const s = scrub(String(v), known).replace(/[\r\n\t]+/g, ' ').trim();
	return s ? s.slice(0, MAX_TAG) : undefined;
}

/** V8 stack lines ("    at fn (file:line:col)") → Sentry frames, oldest first as Sentry wants them. */
export function stackFrames(stack: string): Array<{ function?: string; filename?: string; lineno?: number; colno?: number; in_app?: boolean }> {
	const frames: Array<{ function?: string; filename?: string; lineno?: number; colno?: number; in_app?: boolean }> = [];
	for (const raw of stack.split('\n')) {
		const line = raw.trim();
		if (!line.startsWith('at ')) continue;
		let rest = line.slice(3);
		let fn: string | undefined;
		if (rest.endsWith(')') && rest.includes(' (')) {
			const open = rest.lastIndexOf(' (');
			fn = rest.slice(0, open);
			rest = rest.slice(open + 2, -1);
		}
		const c2 = rest.lastIndexOf(':');
		const c1 = c2 > 0 ? rest.lastIndexOf(':', c2 - 1) : -1;
		const lineno = c1 > 0 ? Number(rest.slice(c1 + 1, c2)) : NaN;
		const colno = c2 > 0 ? Number(rest.slice(c2 + 1)) : NaN;
		const filename = Number.isInteger(lineno) && Number.isInteger(colno) ? rest.slice(0, c1) : rest;
		frames.push({
			...(fn ? { function: fn } : {}),
			filename,
			...(Number.isInteger(lineno) ? { lineno } : {}),
			...(Number.isInteger(colno) ? { colno } : {}),
			in_app: filename.includes('n8n-nodes-email-campaign-agent') && !filename.includes('node_modules/n8n-nodes-email-campaign-agent/node_modules'),
		});
		if (frames.length >= MAX_FRAMES) break;
	}
	return frames.reverse();
}

/** 32 lower-case hex digits, Sentry's event id. */
export function newEventId(): string {
	return randomBytes(16).toString('hex');
}

/**
 * The envelope for one report: a header line (event_id, dsn, sent_at, sdk), an item header
 * ({type: "event", length}) and the event JSON — three lines — with its endpoint URL and headers.
 */
export function buildEnvelope(dsn: SentryDsn, report: ErrorReport, options: EnvelopeOptions = {}): EnvelopeRequest {
	const known = options.knownSecrets ?? [];
	const s = (v: string | undefined, max = MAX_MESSAGE) => (v === undefined ? undefined : clip(scrub(v, known), max));
	const now = options.now ?? Date.now();
	const eventId = options.eventId ?? newEventId();
	const tags: Record<string, string> = {};
	const tag = (k: string, v: unknown) => {
		const t = tagValue(v, known);
		if (t !== undefined) tags[k] = t;
	};
	tag('campaign_id', report.campaignId);
	tag('run_id', report.runId);
	tag('step', report.step);
	tag('variant', report.variant);
	tag('node', report.node);
	tag('node_type', report.nodeType);
	tag('workflow', report.workflow);
	tag('workflow_id', report.workflowId);
	tag('execution_id', report.executionId);
	tag('execution_mode', report.executionMode);
	tag('error_field', report.field);
	tag('error_source', report.source);
	tag('http_status', report.httpStatus);
	tag('kind', report.kind ?? 'execution_failed');
	const message = s(report.message || 'Unknown error') as string;
	const title = message.split('\n')[0].slice(0, 1000);
	const frames = report.stack ? stackFrames(s(report.stack, 20_000) as string) : [];
	const extra: Record<string, unknown> = {};
	if (report.hint) extra.hint = s(report.hint, 2000);
	if (report.field) extra.field = s(report.field, 500);
	if (report.executionUrl) extra.execution_url = s(report.executionUrl, 1000);
	if (report.itemIndex !== undefined) extra.item_index = report.itemIndex;
	if (message !== title) extra.message = message;
	const event = {
		event_id: eventId,
		timestamp: now / 1000,
		platform: 'node',
		level: report.level ?? 'error',
		logger: 'n8n-nodes-email-campaign-agent',
		...(options.environment ? { environment: tagValue(options.environment, known) } : {}),
		...(options.release ? { release: tagValue(options.release, known) } : {}),
		...(report.workflow ? { transaction: tagValue(report.workflow, known) } : {}),
		exception: {
			values: [
				{
					type: tagValue(report.type, known) ?? 'Error',
					value: title,
					mechanism: { type: 'n8n', handled: false },
					...(frames.length ? { stacktrace: { frames } } : {}),
				},
			],
		},
		tags,
		extra,
		// One issue per node, error class and field: the campaign and run are tags, not separate issues.
		fingerprint: ['{{ default }}', tags.node ?? '', tags.error_field ?? ''],
		sdk: { name: SENTRY_CLIENT.split('/')[0], version: SENTRY_CLIENT.split('/')[1] },
	};
	const payload = JSON.stringify(event);
	const header = JSON.stringify({ event_id: eventId, dsn: dsn.dsn, sent_at: new Date(now).toISOString(), sdk: event.sdk });
	const itemHeader = JSON.stringify({ type: 'event', content_type: 'application/json', length: Buffer.byteLength(payload) });
	return {
		url: dsn.envelopeUrl,
		method: 'POST',
		headers: { 'content-type': 'application/x-sentry-envelope', 'x-sentry-auth': sentryAuthHeader(dsn) },
		body: `${header}\n${itemHeader}\n${payload}\n`,
		eventId,
		tags,
	};
}

/** Reads an envelope back: its header, and each item's header and JSON payload (for tests and the loopback endpoint). */
export function parseEnvelope(body: string): { header: Record<string, unknown>; items: Array<{ header: Record<string, unknown>; payload: Record<string, unknown> }> } {
	const lines = body.split('\n');
	const header = JSON.parse(lines[0]) as Record<string, unknown>;
	const items: Array<{ header: Record<string, unknown>; payload: Record<string, unknown> }> = [];
	for (let i = 1; i + 1 < lines.length; i += 2) {
		if (!lines[i]) continue;
		items.push({ header: JSON.parse(lines[i]) as Record<string, unknown>, payload: JSON.parse(lines[i + 1]) as Record<string, unknown> });
	}
	return { header, items };
}

/** Sends an envelope; throws a CampaignError (source 'service', the HTTP status) when Sentry refuses it or does not answer in time. */
export async function postEnvelope(req: EnvelopeRequest, options: { timeoutMs?: number; fetch?: typeof fetch } = {}): Promise<{ status: number; eventId: string }> {
	const f = options.fetch ?? fetch;
	const timeoutMs = Math.max(100, Math.min(options.timeoutMs ?? 10_000, 120_000));
	let res: Response;
	try {
		res = await f(req.url, { method: req.method, headers: req.headers, body: req.body, signal: AbortSignal.timeout(timeoutMs) });
	} catch (e) {
		const why = (e as Error)?.name === 'TimeoutError' ? `no answer in ${timeoutMs} ms` : scrub(String((e as Error)?.message ?? e));
		throw new CampaignError(`Sentry could not be reached at ${scrub(new URL(req.url).origin)}: ${why}`, { source: 'service', field: 'DSN', hint: 'Check the DSN host and that n8n can reach it' });
	}
	const text = clip(scrub(await res.text().catch(() => '')), 300);
	if (!res.ok) {
		const hint =
			res.status === 401 || res.status === 403
				? "Sentry refused the DSN's public key: copy the DSN again from Project Settings → Client Keys (a key that was disabled or deleted is refused)"
				: res.status === 429
					? 'Sentry is rate limiting this project; the report was dropped'
					: 'Check the DSN and the Sentry server';
		throw new CampaignError(`Sentry refused the report (${res.status})${text ? `: ${text}` : ''}`, { source: 'service', httpStatus: res.status, field: 'DSN', hint });
	}
	return { status: res.status, eventId: req.eventId };
}

/**
 * Reports without ever failing the caller: for the package's own failures, where a report that
 * cannot be sent must not turn into a second failure (no rejection escapes, the request is time-boxed).
 * Answers whether it arrived.
 */
export async function reportSafely(dsn: SentryDsn, report: ErrorReport, options: EnvelopeOptions & { timeoutMs?: number; fetch?: typeof fetch } = {}): Promise<boolean> {
	try {
		await postEnvelope(buildEnvelope(dsn, report, options), { timeoutMs: options.timeoutMs ?? 5_000, fetch: options.fetch });
		return true;
	} catch {
		return false;
	}
}
