/**
 * Every live marketing send offers a way out: the package's own endpoint (or another https one-click
 * endpoint) in the List-Unsubscribe header, or a SendGrid unsubscribe group. Gmail and Yahoo require
 * RFC 8058 one-click unsubscribe from bulk senders; a campaign without one is refused before anything
 * is claimed or sent, unless it is marked transactional.
 */
import type { EmailPayload } from '../schemas';

export function unsubscribeProblem(payload: Pick<EmailPayload, 'campaign_id' | 'step' | 'unsubscribe_url' | 'asm_group_id' | 'transactional'>): string | undefined {
	const where = `Campaign "${payload.campaign_id}" step ${payload.step}`;
	if (payload.unsubscribe_url !== undefined && payload.unsubscribe_url !== '') {
		let url: URL;
		try {
			url = new URL(payload.unsubscribe_url);
		} catch {
			return `${where}: the Unsubscribe URL is not a URL — use the Campaign Unsubscribe Trigger's Production URL (https)`;
		}
		if (url.protocol !== 'https:')
			return `${where}: the Unsubscribe URL must be https (mailbox providers only POST one-click unsubscribes over https) — put n8n's unsubscribe webhook behind your https address`;
		return undefined;
	}
	if (payload.asm_group_id || payload.transactional) return undefined;
	return `${where} has no unsubscribe mechanism, and live marketing mail must offer one (Gmail and Yahoo require one-click unsubscribe). Set the campaign's Unsubscribe URL to the Campaign Unsubscribe Trigger's Production URL, or an Unsubscribe Group ID (SendGrid ASM), or mark the campaign Transactional if these are receipts or notifications. Nobody was sent.`;
}
