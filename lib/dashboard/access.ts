/**
 * Who is looking at the dashboard, and whether they may act. An actor is only ever someone a check
 * vouched for: the subject of a JWT that n8n's Webhook verified (it hands the node `jwtPayload` only
 * then), or a user of the Campaign Dashboard Users credential whose Basic password this node checked
 * itself — never a name a request merely claims. With that credential, nobody else may even read. Actions need such an actor on the Allowed Actors list and a CSRF
 * token made for that actor (an HMAC with the store's key, valid for a few hours): a page of another
 * site can make the browser post, but cannot read a token.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { firstHeader } from '../api/caller';
import { CampaignError } from '../errors';

export interface AccessPolicy {
	/** The dashboard's users (name → password): with them, every request must be one of them (Basic Auth). */
	users?: Map<string, string>;
	/** The JWT claim that names the actor (default sub). */
	jwtClaim?: string;
	/** Names that may act; `*` for every verified actor; empty: the dashboard is read-only. */
	allowedActors: string[];
}

export interface Actor {
	name: string;
	via: 'jwt' | 'basic';
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));


/** The verified actor of a request, or undefined (anyone else may only read). */
export function identifyActor(request: { headers?: unknown; jwtPayload?: unknown }, policy: AccessPolicy): Actor | undefined {
	const jwt = request.jwtPayload;
	if (jwt && typeof jwt === 'object') {
		const claim = (jwt as Record<string, unknown>)[policy.jwtClaim || 'sub'];
		if (typeof claim === 'string' && claim.trim()) return { name: claim.trim().slice(0, 200), via: 'jwt' };
	}
	const auth = firstHeader(request.headers, 'authorization');
	if (policy.users && auth && /^basic\s/i.test(auth)) {
		const decoded = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
		const colon = decoded.indexOf(':');
		if (colon < 1) return undefined;
		const user = decoded.slice(0, colon);
		const password = decoded.slice(colon + 1);
		// The password is compared even for an unknown user: the time taken tells nothing about who exists.
		const known = policy.users.get(user);
		const ok = same(password, known ?? '\u0000no user') && known !== undefined;
		if (ok) return { name: user, via: 'basic' };
	}
	return undefined;
}

/** The Users field of the credential: one `name:password` per line; a bad line is named by number, never shown. */
export function parseUsers(text: string): Map<string, string> {
	const users = new Map<string, string>();
	text.split(/\r?\n/).forEach((raw, i) => {
		const line = raw.trim();
		if (!line) return;
		const colon = line.indexOf(':');
		const name = colon < 0 ? '' : line.slice(0, colon).trim();
		const password = colon < 0 ? '' : line.slice(colon + 1);
		if (!name || name.length > 100 || /[\s]/.test(name)) throw new CampaignError(`Users, line ${i + 1}: write a name without spaces, a colon, then the password`, { field: 'users' });
		if (password.length < 12) throw new CampaignError(`Users, line ${i + 1} (${name}): the password needs at least 12 characters`, { field: 'users' });
		if (users.has(name)) throw new CampaignError(`Users, line ${i + 1}: ${name} appears twice`, { field: 'users' });
		users.set(name, password);
	});
	if (users.size === 0) throw new CampaignError('Users: add at least one line name:password', { field: 'users' });
	return users;
}

export function mayAct(actor: Actor | undefined, policy: AccessPolicy): boolean {
	if (!actor) return false;
	return policy.allowedActors.some((a) => a === '*' || a === actor.name);
}

/** A CSRF token lives for this many hours (a page left open longer asks to be reloaded). */
export const CSRF_HOURS = 8;
const HOUR = 3_600_000;

function mac(secret: Buffer, actor: string, hour: number): string {
	return createHmac('sha256', secret).update(`dashboard-csrf\n${actor}\n${hour}`).digest('base64url');
}

export function csrfToken(secret: Buffer, actor: string, now = Date.now()): string {
	const hour = Math.floor(now / HOUR);
	return `${hour}.${mac(secret, actor, hour)}`;
}

/** Whether `token` was made for this actor with this key within the last CSRF_HOURS hours. */
export function checkCsrf(secret: Buffer, actor: string, token: unknown, now = Date.now()): boolean {
	if (typeof token !== 'string' || token.length > 100) return false;
	const dot = token.indexOf('.');
	const hour = Number(token.slice(0, dot));
	const current = Math.floor(now / HOUR);
	if (dot < 1 || !Number.isInteger(hour) || hour > current || hour <= current - CSRF_HOURS) return false;
	const want = Buffer.from(mac(secret, actor, hour));
	const got = Buffer.from(token.slice(dot + 1));
	return got.length === want.length && timingSafeEqual(got, want);
}
