/** Registering the trigger's URL with SendGrid's Event Webhook settings API (multiple webhooks). */
import type { SendGridTransport } from '../../lib/sendgrid/client';

/** n8n event names → the settings API's flags. */
export const EVENT_FLAGS: Record<string, string> = {
	processed: 'processed',
	delivered: 'delivered',
	deferred: 'deferred',
	dropped: 'dropped',
	bounce: 'bounce',
	open: 'open',
	click: 'click',
	spamreport: 'spam_report',
	unsubscribe: 'unsubscribe',
	group_unsubscribe: 'group_unsubscribe',
	group_resubscribe: 'group_resubscribe',
};

interface WebhookSetting {
	id: string;
	url: string;
	enabled?: boolean;
}

function list(body: unknown): WebhookSetting[] {
	if (Array.isArray(body)) return body as WebhookSetting[];
	const b = body as { webhooks?: WebhookSetting[]; result?: WebhookSetting[] } | undefined;
	return b?.webhooks ?? b?.result ?? [];
}

export async function findWebhook(sg: SendGridTransport, url: string): Promise<WebhookSetting | undefined> {
	const res = await sg.request('GET', '/v3/user/webhooks/event/settings/all');
	return list(res.body).find((w) => w.url === url);
}

export async function signedPublicKey(sg: SendGridTransport, id: string, enable: boolean): Promise<string | undefined> {
	const res = enable
		? await sg.request('PATCH', `/v3/user/webhooks/event/settings/signed/${encodeURIComponent(id)}`, { enabled: true })
		: await sg.request('GET', `/v3/user/webhooks/event/settings/signed/${encodeURIComponent(id)}`);
	const key = (res.body as { public_key?: string } | undefined)?.public_key;
	return key || undefined;
}

export async function createWebhook(sg: SendGridTransport, url: string, events: string[], name: string): Promise<{ id: string; publicKey?: string }> {
	const flags: Record<string, boolean> = {};
	for (const [event, flag] of Object.entries(EVENT_FLAGS)) flags[flag] = events.includes(event);
	const res = await sg.request('POST', '/v3/user/webhooks/event/settings', { enabled: true, url, friendly_name: name.slice(0, 100), ...flags });
	const id = String((res.body as { id?: string }).id ?? '');
	if (!id) throw new Error('SendGrid did not return an id for the new Event Webhook');
	return { id, publicKey: await signedPublicKey(sg, id, true) };
}

export async function deleteWebhook(sg: SendGridTransport, id: string): Promise<void> {
	await sg.request('DELETE', `/v3/user/webhooks/event/settings/${encodeURIComponent(id)}`);
}
