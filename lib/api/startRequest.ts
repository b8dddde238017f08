/**
 * The campaign API's request: validated with the same schemas as everything else, so a bad field
 * is named in the 400; and a fixed-window rate limit per caller kept in the store (shared by workers).
 */
import { z } from 'zod/v4';
import { campaign, contact, describeIssues } from '../schemas';
import { newRunId } from '../ids';
import type { CampaignStore } from '../store';

export const startCampaignRequest = z.object({
	campaign,
	contacts: z.array(contact).min(1, { message: 'needs at least one contact' }).max(10_000, { message: 'at most 10,000 contacts per request; send larger lists as a CSV upload' }),
	dry_run: z.boolean().default(false),
	steps: z.array(z.number().int().min(1).max(50, { message: 'steps are numbered 1 to 50' })).max(50, { message: 'at most 50 steps per request' }).optional(),
});
export type StartCampaignRequest = z.infer<typeof startCampaignRequest>;

export type Checked = { ok: true; request: StartCampaignRequest; runId: string } | { ok: false; status: number; error: string; fields?: string[] };

export function checkStartRequest(body: unknown): Checked {
	if (!body || typeof body !== 'object' || Array.isArray(body)) return { ok: false, status: 400, error: 'the body must be a JSON object with "campaign" and "contacts"' };
	const r = startCampaignRequest.safeParse(body);
	if (!r.success) return { ok: false, status: 400, error: describeIssues(r.error), fields: [...new Set(r.error.issues.map((i) => i.path.join('.')))] };
	return { ok: true, request: r.data, runId: newRunId() };
}

/** Per store, the last window whose predecessors were pruned: one DELETE per minute and process. */
const prunedUpTo = new WeakMap<CampaignStore, number>();

/**
 * Counts a call against the caller's one-minute window; not allowed when over the limit. Past
 * windows are pruned as each new one starts, so however many callers there are (spoofed or not),
 * the table holds about one minute of them.
 */
export async function takeRateLimit(store: CampaignStore, caller: string, perMinute: number, now = Date.now()): Promise<{ allowed: boolean; remaining: number; resetSeconds: number }> {
	const window = Math.floor(now / 60_000);
	if ((prunedUpTo.get(store) ?? -1) < window) {
		prunedUpTo.set(store, window);
		await store.pruneApiCalls(window);
	}
	const n = await store.countApiCall(caller.slice(0, 200), window);
	return { allowed: n <= perMinute, remaining: Math.max(0, perMinute - n), resetSeconds: 60 - Math.floor((now % 60_000) / 1000) };
}
