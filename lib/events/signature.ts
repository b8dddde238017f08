/**
 * SendGrid Signed Event Webhook: ECDSA P-256 with SHA-256 over the timestamp header followed by
 * the raw request body bytes — never over re-serialised JSON, which would change the bytes.
 */
import { KeyObject, createPublicKey, createVerify } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

const keys = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 64;

/**
 * The base64 of the key's DER, from any of the forms a user may paste: SendGrid's base64, a PEM
 * block, or a PEM squeezed into one line (no newlines, spaces for newlines, or the two characters
 * `\n` as n8n's one-line fields produce). String scans only, linear in the input.
 */
export function publicKeyBase64(key: string): string {
	let body = key;
	const begin = body.indexOf('-----BEGIN');
	if (begin >= 0) {
		const labelEnd = body.indexOf('-----', begin + 10);
		if (labelEnd < 0) throw new Error('the PEM key has no end to its BEGIN line');
		const end = body.indexOf('-----END', labelEnd + 5);
		if (end < 0) throw new Error('the PEM key has no -----END line');
		body = body.slice(labelEnd + 5, end);
	}
	// Literal "\n"/"\r" pairs first: their letters would otherwise pass as base64.
	body = body.split('\\n').join('').split('\\r').join('');
	let out = '';
	let from = 0;
	for (let i = 0; i <= body.length; i++) {
		const c = i < body.length ? body.charCodeAt(i) : 32;
		if (c <= 32) {
			if (i > from) out += body.slice(from, i);
			from = i + 1;
		}
	}
	return out;
}

/** Accepts the base64 DER key SendGrid shows, or a PEM block, also pasted as one line. */
export function parsePublicKey(key: string): KeyObject {
	const b64 = publicKeyBase64(key);
	let k = keys.get(b64);
	if (!k) {
		k = createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });
		if (keys.size >= MAX_CACHED_KEYS) keys.clear();
		keys.set(b64, k);
	}
	return k;
}

export type VerificationKeySource = 'node' | 'credential' | 'registration';

/**
 * Which verification key the SendGrid Trigger checks events with: the node's own Verification Key,
 * else the SendGrid credential's Event Webhook Verification Key, else the key fetched when the
 * trigger registered the webhook. Blank candidates do not count.
 */
export function chooseVerificationKey(candidates: { node?: unknown; credential?: unknown; registration?: unknown }): { key: string; source: VerificationKeySource } | undefined {
	for (const source of ['node', 'credential', 'registration'] as const) {
		const v = candidates[source];
		if (typeof v === 'string' && v.trim()) return { key: v.trim(), source };
	}
	return undefined;
}

export type SignatureVerdict = { ok: true } | { ok: false; reason: string };

export function verifyEventSignature(input: {
	publicKey: string;
	signature: string | undefined;
	timestamp: string | undefined;
	rawBody: Buffer;
	/** Seconds; 0 turns the freshness check off. */
	toleranceSeconds?: number;
	now?: number;
}): SignatureVerdict {
	if (!input.signature) return { ok: false, reason: 'missing X-Twilio-Email-Event-Webhook-Signature header' };
	if (!input.timestamp) return { ok: false, reason: 'missing X-Twilio-Email-Event-Webhook-Timestamp header' };
	const tolerance = input.toleranceSeconds ?? 600;
	if (tolerance > 0) {
		const ts = Number(input.timestamp);
		if (!Number.isFinite(ts)) return { ok: false, reason: 'timestamp header is not a number' };
		const age = Math.abs((input.now ?? Date.now()) / 1000 - ts);
		if (age > tolerance) return { ok: false, reason: `timestamp is ${Math.round(age)} s away from now (tolerance ${tolerance} s)` };
	}
	let key: KeyObject;
	try {
		key = parsePublicKey(input.publicKey);
	} catch {
		return { ok: false, reason: 'the configured verification key is not a valid public key' };
	}
	try {
		const v = createVerify('sha256');
		v.update(input.timestamp);
		v.update(input.rawBody);
		return v.verify(key, Buffer.from(input.signature, 'base64')) ? { ok: true } : { ok: false, reason: 'signature does not match' };
	} catch {
		return { ok: false, reason: 'signature is malformed' };
	}
}
