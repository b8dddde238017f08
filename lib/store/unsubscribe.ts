/** Unsubscribe links: the store's signing secret, the delivery a link names, and what a click changes. */
import { randomBytes } from 'node:crypto';
import type { UnsubscribeRef } from '../unsubscribe/token';
import { driverOf, type CampaignStore } from './campaignStore';
import { applyEvents } from './events';

const SECRET_NAME = 'unsubscribe';
const secrets = new WeakMap<CampaignStore, Buffer>();

/**
 * The key unsubscribe links are signed with. The sending side creates it once (`create: true`; two
 * processes racing both end up with the first one written); the receiving side never creates one.
 */
export async function unsubscribeSecret(store: CampaignStore, options: { create: boolean }): Promise<Buffer | undefined> {
	const cached = secrets.get(store);
	if (cached) return cached;
	const db = driverOf(store);
	const read = async () => (await db.query<{ value: Buffer | Uint8Array }>('SELECT value FROM eca_secrets WHERE name = $1', [SECRET_NAME])).rows[0]?.value;
	let value = await read();
	if (!value && options.create) {
		await db.query('INSERT INTO eca_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [SECRET_NAME, randomBytes(32)]);
		value = await read();
	}
	if (!value) return undefined;
	const secret = Buffer.from(value);
	secrets.set(store, secret);
	return secret;
}

/** The delivery a valid link names, with what the page and the suppression need. */
export interface UnsubscribeTarget {
	email: string;
	campaignId: string;
	step: number;
	deliveryId: string;
	campaignName: string;
	language?: string;
	/** The ASM group the campaign sends under (its unsubscribes are that group's), else undefined: global. */
	groupId?: number;
	scope: string;
	/** Already unsubscribed in that scope. */
	suppressed: boolean;
}

export async function unsubscribeTarget(store: CampaignStore, ref: UnsubscribeRef): Promise<UnsubscribeTarget | undefined> {
	const r = await driverOf(store).query<{ email: string; name: string | null; language: string | null; group_id: string | null }>(
		`SELECT lower(d.email) AS email, COALESCE(c.name, c.definition->>'name', d.campaign_id) AS name, c.definition->>'language' AS language,
			c.definition->>'unsubscribeGroupId' AS group_id
		 FROM eca_deliveries d LEFT JOIN eca_campaigns c ON c.id = d.campaign_id
		 WHERE d.mode = 'live' AND d.campaign_id = $1 AND d.step = $2 AND d.delivery_id = $3`,
		[ref.campaignId, ref.step, ref.deliveryId],
	);
	const row = r.rows[0];
	if (!row) return undefined;
	const groupId = row.group_id && /^[1-9][0-9]{0,9}$/.test(row.group_id) ? Number(row.group_id) : undefined;
	const scope = groupId ? `group:${groupId}` : 'global';
	const suppressed = (await store.suppressedAmong([row.email], groupId)).size > 0;
	return { email: row.email, campaignId: ref.campaignId, step: ref.step, deliveryId: ref.deliveryId, campaignName: row.name ?? ref.campaignId, language: row.language ?? undefined, groupId, scope, suppressed };
}

/**
 * A click's effect, the way SendGrid's own unsubscribe events have it (suppression in the campaign's
 * scope, sequences stopped, the delivery marked), recorded as an event of ours. Posting the same
 * link again changes nothing; after an undo, a new unsubscribe counts again.
 */
export async function applyLinkUnsubscribe(
	store: CampaignStore,
	target: UnsubscribeTarget,
	action: 'unsubscribe' | 'resubscribe',
	at: string,
): Promise<{ changed: boolean; sequences_stopped: number }> {
	if (action === 'resubscribe') {
		if (!target.suppressed) return { changed: false, sequences_stopped: 0 };
		await store.liftSuppression(target.email, target.scope);
		return { changed: true, sequences_stopped: 0 };
	}
	if (target.suppressed) return { changed: false, sequences_stopped: 0 };
	const lift = await driverOf(store).query<{ at: string }>('SELECT lifted_at::text AS at FROM eca_suppression_lifts WHERE email = $1 AND scope = $2', [target.email, target.scope]);
	const r = await applyEvents(store, [
		{
			event: target.groupId ? 'group_unsubscribe' : 'unsubscribe',
			email: target.email,
			timestamp: at,
			// One event per (delivery, undo so far): a provider posting twice records one unsubscribe.
			sg_event_id: `link-unsubscribe:${target.campaignId}:${target.step}:${target.deliveryId}:${lift.rows[0]?.at ?? '0'}`,
			campaign_id: target.campaignId,
			step: target.step,
			delivery_id: target.deliveryId,
			asm_group_id: target.groupId,
		},
	]);
	return { changed: r.inserted > 0, sequences_stopped: r.sequencesStopped };
}
