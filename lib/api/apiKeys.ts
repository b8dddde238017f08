/**
 * Campaign API keys: per-client keys for the campaign API besides JWT. A key is
 * `eca_live_<id>_<secret>`: the id (12 hex digits) names the row and is what lists show
 * (`eca_live_<id>…`); the secret (32 random bytes, base64url) is shown once, when the key is made,
 * and stored only as HMAC-SHA256(salt, secret) under a random salt of the key's own. A 256-bit random
 * secret needs no slow password hash: nobody can guess it, and the salt makes the stored hash useless
 * anywhere else. Checks compare hashes with timingSafeEqual and read the row on every call (no cache),
 * so a revoked key is refused from the next call on.
 *
 * Each key has scopes (`start`: start a campaign run; `stats`: read stats), allowed campaigns (see
 * campaignAllowed) and a rate limit of its own (requests per minute, counted in the store like the
 * JWT callers' limit, under `apikey:<id>`). Every authenticated call is recorded on its key.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CampaignError } from '../errors';
import { redactSecrets } from '../redact';
import type { CampaignStore } from '../store';
import { apiKeyCallLog, apiKeyInfo, apiKeyList, apiKeyRow, insertApiKey, pruneApiKeyCallRows, recordApiKeyCallRow, revokeApiKeyRow, type ApiKeyCall, type ApiKeyInfo } from '../store';
import { firstHeader } from './caller';
import { checkStartRequest, takeRateLimit } from './startRequest';

export type { ApiKeyCall, ApiKeyInfo } from '../store';

export const API_KEY_PREFIX = 'eca_live_';
export const API_KEY_SCOPES = ['start', 'stats'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

const ID_LENGTH = 12;
const SECRET_BYTES = 32;
const SECRET_LENGTH = 43; // base64url of 32 bytes, no padding
const TOKEN_LENGTH = API_KEY_PREFIX.length + ID_LENGTH + 1 + SECRET_LENGTH;
const ID_PATTERN = /^[0-9a-f]{12}$/;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const MAX_PATTERNS = 200;
const MAX_PER_MINUTE = 100_000;

/** Said with a key's creation, wherever it is shown. */
export const SHOWN_ONCE_NOTICE =
	'Copy this key now: it is shown only this once. The campaign store keeps only a hash of it, so it cannot be shown again; if it is lost, revoke it and create another. (It is also in this execution\'s data: delete the execution once the key is copied.)';

export class ApiKeyError extends CampaignError {
	constructor(message: string, field?: string, hint?: string) {
		super(message, { field, hint });
	}
}

/** HMAC-SHA256 of the secret under the key's salt (hex). */
export function hashApiKeySecret(secret: string, saltHex: string): string {
	return createHmac('sha256', Buffer.from(saltHex, 'hex')).update(secret, 'utf8').digest('hex');
}

/** Whether `secret` hashes to `hashHex` under `saltHex`, compared in constant time. */
export function verifyApiKeySecret(secret: string, saltHex: string, hashHex: string): boolean {
	const expected = Buffer.from(hashHex, 'hex');
	const actual = Buffer.from(hashApiKeySecret(secret, saltHex), 'hex');
	// Both are 32-byte digests (timingSafeEqual needs equal lengths); a damaged stored hash fails.
	if (expected.length !== actual.length) return false;
	return timingSafeEqual(actual, expected);
}

/** What lists show of a key: the prefix and its id, never any of the secret. */
export const displayPrefix = (id: string) => `${API_KEY_PREFIX}${id}…`;

/** `eca_live_<id>_<secret>` → its parts; undefined for anything else (checked by length and alphabet, linear). */
export function parseApiKey(token: string): { id: string; secret: string } | undefined {
	if (typeof token !== 'string') return undefined;
	const t = token.trim();
	if (t.length !== TOKEN_LENGTH || !t.startsWith(API_KEY_PREFIX)) return undefined;
	const id = t.slice(API_KEY_PREFIX.length, API_KEY_PREFIX.length + ID_LENGTH);
	if (t[API_KEY_PREFIX.length + ID_LENGTH] !== '_') return undefined;
	const secret = t.slice(API_KEY_PREFIX.length + ID_LENGTH + 1);
	if (!ID_PATTERN.test(id) || !SECRET_PATTERN.test(secret)) return undefined;
	return { id, secret };
}

/**
 * A key named by its id, its displayed prefix (`eca_live_<id>…`) or the whole key (the secret is
 * not needed to revoke, and is not echoed) → the id; undefined when none can be read.
 */
export function apiKeyIdOf(ref: string): string | undefined {
	let r = String(ref ?? '').trim();
	const whole = parseApiKey(r);
	if (whole) return whole.id;
	if (r.startsWith(API_KEY_PREFIX)) r = r.slice(API_KEY_PREFIX.length);
	r = r.replace(/(…|\.\.\.)$/, '');
	return ID_PATTERN.test(r) ? r : undefined;
}

/**
 * Allowed campaigns, as typed (comma- or newline-separated) or a list → null for every campaign, or the
 * list of entries. The rule: `*` alone allows every campaign; an entry ending in one `*` allows the ids
 * that start with what comes before it (`spring-*` allows `spring-2026` and `spring-eu`); any other
 * entry is one campaign id, matched exactly (case-sensitive). `*` anywhere else is refused.
 */
export function parseCampaignPatterns(input: string | string[] | null | undefined): string[] | null {
	const entries = (Array.isArray(input) ? input : String(input ?? '').split(/[,\n]/)).map((s) => String(s).trim()).filter(Boolean);
	if (!entries.length) throw new ApiKeyError('Allowed Campaigns is empty: give campaign IDs, prefix patterns such as spring-*, or * for every campaign', 'allowedCampaigns');
	if (entries.length > MAX_PATTERNS) throw new ApiKeyError(`Allowed Campaigns: at most ${MAX_PATTERNS} entries (use prefix patterns such as spring-*)`, 'allowedCampaigns');
	if (entries.includes('*')) return null;
	for (const e of entries) {
		const body = e.endsWith('*') ? e.slice(0, -1) : e;
		if (body.includes('*'))
			throw new ApiKeyError(`Allowed Campaigns: "${e.slice(0, 60)}" — * may only end an entry (spring-*) or stand alone (every campaign)`, 'allowedCampaigns');
		if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$/.test(body))
			throw new ApiKeyError(`Allowed Campaigns: "${e.slice(0, 60)}" is not a campaign ID (letters, digits, "_", ".", ":" or "-", starting with a letter or digit)`, 'allowedCampaigns');
	}
	return [...new Set(entries)];
}

/** Whether a key with these allowed campaigns may act on `campaignId` (the rule of parseCampaignPatterns). */
export function campaignAllowed(patterns: string[] | null, campaignId: string | undefined): boolean {
	if (patterns === null) return true;
	if (!campaignId) return false;
	return patterns.some((p) => (p.endsWith('*') ? campaignId.startsWith(p.slice(0, -1)) : campaignId === p));
}

/** Scopes as chosen → the known ones, in order; none is refused. */
export function parseScopes(input: unknown): ApiKeyScope[] {
	const given = (Array.isArray(input) ? input : String(input ?? '').split(',')).map((s) => String(s).trim().toLowerCase()).filter(Boolean);
	const unknown = given.filter((s) => !(API_KEY_SCOPES as readonly string[]).includes(s));
	if (unknown.length) throw new ApiKeyError(`Scopes: unknown scope "${unknown[0].slice(0, 40)}" (known: ${API_KEY_SCOPES.join(', ')})`, 'scopes');
	const scopes = API_KEY_SCOPES.filter((s) => given.includes(s));
	if (!scopes.length) throw new ApiKeyError('Scopes: choose at least one (start: start campaign runs; stats: read stats)', 'scopes');
	return scopes;
}

export interface NewApiKey {
	name: string;
	scopes: unknown;
	campaigns: string | string[] | null;
	perMinute: number;
	createdBy: string;
}

/** A key just made: `apiKey` is the whole key, here and nowhere else. */
export interface CreatedApiKey {
	apiKey: string;
	key: ApiKeyInfo;
	notice: string;
}

/** Makes a key: checks the settings, draws id and secret, stores the salted hash. The secret is only in the answer. */
export async function createApiKey(store: CampaignStore, k: NewApiKey): Promise<CreatedApiKey> {
	const name = String(k.name ?? '').trim();
	if (!name) throw new ApiKeyError('Name is empty: name the client this key is for (e.g. "CRM sync")', 'keyName');
	if (name.length > 200) throw new ApiKeyError('Name: at most 200 characters', 'keyName');
	const scopes = parseScopes(k.scopes);
	const campaigns = parseCampaignPatterns(k.campaigns);
	const perMinute = Number(k.perMinute);
	if (!Number.isInteger(perMinute) || perMinute < 1 || perMinute > MAX_PER_MINUTE)
		throw new ApiKeyError(`Requests per Minute must be a whole number from 1 to ${MAX_PER_MINUTE}`, 'keyPerMinute');
	const createdBy = String(k.createdBy ?? '').trim().slice(0, 200) || 'unknown';
	for (let attempt = 0; attempt < 5; attempt++) {
		const id = randomBytes(ID_LENGTH / 2).toString('hex');
		const secret = randomBytes(SECRET_BYTES).toString('base64url');
		const salt = randomBytes(16).toString('hex');
		const stored = await insertApiKey(store, { id, name, prefix: displayPrefix(id), salt, secretHash: hashApiKeySecret(secret, salt), scopes, campaigns, perMinute, createdBy });
		if (!stored) continue; // the id was taken: draw again
		const key = (await apiKeyInfo(store, id))!;
		return { apiKey: `${API_KEY_PREFIX}${id}_${secret}`, key, notice: SHOWN_ONCE_NOTICE };
	}
	throw new ApiKeyError('Could not draw an unused key id (5 attempts): try again');
}

/** Revokes a key named by id, displayed prefix or the whole key; refused from the next call on. */
export async function revokeApiKey(store: CampaignStore, ref: string, by: string): Promise<{ key: ApiKeyInfo; already: boolean }> {
	const id = apiKeyIdOf(ref);
	if (!id) throw new ApiKeyError('Key ID: give the key\'s id (12 hex digits) or its prefix as lists show it (eca_live_…)', 'keyRef');
	const r = await revokeApiKeyRow(store, id, String(by ?? '').trim() || 'unknown');
	if (!r) throw new ApiKeyError(`No API key ${displayPrefix(id)} in the campaign store — list the keys to see their ids`, 'keyRef');
	return r;
}

/** Keys without hashes or secrets, newest first. */
export function listApiKeys(store: CampaignStore, opts: { includeRevoked?: boolean } = {}): Promise<ApiKeyInfo[]> {
	return apiKeyList(store, opts);
}

/** A key's latest calls (the log of who called what, when, with what outcome). */
export function apiKeyCalls(store: CampaignStore, ref: string, limit = 100): Promise<ApiKeyCall[]> {
	const id = apiKeyIdOf(ref);
	if (!id) throw new ApiKeyError('Key ID: give the key\'s id (12 hex digits) or its prefix as lists show it (eca_live_…)', 'keyRef');
	return apiKeyCallLog(store, id, limit);
}

/** Fixed salt and hash to check against when the id is unknown, so an unknown id costs the same work. */
const DUMMY_SALT = '00'.repeat(16);
const DUMMY_HASH = '00'.repeat(32);

export type KeyVerdict = { ok: true; key: ApiKeyInfo } | { ok: false; status: 401; error: string };

/**
 * Who a key is: unknown, malformed, wrong secret or revoked → 401. Reads the store once, changes
 * nothing. The error never contains the key.
 */
export async function authenticateApiKey(store: CampaignStore, token: string): Promise<KeyVerdict> {
	const parts = parseApiKey(token);
	if (!parts) return { ok: false, status: 401, error: `not a campaign API key (they look like ${API_KEY_PREFIX}…)` };
	const row = await apiKeyRow(store, parts.id);
	const good = verifyApiKeySecret(parts.secret, row?.salt ?? DUMMY_SALT, row?.secret_hash ?? DUMMY_HASH);
	if (!row || !good) return { ok: false, status: 401, error: 'unknown API key' };
	if (row.revoked_at) return { ok: false, status: 401, error: `API key ${row.prefix} was revoked` };
	const { salt: _salt, secret_hash: _hash, ...key } = row;
	return { ok: true, key };
}

export type KeyCheck =
	| { ok: true; key: ApiKeyInfo; caller: string }
	| { ok: false; status: 401 | 403 | 429; error: string; key?: ApiKeyInfo; retryAfter?: number };

/**
 * The whole check of a call made with a key: 401 (unknown, wrong, revoked), 429 over the key's own
 * limit (with retry_after), 403 without the scope or for a campaign the key may not use. Without
 * `campaign` no campaign is checked here (the caller checks it once it knows it, with campaignAllowed);
 * `campaign: { id: undefined }` means "not about one campaign" (stats of all): only keys for every campaign.
 * Only an authenticated key counts against its limit; nothing is written for an unknown key.
 */
export async function checkApiKey(store: CampaignStore, token: string, need: { scope: ApiKeyScope; campaign?: { id?: string } }, now = Date.now()): Promise<KeyCheck> {
	const who = await authenticateApiKey(store, token);
	if (!who.ok) return who;
	const key = who.key;
	const caller = `apikey:${key.id}`;
	const limit = await takeRateLimit(store, caller, key.rate_limit_per_minute, now);
	if (!limit.allowed)
		return { ok: false, status: 429, key, retryAfter: limit.resetSeconds, error: `rate limit of ${key.rate_limit_per_minute} requests per minute for API key ${key.prefix} reached; retry in ${limit.resetSeconds} s` };
	if (!key.scopes.includes(need.scope)) return { ok: false, status: 403, key, error: `API key ${key.prefix} lacks the "${need.scope}" scope` };
	const campaignId = need.campaign?.id;
	if (need.campaign && !campaignAllowed(key.campaigns, campaignId))
		return {
			ok: false,
			status: 403,
			key,
			error: campaignId ? `API key ${key.prefix} may not use campaign "${campaignId.slice(0, 100)}"` : `API key ${key.prefix} may only use its own campaigns: name one (campaign_id)`,
		};
	return { ok: true, key, caller };
}

/**
 * How much of each key's call log is kept: its latest `keep` calls, trimmed every `every` calls. The
 * count on the key (`calls`) stays exact; the log is bounded however fast a key holder calls (429s too).
 */
export const CALL_LOG_RETENTION = { keep: 100_000, every: 1000 };

/** Records a call of an authenticated key with its outcome (the error redacted and capped; never the key). */
export async function recordApiKeyCall(
	store: CampaignStore,
	call: { keyId: string; scope: ApiKeyScope; campaignId?: string; runId?: string; status: number; error?: string },
	token?: string,
	retention = CALL_LOG_RETENTION,
): Promise<void> {
	const calls = await recordApiKeyCallRow(store, { ...call, error: call.error === undefined ? undefined : redactSecrets(call.error, token ? [token] : []).slice(0, 500) });
	if (calls > 0 && calls % retention.every === 0) await pruneApiKeyCallRows(store, call.keyId, retention.keep);
}

/**
 * The key a request carries: `Authorization: Bearer <key>`, else the configured header. A Bearer
 * value that is not one of ours (a JWT) is not taken for a key.
 */
export function apiKeyFromHeaders(headers: unknown, header?: string): string | undefined {
	const value = (name: string) => firstHeader(headers, name);
	const auth = value('authorization');
	if (auth && /^bearer\s/i.test(auth)) {
		const token = auth.replace(/^bearer\s+/i, '').trim();
		if (token.startsWith(API_KEY_PREFIX)) return token;
	}
	if (header) {
		const v = value(header)?.trim();
		if (v) return v;
	}
	return undefined;
}

export type GuardAnswer = { accepted: true; json: Record<string, unknown> } | { accepted: false; json: Record<string, unknown> };

/**
 * One campaign API request made with a key, checked from end to end as the Campaign API Guard runs
 * it: the key (401), its own rate limit (429 + retry_after), the scope (403), then for `start` the body
 * (400 naming the fields, lib/api/startRequest) and the campaign (403); for `stats` the campaign
 * named (403). Every call of an authenticated key is recorded with its outcome. Answers carry
 * `api_key_id`, never the key.
 */
export async function checkKeyRequest(
	store: CampaignStore,
	token: string,
	request: { kind: 'start'; body: unknown } | { kind: 'stats'; campaignId?: string },
	now = Date.now(),
): Promise<GuardAnswer> {
	const statsCampaign = request.kind === 'stats' ? String(request.campaignId ?? '').trim() || undefined : undefined;
	const c = await checkApiKey(store, token, request.kind === 'stats' ? { scope: 'stats', campaign: { id: statsCampaign } } : { scope: 'start' }, now);
	if (!c.ok) {
		// A campaign id is the caller's text, and errors may quote it: masked if it carries a key.
		const error = redactSecrets(c.error, [token]);
		if (c.key) await recordApiKeyCall(store, { keyId: c.key.id, scope: request.kind, campaignId: statsCampaign && redactSecrets(statsCampaign, [token]), status: c.status, error }, token);
		return { accepted: false, json: { status: c.status, error, fields: [], ...(c.retryAfter === undefined ? {} : { retry_after: c.retryAfter }), ...(c.key ? { api_key_id: c.key.id } : {}) } };
	}
	const key = c.key;
	const base = { caller: c.caller, api_key_id: key.id };
	// A key sent as data would travel on in the accepted item, the run and the log: refused, never echoed.
	const secret = parseApiKey(token)!.secret;
	if (request.kind === 'stats' ? (statsCampaign ?? '').includes(secret) : jsonIncludes(request.body, secret)) {
		const error = 'the request carries the API key outside its header: send the key only in the Authorization (or API key) header';
		await recordApiKeyCall(store, { keyId: key.id, scope: request.kind, status: 400, error });
		return { accepted: false, json: { status: 400, error, fields: [], api_key_id: key.id } };
	}
	if (request.kind === 'stats') {
		await recordApiKeyCall(store, { keyId: key.id, scope: 'stats', campaignId: statsCampaign, status: 200 });
		return { accepted: true, json: { status: 200, ...base, campaign_id: statsCampaign ?? null } };
	}
	const checked = checkStartRequest(request.body);
	if (!checked.ok) {
		const error = redactSecrets(checked.error, [token]);
		await recordApiKeyCall(store, { keyId: key.id, scope: 'start', status: checked.status, error }, token);
		return { accepted: false, json: { status: checked.status, error, fields: checked.fields ?? [], api_key_id: key.id } };
	}
	const campaignId = checked.request.campaign.id;
	if (!campaignAllowed(key.campaigns, campaignId)) {
		const error = `API key ${key.prefix} may not use campaign "${campaignId}"`;
		await recordApiKeyCall(store, { keyId: key.id, scope: 'start', campaignId, status: 403, error });
		return { accepted: false, json: { status: 403, error, fields: [], api_key_id: key.id } };
	}
	await recordApiKeyCall(store, { keyId: key.id, scope: 'start', campaignId, runId: checked.runId, status: 202 });
	return { accepted: true, json: { status: 202, run_id: checked.runId, ...base, ...checked.request } };
}

/** Whether the JSON text of `value` contains `needle` (a body is at most a few MB: one linear pass). */
function jsonIncludes(value: unknown, needle: string): boolean {
	try {
		return JSON.stringify(value ?? null).includes(needle);
	} catch {
		return false;
	}
}
