/**
 * SendGrid events → one flat shape, with the correlation custom args SendGrid echoes at the top
 * level (campaign_id, run_id, step, variant, delivery_id).
 */
import { createHash } from 'node:crypto';
import { codeUnitReplacer } from '../text';

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
export type EventType = (typeof EVENT_TYPES)[number];

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
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? storableText(v) : typeof v === 'number' ? String(v) : undefined);

export class EventBodyError extends Error {}

/** SendGrid events are flat objects in an array (categories one level further): anything deeper is not an event post. */
export const MAX_EVENT_NESTING = 16;

/**
 * How deep arrays and objects nest in a JSON text, outside strings, stopping as soon as it passes
 * `max`: JSON.parse of megabytes of "[[[[" takes seconds before it fails.
 */
function nestsDeeperThan(json: string, max: number): boolean {
	let depth = 0;
	let inString = false;
	for (let i = 0; i < json.length; i++) {
		const c = json.charCodeAt(i);
		if (inString) {
			if (c === 92) i++;
			else if (c === 34) inString = false;
		} else if (c === 34) inString = true;
		else if (c === 91 || c === 123) {
			if (++depth > max) return true;
		} else if (c === 93 || c === 125) depth--;
	}
	return false;
}

/** Parses the raw POST body: must be a JSON array of objects. */
export function parseEventBody(raw: Buffer | string): Array<Record<string, unknown>> {
	let parsed: unknown;
	const text = typeof raw === 'string' ? raw : raw.toString('utf8');
	if (nestsDeeperThan(text, MAX_EVENT_NESTING)) throw new EventBodyError(`body nests deeper than ${MAX_EVENT_NESTING} levels: not a SendGrid event post`);
	try {
		parsed = JSON.parse(text);
	} catch {
		throw new EventBodyError('body is not JSON');
	}
	if (!Array.isArray(parsed)) throw new EventBodyError('body is not a JSON array of events');
	if (!parsed.every((e) => e && typeof e === 'object' && !Array.isArray(e))) throw new EventBodyError('every event must be a JSON object');
	return parsed as Array<Record<string, unknown>>;
}

export function normalizeEvent(e: Record<string, unknown>): CampaignEvent {
	const ts = Number(e.timestamp);
	const step = Number(e.step);
	const category = Array.isArray(e.category) ? e.category.map((c) => storableText(String(c))) : typeof e.category === 'string' ? [storableText(e.category)] : undefined;
	const group = Number(e.asm_group_id);
	// Every field in one literal (absent ones undefined, which JSON drops): adding properties one by one
	// is several times slower inside n8n's main process than here (bench:events measured 5 µs an event).
	const out: CampaignEvent = {
		event: str(e.event) ?? 'unknown',
		email: (str(e.email) ?? '').trim().toLowerCase(),
		timestamp: new Date(Number.isFinite(ts) && ts > 0 ? ts * 1000 : Date.now()).toISOString(),
		// SendGrid always sends sg_event_id; a hash of the event keeps dedupe working for anything that does not.
		sg_event_id: str(e.sg_event_id) ?? `h:${createHash('sha256').update(JSON.stringify(e)).digest('base64url').slice(0, 22)}`,
		sg_message_id: str(e.sg_message_id),
		smtp_id: str(e['smtp-id']),
		campaign_id: str(e.campaign_id),
		run_id: str(e.run_id),
		step: Number.isInteger(step) && step > 0 ? step : undefined,
		variant: str(e.variant),
		delivery_id: str(e.delivery_id),
		url: str(e.url),
		// Cut before cleaning: a cut through a surrogate pair is then cleaned too.
		reason: str(typeof e.reason === 'string' ? e.reason.slice(0, 2000) : e.reason),
		type: str(e.type),
		status: str(e.status),
		bounce_classification: str(e.bounce_classification),
		asm_group_id: Number.isInteger(group) && group > 0 ? group : undefined,
		machine_open: e.sg_machine_open === true || e.sg_machine_open === 'true' ? true : undefined,
		category,
	};
	return out;
}

/** The X-Message-Id part of an sg_message_id ("<x-message-id>.filter..."). */
export function messageIdOf(sgMessageId: string | undefined): string | undefined {
	if (!sgMessageId) return undefined;
	const dot = sgMessageId.indexOf('.');
	return dot > 0 ? sgMessageId.slice(0, dot) : sgMessageId;
}

/** A hard bounce, or a drop because the address bounced or is invalid: never mail it again. */
export function suppressionFor(e: CampaignEvent): { scope: string; reason: string } | { lift: string } | undefined {
	switch (e.event) {
		case 'bounce':
			return e.type === 'blocked' ? undefined : { scope: 'global', reason: 'bounce' };
		case 'dropped':
			return /bounce|invalid/i.test(e.reason ?? '') ? { scope: 'global', reason: 'dropped' } : undefined;
		case 'spamreport':
			return { scope: 'global', reason: 'spamreport' };
		case 'unsubscribe':
			return { scope: 'global', reason: 'unsubscribe' };
		case 'group_unsubscribe':
			return e.asm_group_id ? { scope: `group:${e.asm_group_id}`, reason: 'group_unsubscribe' } : undefined;
		case 'group_resubscribe':
			return e.asm_group_id ? { lift: `group:${e.asm_group_id}` } : undefined;
		case 'reply':
			return { scope: 'global', reason: 'replied' };
		default:
			return undefined;
	}
}
