/** Named random keys kept in the campaign store (eca_secrets): created once, shared by every process and worker. */
import { randomBytes } from 'node:crypto';
import { driverOf, type CampaignStore } from './campaignStore';

const cache = new WeakMap<CampaignStore, Map<string, Buffer>>();

/**
 * The store's key called `name`: 32 random bytes. With `create`, made on first use (two processes racing
 * both end up with the first one written); without it, undefined until someone made it.
 */
export async function storeSecret(store: CampaignStore, name: string, options: { create: boolean }): Promise<Buffer | undefined> {
	let mine = cache.get(store);
	if (!mine) cache.set(store, (mine = new Map()));
	const cached = mine.get(name);
	if (cached) return cached;
	const db = driverOf(store);
	const read = async () => (await db.query<{ value: Buffer | Uint8Array }>('SELECT value FROM eca_secrets WHERE name = $1', [name])).rows[0]?.value;
	let value = await read();
	if (!value && options.create) {
		await db.query('INSERT INTO eca_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, randomBytes(32)]);
		value = await read();
	}
	if (!value) return undefined;
	const secret = Buffer.from(value);
	mine.set(name, secret);
	return secret;
}
