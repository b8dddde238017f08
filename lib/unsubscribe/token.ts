/**
 * Unsubscribe links nobody can forge: the link names the delivery (campaign, step, delivery id) and
 * carries an HMAC of those under a secret kept in the campaign store. The address is never in the
 * link and the token is not derivable from it: knowing someone's address is not enough to
 * unsubscribe them. The same token goes into the List-Unsubscribe header and the footer link.
 */
import { type KeyObject, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';

/** What a link names. The delivery row it points at gives the address; the link itself never does. */
export interface UnsubscribeRef {
	campaignId: string;
	step: number;
	deliveryId: string;
}

/** 128 bits of HMAC-SHA256, base64url: short enough for a header line, far beyond guessing. */
const TOKEN_CHARS = 22;
/** Versioned, so a future change of what is signed cannot be confused with this one. */
const VERSION = 'u1';

/**
 * The secret as a KeyObject, made once per secret buffer: Node 24's createHmac turns a Buffer key into a
 * KeyObject on every call (about 25 µs here against 2.5 µs with a ready KeyObject; Node 20 took 4.5 µs),
 * and a 100,000-recipient send signs 100,000 links (2.5 s of CPU in the CPU profile of the Campaign Agent).
 */
const keys = new WeakMap<Buffer, { bytes: Buffer; key: KeyObject }>();
function keyOf(secret: Buffer): KeyObject {
	const known = keys.get(secret);
	// A buffer written to since (never done by the store, which keeps one per secret) gets a new key.
	if (known && known.bytes.equals(secret)) return known.key;
	const key = createSecretKey(secret);
	keys.set(secret, { bytes: Buffer.from(secret), key });
	return key;
}

function mac(secret: Buffer, ref: UnsubscribeRef): string {
	return createHmac('sha256', keyOf(secret)).update(`${VERSION}\n${ref.campaignId}\n${ref.step}\n${ref.deliveryId}`).digest('base64url').slice(0, TOKEN_CHARS);
}

export function unsubscribeToken(secret: Buffer, ref: UnsubscribeRef): string {
	if (secret.length < 16) throw new Error('the unsubscribe secret must be at least 16 bytes');
	return mac(secret, ref);
}

/**
 * The link for one recipient: the endpoint's URL with c (campaign), s (step), d (delivery id) and, given
 * the store's secret, t (token). Without the secret (dry runs, previews, tests) the link is unsigned,
 * and the endpoint refuses it.
 */
export function unsubscribeUrl(endpoint: string, secret: Buffer | undefined, ref: UnsubscribeRef): string {
	const t = linkTemplate(endpoint, ref.campaignId, ref.step, secret !== undefined);
	if (!t) return linkOf(endpoint, ref, secret && unsubscribeToken(secret, ref));
	const d = formEncoded(ref.deliveryId);
	return secret ? t.head + d + t.mid + formEncoded(unsubscribeToken(secret, ref)) + t.tail : t.head + d + t.tail;
}

/** The link built by the URL parser itself: what every link must equal. */
function linkOf(endpoint: string, ref: UnsubscribeRef, token: string | undefined): string {
	const url = new URL(endpoint);
	url.searchParams.set('c', ref.campaignId);
	url.searchParams.set('s', String(ref.step));
	url.searchParams.set('d', ref.deliveryId);
	if (token !== undefined) url.searchParams.set('t', token);
	return url.toString();
}

/**
 * A send signs one link per recipient, and building each through URL and four searchParams.set calls
 * (each re-serializes the query) was most of the garbage a 100,000-recipient send made. The link for
 * one endpoint, campaign and step is made once with placeholders for d and t, then only the two values
 * are put in, encoded as URLSearchParams encodes them. An endpoint the placeholders do not cut cleanly
 * goes the slow way.
 */
interface LinkTemplate {
	endpoint: string;
	campaignId: string;
	step: number;
	signed: boolean;
	head: string;
	mid: string;
	tail: string;
}
let lastTemplate: LinkTemplate | undefined;
const PLACEHOLDER_D = 'ecaDeliveryId0f3c9e1b7a5d';
const PLACEHOLDER_T = 'ecaToken8b2d6f4a0c1e';
function linkTemplate(endpoint: string, campaignId: string, step: number, signed: boolean): LinkTemplate | undefined {
	const last = lastTemplate;
	if (last && last.endpoint === endpoint && last.campaignId === campaignId && last.step === step && last.signed === signed) return last;
	const href = linkOf(endpoint, { campaignId, step, deliveryId: PLACEHOLDER_D }, signed ? PLACEHOLDER_T : undefined);
	const [head, rest, ...more] = href.split(PLACEHOLDER_D);
	if (rest === undefined || more.length > 0) return undefined;
	const [mid, tail, ...after] = signed ? rest.split(PLACEHOLDER_T) : ['', rest];
	if (tail === undefined || after.length > 0 || head.includes(PLACEHOLDER_T)) return undefined;
	return (lastTemplate = { endpoint, campaignId, step, signed, head, mid, tail });
}

/** A query value as URLSearchParams writes it (application/x-www-form-urlencoded). */
function formEncoded(value: string): string {
	return /^[A-Za-z0-9*._-]*$/.test(value) ? value : new URLSearchParams([['', value]]).toString().slice(1);
}

export type TokenVerdict = { ok: true; ref: UnsubscribeRef } | { ok: false; status: 400 | 403; reason: string };

const ID = /^[A-Za-z0-9_.:-]{1,100}$/;

/** Reads c, s, d, t from a request's query (n8n gives strings, or arrays when a key repeats) and checks the token in constant time. */
export function verifyUnsubscribeQuery(secret: Buffer | undefined, query: Record<string, unknown>): TokenVerdict {
	const one = (k: string): string | undefined => (typeof query[k] === 'string' ? (query[k] as string) : undefined);
	const campaignId = one('c');
	const stepText = one('s');
	const deliveryId = one('d');
	const token = one('t');
	if (!campaignId || !stepText || !deliveryId || !token) return { ok: false, status: 400, reason: 'the link is incomplete: it needs c, s, d and t once each' };
	const step = Number(stepText);
	if (!ID.test(campaignId) || !ID.test(deliveryId) || !/^[1-9][0-9]{0,3}$/.test(stepText) || token.length !== TOKEN_CHARS)
		return { ok: false, status: 400, reason: 'the link is malformed' };
	if (!secret) return { ok: false, status: 403, reason: 'this campaign store has no unsubscribe secret yet, so no link from it can be valid' };
	const ref = { campaignId, step, deliveryId };
	const expected = Buffer.from(mac(secret, ref));
	const given = Buffer.from(token);
	if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, status: 403, reason: 'the link is not valid (tampered or not from this campaign store)' };
	return { ok: true, ref };
}
