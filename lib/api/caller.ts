/**
 * Who is calling the campaign API, as far as it can be trusted: the JWT's `sub` (n8n's Webhook
 * verified the signature), else an API key (kept only as a hash), else the client address — read
 * from X-Forwarded-For only through proxies the user named, because anyone can write that header.
 * Callers that cannot be told apart share one bucket, so spoofing never buys a fresh limit.
 */
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { CampaignError } from '../errors';

export interface CallerPolicy {
	/** Addresses or CIDR ranges of the user's own reverse proxies; empty: X-Forwarded-For is ignored. */
	trustedProxies?: string[];
	/** Header carrying an API key (checked by the Webhook's Header Auth); empty: not used. */
	apiKeyHeader?: string;
	/** JWT claims: `exp` required (default), and `aud`/`iss` when set. */
	requireExpiry?: boolean;
	audience?: string;
	issuer?: string;
}

export type CallerVerdict = { ok: true; caller: string; via: 'jwt' | 'api_key' | 'address' | 'shared' } | { ok: false; status: 401 | 403; error: string };

export class CallerPolicyError extends CampaignError {
	declare readonly field: string;
	constructor(message: string, field: string) {
		super(message, { field });
	}
}

const MAX_FORWARDED_ENTRIES = 50;

/** "10.0.0.1, 192.168.0.0/16" → a BlockList of trusted proxies; a bad entry is named. */
export function trustedProxyList(entries: string[]): BlockList {
	const list = new BlockList();
	for (const raw of entries) {
		const entry = raw.trim();
		if (!entry) continue;
		const slash = entry.indexOf('/');
		const address = slash < 0 ? entry : entry.slice(0, slash);
		const family = isIP(address);
		if (!family) throw new CallerPolicyError(`Trusted Proxies: "${entry.slice(0, 60)}" is not an IP address or CIDR range (e.g. 10.0.0.1 or 10.0.0.0/8)`, 'trustedProxies');
		const type = family === 6 ? 'ipv6' : 'ipv4';
		if (slash < 0) list.addAddress(address, type);
		else {
			const bits = Number(entry.slice(slash + 1));
			if (!Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32))
				throw new CallerPolicyError(`Trusted Proxies: "${entry.slice(0, 60)}" has an invalid prefix length`, 'trustedProxies');
			list.addSubnet(address, bits, type);
		}
	}
	return list;
}

/** One request header by its lower-case name (n8n hands headers over lower-cased): a repeated header's first value. */
export function firstHeader(headers: unknown, name: string): string | undefined {
	if (!headers || typeof headers !== 'object') return undefined;
	const v = (headers as Record<string, unknown>)[name.toLowerCase()];
	return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined;
}

function headerValue(headers: Record<string, unknown>, name: string): string | undefined {
	const v = headers[name.toLowerCase()];
	if (Array.isArray(v)) return v.map(String).join(',');
	return typeof v === 'string' ? v : undefined;
}

function stripPort(entry: string): string {
	const e = entry.trim();
	if (e.startsWith('[')) return e.slice(1, e.indexOf(']') > 0 ? e.indexOf(']') : undefined);
	const colon = e.indexOf(':');
	return colon > 0 && e.indexOf(':', colon + 1) < 0 ? e.slice(0, colon) : e;
}

/**
 * The client address behind the user's proxies: X-Forwarded-For read from the right, skipping the
 * trusted proxies; the first address they did not add themselves is the client's.
 */
export function clientAddress(forwardedFor: string | undefined, trusted: BlockList): string | undefined {
	if (!forwardedFor) return undefined;
	const hops = forwardedFor.split(',').slice(-MAX_FORWARDED_ENTRIES);
	for (let i = hops.length - 1; i >= 0; i--) {
		const address = stripPort(hops[i]);
		const family = isIP(address);
		if (!family) return undefined; // a garbled chain is nobody's address
		if (!trusted.check(address, family === 6 ? 'ipv6' : 'ipv4')) return address;
	}
	return undefined;
}

function claimText(v: unknown): string | undefined {
	return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
}

export function identifyCaller(request: { jwtPayload?: unknown; headers?: unknown }, policy: CallerPolicy = {}, now = Date.now()): CallerVerdict {
	const headers = (request.headers && typeof request.headers === 'object' ? request.headers : {}) as Record<string, unknown>;
	const jwt = request.jwtPayload && typeof request.jwtPayload === 'object' ? (request.jwtPayload as Record<string, unknown>) : undefined;
	if (jwt) {
		const exp = jwt.exp;
		if (policy.requireExpiry !== false && (typeof exp !== 'number' || !Number.isFinite(exp)))
			return { ok: false, status: 401, error: 'the token has no expiry (exp claim): issue tokens that expire' };
		if (typeof exp === 'number' && exp * 1000 <= now) return { ok: false, status: 401, error: 'the token has expired' };
		if (policy.audience) {
			const aud = Array.isArray(jwt.aud) ? jwt.aud.map(String) : jwt.aud === undefined ? [] : [String(jwt.aud)];
			if (!aud.includes(policy.audience)) return { ok: false, status: 403, error: `the token is not meant for this API (aud must include "${policy.audience}")` };
		}
		if (policy.issuer && claimText(jwt.iss) !== policy.issuer) return { ok: false, status: 403, error: `the token was not issued by "${policy.issuer}" (iss)` };
		const sub = claimText(jwt.sub);
		if (!sub) return { ok: false, status: 401, error: 'the token has no subject (sub claim): each caller is limited by its sub' };
		return { ok: true, caller: `jwt:${sub.slice(0, 200)}`, via: 'jwt' };
	}
	if (policy.apiKeyHeader) {
		const key = headerValue(headers, policy.apiKeyHeader);
		// Only a hash is kept: the rate table never holds a usable key.
		if (key) return { ok: true, caller: `key:${createHash('sha256').update(key).digest('hex').slice(0, 32)}`, via: 'api_key' };
	}
	if (policy.trustedProxies?.length) {
		const address = clientAddress(headerValue(headers, 'x-forwarded-for'), trustedProxyList(policy.trustedProxies));
		if (address) return { ok: true, caller: `ip:${address}`, via: 'address' };
	}
	return { ok: true, caller: 'shared:unidentified', via: 'shared' };
}
