/**
 * The lists SendGrid keeps that a send can pick from: verified Sender Identities (the From) and IP
 * pools; and the per-send overrides (From, IP pool, unsubscribe group) a node puts over a campaign's.
 */
import { CampaignInputError, type EmailPayload, describeIssues, ipPoolName, sender } from '../schemas';
import type { SendGridTransport } from './client';

/** One Sender Identity as GET /v3/verified_senders lists it (the fields used here). */
export interface VerifiedSender {
	id: number;
	nickname: string;
	from_email: string;
	from_name?: string;
	reply_to?: string;
	verified: boolean;
	locked?: boolean;
}

/** Senders per page (limit) and pages read at most: enough for any account's list, bounded. */
const SENDER_PAGE = 100;
const SENDER_PAGES = 20;

/**
 * The account's Sender Identities, verified and not: GET /v3/verified_senders answers
 * `{ results: [...] }`, paged by `limit` and `lastSeenID` (senders with a higher id).
 */
export async function listVerifiedSenders(transport: SendGridTransport): Promise<VerifiedSender[]> {
	const all: VerifiedSender[] = [];
	let lastSeen: number | undefined;
	for (let page = 0; page < SENDER_PAGES; page++) {
		const res = await transport.request('GET', `/v3/verified_senders?limit=${SENDER_PAGE}${lastSeen === undefined ? '' : `&lastSeenID=${lastSeen}`}`);
		const results = (res.body as { results?: unknown } | undefined)?.results;
		const list = Array.isArray(results) ? (results as VerifiedSender[]).filter((s) => s && typeof s.from_email === 'string' && Number.isInteger(s.id)) : [];
		all.push(...list);
		if (list.length < SENDER_PAGE) break;
		lastSeen = Math.max(...list.map((s) => s.id));
	}
	return all;
}

/** A sender as a From value: "Name <address>", or the address alone. */
export function fromValue(s: { from_email: string; from_name?: string }): string {
	const name = s.from_name?.replace(/[<>"\r\n]/g, ' ').trim();
	return name ? `${name} <${s.from_email}>` : s.from_email;
}

/** The account's IP pools: GET /v3/ips/pools answers an array of `{ name }`. */
export async function listIpPools(transport: SendGridTransport): Promise<string[]> {
	const res = await transport.request('GET', '/v3/ips/pools');
	const list = Array.isArray(res.body) ? (res.body as Array<{ name?: unknown }>) : [];
	return list.map((p) => p?.name).filter((n): n is string => typeof n === 'string' && n !== '');
}

/** A send's From, IP pool and unsubscribe group, over what each payload carries. */
export interface SendOverrides {
	from?: { email: string; name?: string };
	ip_pool_name?: string;
	asm_group_id?: number;
}

/**
 * Reads "Name <address>" or "address" as a From; the same checks as a campaign's `from`. `field` names
 * the parameter in the error.
 */
export function parseFrom(text: string, field: string): { email: string; name?: string } {
	// Split by hand, not by a regex: linear whatever the input (a pattern here was polynomial on long runs of spaces).
	const t = text.trim();
	const open = t.endsWith('>') ? t.lastIndexOf('<') : -1;
	let email = t;
	let name: string | undefined;
	if (open >= 0) {
		email = t.slice(open + 1, -1).trim();
		const rawName = t.slice(0, open).trim();
		name = (rawName.length >= 2 && rawName.startsWith('"') && rawName.endsWith('"') ? rawName.slice(1, -1) : rawName).trim() || undefined;
	}
	const parsed = sender.safeParse({ email, ...(name ? { name } : {}) });
	if (!parsed.success) throw new CampaignInputError(`${field} must be an address or "Name <address>" (got "${text.slice(0, 120)}"): ${describeIssues(parsed.error)}`, field);
	return parsed.data;
}

/** Checks an IP pool name as SendGrid's mail send takes it. */
export function parseIpPoolName(text: string, field: string): string {
	const parsed = ipPoolName.safeParse(text.trim());
	if (!parsed.success) throw new CampaignInputError(`${field} ${describeIssues(parsed.error)} (got "${text.slice(0, 80)}")`, field);
	return parsed.data;
}

/**
 * The payloads with the overrides in place. A From given as an address alone keeps the payload's
 * sender name.
 */
export function withOverrides(payloads: EmailPayload[], o: SendOverrides | undefined): EmailPayload[] {
	if (!o || (!o.from && !o.ip_pool_name && !o.asm_group_id)) return payloads;
	return payloads.map((p) => ({
		...p,
		...(o.from ? { from: o.from.name ? o.from : { email: o.from.email, ...(p.from.name ? { name: p.from.name } : {}) } } : {}),
		...(o.ip_pool_name ? { ip_pool_name: o.ip_pool_name } : {}),
		...(o.asm_group_id ? { asm_group_id: o.asm_group_id } : {}),
	}));
}
