/**
 * The unsubscribe endpoint (RFC 8058 one-click and the footer link's page), independent of n8n:
 * - POST `List-Unsubscribe=One-Click` (what Gmail, Yahoo and other providers send): 200, no redirect,
 *   the address suppressed (its ASM group's scope when the campaign sends under one, else globally;
 *   or this campaign only, or globally, as the endpoint is configured)
 *   and its sequences stopped, once however often it is posted;
 * - GET (a person clicking the footer link): a page with a confirm button; it changes nothing, so
 *   mail scanners that prefetch links unsubscribe nobody;
 * - POST `List-Unsubscribe=Resubscribe` from that page: the undo;
 * - a missing, malformed or tampered token: 400/403 and nothing changes.
 * The link never carries the address: the delivery it names gives it.
 */
import { applyLinkUnsubscribe, unsubscribeSecret, unsubscribeTarget, type CampaignStore, type UnsubscribeScope } from '../store';
import { unsubscribePage } from './page';
import { verifyUnsubscribeQuery } from './token';

export interface UnsubscribeRequest {
	method: string;
	query: Record<string, unknown>;
	/** The parsed form body n8n hands a webhook (urlencoded or multipart), or the raw text. */
	body: unknown;
	/** The link's own URL, for the page's forms (they POST back to it, token included). */
	url?: string;
}

export interface UnsubscribeAnswer {
	status: number;
	contentType: 'text/html; charset=utf-8' | 'text/plain; charset=utf-8';
	body: string;
	/** What changed, for the workflow (undefined when nothing did). */
	item?: Record<string, unknown>;
}

const MAX_BODY_CHARS = 4096;

/** The List-Unsubscribe value of a POST body, and whether it came from our own page's form. */
export function postedAction(body: unknown): { action?: 'unsubscribe' | 'resubscribe'; fromPage: boolean } {
	let fields: Record<string, unknown> = {};
	if (typeof body === 'string' || Buffer.isBuffer(body)) {
		const text = String(body).slice(0, MAX_BODY_CHARS);
		fields = Object.fromEntries(new URLSearchParams(text));
	} else if (body && typeof body === 'object' && !Array.isArray(body)) fields = body as Record<string, unknown>;
	const value = fields['List-Unsubscribe'];
	const fromPage = fields.page === '1';
	if (value === 'One-Click') return { action: 'unsubscribe', fromPage };
	if (value === 'Resubscribe') return { action: 'resubscribe', fromPage };
	return { fromPage };
}

const text = (status: number, body: string): UnsubscribeAnswer => ({ status, contentType: 'text/plain; charset=utf-8', body });
const html = (status: number, body: string): UnsubscribeAnswer => ({ status, contentType: 'text/html; charset=utf-8', body });

export async function receiveUnsubscribe(req: UnsubscribeRequest, store: CampaignStore, options: { now?: () => number; scope?: UnsubscribeScope } = {}): Promise<UnsubscribeAnswer> {
	const method = req.method.toUpperCase();
	if (method !== 'GET' && method !== 'POST') return text(405, 'only GET and POST');
	const posted = method === 'POST' ? postedAction(req.body) : { fromPage: false };
	const secret = await unsubscribeSecret(store, { create: false });
	const verdict = verifyUnsubscribeQuery(secret, req.query);
	const invalidPage = () => html(verdict.ok ? 404 : verdict.status, unsubscribePage('invalid', { campaignName: '' }));
	if (!verdict.ok) return method === 'GET' || posted.fromPage ? invalidPage() : text(verdict.status, verdict.reason);
	const target = await unsubscribeTarget(store, verdict.ref, options.scope);
	// A valid token for a delivery this store does not hold (deleted, or a dry run): nothing to change.
	if (!target) return method === 'GET' || posted.fromPage ? invalidPage() : text(404, 'no such delivery in this campaign store');
	const page = { campaignName: target.campaignName, language: target.language, action: req.url };

	if (method === 'GET') return html(200, unsubscribePage(target.suppressed ? 'done' : 'ask', page));
	if (!posted.action) return text(400, 'the body must be List-Unsubscribe=One-Click (RFC 8058)');
	const at = new Date(options.now?.() ?? Date.now()).toISOString();
	const change = await applyLinkUnsubscribe(store, target, posted.action, at);
	const item = { event: posted.action === 'unsubscribe' ? 'link_unsubscribe' : 'link_resubscribe', email: target.email, campaign_id: target.campaignId, step: target.step, delivery_id: target.deliveryId, scope: target.scope, ...change, at };
	if (posted.fromPage) return { ...html(200, unsubscribePage(posted.action === 'unsubscribe' ? 'done' : 'back', page)), item };
	return { ...text(200, posted.action === 'unsubscribe' ? 'unsubscribed' : 'resubscribed'), item };
}
