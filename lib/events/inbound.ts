/**
 * SendGrid Inbound Parse: a reply arrives as multipart form fields (from, to, subject, text,
 * headers...). The sender is marked as replied, which ends their sequences and suppresses them.
 */
import { createHash } from 'node:crypto';
import { isValidEmail } from '../schemas';
import { CampaignEvent, storableText } from './normalize';

export function addressIn(field: unknown): string | undefined {
	if (typeof field !== 'string') return undefined;
	const angle = /<([^<>\s]+@[^<>\s]+)>/.exec(field);
	const email = (angle ? angle[1] : field.trim().split(/[\s,;]+/)[0]).toLowerCase();
	return isValidEmail(email) ? email : undefined;
}

function header(headers: unknown, name: string): string | undefined {
	if (typeof headers !== 'string') return undefined;
	const m = new RegExp(`^${name}:\\s*(.+)$`, 'im').exec(headers);
	return m?.[1].trim();
}

/** A reply as an event: stored once (its Message-ID), it stops sequences and suppresses the sender. */
export function replyEvent(fields: Record<string, unknown>, now = Date.now()): CampaignEvent | undefined {
	const email = addressIn(fields.from);
	if (!email) return undefined;
	const messageId = header(fields.headers, 'Message-ID') ?? `${email}\n${fields.subject ?? ''}\n${String(fields.text ?? '').slice(0, 500)}`;
	return {
		event: 'reply',
		email,
		timestamp: new Date(now).toISOString(),
		sg_event_id: `reply:${createHash('sha256').update(messageId).digest('base64url').slice(0, 22)}`,
		reason: typeof fields.subject === 'string' ? storableText(fields.subject.slice(0, 200)) : undefined,
	};
}
