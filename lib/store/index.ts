/**
 * Opens (once per process and connection) the campaign store: Postgres when a Campaign Database
 * credential is given, otherwise an embedded PGlite database under the n8n user folder.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CampaignStore } from './campaignStore';
import { PostgresConnection, SqlDriver, connectPostgres, openPglite } from './driver';

// Named one by one: campaignStore.ts also exports driverOf, which stays inside lib/store (add new exports here).
export { CampaignStore } from './campaignStore';
export type { CachedCopy, ClaimedRow, ClaimOptions, ClaimOutcome, ClaimRow, ExistingDelivery, OutcomeRequest, ReplyTarget, RunCounts, Suppression } from './campaignStore';
export type { PostgresConnection, SqlDriver, Queryable } from './driver';
export { StoreConnectionError, connectPostgres, openPglite, checkSchemaName } from './driver';
export { queryContacts, queryContactPages, contactsFromQuery, contactPagesFromQuery, parseQueryParameters, CONTACTS_QUERY_DEFAULTS } from './contactsQuery';
export * from './abtest';
export * from './checkpoints';
export * from './enrollments';
export * from './stats';
export * from './unsubscribe';
export * from './scheduled';
export * from './dashboard';
export { accountsOfCampaign, activeHold, holdLog, liftHolds, listHolds, placeHold, reputationOf, warmupHistory, type HoldLogEntry } from './guard';

export * from './apiKeys';
export type StoreConfig = { postgres: PostgresConnection } | { embeddedDir?: string; inMemory?: boolean };

/** Where the embedded store lives: `<n8n user folder>/.n8n/email-campaign-agent/store`. */
export function defaultEmbeddedDir(env: NodeJS.ProcessEnv = process.env): string {
	if (env.EMAIL_CAMPAIGN_STORE_DIR) return env.EMAIL_CAMPAIGN_STORE_DIR;
	const userFolder = env.N8N_USER_FOLDER || homedir();
	return join(userFolder, '.n8n', 'email-campaign-agent', 'store');
}

const open = new Map<string, Promise<CampaignStore>>();

function keyOf(config: StoreConfig): string {
	if ('postgres' in config) {
		const p = config.postgres;
		// The password is part of the identity but never kept in clear in the key.
		const secret = createHash('sha256').update(p.password ?? '').digest('hex').slice(0, 12);
		return `pg:${p.user}@${p.host}:${p.port}/${p.database}/${p.schema ?? ''}/${p.ssl ?? ''}/${secret}`;
	}
	if (config.inMemory) return `memory:${Math.random()}`;
	return `pglite:${config.embeddedDir ?? defaultEmbeddedDir()}`;
}

async function create(config: StoreConfig): Promise<CampaignStore> {
	let driver: SqlDriver;
	if ('postgres' in config) driver = await connectPostgres(config.postgres);
	else if (config.inMemory) driver = await openPglite(undefined);
	else {
		const dir = config.embeddedDir ?? defaultEmbeddedDir();
		mkdirSync(dir, { recursive: true });
		driver = await openPglite(dir);
	}
	const store = new CampaignStore(driver);
	try {
		await store.migrate();
	} catch (e) {
		await driver.close().catch(() => undefined);
		throw e;
	}
	return store;
}

/** The shared store for a configuration; every execution in this process reuses it. */
export function getCampaignStore(config: StoreConfig): Promise<CampaignStore> {
	const key = keyOf(config);
	let store = open.get(key);
	if (!store) {
		store = create(config);
		open.set(key, store);
		// A failed open is not cached: the next execution tries again (e.g. after Postgres restarts).
		store.catch(() => open.delete(key));
	}
	return store;
}

/** Connects to a Campaign Database with one connection, runs a trivial query and disconnects (the credential test). */
export async function checkCampaignDatabase(connection: PostgresConnection): Promise<void> {
	const db = await connectPostgres({ ...connection, max: 1 });
	try {
		await db.query('SELECT 1');
	} finally {
		await db.close();
	}
}

/** Closes every store this process opened (tests and shutdown). */
export async function closeAllStores(): Promise<void> {
	const all = [...open.values()];
	open.clear();
	await Promise.all(all.map((p) => p.then((s) => s.close()).catch(() => undefined)));
}
