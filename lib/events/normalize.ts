/**
 * SendGrid events → one flat shape, with the correlation custom args SendGrid echoes at the top
 * level (campaign_id, run_id, step, variant, delivery_id).
 */
import { createHash } from 'node:crypto';
import { codeUnitReplacer } from '../text';
import { CampaignError } from '../errors';

/** The custom arg that marks a test send (Campaign Preview): its events are stored but change nothing and count nowhere. */
export const TEST_SEND_ARG = 'eca_test';

/** Whether an event is about a test send, not a campaign delivery. */
export const isTestSendEvent = (e: { extra?: Record<string, unknown> }): boolean => e.extra?.[TEST_SEND_ARG] === '1';

export const EVENT_TYPES = [
	'processed',
	'delivered',
	'deferred',
	'dropped',
	'bounce',
	'open',
	'click',
	'spamreport',
	'unsubscribe',
	'group_unsubscribe',
	'group_resubscribe',
] as const;

export interface CampaignEvent {
	event: string;
	email: string;
	timestamp: string;
	sg_event_id: string;
	sg_message_id?: string;
	smtp_id?: string;
	campaign_id?: string;
	run_id?: string;
	step?: number;
	variant?: string;
	delivery_id?: string;
	url?: string;
	reason?: string;
	type?: string;
	status?: string;
	bounce_classification?: string;
	asm_group_id?: number;
	machine_open?: boolean;
	category?: string[];
	response?: string;
	attempt?: string;
	ip?: string;
	useragent?: string;
	url_offset?: { index?: number; type?: string };
	tls?: number | string;
	cert_err?: number | string;
	pool?: { name?: string; id?: number | string };
	marketing_campaign_id?: number | string;
	marketing_campaign_name?: string;
	marketing_campaign_version?: string;
	marketing_campaign_split_id?: number | string;
	singlesend_id?: string;
	singlesend_name?: string;
	template_id?: string;
	template_name?: string;
	template_version_id?: string;
	/** Every other top-level field (your own custom args, fields SendGrid adds later), bounded: see MAX_EXTRA_KEYS. */
	extra?: Record<string, string | number | boolean | null>;
	/** What was wrong with the event as received and what was done about it; the event is kept. */
	problems?: string[];
}

/**
 * Postgres text and jsonb hold neither NUL nor lone UTF-16 surrogates: one such character in one
 * event must not fail the whole batch (SendGrid would retry it for 24 h and never get a 2xx).
 */
const withoutNul = codeUnitReplacer({ '\u0000': '' });
export const storableText = (v: string): string => {
	const s = v.includes('\u0000') ? withoutNul(v) : v;
	const w = s as string & { isWellFormed(): boolean; toWellFormed(): string };
	return w.isWellFormed() ? s : w.toWellFormed();
};
/** Longest text kept in any field (reason and response: MAX_REASON); longer values are cut. */
export const MAX_FIELD = 1000;
export const MAX_REASON = 2000;
/** Unknown top-level fields kept per event (under `extra`); more are counted in `problems`. */
export const MAX_EXTRA_KEYS = 32;
const MAX_KEY = 100;
const MAX_CATEGORIES = 10;

// Cut before cleaning: a cut through a surrogate pair is then cleaned too.
const cut = (v: string, max: number) => storableText(v.length > max ? v.slice(0, max) : v);
const str = (v: unknown, max = MAX_FIELD): string | undefined =>
	typeof v === 'string' ? (v === '' ? undefined : cut(v, max)) : typeof v === 'number' ? (Number.isFinite(v) ? String(v) : undefined) : typeof v === 'boolean' ? String(v) : undefined;
/** A number or a numeric string as SendGrid sends either (tls: 1, attempt: "5", ids as numbers or strings). */
const numOrStr = (v: unknown): number | string | undefined => (typeof v === 'number' ? (Number.isFinite(v) ? v : undefined) : str(v, 100));
/** Integers that go into int columns (step) must fit them: one "step": 1e12 would fail the whole insert. */
const INT_MAX = 2_147_483_647;
const positiveInt = (v: unknown): number | undefined => {
	if (typeof v !== 'number' && typeof v !== 'string') return undefined;
	const n = typeof v === 'number' ? v : v.length <= 12 ? Number(v) : NaN;
	return Number.isInteger(n) && n > 0 && n <= INT_MAX ? n : undefined;
};

export class EventBodyError extends CampaignError {}

/** SendGrid events are flat objects in an array (categories one level further): anything deeper is not an event post. */
export const MAX_EVENT_NESTING = 16;

/**
 * How deep arrays and objects nest in a JSON text, outside strings, stopping as soon as it passes
 * `max`: JSON.parse of megabytes of "[[[[" takes seconds before it fails. Strings (most of an event
 * post's bytes) are jumped over with indexOf to their closing quote — one not preceded by an odd run
 * of backslashes; each backslash is looked at once, so the scan stays linear.
 */
export function nestsDeeperThan(json: string, max: number): boolean {
	let depth = 0;
	for (let i = 0; i < json.length; i++) {
		const c = json.charCodeAt(i);
		if (c === 34) {
			let q = i;
			for (;;) {
				q = json.indexOf('"', q + 1);
				// Unterminated: nothing after it nests (and JSON.parse refuses it).
				if (q < 0) return false;
				let b = q - 1;
				while (b > i && json.charCodeAt(b) === 92) b--;
				if ((q - 1 - b) % 2 === 0) break;
			}
			i = q;
		} else if (c === 91 || c === 123) {
			if (++depth > max) return true;
		} else if (c === 93 || c === 125) depth--;
	}
	return false;
}

/**
 * Bodies larger than this are read in pieces of about this size (events cut at the top-level commas
 * between them). V8 allocates a string over about 128 KB straight in its large-object space, which
 * costs about 1 ms per post of 240 KB here (mapping fresh pages), more than decoding and parsing the
 * pieces: a 1,000-event post as one string paid it on n8n's main thread before JSON.parse even ran.
 */
export const BODY_PIECE_BYTES = 48 * 1024;

const isJsonSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * A JSON array body parsed in pieces of about BODY_PIECE_BYTES, each piece whole events between two
 * top-level commas; the same values as JSON.parse of the whole text. Undefined when the body is not
 * plainly an array this reader is sure about (anything before `[` or after `]` but JSON whitespace,
 * brackets that do not balance, a string that does not end, a piece JSON.parse refuses, an empty
 * element): the caller then parses the whole text, which says what is wrong in the usual words.
 * Strings are jumped over to their closing quote (one not escaped by a backslash, as nestsDeeperThan
 * finds it); the nesting limit is checked on the way. Commas, quotes and brackets are ASCII
 * and never part of a multi-byte UTF-8 character, so a cut never splits one. Linear in the body.
 */
function parseArrayInPieces(raw: Buffer, max: number): unknown[] | undefined {
	let open = 0;
	while (open < raw.length && isJsonSpace(raw[open])) open++;
	let close = raw.length - 1;
	while (close > open && isJsonSpace(raw[close])) close--;
	if (raw[open] !== 91 || raw[close] !== 93 || close <= open) return undefined;
	const out: unknown[] = [];
	// Parses raw[from, to) as the elements between two top-level commas (or the brackets).
	const piece = (from: number, to: number): boolean => {
		let parsed: unknown[];
		try {
			parsed = JSON.parse(`[${raw.toString('utf8', from, to)}]`) as unknown[];
		} catch {
			return false;
		}
		// "[ ]" is an empty array; an empty piece anywhere else is a stray comma ("[{…}, ]"), which JSON refuses.
		if (parsed.length === 0 && !(from === open + 1 && to === close)) return false;
		for (let k = 0; k < parsed.length; k++) out.push(parsed[k]);
		return true;
	};
	let depth = 1;
	let from = open + 1;
	for (let i = open + 1; i < close; i++) {
		const c = raw[i];
		if (c === 34) {
			// To the closing quote: a backslash escapes the byte after it (a quote or another backslash).
			// Most strings of a post are short: a loop here, not a call to indexOf for each.
			let q = i + 1;
			for (; q < close; q++) {
				const d = raw[q];
				if (d === 34) break;
				if (d === 92) q++;
			}
			if (q >= close) return undefined;
			i = q;
		} else if (c === 91 || c === 123) {
			if (++depth > MAX_EVENT_NESTING) throw new EventBodyError(`body nests deeper than ${MAX_EVENT_NESTING} levels: not a SendGrid event post`);
		} else if (c === 93 || c === 125) {
			if (--depth < 1) return undefined;
		} else if (c === 44 && depth === 1 && i - from >= max) {
			if (!piece(from, i)) return undefined;
			from = i + 1;
		}
	}
	if (depth !== 1 || !piece(from, close)) return undefined;
	return out;
}

/** Parses the raw POST body: must be a JSON array of objects. */
export function parseEventBody(raw: Buffer | string, pieceBytes = BODY_PIECE_BYTES): Array<Record<string, unknown>> {
	const inPieces = typeof raw !== 'string' && raw.length > 2 * pieceBytes ? parseArrayInPieces(raw, pieceBytes) : undefined;
	if (inPieces) return checkedEvents(inPieces);
	let parsed: unknown;
	const text = typeof raw === 'string' ? raw : raw.toString('utf8');
	if (nestsDeeperThan(text, MAX_EVENT_NESTING)) throw new EventBodyError(`body nests deeper than ${MAX_EVENT_NESTING} levels: not a SendGrid event post`);
	try {
		parsed = JSON.parse(text);
	} catch {
		throw new EventBodyError('body is not JSON');
	}
	if (!Array.isArray(parsed)) throw new EventBodyError('body is not a JSON array of events');
	return checkedEvents(parsed);
}

function checkedEvents(parsed: unknown[]): Array<Record<string, unknown>> {
	if (!parsed.every((e) => e && typeof e === 'object' && !Array.isArray(e))) throw new EventBodyError('every event must be a JSON object');
	return parsed as Array<Record<string, unknown>>;
}

/** Timestamps before this are not SendGrid's (the Event Webhook is younger): 2000-01-01. */
const EARLIEST_MS = 946_684_800_000;
/** How far ahead of this machine's clock an event may be (clock skew); later ones are out of range. */
const SKEW_MS = 7 * 86_400_000;
const DECIMAL = /^\d{1,20}(?:\.\d{1,9})?$/;

/**
 * An event's time in ms, as SendGrid sends it (Unix seconds) or as it arrives from elsewhere:
 * milliseconds, microseconds, numeric strings, ISO strings. Anything else, or out of range, is the
 * time received, with the problem said (`trusted` false: not used for dedupe).
 */
export function eventTime(v: unknown, now = Date.now()): { ms: number; problem?: string } {
	const latest = now + SKEW_MS;
	const inRange = (ms: number) => ms >= EARLIEST_MS && ms <= latest;
	let n = NaN;
	if (typeof v === 'number') n = v;
	else if (typeof v === 'string') {
		const t = v.length <= 64 ? v.trim() : '';
		if (DECIMAL.test(t)) n = Number(t);
		else if (t !== '') {
			const ms = Date.parse(t);
			if (Number.isFinite(ms) && inRange(ms)) return { ms, problem: 'timestamp: a date string, read as a time' };
			return { ms: now, problem: 'timestamp: not a time, the time received is used' };
		}
	}
	if (!Number.isFinite(n)) return { ms: now, problem: `timestamp: ${v === undefined ? 'missing' : 'not a number'}, the time received is used` };
	if (inRange(n * 1000)) return { ms: Math.round(n * 1000) };
	if (inRange(n)) return { ms: Math.round(n), problem: 'timestamp: in milliseconds, read as such' };
	if (inRange(n / 1000)) return { ms: Math.round(n / 1000), problem: 'timestamp: in microseconds, read as such' };
	return { ms: now, problem: 'timestamp: out of range, the time received is used' };
}

/** An ISO time, remembering the last one: the events of one post mostly share their second. */
let lastMs = NaN;
let lastIso = '';
function isoTime(ms: number): string {
	if (ms !== lastMs) {
		lastIso = new Date(ms).toISOString();
		lastMs = ms;
	}
	return lastIso;
}

/** True when the event's timestamp was made up from the time received (dedupe cannot use it). */
export const timeWasGuessed = (e: CampaignEvent): boolean => !!e.problems && e.problems.some((p) => p.startsWith('timestamp: ') && p.endsWith('the time received is used'));

/** The fields normalizeEvent reads; every other top-level field goes to `extra`. */
const KNOWN = new Set([
	'event', 'email', 'timestamp', 'sg_event_id', 'sg_message_id', 'smtp-id', 'campaign_id', 'run_id', 'step', 'variant', 'delivery_id', 'url',
	'reason', 'type', 'status', 'bounce_classification', 'asm_group_id', 'sg_machine_open', 'category', 'response', 'attempt', 'ip', 'useragent',
	'url_offset', 'tls', 'cert_err', 'pool', 'marketing_campaign_id', 'marketing_campaign_name', 'marketing_campaign_version',
	'marketing_campaign_split_id', 'singlesend_id', 'singlesend_name', 'template_id', 'template_name', 'template_version_id',
]);

function extraValue(v: unknown): string | number | boolean | null {
	if (v === null || typeof v === 'boolean') return v;
	if (typeof v === 'number') return Number.isFinite(v) ? v : null;
	if (typeof v === 'string') return cut(v, MAX_FIELD);
	// Nested values (old unique_args objects, arrays) are kept as their JSON text, bounded like any text.
	return cut(JSON.stringify(v) ?? '', MAX_FIELD);
}

function extrasOf(e: Record<string, unknown>, problems: string[]): Record<string, string | number | boolean | null> | undefined {
	let extra: Record<string, string | number | boolean | null> | undefined;
	let n = 0;
	let over = 0;
	for (const k in e) {
		if (KNOWN.has(k)) continue;
		if (n >= MAX_EXTRA_KEYS) {
			over++;
			continue;
		}
		(extra ??= {})[cut(k, MAX_KEY)] = extraValue(e[k]);
		n++;
	}
	if (over > 0) problems.push(`extra: ${over} more fields left out (at most ${MAX_EXTRA_KEYS} kept)`);
	return extra;
}

function urlOffsetOf(v: unknown): CampaignEvent['url_offset'] {
	if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
	const o = v as Record<string, unknown>;
	const index = typeof o.index === 'number' && Number.isFinite(o.index) ? o.index : undefined;
	const type = str(o.type, 50);
	return index === undefined && type === undefined ? undefined : { index, type };
}

function poolOf(v: unknown): CampaignEvent['pool'] {
	if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
	const o = v as Record<string, unknown>;
	return { name: str(o.name, 200), id: numOrStr(o.id) };
}

function categoriesOf(v: unknown): string[] | undefined {
	if (typeof v === 'string') return [cut(v, 255)];
	if (!Array.isArray(v)) return undefined;
	return v.slice(0, MAX_CATEGORIES).map((c) => (typeof c === 'string' ? cut(c, 255) : cut(String(JSON.stringify(c)), 255)));
}

/**
 * One SendGrid event → one flat shape. Never throws: a field that cannot be read is left out (or the
 * time received stands in for the timestamp) and said in `problems`, so one odd event never fails its post.
 */
export function normalizeEvent(e: Record<string, unknown>, clock?: { now?: number } | number): CampaignEvent {
	// Also called as a map() callback: a number there is the index, not a clock.
	const now = typeof clock === 'object' && clock?.now !== undefined ? clock.now : Date.now();
	const problems: string[] = [];
	const time = eventTime(e.timestamp, now);
	if (time.problem) problems.push(time.problem);
	const email = typeof e.email === 'string' ? cut(e.email.trim().toLowerCase(), 320) : '';
	if (!email) problems.push(`email: ${e.email === undefined ? 'missing' : 'not a text'}`);
	const step = positiveInt(e.step);
	if (step === undefined && e.step !== undefined && e.step !== null && e.step !== '') problems.push('step: not a whole number from 1, left out');
	const eventId = typeof e.sg_event_id === 'string' || typeof e.sg_event_id === 'number' ? str(e.sg_event_id, 200) : undefined;
	const extra = extrasOf(e, problems);
	const group = positiveInt(e.asm_group_id);
	// Every field in one literal (absent ones undefined, which JSON drops): adding properties one by one
	// is several times slower inside n8n's main process than in plain Node (bench:events measured 5 µs
	// an event; measured again for issue 20: only the present fields, added one by one, took the package's
	// share from 11.3 to 19.1 ms per POST, normalizeEvent alone 11 → 277 sampled ms, though plain Node ran it faster).
	const out: CampaignEvent = {
		event: str(e.event, 64) ?? 'unknown',
		email,
		timestamp: isoTime(time.ms),
		// SendGrid always sends sg_event_id; a hash of the event keeps dedupe working for anything that does not.
		sg_event_id: eventId ?? `h:${createHash('sha256').update(JSON.stringify(e)).digest('base64url').slice(0, 22)}`,
		sg_message_id: str(e.sg_message_id, 200),
		smtp_id: str(e['smtp-id'], 300),
		campaign_id: str(e.campaign_id, 200),
		run_id: str(e.run_id, 200),
		step,
		variant: str(e.variant, 64),
		delivery_id: str(e.delivery_id, 200),
		url: str(e.url, 4000),
		reason: str(e.reason, MAX_REASON),
		type: str(e.type, 64),
		status: str(e.status, 64),
		bounce_classification: str(e.bounce_classification, 200),
		asm_group_id: group,
		machine_open: e.sg_machine_open === true || e.sg_machine_open === 'true' ? true : undefined,
		category: categoriesOf(e.category),
		response: str(e.response, MAX_REASON),
		attempt: str(e.attempt, 20),
		ip: str(e.ip, 64),
		useragent: str(e.useragent),
		url_offset: urlOffsetOf(e.url_offset),
		tls: numOrStr(e.tls),
		cert_err: numOrStr(e.cert_err),
		pool: poolOf(e.pool),
		marketing_campaign_id: numOrStr(e.marketing_campaign_id),
		marketing_campaign_name: str(e.marketing_campaign_name, 500),
		marketing_campaign_version: str(e.marketing_campaign_version, 100),
		marketing_campaign_split_id: numOrStr(e.marketing_campaign_split_id),
		singlesend_id: str(e.singlesend_id, 200),
		singlesend_name: str(e.singlesend_name, 500),
		template_id: str(e.template_id, 200),
		template_name: str(e.template_name, 500),
		template_version_id: str(e.template_version_id, 200),
		extra,
		problems: problems.length > 0 ? problems : undefined,
	};
	return out;
}

/**
 * The X-Message-Id part of an sg_message_id: "<x-message-id>.filter…" (older ids hold dots themselves:
 * "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"), "<x-message-id>.recvd-…", else up to the first dot.
 */
export function messageIdOf(sgMessageId: string | undefined): string | undefined {
	if (!sgMessageId) return undefined;
	for (const mark of ['.filter', '.recvd-']) {
		const at = sgMessageId.indexOf(mark);
		if (at > 0) return sgMessageId.slice(0, at);
	}
	const dot = sgMessageId.indexOf('.');
	return dot > 0 ? sgMessageId.slice(0, dot) : sgMessageId;
}

/** The X-Message-Id inside an smtp-id ("<14c5d75ce93.dfd.64b469@ismtpd-555>"): between "<" and "@". */
export function messageIdOfSmtpId(smtpId: string | undefined): string | undefined {
	if (!smtpId) return undefined;
	const s = smtpId.trim();
	const from = s.startsWith('<') ? 1 : 0;
	const at = s.indexOf('@', from);
	const end = at > from ? at : s.endsWith('>') ? s.length - 1 : s.length;
	return end > from ? s.slice(from, end) : undefined;
}

/** What a dropped event means, by SendGrid's reason. One table, read by suppressionFor and the sequence stops. */
export interface DropEffect {
	/** SendGrid's reason, lower case. */
	reason: string;
	/** Whole reason (exact) or its start (prefix). */
	match: 'exact' | 'prefix';
	/** Suppression added (scope: the message's unsubscribe group when it has one, for 'group_or_global'). */
	suppress?: { reason: string; scope: 'global' | 'group_or_global' };
	/** Stop reason for the contact's sequences. */
	stop?: string;
	/** Why: the recipient's address is the cause, or the sender's side (nobody is suppressed). */
	side: 'recipient' | 'sender';
}

// From SendGrid's Event Webhook reference (dropped event) and its drop reasons: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
export const DROP_REASONS: readonly DropEffect[] = [
	{ reason: 'bounced address', match: 'prefix', suppress: { reason: 'dropped', scope: 'global' }, stop: 'hard_bounce', side: 'recipient' },
	{ reason: 'invalid', match: 'exact', suppress: { reason: 'dropped', scope: 'global' }, stop: 'hard_bounce', side: 'recipient' },
	{ reason: 'invalid address', match: 'exact', suppress: { reason: 'dropped', scope: 'global' }, stop: 'hard_bounce', side: 'recipient' },
	{ reason: 'unsubscribed address', match: 'prefix', suppress: { reason: 'unsubscribe', scope: 'group_or_global' }, stop: 'unsubscribed', side: 'recipient' },
	{ reason: 'spam reporting address', match: 'prefix', suppress: { reason: 'spamreport', scope: 'global' }, stop: 'spam_report', side: 'recipient' },
	{ reason: 'invalid smtpapi header', match: 'prefix', side: 'sender' },
	{ reason: 'spam content', match: 'prefix', side: 'sender' },
	{ reason: 'recipient list over package quota', match: 'prefix', side: 'sender' },
];

/** The row of DROP_REASONS for a dropped event's reason; unknown reasons suppress nobody. */
export function dropEffect(reason: string | undefined): DropEffect | undefined {
	if (!reason) return undefined;
	const r = reason.trim().toLowerCase();
	return DROP_REASONS.find((d) => (d.match === 'exact' ? r === d.reason : r.startsWith(d.reason)));
}

export type SuppressionEffect = { scope: string; reason: string } | { lift: string };

/** A hard bounce, a drop for the recipient's address, a spam report, an unsubscribe: never mail it again (in that scope). */
export function suppressionFor(e: CampaignEvent): SuppressionEffect | undefined {
	switch (e.event) {
		case 'bounce':
			return e.type === 'blocked' ? undefined : { scope: 'global', reason: 'bounce' };
		case 'dropped': {
			const s = dropEffect(e.reason)?.suppress;
			if (!s) return undefined;
			return { scope: s.scope === 'group_or_global' && e.asm_group_id ? `group:${e.asm_group_id}` : 'global', reason: s.reason };
		}
		case 'spamreport':
			return { scope: 'global', reason: 'spamreport' };
		case 'unsubscribe':
			return { scope: 'global', reason: 'unsubscribe' };
		case 'group_unsubscribe':
			return e.asm_group_id ? { scope: `group:${e.asm_group_id}`, reason: 'group_unsubscribe' } : undefined;
		case 'group_resubscribe':
			return e.asm_group_id ? { lift: `group:${e.asm_group_id}` } : undefined;
		default:
			return undefined;
	}
}

/**
 * Which events end a contact's sequences, and the reason stored; `group` limits the stop to what is
 * sent under that unsubscribe group.
 */
export function stopFor(e: CampaignEvent, options: { stopSequenceOnClick?: boolean } = {}): { reason: string; group?: number } | undefined {
	switch (e.event) {
		case 'unsubscribe':
			return { reason: 'unsubscribed' };
		case 'group_unsubscribe':
			return e.asm_group_id ? { reason: 'unsubscribed', group: e.asm_group_id } : undefined;
		case 'spamreport':
			return { reason: 'spam_report' };
		case 'bounce':
			return e.type === 'blocked' ? undefined : { reason: 'hard_bounce' };
		case 'dropped': {
			const d = dropEffect(e.reason);
			if (!d?.stop) return undefined;
			return { reason: d.stop, group: d.suppress?.scope === 'group_or_global' ? e.asm_group_id : undefined };
		}
		case 'click':
			return options.stopSequenceOnClick ? { reason: 'clicked' } : undefined;
		default:
			return undefined;
	}
}
