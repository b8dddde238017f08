/** Unsubscribe links: the store's signing secret, the delivery a link names, and what a click changes. */
import type { UnsubscribeRef } from '../unsubscribe/token';
import { driverOf, type CampaignStore } from './campaignStore';
import { applyEvents } from './events';
import { storeSecret } from './secrets';

/**
 * The key unsubscribe links are signed with. The sending side creates it once (`create: true`; two
 * processes racing both end up with the first one written); the receiving side never creates one.
 */
export function unsubscribeSecret(store: CampaignStore, options: { create: boolean }): Promise<Buffer | undefined> {
	return storeSecret(store, 'unsubscribe', options);
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

/**
 * What a link unsubscribes from: `auto` — the campaign's ASM group when it sends under one, else
 * everything from this sender; `campaign` — this campaign only (its sequences, its later steps);
 * `global` — everything from this sender.
 */
export type UnsubscribeScope = 'auto' | 'campaign' | 'global';

export async function unsubscribeTarget(store: CampaignStore, ref: UnsubscribeRef, mode: UnsubscribeScope = 'auto'): Promise<UnsubscribeTarget | undefined> {
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
	const scope = mode === 'campaign' ? `campaign:${ref.campaignId}` : mode === 'auto' && groupId ? `group:${groupId}` : 'global';
	const held = await driverOf(store).query('SELECT 1 FROM eca_suppressions WHERE email = $1 AND scope = $2', [row.email, scope]);
	const suppressed = held.rows.length > 0;
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
	if (target.scope.startsWith('campaign:')) return campaignOnly(store, target, at);
	const lift = await driverOf(store).query<{ at: string }>('SELECT lifted_at::text AS at FROM eca_suppression_lifts WHERE email = $1 AND scope = $2', [target.email, target.scope]);
	const r = await applyEvents(store, [
		{
			event: target.scope.startsWith('group:') ? 'group_unsubscribe' : 'unsubscribe',
			email: target.email,
			timestamp: at,
			// One event per (delivery, undo so far): a provider posting twice records one unsubscribe.
			sg_event_id: `link-unsubscribe:${target.campaignId}:${target.step}:${target.deliveryId}:${lift.rows[0]?.at ?? '0'}`,
			campaign_id: target.campaignId,
			step: target.step,
			delivery_id: target.deliveryId,
			asm_group_id: target.scope.startsWith('group:') ? target.groupId : undefined,
		},
	]);
	return { changed: r.inserted > 0, sequences_stopped: r.sequencesStopped };
}

/** This campaign only: its suppression, its sequences stopped, the delivery marked; nothing global. */
async function campaignOnly(store: CampaignStore, target: UnsubscribeTarget, at: string): Promise<{ changed: boolean; sequences_stopped: number }> {
	return driverOf(store).transaction(async (tx) => {
		const added = await store.addSuppressions([{ email: target.email, scope: target.scope, reason: 'unsubscribe', source: `link:${target.deliveryId}` }], tx);
		if (added === 0) return { changed: false, sequences_stopped: 0 };
		const stopped = await tx.query(
			`UPDATE eca_enrollments SET status = 'stopped', stop_reason = 'unsubscribed', next_step = NULL, next_send_at = NULL, updated_at = now()
			 WHERE campaign_id = $1 AND lower(email) = $2 AND status = 'active'`,
			[target.campaignId, target.email],
		);
		await tx.query(
			`UPDATE eca_deliveries SET unsubscribed_at = COALESCE(unsubscribed_at, $3::timestamptz), updated_at = now()
			 WHERE mode = 'live' AND campaign_id = $1 AND delivery_id = $2`,
			[target.campaignId, target.deliveryId, at],
		);
		return { changed: true, sequences_stopped: stopped.rowCount };
	});
}
