/**
 * SendGrid Signed Event Webhook: ECDSA P-256 with SHA-256 over the timestamp header followed by
 * the raw request body bytes — never over re-serialised JSON, which would change the bytes.
 */
import { KeyObject, createPublicKey, createVerify } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

const keys = new Map<string, KeyObject>();

/** Accepts the base64 DER key SendGrid shows, or a PEM block. */
export function parsePublicKey(key: string): KeyObject {
	const trimmed = key.trim();
	let k = keys.get(trimmed);
	if (!k) {
		k = trimmed.includes('BEGIN PUBLIC KEY')
			? createPublicKey(trimmed)
			: createPublicKey({ key: Buffer.from(trimmed.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
		keys.set(trimmed, k);
	}
	return k;
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
