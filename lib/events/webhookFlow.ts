/**
 * What the SendGrid Trigger does with a request, without n8n: the Event Webhook post (size limit,
 * verification key, signature, parsing, filtering, store effects, output shape) and the Inbound Parse
 * post (secret, size limit, reading, store effects). The node passes what n8n handed it and turns the
 * answer into a response and items.
 */
import type { CampaignStore } from '../store';
import { applyEvents } from '../store/events';
import { CampaignEvent, EventBodyError, normalizeEvent, parseEventBody } from './normalize';
import { chooseVerificationKey, verifyEventSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signature';
import { InboundReply, multipartFields, readInboundReply, secretMatches } from './reply';
import { ReplyOptions, applyInboundReply } from './replyFlow';
import { type GuardThresholds, type Hold, describeHold } from '../guard/breaker';

/** A refusal (answered with its status and error, no items), or 200 with the items to emit. */
export type WebhookAnswer = { status: number; error: string } | { status: 200; items: Array<Record<string, unknown>>; stats?: EventBatchStats; paused?: Hold[] };

/** What an event post held, for the trigger's log line (counts only: lib/observability/logLines.ts). */
export interface EventBatchStats {
	/** Events in the post; those of the types the node listens for; those new to the store (undefined without a store). */
	received: number;
	kept: number;
	fresh?: number;
	by_event: Record<string, number>;
	campaigns: number;
	paused: number;
}

export type OutputMode = 'event' | 'request' | 'none';

export interface EventPostSettings {
	maxBodyMb?: number;
	toleranceSeconds?: number;
	dropMachineOpens?: boolean;
	emitDuplicates?: boolean;
	stopSequenceOnClick?: boolean;
	/** Event types to keep; others are answered 200 and dropped. */
	wanted: readonly string[];
	output: OutputMode;
	/** The reputation guard's limits (absent: off). Needs the store. */
	guard?: GuardThresholds;
}

export interface EventPost {
	/** The exact bytes received: the signature is checked over them, never over re-serialised JSON. */
	rawBody: Buffer;
	headers: Record<string, string | undefined>;
	/** Verification keys from the node (manual registration), the credential and the automatic registration. */
	keys: { node?: unknown; credential?: unknown; registration?: unknown };
	/** The campaign store, or undefined when Update Campaign Store is off (then nothing is deduplicated). */
	store?: () => Promise<CampaignStore>;
}

const tooLarge = (bytes: number, maxMb: number | undefined) => bytes > Number(maxMb ?? 5) * 1024 * 1024;

/** One Event Webhook post. */
export async function receiveEventPost(post: EventPost, settings: EventPostSettings): Promise<WebhookAnswer> {
	if (tooLarge(post.rawBody.length, settings.maxBodyMb)) return { status: 413, error: 'request body too large' };
	const chosen = chooseVerificationKey({ node: post.keys.node as string | undefined, credential: post.keys.credential as string | undefined, registration: post.keys.registration as string | undefined });
	if (!chosen) return { status: 403, error: 'no verification key configured for this SendGrid Trigger' };
	const verdict = verifyEventSignature({
		publicKey: chosen.key,
		signature: post.headers[SIGNATURE_HEADER],
		timestamp: post.headers[TIMESTAMP_HEADER],
		rawBody: post.rawBody,
		toleranceSeconds: Number(settings.toleranceSeconds ?? 600),
	});
	if (!verdict.ok) return { status: 403, error: `signature verification failed: ${verdict.reason}` };

	let events: CampaignEvent[];
	try {
		// normalizeEvent never throws: an odd field is read, or left out and said in the event's `problems`.
		events = parseEventBody(post.rawBody).map((e) => normalizeEvent(e));
	} catch (e) {
		if (e instanceof EventBodyError) return { status: 400, error: e.message };
		throw e;
	}
	const received = events.length;
	const wanted = new Set(settings.wanted);
	events = events.filter((e) => wanted.has(e.event));
	let fresh: number | undefined;
	const dropMachine = settings.dropMachineOpens !== false;

	let output = events;
	let paused: Hold[] = [];
	if (post.store) {
		try {
			const r = await applyEvents(await post.store(), events, { countMachineOpens: !dropMachine, stopSequenceOnClick: settings.stopSequenceOnClick === true, guard: settings.guard });
			paused = r.paused;
			fresh = r.fresh.length;
			if (!settings.emitDuplicates) output = r.fresh;
		} catch (e) {
			// SendGrid retries a batch that was not answered 2xx, so nothing accepted is ever lost.
			return { status: 500, error: `the campaign store could not record the events: ${(e as Error).message}` };
		}
	}
	if (dropMachine && settings.output !== 'none') output = output.filter((e) => !(e.event === 'open' && e.machine_open));
	// Counted in Maps, one pass: a post's event names become the object's keys only once each.
	const kinds = new Map<string, number>();
	const campaigns = new Set<string>();
	for (const e of events) {
		kinds.set(e.event, (kinds.get(e.event) ?? 0) + 1);
		if (e.campaign_id) campaigns.add(e.campaign_id);
	}
	const stats: EventBatchStats = { received, kept: events.length, fresh, by_event: Object.fromEntries(kinds), campaigns: campaigns.size, paused: paused.length };
	return { status: 200, items: withPauses(shapeOutput(output, settings.output), paused, settings.output), stats, paused };
}

/**
 * A pause the reputation guard made is told to the workflow (an alert branch can route it): one
 * `campaign_paused` item per hold, or a `paused` list on the request's item.
 */
export function withPauses(items: Array<Record<string, unknown>>, paused: Hold[], mode: OutputMode): Array<Record<string, unknown>> {
	if (paused.length === 0 || mode === 'none') return items;
	const told = paused.map((h) => {
		const [kind, id] = [h.scope.slice(0, h.scope.indexOf(':')), h.scope.slice(h.scope.indexOf(':') + 1)];
		return { event: 'campaign_paused', scope: h.scope, ...(kind === 'campaign' ? { campaign_id: id } : { account: id }), cause: h.cause, reason: h.reason, message: describeHold(h), held_by: h.held_by, held_at: h.held_at, detail: h.detail ?? {} };
	});
	if (mode === 'event') return [...items, ...told];
	if (items.length === 0) return [{ events: [], count: 0, paused: told }];
	return [{ ...items[0], paused: told }, ...items.slice(1)];
}

/** Events as the workflow gets them: one item each, one item per request, or none (Store Only). */
export function shapeOutput(events: CampaignEvent[], mode: OutputMode): Array<Record<string, unknown>> {
	if (events.length === 0 || mode === 'none') return [];
	// A JSON round trip drops the fields an event does not have (normalised events carry them as undefined).
	const clean = JSON.parse(JSON.stringify(events)) as Array<Record<string, unknown>>;
	return mode === 'request' ? [{ events: clean, count: clean.length }] : clean;
}

export interface InboundPost {
	/** The secret this trigger expects (empty: none set, so every post is refused). */
	expectedSecret: string;
	/** Secrets the post carries: ?secret=, ?token= or the X-Inbound-Secret header. */
	givenSecrets: unknown[];
	/** The raw request bytes when n8n kept them (Read Raw Request Bytes), with their content type. */
	rawBody?: Buffer;
	contentType?: string;
	/** The form fields as n8n parsed them (each decoded as UTF-8). */
	fields: Record<string, unknown>;
	store?: () => Promise<CampaignStore>;
}

export interface InboundSettings extends ReplyOptions {
	maxBodyMb?: number;
	emitDuplicates?: boolean;
	output: OutputMode;
}

/** One Inbound Parse post: nothing changes without the secret; a post that cannot be read is kept as an item, never refused. */
export async function receiveInboundPost(post: InboundPost, settings: InboundSettings): Promise<WebhookAnswer> {
	if (!post.expectedSecret) return { status: 403, error: 'no Inbound Parse secret is set on this SendGrid Trigger; nothing was changed' };
	const given = post.givenSecrets.find((v) => typeof v === 'string' && v.length > 0) as string | undefined;
	if (!secretMatches(post.expectedSecret, given)) return { status: 403, error: 'wrong or missing Inbound Parse secret; nothing was changed' };
	if (post.rawBody && tooLarge(post.rawBody.length, settings.maxBodyMb)) return { status: 413, error: 'request body too large' };
	const emit = (json: Record<string, unknown>): WebhookAnswer => ({ status: 200, items: settings.output === 'none' ? [] : [JSON.parse(JSON.stringify(json)) as Record<string, unknown>] });
	let reply: InboundReply;
	try {
		const bytes = post.rawBody ? multipartFields(post.rawBody, post.contentType) : undefined;
		reply = await readInboundReply(post.fields, bytes);
	} catch (e) {
		// Inbound Parse does not retry a 4xx: a post that cannot be read is kept as an item, not refused.
		return emit({ ignored: true, reason: `the post could not be read: ${(e as Error).message}`.slice(0, 500) });
	}
	let outcome;
	try {
		outcome = await applyInboundReply(post.store ? await post.store() : undefined, reply, {
			requireAuth: settings.requireAuth,
			autoRepliesStop: settings.autoRepliesStop,
			suppressGlobally: settings.suppressGlobally,
		});
	} catch (e) {
		return { status: 500, error: `the campaign store could not record the reply: ${(e as Error).message}` };
	}
	if (!outcome.fresh && !settings.emitDuplicates) return { status: 200, items: [] };
	return emit(outcome.item);
}
