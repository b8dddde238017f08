/**
 * SendGrid Inbound Parse, the first version: a reply as an event for applyEvents, which ends every
 * sequence of the sender and suppresses them. The SendGrid Trigger no longer uses it: replies go
 * through lib/events/reply.ts (secret, Message-ID match, SPF/DKIM, auto-replies, both Inbound Parse
 * modes) and lib/events/replyFlow.ts (stops only the answered campaign). Kept for callers of replyEvent.
 */
import { createHash } from 'node:crypto';
import { isValidEmail } from '../schemas';
import { asciiLower, isJsSpace } from '../text';
import { CampaignEvent, storableText } from './normalize';

const FIRST_SEPARATOR = /[\s,;]/;

/**
 * The sender's address: the first `<local@domain>` (no spaces or angle brackets inside), else the first
 * word. What `/<([^<>\s]+@[^<>\s]+)>/` and `split(/[\s,;]+/)[0]` found, in one forward scan (the
 * regex re-read "<a@a@a@…" once per "@").
 */
export function addressIn(field: unknown): string | undefined {
	if (typeof field !== 'string') return undefined;
	const email = (angleAddress(field) ?? firstWord(field.trim())).toLowerCase();
	return isValidEmail(email) ? email : undefined;
}

const isAddressEnd = (c: number) => c === 60 || c === 62 || isJsSpace(c);

function angleAddress(field: string): string | undefined {
	const n = field.length;
	for (let i = field.indexOf('<'); i >= 0; ) {
		// The run after "<" up to the first "<", ">" or whitespace; an address when it ends with ">" and has an inner "@".
		let end = i + 1;
		while (end < n && !isAddressEnd(field.charCodeAt(end))) end++;
		if (end >= n) return undefined;
		if (field.charCodeAt(end) === 62) {
			const inside = field.slice(i + 1, end);
			if (inside.slice(1, -1).includes('@')) return inside;
		}
		i = field.indexOf('<', end);
	}
	return undefined;
}

function firstWord(s: string): string {
	const m = FIRST_SEPARATOR.exec(s);
	return m ? s.slice(0, m.index) : s;
}

const isLineBreak = (c: number) => c === 10 || c === 13 || c === 0x2028 || c === 0x2029;

/**
 * A header's value from the raw header block: the first line starting with `name:` (any case), the
 * value after it trimmed (as `/^name:\s*(.+)$/im` read it, also when the value starts on the next
 * line). The name is looked for with indexOf, so a megabyte of headers (or of line breaks) is read once.
 */
function header(headers: unknown, name: string): string | undefined {
	if (typeof headers !== 'string') return undefined;
	const lower = asciiLower(headers);
	const want = `${name.toLowerCase()}:`;
	for (let at = lower.indexOf(want); at >= 0; at = lower.indexOf(want, at + 1))
		if (at === 0 || isLineBreak(lower.charCodeAt(at - 1))) return headerValue(headers, at + want.length);
	return undefined;
}

function headerValue(headers: string, from: number): string | undefined {
	let i = from;
	while (i < headers.length && isJsSpace(headers.charCodeAt(i))) i++;
	if (i < headers.length) {
		let end = i;
		while (end < headers.length && !isLineBreak(headers.charCodeAt(end))) end++;
		return headers.slice(i, end).trim();
	}
	// Only whitespace follows: the pattern still matched one space or tab left on a line, giving "".
	for (let k = from; k < headers.length; k++) if (!isLineBreak(headers.charCodeAt(k))) return '';
	return undefined;
}

/** A reply as an event: stored once (its Message-ID), it stops sequences and suppresses the sender. */
export function replyEvent(fields: Record<string, unknown>, now = Date.now()): CampaignEvent | undefined {
	const email = addressIn(fields.from);
	if (!email) return undefined;
	const messageId = header(fields.headers, 'Message-ID') ?? `${email}\n${fields.subject ?? ''}\n${String(fields.text ?? '').slice(0, 500)}`;
	return {
		event: 'reply',
		email,
		timestamp: new Date(now).toISOString(),
		sg_event_id: `reply:${createHash('sha256').update(messageId).digest('base64url').slice(0, 22)}`,
		reason: typeof fields.subject === 'string' ? storableText(fields.subject.slice(0, 200)) : undefined,
	};
}
