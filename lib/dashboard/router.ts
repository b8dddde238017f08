/**
 * One dashboard request (a Webhook's item: headers, query, body, and jwtPayload when n8n verified a
 * JWT) in, one response out: a page, a CSV file, or an action's confirmation or result. Reading is
 * open to whoever passed the Webhook's authentication; acting needs a verified actor on the Allowed
 * Actors list, that actor's CSRF token, and a second, confirming POST. Every action that ran (or
 * failed while running) is written to the audit log with who and when; a refused request writes nothing.
 */
import { randomBytes } from 'node:crypto';
import { CampaignError } from '../errors';
import { DELIVERY_STATES } from '../delivery/states';
import { holdsOf } from '../guard/holds';
import { redactSecrets } from '../redact';
import type { CampaignStore } from '../store';
import { listAbDecisions, listRuns } from '../store';
import { auditLog, recordAudit, suppressionsOf } from '../store/audit';
import { variantCopies } from '../store/copies';
import { DELIVERY_CSV_COLUMNS, campaignTimeline, csvLine, deliveriesPage, languageBreakdown, linkClicks, listCampaignOverviews, suppressionsCaused, type DeliveryQuery } from '../store/dashboard';
import { eventOutcomes } from '../store/events';
import { storeSecret } from '../store/secrets';
import { type AccessPolicy, checkCsrf, csrfToken, identifyActor, mayAct } from './access';
import { type ActionContext, actionOf } from './actions';
import { type PageContext, campaignPage, campaignsPage, confirmPage, deliveriesPage as deliveriesView, href, keysPage, messagePage } from './pages';
import { listApiKeys } from '../api/apiKeys';
import { campaignMetrics } from '../observability/metrics';

export interface DashboardRequest {
	headers?: unknown;
	query?: unknown;
	body?: unknown;
	jwtPayload?: unknown;
}

export interface DashboardResponse {
	status: number;
	/** page: HTML; csv: a file to download; metrics: Prometheus text (?view=metrics). */
	kind: 'page' | 'csv' | 'metrics';
	headers: Record<string, string>;
	body: string;
}

export interface DashboardOptions {
	title?: string;
	access: AccessPolicy;
	formUrl?: string;
	pageSize?: number;
	/** Rows in one CSV export (the next ones: the X-Next-Cursor header's cursor as `after`). */
	exportLimit?: number;
	scheduled?: ActionContext['scheduled'];
}

export const EXPORT_LIMIT = 50_000;
const CLOCK_SKEW_MS = 10 * 60_000;

function record(v: unknown): Record<string, unknown> {
	return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
const str = (v: unknown) => (typeof v === 'string' ? v.trim() : Array.isArray(v) && typeof v[0] === 'string' ? v[0].trim() : '');

function page(status: number, body: string): DashboardResponse {
	return {
		status,
		kind: 'page',
		headers: {
			'content-type': 'text/html; charset=utf-8',
			'cache-control': 'no-store',
			'x-content-type-options': 'nosniff',
			'referrer-policy': 'no-referrer',
		},
		body,
	};
}

function deliveryQuery(query: Record<string, unknown>): DeliveryQuery & { after?: string } {
	const step = str(query.step);
	return {
		campaignId: str(query.campaign) || undefined,
		status: str(query.status) || undefined,
		step: step ? Number(step) : undefined,
		email: str(query.email) || undefined,
		after: str(query.after) || undefined,
	};
}

export async function handleDashboard(store: CampaignStore, request: DashboardRequest, options: DashboardOptions): Promise<DashboardResponse> {
	const nonce = randomBytes(16).toString('base64');
	const actor = identifyActor(request, options.access);
	// With a user list, only its users get in: the browser asks for a name and password.
	if (options.access.users && !actor)
		return {
			status: 401,
			kind: 'page',
			headers: { 'content-type': 'text/plain; charset=utf-8', 'www-authenticate': 'Basic realm="Campaign dashboard", charset="UTF-8"', 'cache-control': 'no-store' },
			body: 'Sign in with a user of the Campaign Dashboard Users credential.',
		};
	const canAct = mayAct(actor, options.access);
	const secret = canAct ? await storeSecret(store, 'dashboard-csrf', { create: true }) : undefined;
	const ctx: PageContext = {
		title: options.title || 'Email campaigns',
		nonce,
		actor: actor?.name,
		canAct,
		csrf: secret && actor ? csrfToken(secret, actor.name) : undefined,
		formUrl: options.formUrl,
	};
	const query = record(request.query);
	const body = record(request.body);
	try {
		if (str(body.action)) return await act(store, ctx, body, options, secret);
		const view = str(query.view) || 'campaigns';
		// Prometheus scrapes ?view=metrics behind the same sign-in (lib/observability/metrics.ts).
		if (view === 'metrics') {
			const m = await campaignMetrics(store);
			return { status: 200, kind: 'metrics', headers: { 'content-type': m.contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }, body: m.text };
		}
		if (view === 'campaigns') {
			const status = str(query.status);
			const filter = { search: str(query.q) || undefined, status: status === 'active' || status === 'paused' ? status : undefined } as const;
			return page(200, campaignsPage(ctx, await listCampaignOverviews(store, filter), filter));
		}
		if (view === 'campaign') return await campaign(store, ctx, str(query.id), str(query.bucket) === 'hour' ? 'hour' : 'day');
		if (view === 'deliveries') {
			const q = deliveryQuery(query);
			const rows = await deliveriesPage(store, { ...q, limit: options.pageSize ?? 50 });
			const exact = q.email && !q.email.endsWith('*') ? await suppressionsOf(store, q.email) : [];
			return page(200, deliveriesView(ctx, rows, q, DELIVERY_STATES, exact));
		}
		if (view === 'keys') return page(200, keysPage(ctx, await listApiKeys(store, { includeRevoked: true })));
		if (view === 'export') return await exportCsv(store, deliveryQuery(query), options.exportLimit ?? EXPORT_LIMIT);
		return page(404, messagePage(ctx, 'Not found', `No view "${view}": the dashboard has campaigns, campaign, deliveries, export, keys and metrics`, undefined, true));
	} catch (e) {
		if (e instanceof CampaignError && e.source === 'input') return page(400, messagePage(ctx, 'Cannot show that', redactSecrets(e.message), undefined, true));
		throw e;
	}
}

async function campaign(store: CampaignStore, ctx: PageContext, id: string, bucket: 'hour' | 'day'): Promise<DashboardResponse> {
	if (!id) return page(400, messagePage(ctx, 'Which campaign?', 'Open a campaign from the list (the link carries its id).', undefined, true));
	const [overview] = await listCampaignOverviews(store, { id });
	if (!overview) return page(404, messagePage(ctx, 'Not found', `No campaign "${id}" in the campaign store`, undefined, true));
	const [timeline, links, outcomes, suppressions, ab, runs, copies, holds, audit, definition, languages] = await Promise.all([
		// A few minutes past now: SendGrid's clock may be ahead of this machine's.
		campaignTimeline(store, id, { bucket, until: new Date(Date.now() + CLOCK_SKEW_MS) }),
		linkClicks(store, id),
		eventOutcomes(store, id),
		suppressionsCaused(store, id),
		listAbDecisions(store, id),
		listRuns(store, id),
		variantCopies(store, id),
		holdsOf(store, id),
		auditLog(store, id, 30),
		store.getCampaign(id),
		languageBreakdown(store, id),
	]);
	const variants = Array.from({ length: definition?.variants ?? 1 }, (_, i) => String.fromCharCode(65 + i));
	return page(
		200,
		campaignPage(ctx, {
			overview,
			bucket,
			timeline,
			links,
			outcomes,
			suppressions,
			ab,
			runs: runs.map((r) => ({ ...r, error: r.error === null ? null : redactSecrets(r.error) })),
			copies,
			holds: holds.holds,
			audit,
			variants,
			steps: Array.isArray(definition?.steps) ? definition.steps.map((s) => s.step) : [],
			languages,
		}),
	);
}

async function exportCsv(store: CampaignStore, q: DeliveryQuery & { after?: string }, limit: number): Promise<DashboardResponse> {
	const lines = [DELIVERY_CSV_COLUMNS.join(',') + '\r\n'];
	let rows = 0;
	let after = q.after;
	let next: string | null = null;
	// Page by page by keyset from the cursor, up to the export's limit; the cursor of what follows goes in a header.
	while (rows < limit) {
		const got = await deliveriesPage(store, { ...q, after, limit: Math.min(500, limit - rows) });
		for (const r of got.rows) lines.push(csvLine(r));
		rows += got.rows.length;
		next = got.next;
		if (!next) break;
		after = next;
	}
	const name = `deliveries${q.campaignId ? `-${q.campaignId.replace(/[^A-Za-z0-9_.-]/g, '_')}` : ''}.csv`;
	return {
		status: 200,
		kind: 'csv',
		headers: { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${name}"`, 'cache-control': 'no-store', 'x-next-cursor': next ?? '', 'x-rows': String(rows) },
		body: lines.join(''),
	};
}

async function act(store: CampaignStore, ctx: PageContext, body: Record<string, unknown>, options: DashboardOptions, secret: Buffer | undefined): Promise<DashboardResponse> {
	// Refused before anything is read or written: no verified actor allowed to act, or no valid token for them.
	if (!ctx.canAct || !ctx.actor || !secret)
		return page(403, messagePage(ctx, 'Not allowed', ctx.actor ? `${ctx.actor} may look but not act: ask to be added to Allowed Actors` : 'Only a verified user on Allowed Actors may act', undefined, true));
	if (!checkCsrf(secret, ctx.actor, body.csrf))
		return page(403, messagePage(ctx, 'Not allowed', 'This form is too old or did not come from this dashboard: reload the page and try again', undefined, true));
	const name = str(body.action);
	const spec = actionOf(name);
	const params = spec.parse(body);
	const back = params.campaign ? href({ view: 'campaign', id: params.campaign }) : name.endsWith('_api_key') ? href({ view: 'keys' }) : href({});
	if (str(body.confirmed) !== '1') return page(200, confirmPage(ctx, name, params, spec.describe(params), spec.undo));
	const audit = { actor: ctx.actor, action: name, campaign_id: spec.campaignOf(params), target: params.run ?? params.email ?? params.key ?? params.name ?? (params.step ? `step ${params.step}` : null), detail: params };
	try {
		const done = await spec.run({ store, actor: ctx.actor, scheduled: options.scheduled }, params);
		const { message, reveal } = typeof done === 'string' ? { message: done, reveal: undefined } : done;
		await recordAudit(store, { ...audit, outcome: 'done', message });
		return page(200, messagePage(ctx, 'Done', message, back, false, reveal));
	} catch (e) {
		const message = redactSecrets((e as Error).message);
		const refused = e instanceof CampaignError && e.source === 'input';
		await recordAudit(store, { ...audit, outcome: refused ? 'refused' : 'failed', message });
		return page(refused ? 400 : 502, messagePage(ctx, refused ? 'Not done' : 'Failed', message, back, true));
	}
}
