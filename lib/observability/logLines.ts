/**
 * The package's log lines: one per run start, finish and failure (Send Email, Log Campaign Result,
 * the Campaign Agent, Send Due Steps) and one per webhook batch (SendGrid Trigger). The nodes hand
 * them to n8n's logger (`this.logger[level](message, meta)`), so N8N_LOG_LEVEL and n8n's log output
 * settings (console or file, text or JSON) apply.
 *
 * Built from named counts, durations and ids only — never an address, a secret or a request body.
 * Ids and error texts come from users or services, so they are cleaned on the way in: any word with
 * an @ is replaced by [address], secrets are masked (lib/redact), texts are clipped. Every pass is
 * linear in its input.
 */
import { CampaignError } from '../errors';
import { redactSecrets } from '../redact';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogMeta = Record<string, string | number | boolean>;
export interface LogLine {
	level: LogLevel;
	message: string;
	meta: LogMeta;
}

/** Marks every log line of this package (n8n's JSON log output can be filtered on it). */
export const LOG_SCOPE = 'email-campaign-agent';
export const ADDRESS = '[address]';
const MAX_ID = 120;
const MAX_ERROR = 300;
const MAX_KEYS = 40;

const isAddressLike = (word: string) => word.includes('@') || /%40/i.test(word);

/** A word (whitespace-delimited) holding an @ (or %40) becomes [address]: addresses never reach a log line. */
export function maskAddresses(text: string): string {
	if (!text.includes('@') && !/%40/i.test(text)) return text;
	let out = '';
	let word = '';
	for (const ch of text) {
		if (ch === ' ' || ch === '\n' || ch === '\t' || ch === '\r') {
			out += (isAddressLike(word) ? ADDRESS : word) + ch;
			word = '';
		} else word += ch;
	}
	return out + (isAddressLike(word) ? ADDRESS : word);
}

/** An id or a short text as a log line may carry it: secrets masked, addresses masked, one line, clipped. */
export function cleanText(value: unknown, max = MAX_ID): string {
	const s = typeof value === 'string' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : '';
	if (!s) return '';
	const oneLine = s.length > max * 4 ? s.slice(0, max * 4) : s;
	return maskAddresses(redactSecrets(oneLine.replace(/[\r\n\t]+/g, ' '))).slice(0, max);
}

const count = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.round(v) : undefined);
/** Status names and event types: short lower-case words only (anything else is not a count's name). */
const countName = (k: string) => /^[a-z][a-z0-9_]{0,31}$/.test(k);

export interface RunFacts {
	/** The node (or front door) the run went through: 'Send Email (SendGrid)', 'Campaign Agent', ... */
	node: string;
	campaign_id?: string;
	run_id?: string;
	/** One step, or several (a Campaign Agent run over a sequence). */
	step?: number | number[];
	execution_id?: string;
	/** Recipients (or contacts) the run was given. */
	recipients?: number;
	batches?: number;
	requests?: number;
	/** Per delivery status (sent, failed, deferred, ...). */
	counts?: Record<string, unknown>;
	llm_calls?: number;
	llm_tokens?: number;
	rate_limited?: number;
	retries?: number;
	limiter_wait_ms?: number;
	duration_ms?: number;
	/** How many campaigns or runs a line covers (Send Due Steps, Log Campaign Result over several runs). */
	runs?: number;
	dry_run?: boolean;
}

function runMeta(f: RunFacts, event: string): LogMeta {
	const meta: LogMeta = { scope: LOG_SCOPE, event, node: cleanText(f.node, 60) };
	for (const k of ['campaign_id', 'run_id', 'execution_id'] as const) {
		const v = cleanText(f[k]);
		if (v) meta[k] = v;
	}
	if (typeof f.step === 'number') meta.step = f.step;
	else if (Array.isArray(f.step)) meta.step = f.step.filter((s) => Number.isInteger(s)).slice(0, 50).join(',');
	for (const k of ['recipients', 'batches', 'requests', 'llm_calls', 'llm_tokens', 'rate_limited', 'retries', 'limiter_wait_ms', 'duration_ms', 'runs'] as const) {
		const v = count(f[k]);
		if (v !== undefined) meta[k] = v;
	}
	// The run's mode, not a count: `dry_run` as a count is the recipients a dry run went through.
	if (typeof f.dry_run === 'boolean') meta.mode = f.dry_run ? 'dry_run' : 'live';
	let keys = 0;
	for (const [k, v] of Object.entries(f.counts ?? {})) {
		const n = count(v);
		if (n === undefined || !countName(k) || keys++ >= MAX_KEYS) continue;
		if (!(k in meta)) meta[k] = n;
	}
	return meta;
}

function named(f: RunFacts): string {
	const parts = [cleanText(f.node, 60)];
	const c = cleanText(f.campaign_id);
	const r = cleanText(f.run_id);
	if (c) parts.push(`campaign ${c}`);
	if (r) parts.push(`run ${r}`);
	return parts.join(', ');
}

export function runStarted(f: RunFacts): LogLine {
	return { level: 'info', message: `Campaign run started: ${named(f)}`, meta: runMeta(f, 'run_started') };
}

export function runFinished(f: RunFacts): LogLine {
	const meta = runMeta(f, 'run_finished');
	const tail = ['sent', 'failed', 'deferred'].filter((k) => typeof meta[k] === 'number').map((k) => `${meta[k]} ${k}`);
	return { level: 'info', message: `Campaign run finished: ${named(f)}${tail.length ? ` (${tail.join(', ')})` : ''}`, meta };
}

/** Results written for a run that goes on (Log Campaign Result without Finish Run). */
export function runLogged(f: RunFacts): LogLine {
	return { level: 'info', message: `Campaign run results logged: ${named(f)}`, meta: runMeta(f, 'run_logged') };
}

/** The error's name, HTTP status and message (masked and clipped): never its stack, cause or data. */
export function runFailed(f: RunFacts, error: unknown): LogLine {
	const meta = runMeta(f, 'run_failed');
	const e = error instanceof Error ? error : undefined;
	meta.error = cleanText(e ? e.message : String(error), MAX_ERROR) || 'failed';
	meta.error_name = cleanText(e?.name ?? 'Error', 60);
	if (error instanceof CampaignError) {
		if (error.httpStatus !== undefined) meta.http_status = error.httpStatus;
		if (error.field) meta.field = cleanText(error.field, 60);
	}
	return { level: 'error', message: `Campaign run failed: ${named(f)}: ${meta.error}`, meta };
}

export interface WebhookBatchFacts {
	node: string;
	/** 'events' (SendGrid Event Webhook) or 'inbound' (Inbound Parse replies). */
	kind: 'events' | 'inbound';
	/** The HTTP status answered. */
	status: number;
	/** Events in the post, those the node listens for, and those new to the store. */
	received?: number;
	kept?: number;
	fresh?: number;
	duplicates?: number;
	/** Items handed to the workflow. */
	emitted?: number;
	/** Per event type. */
	by_event?: Record<string, unknown>;
	campaigns?: number;
	paused?: number;
	bytes?: number;
	duration_ms?: number;
	/** Why the post was refused (non-2xx). */
	error?: string;
}

export function webhookBatch(f: WebhookBatchFacts): LogLine {
	const meta: LogMeta = { scope: LOG_SCOPE, event: 'webhook_batch', node: cleanText(f.node, 60), kind: f.kind, status: f.status };
	for (const k of ['received', 'kept', 'fresh', 'duplicates', 'emitted', 'campaigns', 'paused', 'bytes', 'duration_ms'] as const) {
		const v = count(f[k]);
		if (v !== undefined) meta[k] = v;
	}
	let keys = 0;
	for (const [k, v] of Object.entries(f.by_event ?? {})) {
		const n = count(v);
		if (n === undefined || !countName(k) || keys++ >= MAX_KEYS) continue;
		meta[`events_${k}`] = n;
	}
	const ok = f.status >= 200 && f.status < 300;
	if (!ok) meta.error = cleanText(f.error ?? '', MAX_ERROR) || `answered ${f.status}`;
	const what = f.kind === 'events' ? 'SendGrid event batch' : 'Inbound reply';
	const message = ok
		? `${what} received: ${meta.received ?? meta.emitted ?? 0} in, ${meta.fresh ?? meta.emitted ?? 0} new (${meta.duration_ms ?? 0} ms)`
		: `${what} refused (${f.status}): ${meta.error}`;
	return { level: ok ? 'info' : 'warn', message, meta };
}

/** What the send stage's log lines need of a payload and of a batch result (lib/stages/sendEmailWithSendgrid). */
interface PayloadLike {
	campaign_id: string;
	run_id: string;
	step: number;
	recipients: ReadonlyArray<unknown>;
}
interface BatchLike {
	run_id: string;
	requests: number;
	results: ReadonlyArray<{ status: string }>;
}

/**
 * One RunFacts per run among the payloads (a send usually carries one run): recipients and batches;
 * with the batch results, the counts per status and the requests; with the run's send stats, its
 * 429s, retries and limiter wait.
 */
export function sendRunFacts(
	node: string,
	payloads: ReadonlyArray<PayloadLike>,
	batches?: ReadonlyArray<BatchLike | undefined>,
	stats?: ReadonlyMap<string, { rate_limited: number; retries: number; limiter_wait_ms: number }>,
	extra: Partial<RunFacts> = {},
): RunFacts[] {
	type Acc = Omit<RunFacts, 'counts'> & { recipients: number; batches: number; steps: Set<number>; counts: Record<string, number> };
	const runs = new Map<string, Acc>();
	for (const p of payloads) {
		let r = runs.get(p.run_id);
		if (!r) {
			r = { ...extra, node, campaign_id: p.campaign_id, run_id: p.run_id, recipients: 0, batches: 0, steps: new Set<number>(), counts: {} };
			runs.set(p.run_id, r);
		}
		r.recipients += p.recipients.length;
		r.batches += 1;
		r.steps.add(p.step);
	}
	for (const b of batches ?? []) {
		const r = b && runs.get(b.run_id);
		if (!r || !b) continue;
		r.requests = (r.requests ?? 0) + b.requests;
		for (const x of b.results) r.counts[x.status] = (r.counts[x.status] ?? 0) + 1;
	}
	return [...runs.values()].map(({ steps, counts, ...r }) => ({
		...r,
		step: steps.size === 1 ? [...steps][0] : [...steps].sort((a, b) => a - b),
		...(batches ? { counts } : {}),
		...(stats?.get(r.run_id!) ?? {}),
	}));
}
