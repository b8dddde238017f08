/**
 * Campaign API keys in the store: one row per key (its salted hash, never the secret), and a log of
 * every call a key made (who called what, when, with what outcome). The rules (key format, hashing,
 * scopes, allowed campaigns) live in lib/api/apiKeys.ts.
 */
import { driverOf, type CampaignStore } from './campaignStore';

/** A key as lists show it: everything but the hash and its salt. */
export interface ApiKeyInfo {
	id: string;
	name: string;
	/** What lists show of the key, e.g. `eca_live_3f9a0c12b4d7…` (the id, never the secret). */
	prefix: string;
	scopes: string[];
	/** Campaign ids and `prefix*` patterns; null = every campaign. */
	campaigns: string[] | null;
	rate_limit_per_minute: number;
	created_by: string;
	created_at: string;
	revoked_at: string | null;
	revoked_by: string | null;
	last_used_at: string | null;
	calls: number;
}

/** A key row with what checking a secret needs. Stays inside lib (the guard never outputs it). */
export interface ApiKeyRow extends ApiKeyInfo {
	salt: string;
	secret_hash: string;
}

export interface NewApiKeyRow {
	id: string;
	name: string;
	prefix: string;
	salt: string;
	secretHash: string;
	scopes: string[];
	campaigns: string[] | null;
	perMinute: number;
	createdBy: string;
}

export interface ApiKeyCall {
	id: number;
	key_id: string;
	at: string;
	scope: string;
	campaign_id: string | null;
	run_id: string | null;
	status: number;
	error: string | null;
}

const INFO_COLUMNS = `id, name, prefix, scopes, campaigns, rate_limit AS rate_limit_per_minute, created_by, created_at::text AS created_at,
	revoked_at::text AS revoked_at, revoked_by, last_used_at::text AS last_used_at, calls::int AS calls`;

const parsed = <T extends { scopes: unknown; campaigns: unknown }>(row: T): T => ({
	...row,
	scopes: typeof row.scopes === 'string' ? JSON.parse(row.scopes) : row.scopes,
	campaigns: typeof row.campaigns === 'string' ? JSON.parse(row.campaigns) : row.campaigns,
});

/** Stores a new key; false when the id is taken (the caller draws another). */
export async function insertApiKey(store: CampaignStore, k: NewApiKeyRow): Promise<boolean> {
	const r = await driverOf(store).query(
		`INSERT INTO eca_api_keys (id, name, prefix, salt, secret_hash, scopes, campaigns, rate_limit, created_by)
		 VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9) ON CONFLICT (id) DO NOTHING`,
		[k.id, k.name, k.prefix, k.salt, k.secretHash, JSON.stringify(k.scopes), k.campaigns === null ? null : JSON.stringify(k.campaigns), k.perMinute, k.createdBy],
	);
	return r.rowCount === 1;
}

/** The key with this id, hash included (read on every call: nothing is cached, so a revocation counts at once). */
export async function apiKeyRow(store: CampaignStore, id: string): Promise<ApiKeyRow | undefined> {
	const r = await driverOf(store).query<ApiKeyRow>(`SELECT ${INFO_COLUMNS}, salt, secret_hash FROM eca_api_keys WHERE id = $1`, [id]);
	return r.rows[0] ? parsed(r.rows[0]) : undefined;
}

/** The key without its hash; undefined when there is none. */
export async function apiKeyInfo(store: CampaignStore, id: string): Promise<ApiKeyInfo | undefined> {
	const r = await driverOf(store).query<ApiKeyInfo>(`SELECT ${INFO_COLUMNS} FROM eca_api_keys WHERE id = $1`, [id]);
	return r.rows[0] ? parsed(r.rows[0]) : undefined;
}

/** Keys newest first, without hashes; revoked ones only when asked. */
export async function apiKeyList(store: CampaignStore, opts: { includeRevoked?: boolean; limit?: number } = {}): Promise<ApiKeyInfo[]> {
	const r = await driverOf(store).query<ApiKeyInfo>(
		`SELECT ${INFO_COLUMNS} FROM eca_api_keys WHERE $1::boolean OR revoked_at IS NULL ORDER BY created_at DESC, id LIMIT $2`,
		[opts.includeRevoked === true, Math.min(Math.max(1, opts.limit ?? 1000), 10_000)],
	);
	return r.rows.map(parsed);
}

/**
 * Revokes the key (the first revocation's time and author are kept). Returns the key and whether it
 * was already revoked; undefined when there is no such key.
 */
export async function revokeApiKeyRow(store: CampaignStore, id: string, by: string): Promise<{ key: ApiKeyInfo; already: boolean } | undefined> {
	const db = driverOf(store);
	const r = await db.query<{ id: string }>(`UPDATE eca_api_keys SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id`, [id, by.slice(0, 200)]);
	const key = await apiKeyInfo(store, id);
	return key ? { key, already: r.rowCount === 0 } : undefined;
}

/**
 * One call of a key: counted on the key (calls, last_used_at) and logged with its outcome, in one
 * statement. Only authenticated calls are recorded (the secret matched, the key was not revoked).
 * Returns the key's call count (0 when the key is gone).
 */
export async function recordApiKeyCallRow(
	store: CampaignStore,
	c: { keyId: string; scope: string; campaignId?: string; runId?: string; status: number; error?: string },
): Promise<number> {
	const r = await driverOf(store).query<{ calls: number }>(
		`WITH k AS (UPDATE eca_api_keys SET calls = calls + 1, last_used_at = now() WHERE id = $1 RETURNING id, calls),
		 logged AS (INSERT INTO eca_api_key_calls (key_id, scope, campaign_id, run_id, status, error) SELECT k.id, $2, $3, $4, $5, $6 FROM k RETURNING id)
		 SELECT calls::float8 AS calls FROM k`,
		[c.keyId, c.scope, c.campaignId?.slice(0, 100) ?? null, c.runId?.slice(0, 100) ?? null, c.status, c.error?.slice(0, 500) ?? null],
	);
	return r.rows[0]?.calls ?? 0;
}

/** Keeps a key's latest `keep` logged calls and deletes older ones (its index walks them newest first); returns how many went. */
export async function pruneApiKeyCallRows(store: CampaignStore, keyId: string, keep: number): Promise<number> {
	const r = await driverOf(store).query(
		`DELETE FROM eca_api_key_calls WHERE key_id = $1 AND id <= (SELECT id FROM eca_api_key_calls WHERE key_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)`,
		[keyId, Math.max(0, Math.floor(keep))],
	);
	return r.rowCount;
}

/** A key's latest calls, newest first. */
export async function apiKeyCallLog(store: CampaignStore, keyId: string, limit = 100): Promise<ApiKeyCall[]> {
	const r = await driverOf(store).query<ApiKeyCall>(
		`SELECT id::float8 AS id, key_id, at::text AS at, scope, campaign_id, run_id, status, error FROM eca_api_key_calls WHERE key_id = $1 ORDER BY id DESC LIMIT $2`,
		[keyId, Math.min(Math.max(1, limit), 10_000)],
	);
	return r.rows;
}
