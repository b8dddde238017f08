/**
 * What an Inbound Parse reply may change: nothing unless it is from a readable sender, names a
 * Message-ID we sent, passed SPF or DKIM (unless relaxed) and is not automatic (unless allowed).
 * A matched reply stops the contact's sequence in the campaign it answers, and suppresses them
 * everywhere only when asked. Anything else comes back as an item marked ignored, with its reason.
 */
import type { CampaignStore } from '../store/campaignStore';
import { storableText } from './normalize';
import { InboundReply, autoReplyReason, replyEventId, xMessageIdOf } from './reply';

export interface ReplyOptions {
	/** Default true: a reply that failed both SPF and DKIM is only reported. */
	requireAuth?: boolean;
	/** Default false: automatic replies do not stop a sequence. */
	autoRepliesStop?: boolean;
	/** Default false: a reply stops the answered campaign's sequence only. */
	suppressGlobally?: boolean;
	now?: () => number;
}

export interface ReplyOutcome {
	/** The item for the workflow. */
	item: Record<string, unknown>;
	/** False when the same reply was recorded before (SendGrid posted it again). */
	fresh: boolean;
}

export function replySummary(reply: InboundReply): Record<string, unknown> {
	return {
		event: 'reply',
		email: reply.from,
		from_source: reply.fromSource,
		subject: reply.subject,
		text: reply.text,
		to: reply.to,
		message_id: reply.messageId,
		in_reply_to: reply.answers,
		mode: reply.mode,
		spf: reply.auth.spf,
		dkim: reply.auth.dkim,
		...(reply.charsetLost.length > 0 ? { charset_lost: reply.charsetLost, charset_note: "n8n decoded these fields as UTF-8 before the trigger saw them; turn on the option Read Raw Request Bytes to decode them by SendGrid's charsets" } : {}),
	};
}

/** Why this reply must not change anything before the store is asked, or undefined. */
export function replyRefusal(reply: InboundReply, options: ReplyOptions = {}): { reason: string; auto?: boolean } | undefined {
	if (!reply.from) return { reason: 'no sender address could be read from From or the envelope' };
	if (reply.answers.length === 0) return { reason: 'unmatched: the reply names no Message-ID (In-Reply-To / References)' };
	if (options.requireAuth !== false && !reply.auth.pass) return { reason: "unauthenticated: SPF and DKIM both failed for the sender's domain" };
	const auto = autoReplyReason(reply.headers, reply.subject);
	if (auto && options.autoRepliesStop !== true) return { reason: `automatic reply (${auto})`, auto: true };
	return undefined;
}

/** Applies a reply to the store (or only judges it when store is undefined). */
export async function applyInboundReply(store: CampaignStore | undefined, reply: InboundReply, options: ReplyOptions = {}): Promise<ReplyOutcome> {
	const summary = replySummary(reply);
	const refusal = replyRefusal(reply, options);
	if (refusal) return { fresh: true, item: { ...summary, ...(refusal.auto ? { auto_reply: true } : {}), ignored: true, reason: refusal.reason } };
	if (!store) return { fresh: true, item: { ...summary, ignored: false, matched: false, note: 'Update Campaign Store is off: no sequence was stopped' } };
	const xIds = reply.answers.map(xMessageIdOf).filter((x): x is string => x !== undefined);
	const target = await store.findReplyTarget(reply.answers, xIds, reply.from);
	if (!target) return { fresh: true, item: { ...summary, ignored: true, reason: 'unmatched: the reply answers no message this campaign store sent' } };
	const at = new Date(options.now?.() ?? Date.now()).toISOString();
	const id = replyEventId(reply);
	const r = await store.recordReply({
		eventId: id,
		target,
		at,
		// What the sender wrote is made storable: Postgres jsonb refuses NUL and a surrogate cut in half, and a
		// refused reply would be answered 5xx and retried by SendGrid for days.
		payload: {
			event: 'reply',
			email: target.email,
			timestamp: at,
			sg_event_id: id,
			from: reply.from === undefined ? undefined : storableText(reply.from),
			subject: storableText(reply.subject.slice(0, 200)),
			message_id: reply.messageId === undefined ? undefined : storableText(reply.messageId),
			campaign_id: target.campaign_id,
			delivery_id: target.delivery_id,
		},
		suppressGlobally: options.suppressGlobally === true,
	});
	return {
		fresh: r.fresh,
		item: {
			...summary,
			ignored: false,
			sg_event_id: id,
			contact: target.email,
			campaign_id: target.campaign_id,
			step: target.step,
			delivery_id: target.delivery_id,
			matched_by: target.matched_by,
			sequences_stopped: r.sequencesStopped,
			suppressed_globally: r.suppressed,
			duplicate: !r.fresh,
		},
	};
}
