/**
 * Inbound Parse replies, read without trusting them: the trigger's secret, the sender from the From
 * address (not from a display name), the Message-IDs the reply answers, SPF/DKIM verdicts and
 * auto-reply markers. Both Inbound Parse modes: parsed fields, and "Send Raw" (the whole MIME message
 * in `email`, parsed with postal-mime). Every input is capped before it is read; every scan is one pass.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import PostalMime from 'postal-mime';
import { isValidEmail } from '../schemas';
import { isJsSpace } from '../text';

export const REPLY_LIMITS = {
	/** A header block (parsed mode's `headers`) is read up to this many characters. */
	headerChars: 64 * 1024,
	/** One header value (From, In-Reply-To, References...). */
	headerValueChars: 8 * 1024,
	/**
	 * The raw MIME message handed to the parser: its first 2 MB and 20,000 lines. postal-mime spends
	 * about 5–25 µs a line, growing with the count (a megabyte of empty lines took 5–10 s), and a
	 * reply's text comes first (only 100 KB of it is kept); attachments after the cap are not read.
	 */
	rawChars: 2 * 1024 * 1024,
	rawLines: 20_000,
	/** Text and HTML bodies kept in the output item. */
	bodyChars: 100 * 1024,
	subjectChars: 1000,
	/** Message-IDs taken from In-Reply-To and References. */
	messageIds: 50,
} as const;

// ------------------------------------------------------------------ the trigger's secret

/** Constant-time comparison of two secrets: both hashed first, so lengths never leak and timingSafeEqual gets equal lengths. */
export function secretMatches(expected: string, given: unknown): boolean {
	if (!expected || typeof given !== 'string' || !given) return false;
	const a = createHash('sha256').update(expected, 'utf8').digest();
	const b = createHash('sha256').update(given, 'utf8').digest();
	return timingSafeEqual(a, b);
}

// ------------------------------------------------------------------ Message-IDs we send

/** Our Message-IDs start with this local-part prefix: `<eca.{random}@{from domain}>`. */
export const OUR_MESSAGE_ID_PREFIX = 'eca.';

/** Random bytes drawn 15 at a time from one 15 KB buffer: one getrandom call per 1,024 Message-IDs, not per recipient. */
const ID_BYTES = 15;
let pool = Buffer.alloc(0);
let poolAt = 0;
function randomToken(): string {
	if (poolAt + ID_BYTES > pool.length) {
		pool = randomBytes(ID_BYTES * 1024);
		poolAt = 0;
	}
	const token = pool.toString('base64url', poolAt, poolAt + ID_BYTES);
	poolAt += ID_BYTES;
	return token;
}

/** A fresh Message-ID for one personalization: 120 random bits, the From address's domain. */
export function newMessageId(fromEmail: string): string {
	const at = fromEmail.lastIndexOf('@');
	const domain = at >= 0 ? fromEmail.slice(at + 1).toLowerCase() : 'localhost';
	return `<${OUR_MESSAGE_ID_PREFIX}${randomToken()}@${domain}>`;
}

/** The `<...>` ids in an In-Reply-To or References value, in order, at most `max`, each at most 998 characters. */
export function messageIdsIn(value: unknown, max: number = REPLY_LIMITS.messageIds): string[] {
	if (typeof value !== 'string') return [];
	const s = value.length > REPLY_LIMITS.headerValueChars ? value.slice(0, REPLY_LIMITS.headerValueChars) : value;
	const out: string[] = [];
	for (let i = s.indexOf('<'); i >= 0 && out.length < max; ) {
		const end = s.indexOf('>', i + 1);
		if (end < 0) break;
		const next = s.indexOf('<', i + 1);
		// "<<a@b>": the id starts at the last "<" before the ">".
		if (next >= 0 && next < end) {
			i = next;
			continue;
		}
		const inner = s.slice(i + 1, end).trim();
		if (inner.length > 0 && inner.length <= 998 && inner.includes('@')) out.push(`<${inner}>`);
		i = s.indexOf('<', end + 1);
	}
	return out;
}

/**
 * SendGrid's own Message-ID for a message is built from its X-Message-Id (`<{X-Message-Id}.filter…@…>`
 * or `<{X-Message-Id}@…>`): the part before the first "." or "@", when it is long enough to be one.
 */
export function xMessageIdOf(id: string): string | undefined {
	const inner = id.startsWith('<') ? id.slice(1) : id;
	let end = 0;
	while (end < inner.length && inner[end] !== '.' && inner[end] !== '@' && inner[end] !== '>') end++;
	const x = inner.slice(0, end);
	return x.length >= 16 && x.length <= 64 && !x.toLowerCase().startsWith('eca') ? x : undefined;
}

// ------------------------------------------------------------------ headers

const isLineBreak = (c: number) => c === 10 || c === 13;

/**
 * A raw header block → lower-cased name → first value (continuation lines unfolded), capped.
 * One pass over the lines.
 */
export function parseHeaderBlock(block: unknown): Map<string, string> {
	const out = new Map<string, string>();
	if (typeof block !== 'string') return out;
	const s = block.length > REPLY_LIMITS.headerChars ? block.slice(0, REPLY_LIMITS.headerChars) : block;
	let name: string | undefined;
	let value = '';
	const flush = () => {
		if (name !== undefined && !out.has(name)) out.set(name, value.trim().slice(0, REPLY_LIMITS.headerValueChars));
		name = undefined;
		value = '';
	};
	for (let i = 0; i < s.length; ) {
		let end = i;
		while (end < s.length && !isLineBreak(s.charCodeAt(end))) end++;
		const line = s.slice(i, end);
		i = end < s.length && s.charCodeAt(end) === 13 && s.charCodeAt(end + 1) === 10 ? end + 2 : end + 1;
		if (line.length === 0) {
			flush();
			continue;
		}
		const first = line.charCodeAt(0);
		if ((first === 32 || first === 9) && name !== undefined) {
			if (value.length < REPLY_LIMITS.headerValueChars) value += ' ' + line.trim();
			continue;
		}
		flush();
		const colon = line.indexOf(':');
		if (colon <= 0) continue;
		name = line.slice(0, colon).trim().toLowerCase();
		value = line.slice(colon + 1);
	}
	flush();
	return out;
}

// ------------------------------------------------------------------ sender

/**
 * The address of a From value: the angle-bracketed address outside any quoted display name or
 * comment (`"evil@x.com" <real@y.com>` → real@y.com), else a bare address outside quotes.
 * One forward scan; undefined when no valid address is there.
 */
export function fromAddress(field: unknown): string | undefined {
	if (typeof field !== 'string') return undefined;
	const s = field.length > REPLY_LIMITS.headerValueChars ? field.slice(0, REPLY_LIMITS.headerValueChars) : field;
	let bare = '';
	let word = '';
	let angle: string | undefined;
	let inAngle = false;
	let depth = 0;
	let quoted = false;
	const endWord = () => {
		if (!bare && word.includes('@')) bare = word;
		word = '';
	};
	for (let i = 0; i < s.length; i++) {
		const c = s[i];
		if (quoted) {
			if (c === '\\') i++;
			else if (c === '"') quoted = false;
			continue;
		}
		if (depth > 0) {
			if (c === '\\') i++;
			else if (c === '(') depth++;
			else if (c === ')') depth--;
			continue;
		}
		if (inAngle) {
			if (c === '>') {
				inAngle = false;
				if (angle === undefined) angle = word;
				word = '';
				// The first group's first address is the sender; stop at its end.
				break;
			}
			if (!isJsSpace(c.charCodeAt(0))) word += c;
			continue;
		}
		if (c === '"') {
			endWord();
			quoted = true;
		} else if (c === '(') {
			endWord();
			depth = 1;
		} else if (c === '<') {
			endWord();
			inAngle = true;
		} else if (c === ',' || c === ';' || isJsSpace(c.charCodeAt(0))) {
			endWord();
			if ((c === ',' || c === ';') && bare) break;
		} else word += c;
	}
	endWord();
	const candidate = (angle ?? bare).toLowerCase();
	return isValidEmail(candidate) ? candidate : undefined;
}

/** The envelope's sender (`{"to":[...],"from":"a@b"}`), the fallback when From cannot be read. */
export function envelopeFrom(envelope: unknown): string | undefined {
	if (typeof envelope !== 'string' || envelope.length > REPLY_LIMITS.headerValueChars) return undefined;
	try {
		const v = JSON.parse(envelope) as { from?: unknown };
		return typeof v?.from === 'string' ? fromAddress(v.from) : undefined;
	} catch {
		return undefined;
	}
}

// ------------------------------------------------------------------ authentication verdicts

export interface AuthVerdict {
	spf: string;
	dkim: string;
	/** SPF passed, or a DKIM signature of the sender's domain (or a parent or child of it) passed. */
	pass: boolean;
}

/** Inbound Parse's `SPF` ("pass", "softfail"...) and `dkim` ("{@example.com : pass, @other.org : fail}"). */
export function authVerdict(spfField: unknown, dkimField: unknown, sender: string | undefined): AuthVerdict {
	const spf = typeof spfField === 'string' ? spfField.trim().slice(0, 100).toLowerCase() : 'none';
	const dkim = typeof dkimField === 'string' ? dkimField.slice(0, 2000) : 'none';
	const domain = sender ? sender.slice(sender.lastIndexOf('@') + 1) : '';
	let dkimPass = false;
	for (const part of dkim.replace('{', '').replace('}', '').split(',')) {
		const colon = part.lastIndexOf(':');
		if (colon < 0) continue;
		const d = part.slice(0, colon).trim().replace('@', '').toLowerCase();
		const result = part.slice(colon + 1).trim().toLowerCase();
		if (result !== 'pass' || !d) continue;
		if (domain && (d === domain || domain.endsWith('.' + d) || d.endsWith('.' + domain))) dkimPass = true;
	}
	return { spf: spf || 'none', dkim: dkim || 'none', pass: spf === 'pass' || dkimPass };
}

// ------------------------------------------------------------------ automatic replies

/** Out-of-office subject words: English, German, French, Spanish, Italian, Dutch, Portuguese. */
const OUT_OF_OFFICE = [
	'out of office', 'out of the office', 'automatic reply', 'auto reply', 'auto-reply', 'autoreply', 'auto response', 'autoresponse', 'away from the office', 'vacation reply', 'on vacation', 'on holiday', 'on leave',
	'abwesenheitsnotiz', 'automatische antwort', 'abwesenheit', 'nicht im büro', 'außer haus', 'ausser haus', 'im urlaub',
	'réponse automatique', 'reponse automatique', 'absence du bureau', 'absent du bureau', "message d'absence", 'en congé', 'en conge',
	'respuesta automática', 'respuesta automatica', 'fuera de la oficina', 'fuera de oficina', 'de vacaciones', 'ausente',
	'risposta automatica', 'fuori ufficio', 'fuori sede', 'in ferie', 'assente',
	'automatisch antwoord', 'afwezigheidsmelding', 'afwezig', 'niet op kantoor', 'buiten kantoor', 'met vakantie',
	'resposta automática', 'resposta automatica', 'fora do escritório', 'fora do escritorio', 'ausência', 'ausencia', 'de férias', 'de ferias',
];

/** Why a reply is automatic (RFC 3834 and the common vendor headers, then the subject), or undefined. */
export function autoReplyReason(headers: Map<string, string>, subject: string): string | undefined {
	const auto = headers.get('auto-submitted');
	if (auto !== undefined) {
		const v = auto.split(';')[0].trim().toLowerCase();
		if (v && v !== 'no') return `Auto-Submitted: ${v.slice(0, 50)}`;
	}
	if (headers.has('x-autoreply')) return 'X-Autoreply header';
	if (headers.has('x-autorespond')) return 'X-Autorespond header';
	const precedence = headers.get('precedence')?.trim().toLowerCase();
	if (precedence === 'auto_reply' || precedence === 'bulk' || precedence === 'list' || precedence === 'junk') return `Precedence: ${precedence}`;
	const s = subject.slice(0, REPLY_LIMITS.subjectChars).normalize('NFC').toLowerCase();
	for (const words of OUT_OF_OFFICE) if (s.includes(words)) return `out-of-office subject ("${words}")`;
	return undefined;
}

// ------------------------------------------------------------------ charsets

/** Inbound Parse's `charsets` field: field name → charset. */
export function parseCharsets(field: unknown): Record<string, string> {
	if (typeof field !== 'string' || field.length > 4096) return {};
	try {
		const v = JSON.parse(field) as unknown;
		if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
		const out: Record<string, string> = {};
		for (const [k, c] of Object.entries(v)) if (typeof c === 'string') out[k] = c.trim().toLowerCase();
		return out;
	} catch {
		return {};
	}
}

/** Windows-1252's 0x80–0x9F (0 where the code page has no character: kept as the C1 control, as WHATWG does). */
const CP1252_HIGH = [
	0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
	0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];
/** The labels WHATWG decodes as Windows-1252 (ISO-8859-1 included: mail clients label cp1252 text so). */
const CP1252_LABELS = new Set(['windows-1252', 'cp1252', 'x-cp1252', 'iso-8859-1', 'iso8859-1', 'iso_8859-1', 'latin1', 'l1', 'us-ascii', 'ascii', 'ansi_x3.4-1968', 'cp819', 'ibm819', 'iso-ir-100']);

/** Windows-1252 bytes → text, one pass (Node 20's TextDecoder turns 0x80–0x9F into C1 controls). */
function decodeCp1252(bytes: Uint8Array): string {
	const parts: string[] = [];
	const chunk = new Uint16Array(Math.min(bytes.length, 8192));
	for (let at = 0; at < bytes.length; at += chunk.length) {
		const n = Math.min(chunk.length, bytes.length - at);
		for (let i = 0; i < n; i++) {
			const b = bytes[at + i];
			chunk[i] = b >= 0x80 && b < 0xa0 ? CP1252_HIGH[b - 0x80] : b;
		}
		parts.push(String.fromCharCode(...chunk.subarray(0, n)));
	}
	return parts.join('');
}

/** Bytes in a named charset (unknown labels fall back to UTF-8); invalid sequences become U+FFFD only where the bytes really are invalid. */
export function decodeBytes(bytes: Buffer, charset: string | undefined): string {
	const label = (charset || 'utf-8').trim().toLowerCase();
	if (CP1252_LABELS.has(label)) return decodeCp1252(bytes);
	try {
		return new TextDecoder(label).decode(bytes);
	} catch {
		return new TextDecoder('utf-8').decode(bytes);
	}
}

/**
 * The fields of a multipart/form-data body, as bytes: n8n's own form parser decodes every field as
 * UTF-8, losing ISO-8859-1 and Windows-1252 text, so when the raw body is at hand the fields are
 * split from it here and decoded by the `charsets` SendGrid sent. One pass with indexOf.
 */
export function multipartFields(body: Buffer, contentType: string | undefined): Map<string, Buffer> | undefined {
	const out = new Map<string, Buffer>();
	if (!contentType || !contentType.toLowerCase().startsWith('multipart/form-data')) return undefined;
	const b = /boundary=(?:"([^"]{1,200})"|([^;\s]{1,200}))/i.exec(contentType.slice(0, 1000));
	const boundary = b?.[1] ?? b?.[2];
	if (!boundary) return undefined;
	const delimiter = Buffer.from(`--${boundary}`);
	let at = body.indexOf(delimiter);
	while (at >= 0) {
		const start = at + delimiter.length;
		if (body[start] === 45 && body[start + 1] === 45) break; // closing "--boundary--"
		const headerEnd = body.indexOf('\r\n\r\n', start);
		if (headerEnd < 0) break;
		const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4);
		if (next < 0) break;
		const head = body.subarray(start, Math.min(headerEnd, start + 4096)).toString('latin1');
		const name = /\bname="([^"]{1,200})"/i.exec(head)?.[1];
		if (name && !/\bfilename=/i.test(head) && !out.has(name)) out.set(name, body.subarray(headerEnd + 4, next));
		at = next + 2;
	}
	return out;
}

// ------------------------------------------------------------------ the reply

export interface InboundReply {
	mode: 'parsed' | 'raw';
	/** The sender's address (From, else the envelope), lower case. */
	from?: string;
	fromSource?: 'from' | 'envelope';
	to?: string;
	subject: string;
	text: string;
	html?: string;
	messageId?: string;
	/** In-Reply-To first, then References (newest last), without repeats. */
	answers: string[];
	headers: Map<string, string>;
	auth: AuthVerdict;
	charsets: Record<string, string>;
	/** Fields declared in a charset other than UTF-8 that reached us already decoded as UTF-8, with U+FFFD where letters were. */
	charsetLost: string[];
}

const cap = (s: unknown, n: number): string => (typeof s === 'string' ? (s.length > n ? s.slice(0, n) : s) : '');

/** A field as text: decoded from its bytes by its charset when the bytes are at hand, else n8n's string. */
function fieldText(fields: Record<string, unknown>, bytes: Map<string, Buffer> | undefined, name: string, charsets: Record<string, string>, limit: number): string {
	const raw = bytes?.get(name);
	if (raw) return cap(decodeBytes(raw.length > limit * 4 ? raw.subarray(0, limit * 4) : raw, charsets[name]), limit);
	return cap(fields[name], limit);
}

/** The raw message up to REPLY_LIMITS.rawChars and REPLY_LIMITS.rawLines (one indexOf per line, within the first cap). */
export function clipRaw<T extends string | Buffer>(raw: T): T {
	let end = Math.min(raw.length, REPLY_LIMITS.rawChars);
	let at = -1;
	for (let lines = 0; lines < REPLY_LIMITS.rawLines; lines++) {
		at = raw.indexOf('\n', at + 1);
		if (at < 0 || at >= end) break;
		if (lines === REPLY_LIMITS.rawLines - 1) end = at + 1;
	}
	return (end >= raw.length ? raw : raw.slice(0, end)) as T;
}

function unique(ids: string[]): string[] {
	return [...new Set(ids)].slice(0, REPLY_LIMITS.messageIds);
}

/**
 * Reads an Inbound Parse post. `fields` are the form fields as n8n hands them (strings); `bytes`, when
 * the raw multipart body was available, the same fields undecoded.
 */
export async function readInboundReply(fields: Record<string, unknown>, bytes?: Map<string, Buffer>): Promise<InboundReply> {
	const charsets = parseCharsets(bytes?.get('charsets')?.toString('utf8') ?? fields.charsets);
	const text = (name: string, limit: number) => fieldText(fields, bytes, name, charsets, limit);
	const envelope = text('envelope', REPLY_LIMITS.headerValueChars);
	const rawEmail = bytes?.get('email') ?? (typeof fields.email === 'string' ? fields.email : undefined);
	let reply: Omit<InboundReply, 'from' | 'fromSource' | 'auth' | 'charsetLost'>;
	let fromField: string;
	if (rawEmail !== undefined && rawEmail.length > 0) {
		const source = clipRaw(rawEmail);
		const mail = await PostalMime.parse(typeof source === 'string' ? source : new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
		const headers = new Map<string, string>();
		for (const h of mail.headers ?? []) if (!headers.has(h.key)) headers.set(h.key, cap(h.value, REPLY_LIMITS.headerValueChars));
		fromField = headers.get('from') ?? text('from', REPLY_LIMITS.headerValueChars);
		reply = {
			mode: 'raw',
			to: cap(headers.get('to') ?? text('to', 2000), 2000),
			subject: cap(mail.subject ?? text('subject', REPLY_LIMITS.subjectChars), REPLY_LIMITS.subjectChars),
			text: cap(mail.text ?? '', REPLY_LIMITS.bodyChars),
			html: mail.html ? cap(mail.html, REPLY_LIMITS.bodyChars) : undefined,
			messageId: messageIdsIn(mail.messageId ?? headers.get('message-id'), 1)[0],
			answers: unique([...messageIdsIn(headers.get('in-reply-to')), ...messageIdsIn(headers.get('references'))]),
			headers,
			charsets,
		};
	} else {
		const headers = parseHeaderBlock(text('headers', REPLY_LIMITS.headerChars));
		fromField = text('from', REPLY_LIMITS.headerValueChars) || (headers.get('from') ?? '');
		const html = text('html', REPLY_LIMITS.bodyChars);
		reply = {
			mode: 'parsed',
			to: text('to', 2000),
			subject: text('subject', REPLY_LIMITS.subjectChars) || cap(headers.get('subject'), REPLY_LIMITS.subjectChars),
			text: text('text', REPLY_LIMITS.bodyChars),
			html: html || undefined,
			messageId: messageIdsIn(headers.get('message-id'), 1)[0],
			answers: unique([...messageIdsIn(headers.get('in-reply-to')), ...messageIdsIn(headers.get('references'))]),
			headers,
			charsets,
		};
	}
	const charsetLost = bytes
		? []
		: Object.keys(charsets).filter((k) => !/^utf-?8$/.test(charsets[k]) && typeof fields[k] === 'string' && (fields[k] as string).includes('\ufffd'));
	const fromHeader = fromAddress(fromField);
	const fromEnvelope = fromHeader ? undefined : envelopeFrom(envelope);
	const from = fromHeader ?? fromEnvelope;
	return {
		...reply,
		charsetLost,
		from,
		fromSource: fromHeader ? 'from' : fromEnvelope ? 'envelope' : undefined,
		auth: authVerdict(text('SPF', 100), text('dkim', 2000), from),
	};
}

/** A stable id for a reply (its Message-ID, else its content): the same post twice is stored once. */
export function replyEventId(reply: InboundReply): string {
	const basis = reply.messageId ?? `${reply.from ?? ''}\n${reply.subject}\n${reply.text.slice(0, 500)}`;
	return `reply:${createHash('sha256').update(basis).digest('base64url').slice(0, 22)}`;
}
