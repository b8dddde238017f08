/**
 * The dashboard's pages as HTML strings: every value escaped, no inline event handlers or style
 * attributes, one nonce for the page's own style and script elements (the page's CSP allows
 * nothing else), charts drawn by uPlot served inline with the page (n8n instances are often offline)
 * from data in a JSON script element. Action buttons are forms that POST to the same URL with the
 * actor's CSRF token; the confirmation page posts again with `confirmed=1`.
 */
import { readFileSync } from 'node:fs';
import { escapeHtml } from '../merge';
import type { EventOutcome } from '../store/events';
import type { AuditEntry } from '../store/audit';
import type { VariantCopy } from '../store/copies';
import type { RunListRow } from '../store';
import type { CampaignOverview, DeliveryQuery, DeliveryRow, LanguageRow, Rates, TimelinePoint, Totals } from '../store/dashboard';
import type { Hold } from '../guard/breaker';
import { ACTIONS } from './actions';
import type { ApiKeyInfo } from '../store';

const e = (v: unknown) => escapeHtml(v === null || v === undefined ? '' : String(v));
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const when = (s: string | null | undefined) => (s ? e(s.replace('T', ' ').slice(0, 19)) : '—');

/** What every page needs to draw its links and forms. */
export interface PageContext {
	title: string;
	nonce: string;
	/** The verified actor, when there is one. */
	actor?: string;
	/** The actor may act: the buttons are shown (the router checks again on POST). */
	canAct: boolean;
	csrf?: string;
	/** The campaign form's URL, to start a new run with changed tone/language/contacts. */
	formUrl?: string;
}

/** A link to a view of this dashboard (the same webhook URL, other query). */
export function href(params: Record<string, string | number | undefined | null>): string {
	const q = new URLSearchParams();
	for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
	const s = q.toString();
	return s ? `?${s}` : '?';
}

let uplot: { js: string; css: string } | undefined;
/** uPlot's own files, from the installed package (read once). */
function uplotAssets(): { js: string; css: string } {
	if (!uplot) {
		const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
		const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
		// Inline in a script element: nothing in it may close the element.
		uplot = { js: js.replace(/<\/(script)/gi, '<\\/$1'), css: css.replace(/<\/(style)/gi, '<\\/$1') };
	}
	return uplot;
}

/** JSON for a script element of type application/json: no character in it can end the element. */
export function scriptJson(value: unknown): string {
	return JSON.stringify(value)
		.replace(/</g, '\\u003c')
		.replace(/>/g, '\\u003e')
		.replace(/&/g, '\\u0026')
		.replace(/\u2028/g, '\\u2028')
		.replace(/\u2029/g, '\\u2029');
}

const CSS = `body{font-family:system-ui,sans-serif;margin:0;color:#1f2937;background:#f9fafb}header{background:#111827;color:#fff;padding:.7rem 1.5rem;display:flex;gap:1.2rem;align-items:center}header a{color:#e5e7eb;text-decoration:none}header .who{margin-left:auto;color:#9ca3af;font-size:.85rem}main{padding:1.2rem 1.5rem;max-width:1400px}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.8rem}table{border-collapse:collapse;width:100%;background:#fff;font-size:.88rem}th,td{border-bottom:1px solid #e5e7eb;padding:.35rem .5rem;text-align:left;vertical-align:top}th{background:#f3f4f6}td.n{text-align:right;font-variant-numeric:tabular-nums}.badge{display:inline-block;border-radius:9px;padding:0 .5rem;font-size:.8rem;background:#e5e7eb}.badge.paused,.badge.failed,.badge.cancelled{background:#fee2e2;color:#991b1b}.badge.active,.badge.finished,.badge.sent{background:#d1fae5;color:#065f46}.badge.interrupted,.badge.running,.badge.pause{background:#fef3c7;color:#92400e}.kpis{display:flex;flex-wrap:wrap;gap:.8rem}.kpi{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:.6rem .9rem;min-width:110px}.kpi b{display:block;font-size:1.3rem}.muted{color:#6b7280}.error{color:#b91c1c}form.inline{display:inline}button{cursor:pointer;border:1px solid #9ca3af;background:#fff;border-radius:6px;padding:.15rem .6rem;margin:.1rem}button.danger{border-color:#b91c1c;color:#b91c1c}.filters{display:flex;gap:.6rem;flex-wrap:wrap;margin:.5rem 0 1rem}.filters input,.filters select{padding:.25rem}.chart{background:#fff;border:1px solid #e5e7eb;margin:.5rem 0;padding:.4rem;min-height:60px}.copy{display:flex;gap:1rem;flex-wrap:wrap}.copy .card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:.6rem;width:420px}.copy iframe{width:100%;height:260px;border:1px solid #eee}.notice{background:#eff6ff;border:1px solid #bfdbfe;padding:.6rem .9rem;border-radius:6px}`;

/** The page's own chart code: reads the JSON data element and draws each chart with uPlot. */
const CHART_SCRIPT = `(function(){var el=document.getElementById('eca-data');if(!el||!window.uPlot)return;var d=JSON.parse(el.textContent);(d.charts||[]).forEach(function(c){var host=document.getElementById(c.id);if(!host)return;var colors=['#2563eb','#7c3aed','#059669','#dc2626','#d97706','#0891b2','#db2777','#4b5563'];var series=[{}].concat(c.series.map(function(s,i){return{label:s,stroke:colors[i%colors.length],width:2}}));new uPlot({width:Math.max(320,host.clientWidth-10),height:220,series:series,axes:[{},{}],scales:{x:{time:true}}},c.data,host);});})();`;

/**
 * The page's policy: its own style and script elements (by nonce) and nothing else; copy previews may
 * use style attributes and images. It travels in a meta element: n8n drops a webhook's own
 * Content-Security-Policy header (it sets its sandbox policy there), and a browser enforces both.
 * (frame-ancestors has no effect in a meta element; n8n's sandbox keeps the page in its own origin.)
 */
export function pagePolicy(nonce: string): string {
	// Written into the attribute as is: a base64 nonce and these keywords hold no quote or angle bracket.
	if (!/^[A-Za-z0-9+/=]+$/.test(nonce)) throw new Error('a page nonce is base64');
	return ["default-src 'none'", `script-src 'nonce-${nonce}'`, `style-src 'nonce-${nonce}'`, "style-src-attr 'unsafe-inline'", 'img-src data: https:', "base-uri 'none'"].join('; ');
}

export function layout(ctx: PageContext, heading: string, body: string, data?: { charts: Array<{ id: string; series: string[]; data: number[][] }> }): string {
	const n = e(ctx.nonce);
	const charts = data && data.charts.length > 0;
	const assets = charts ? uplotAssets() : undefined;
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${pagePolicy(ctx.nonce)}"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${e(heading)} · ${e(ctx.title)}</title><style nonce="${n}">${CSS}</style>${
		assets ? `<style nonce="${n}">${assets.css}</style><script nonce="${n}">${assets.js}</script>` : ''
	}</head><body><header><strong>${e(ctx.title)}</strong><a href="${href({})}">Campaigns</a><a href="${href({ view: 'deliveries' })}">Deliveries</a><a href="${href({ view: 'keys' })}">API keys</a>${ctx.formUrl ? `<a href="${e(ctx.formUrl)}">New run</a>` : ''}<span class="who">${
		ctx.actor ? `${e(ctx.actor)}${ctx.canAct ? '' : ' (read only)'}` : 'read only'
	}</span></header><main><h1>${e(heading)}</h1>${body}</main>${
		charts ? `<script type="application/json" id="eca-data">${scriptJson(data)}</script><script nonce="${n}">${CHART_SCRIPT}</script>` : ''
	}</body></html>`;
}

/** A button that starts an action (the confirmation page comes first). */
export function actionButton(ctx: PageContext, action: keyof typeof ACTIONS, fields: Record<string, string | number>, label?: string, danger = false): string {
	if (!ctx.canAct || !ctx.csrf) return '';
	const hidden = Object.entries({ action, ...fields, csrf: ctx.csrf })
		.map(([k, v]) => `<input type="hidden" name="${e(k)}" value="${e(v)}">`)
		.join('');
	return `<form class="inline" method="post" action="">${hidden}<button type="submit"${danger ? ' class="danger"' : ''}>${e(label ?? ACTIONS[action].label)}</button></form>`;
}

function ratesCells(t: Totals, r: Rates): string {
	return `<td class="n">${e(t.sent)}</td><td class="n">${pct(r.delivered)}</td><td class="n">${pct(r.open)}</td><td class="n">${pct(r.click)}</td><td class="n">${pct(r.bounce)}</td><td class="n">${pct(r.unsubscribe)}</td>`;
}

/** How far a campaign's sequence is: contacts done (completed or stopped) of all enrolled, as a bar and in words. */
function progress(c: CampaignOverview): string {
	const total = c.enrolled_total;
	if (total === 0) return '<span class="muted">no sequence</span>';
	const done = Math.max(0, total - c.enrolled_active);
	return `<progress max="${e(total)}" value="${e(done)}"></progress> <small>${e(done)}/${e(total)} done · ${e(c.enrolled_active)} active</small>`;
}

export function campaignsPage(ctx: PageContext, list: CampaignOverview[], filter: { search?: string; status?: string }): string {
	const rows = list
		.map(
			(c) =>
				`<tr data-campaign="${e(c.id)}"><td><a href="${href({ view: 'campaign', id: c.id })}">${e(c.name || c.id)}</a><br><small class="muted">${e(c.id)}</small></td><td><span class="badge ${e(c.status)}">${e(c.status)}</span></td>${ratesCells(c.totals, c.rates)}<td>${
					c.last_run ? `<span class="badge ${e(c.last_run.status)}">${e(c.last_run.status)}</span> ${when(c.last_run.started_at)}` : '—'
				}</td><td>${c.next_step ? `step ${e(c.next_step.step)} · ${when(c.next_step.at)} · ${e(c.next_step.contacts)} contacts` : '—'}</td><td>${progress(c)}</td><td>${
					c.status === 'paused' ? actionButton(ctx, 'resume_campaign', { campaign: c.id }) : actionButton(ctx, 'pause_campaign', { campaign: c.id })
				}</td></tr>`,
		)
		.join('');
	const statusOptions = ['', 'active', 'paused'].map((s) => `<option value="${s}"${filter.status === s ? ' selected' : ''}>${s || 'any status'}</option>`).join('');
	const form = `<form class="filters" method="get" action=""><input type="search" name="q" placeholder="Search id or name" value="${e(filter.search ?? '')}"><select name="status">${statusOptions}</select><button type="submit">Filter</button></form>`;
	const table = list.length
		? `<table><thead><tr><th>Campaign</th><th>Status</th><th>Sent</th><th>Delivered</th><th>Opened</th><th>Clicked</th><th>Bounced</th><th>Unsubscribed</th><th>Last run</th><th>Next step</th><th>Sequence progress</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
		: '<p class="muted">No campaigns match.</p>';
	return layout(ctx, 'Campaigns', form + table);
}

export interface CampaignDetail {
	overview: CampaignOverview;
	bucket: 'hour' | 'day';
	timeline: TimelinePoint[];
	links: Array<{ url: string; clicks: number; unique_clickers: number }>;
	outcomes: EventOutcome[];
	suppressions: Array<{ reason: string; n: number }>;
	ab: Array<Record<string, unknown>>;
	runs: RunListRow[];
	copies: VariantCopy[];
	holds: Hold[];
	audit: AuditEntry[];
	variants: string[];
	/** The campaign's step numbers. */
	steps: number[];
	/** Deliveries per step × variant × copy language. */
	languages: LanguageRow[];
}

/**
 * uPlot's aligned data: Unix seconds of every bucket from the one before the first event to the one after
 * the last (empty buckets are 0, so a quiet hour shows as 0 and a single busy day still has a time axis),
 * and per series the value in each bucket.
 */
export function chartData(
	points: TimelinePoint[],
	series: Array<{ label: string; of: (p: TimelinePoint) => number; match?: (p: TimelinePoint) => boolean }>,
	bucketSeconds: number,
): { series: string[]; data: number[][] } {
	const times = points.map((p) => Math.floor(Date.parse(p.bucket) / 1000));
	if (times.length === 0) return { series: series.map((s) => s.label), data: [[], ...series.map(() => [])] };
	const first = Math.min(...times) - bucketSeconds;
	const count = Math.min(Math.round((Math.max(...times) + bucketSeconds - first) / bucketSeconds) + 1, 2000);
	const axis = Array.from({ length: count }, (_, i) => first + i * bucketSeconds);
	const data = series.map(() => new Array<number>(count).fill(0));
	points.forEach((p, k) => {
		const i = Math.round((times[k] - first) / bucketSeconds);
		if (i < 0 || i >= count) return;
		series.forEach((s, j) => {
			if (!s.match || s.match(p)) data[j][i] += s.of(p);
		});
	});
	return { series: series.map((s) => s.label), data: [axis, ...data] };
}

function abTable(ctx: PageContext, d: CampaignDetail): string {
	const decided = new Set(d.ab.map((a) => Number(a.step)));
	// Steps with variants and no decision yet: a winner can still be picked by hand.
	const open = d.variants.length > 1 ? d.steps.filter((s) => !decided.has(s)) : [];
	if (d.ab.length === 0 && open.length === 0) return '<p class="muted">No A/B test: the campaign has one variant.</p>';
	const pending = open
		.map(
			(step) =>
				`<tr data-step="${e(step)}"><td class="n">${e(step)}</td><td colspan="4" class="muted">no decision yet</td><td>waiting</td><td>${d.variants.map((v) => actionButton(ctx, 'pick_winner', { campaign: d.overview.id, step, variant: v }, `Send ${v}`)).join('')}</td></tr>`,
		)
		.join('');
	const rows = d.ab
		.map((a) => {
			const variants = Array.isArray(a.variants) ? (a.variants as Array<{ variant: string; sent: number; conversions: number; rate?: number }>) : [];
			const sample = variants.map((v) => `${e(v.variant)}: ${e(v.conversions)}/${e(v.sent)}${typeof v.rate === 'number' ? ` (${pct(v.rate)})` : ''}`).join('<br>');
			const ev = (a.evidence ?? {}) as { lift?: number; lift_ci?: [number, number | null]; p_value?: number };
			const lift = typeof ev.lift === 'number' ? `${(ev.lift * 100).toFixed(1)}%${Array.isArray(ev.lift_ci) ? ` <small>[${(ev.lift_ci[0] * 100).toFixed(1)}%, ${ev.lift_ci[1] === null ? '∞' : `${(ev.lift_ci[1] * 100).toFixed(1)}%`}]</small>` : ''}` : '—';
			const p = typeof a.p_value === 'number' ? (a.p_value as number).toFixed(4) : e(a.p_value);
			const pick = d.variants.map((v) => actionButton(ctx, 'pick_winner', { campaign: d.overview.id, step: Number(a.step), variant: v }, `Send ${v}`)).join('');
			return `<tr data-step="${e(a.step)}"><td class="n">${e(a.step)}</td><td>${e(a.metric)}</td><td>${sample}</td><td class="n">${p}</td><td>${lift}</td><td>${a.decided ? 'decided' : 'waiting'}; sends <b>${e(a.send_variant ?? '—')}</b><br><small>${e(a.reason)}</small></td><td>${pick}</td></tr>`;
		})
		.join('');
	return `<table><thead><tr><th>Step</th><th>Metric</th><th>Conversions / sent</th><th>p-value</th><th>Lift [interval]</th><th>Decision</th><th></th></tr></thead><tbody>${rows}${pending}</tbody></table>`;
}

function runsTable(ctx: PageContext, d: CampaignDetail): string {
	if (d.runs.length === 0) return '<p class="muted">No runs yet.</p>';
	const rows = d.runs
		.map((r) => {
			const counts = Object.entries(r.counts ?? {})
				.map(([k, v]) => `${e(k)} ${e(v)}`)
				.join(', ');
			const schedule = r.batch_id
				? `<br><small>scheduled ${when(r.send_at)}${r.scheduled_status ? ` · <span class="badge ${e(r.scheduled_status)}">${e(r.scheduled_status)}</span>` : ''}</small>${
						r.scheduled_status
							? actionButton(ctx, 'resume_scheduled', { campaign: d.overview.id, run: r.run_id })
							: actionButton(ctx, 'pause_scheduled', { campaign: d.overview.id, run: r.run_id }) + actionButton(ctx, 'cancel_scheduled', { campaign: d.overview.id, run: r.run_id }, undefined, true)
					}`
				: '';
			const outcome =
				r.status === 'interrupted'
					? `<br><small>${r.error ? `${e(r.error)} — ` : ''}resumable${r.resume_requested_at ? `; resume asked by ${e(r.resume_requested_by)}` : ''}</small>${r.resume_requested_at ? '' : actionButton(ctx, 'resume_run', { campaign: d.overview.id, run: r.run_id })}`
					: r.error
						? `<br><small class="error">${e(r.error)}</small>`
						: '';
			return `<tr data-run="${e(r.run_id)}"><td>${e(r.run_id)}</td><td class="n">${e(r.step ?? '')}</td><td>${e(r.mode)}</td><td><span class="badge ${e(r.status)}">${e(r.status)}</span>${outcome}${schedule}</td><td>${counts}</td><td>${when(r.started_at)}</td><td>${when(r.finished_at)}</td></tr>`;
		})
		.join('');
	return `<table><thead><tr><th>Run</th><th>Step</th><th>Mode</th><th>Outcome</th><th>Results</th><th>Started</th><th>Finished</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function copiesSection(d: CampaignDetail): string {
	if (d.copies.length === 0) return '<p class="muted">No copy written yet (template copy is in the campaign definition).</p>';
	return `<div class="copy">${d.copies
		.map(
			(c) =>
				`<div class="card"><p><b>Step ${e(c.step)} · variant ${e(c.variant)} · ${e(c.language)}</b> <small class="muted">${e(c.copy.source)}${c.model ? ` · ${e(c.model)}` : ''}</small></p><p>${e(c.copy.subject)}</p><p class="muted">${e(c.copy.preheader)}</p><iframe sandbox="" title="${e(c.copy.subject)}" srcdoc="${e(c.copy.html)}"></iframe><details><summary>Text part</summary><pre>${e(c.copy.text)}</pre></details></div>`,
		)
		.join('')}</div>`;
}

function auditTable(entries: AuditEntry[]): string {
	if (entries.length === 0) return '<p class="muted">No actions taken from the dashboard.</p>';
	return `<table><thead><tr><th>When</th><th>Who</th><th>Action</th><th>Outcome</th></tr></thead><tbody>${entries
		.map((a) => `<tr><td>${when(a.at)}</td><td>${e(a.actor)}</td><td>${e(a.action)}${a.target ? ` <small>${e(a.target)}</small>` : ''}</td><td>${e(a.outcome)}: ${e(a.message)}</td></tr>`)
		.join('')}</tbody></table>`;
}

export function campaignPage(ctx: PageContext, d: CampaignDetail): string {
	const c = d.overview;
	const t = c.totals;
	const kpi = (label: string, value: string | number, sub?: string) => `<div class="kpi"><span class="muted">${e(label)}</span><b>${e(value)}</b>${sub ? `<small>${e(sub)}</small>` : ''}</div>`;
	const kpis = `<div class="kpis">${kpi('Status', c.status)}${kpi('Sent', t.sent)}${kpi('Delivered', t.delivered, pct(c.rates.delivered))}${kpi('Opened', t.opened, pct(c.rates.open))}${kpi('Clicked', t.clicked, pct(c.rates.click))}${kpi('Bounced', t.bounced, pct(c.rates.bounce))}${kpi('Unsubscribed', t.unsubscribed, pct(c.rates.unsubscribe))}${kpi('Spam reports', t.spam)}${kpi('Failed', t.failed)}${kpi('Cancelled', t.cancelled)}${kpi('In sequence', c.enrolled_active)}</div>`;
	const buttons = [
		c.status === 'paused' ? actionButton(ctx, 'resume_campaign', { campaign: c.id }) : actionButton(ctx, 'pause_campaign', { campaign: c.id }),
		c.enrolled_active > 0 ? actionButton(ctx, 'cancel_sequence', { campaign: c.id }, undefined, true) : '',
		ctx.formUrl ? `<a href="${e(ctx.formUrl)}">Start a new run with other tone, language or contacts</a>` : '',
	].join(' ');
	const holds = d.holds.length ? `<p class="notice">Paused: ${d.holds.map((h) => `${e(h.scope)} — ${e(h.reason)} (by ${e(h.held_by)}, ${when(h.held_at)})`).join('; ')}</p>` : '';
	const bucketLinks = (['hour', 'day'] as const).map((b) => (b === d.bucket ? `<b>${b}</b>` : `<a href="${href({ view: 'campaign', id: c.id, bucket: b })}">${b}</a>`)).join(' · ');
	const keys = [...new Set(d.timeline.map((p) => `${p.step}${p.variant}`))].sort();
	const unit = d.bucket === 'hour' ? 3600 : 86_400;
	const totals = chartData(d.timeline, [
		{ label: 'unique opens', of: (p) => p.unique_opens },
		{ label: 'unique clicks', of: (p) => p.unique_clicks },
		{ label: 'delivered', of: (p) => p.delivered },
		{ label: 'bounces', of: (p) => p.bounces },
	], unit);
	const perVariant = chartData(
		d.timeline,
		keys.map((k) => ({ label: `step ${k.slice(0, -1)} ${k.slice(-1)} clicks`, of: (p: TimelinePoint) => p.unique_clicks, match: (p: TimelinePoint) => `${p.step}${p.variant}` === k })),
		unit,
	);
	const byVariant = new Map<string, { opens: number; clicks: number; delivered: number; bounces: number }>();
	for (const p of d.timeline) {
		const k = `${p.step} · ${p.variant}`;
		const v = byVariant.get(k) ?? { opens: 0, clicks: 0, delivered: 0, bounces: 0 };
		v.opens += p.unique_opens;
		v.clicks += p.unique_clicks;
		v.delivered += p.delivered;
		v.bounces += p.bounces;
		byVariant.set(k, v);
	}
	const variantRows = [...byVariant.entries()].map(([k, v]) => `<tr><td>${e(k)}</td><td class="n">${v.delivered}</td><td class="n">${v.opens}</td><td class="n">${v.clicks}</td><td class="n">${v.bounces}</td></tr>`).join('');
	const charts = d.timeline.length
		? `<div id="chart-totals" class="chart"></div><div id="chart-variants" class="chart"></div><table><thead><tr><th>Step · variant (this window)</th><th>Delivered</th><th>Unique opens</th><th>Unique clicks</th><th>Bounces</th></tr></thead><tbody>${variantRows}</tbody></table>`
		: '<p class="muted">No events in this window.</p>';
	const rate = (n: number, of: number) => (of > 0 ? pct(n / of) : '—');
	const languages = d.languages.length
		? `<table id="languages"><thead><tr><th>Step</th><th>Variant</th><th>Language</th><th>Sent</th><th>Delivered</th><th>Opened</th><th>Clicked</th><th>Bounced</th><th>Unsubscribed</th></tr></thead><tbody>${d.languages
				.map((l) => {
					const reached = l.delivered || l.sent;
					return `<tr><td class="n">${e(l.step)}</td><td>${e(l.variant)}</td><td>${e(l.language ?? '—')}</td><td class="n">${e(l.sent)}</td><td class="n">${e(l.delivered)}</td><td class="n">${e(l.opened)} <small>${rate(l.opened, reached)}</small></td><td class="n">${e(l.clicked)} <small>${rate(l.clicked, reached)}</small></td><td class="n">${e(l.bounced)}</td><td class="n">${e(l.unsubscribed)}</td></tr>`;
				})
				.join('')}</tbody></table>`
		: '<p class="muted">Nothing sent yet.</p>';
	const links = d.links.length
		? `<table><thead><tr><th>Link</th><th>Clicks</th><th>Unique clickers</th></tr></thead><tbody>${d.links.map((l) => `<tr><td>${e(l.url)}</td><td class="n">${e(l.clicks)}</td><td class="n">${e(l.unique_clickers)}</td></tr>`).join('')}</tbody></table>`
		: '<p class="muted">No clicks yet.</p>';
	const outcomes = d.outcomes.length
		? `<table><thead><tr><th>Event</th><th>Reason</th><th>Count</th><th>Last</th></tr></thead><tbody>${d.outcomes.map((o) => `<tr><td>${e(o.event)}</td><td>${e(o.kind)}</td><td class="n">${e(o.n)}</td><td>${when(o.last_at)}</td></tr>`).join('')}</tbody></table>`
		: '<p class="muted">No bounces, drops or deferrals.</p>';
	const suppressions = d.suppressions.length
		? `<table><thead><tr><th>Reason</th><th>Addresses</th></tr></thead><tbody>${d.suppressions.map((s) => `<tr><td>${e(s.reason)}</td><td class="n">${e(s.n)}</td></tr>`).join('')}</tbody></table>`
		: '<p class="muted">This campaign suppressed nobody.</p>';
	const body = `<p class="muted">${e(c.id)} · created ${when(c.created_at)} · <a href="${href({ view: 'deliveries', campaign: c.id })}">deliveries</a></p>${holds}<p>${buttons}</p>${kpis}<h2>Opens and clicks over time (${bucketLinks})</h2>${charts}<h2>Per step, variant and language</h2>${languages}<h2>Clicks per link</h2>${links}<h2>Bounce and drop reasons</h2>${outcomes}<h2>Suppressions caused</h2>${suppressions}<h2>A/B decisions</h2>${abTable(ctx, d)}<h2>Copy of each variant</h2>${copiesSection(d)}<h2>Runs</h2>${runsTable(ctx, d)}<h2>Dashboard actions</h2>${auditTable(d.audit)}`;
	return layout(ctx, c.name || c.id, body, d.timeline.length ? { charts: [{ id: 'chart-totals', ...totals }, { id: 'chart-variants', ...perVariant }] } : undefined);
}

export function deliveriesPage(
	ctx: PageContext,
	page: { rows: DeliveryRow[]; next: string | null },
	q: DeliveryQuery & { after?: string },
	statuses: readonly string[],
	suppressions: Array<{ email: string; scope: string; reason: string; created_at: string }>,
): string {
	const base = { view: 'deliveries', campaign: q.campaignId, status: q.status, step: q.step, email: q.email };
	const statusOptions = ['', ...statuses].map((s) => `<option value="${e(s)}"${q.status === s ? ' selected' : ''}>${e(s || 'any status')}</option>`).join('');
	const form = `<form class="filters" method="get" action=""><input type="hidden" name="view" value="deliveries"><input name="campaign" placeholder="Campaign ID" value="${e(q.campaignId ?? '')}"><select name="status">${statusOptions}</select><input name="step" type="number" min="1" placeholder="Step" value="${e(q.step ?? '')}"><input name="email" placeholder="Address, or a prefix ending in *" value="${e(q.email ?? '')}"><button type="submit">Search</button> <a href="${href({ ...base, view: 'export' })}">Export CSV</a></form>`;
	const rows = page.rows
		.map(
			(r) =>
				`<tr><td><a href="${href({ view: 'deliveries', email: r.email })}">${e(r.email)}</a></td><td><a href="${href({ view: 'campaign', id: r.campaign_id })}">${e(r.campaign_id)}</a></td><td class="n">${e(r.step)}</td><td>${e(r.variant)}</td><td><span class="badge ${e(r.status)}">${e(r.status)}</span>${r.error ? `<br><small class="error">${e(r.error)}</small>` : ''}</td><td>${when(r.sent_at)}</td><td>${when(r.delivered_at)}</td><td>${when(r.opened_at)}</td><td>${when(r.clicked_at)}</td><td>${when(r.bounced_at)}${r.bounce_reason ? `<br><small>${e(r.bounce_reason)}</small>` : ''}</td></tr>`,
		)
		.join('');
	const table = page.rows.length
		? `<table><thead><tr><th>Address</th><th>Campaign</th><th>Step</th><th>Variant</th><th>Status</th><th>Sent</th><th>Delivered</th><th>Opened</th><th>Clicked</th><th>Bounced</th></tr></thead><tbody>${rows}</tbody></table>`
		: '<p class="muted">No deliveries match.</p>';
	const pager = `<p>${q.after ? `<a href="${href(base)}">First page</a> · ` : ''}${page.next ? `<a href="${href({ ...base, after: page.next })}" rel="next">Next page</a>` : 'Last page'}</p>`;
	const held = suppressions.length
		? `<h2>Suppressions of ${e(suppressions[0].email)}</h2><table><thead><tr><th>Scope</th><th>Reason</th><th>Since</th><th></th></tr></thead><tbody>${suppressions
				.map((s) => `<tr><td>${e(s.scope)}</td><td>${e(s.reason)}</td><td>${when(s.created_at)}</td><td>${actionButton(ctx, 'lift_suppression', { email: s.email, scope: s.scope, campaign: q.campaignId ?? '' })}</td></tr>`)
				.join('')}</tbody></table>`
		: '';
	return layout(ctx, 'Deliveries', form + held + table + pager);
}

export function confirmPage(ctx: PageContext, action: string, params: Record<string, string>, description: string, undo: string): string {
	const hidden = Object.entries({ ...params, action, csrf: ctx.csrf ?? '', confirmed: '1' })
		.map(([k, v]) => `<input type="hidden" name="${e(k)}" value="${e(v)}">`)
		.join('');
	const back = params.campaign ? href({ view: 'campaign', id: params.campaign }) : href({});
	return layout(
		ctx,
		`Confirm: ${ACTIONS[action]?.label ?? action}`,
		`<p>${e(description)}</p><p class="muted">${e(undo)}</p><form method="post" action="">${hidden}<button type="submit" class="danger">Confirm</button> <a href="${back}">Cancel</a></form>`,
	);
}

export function messagePage(ctx: PageContext, heading: string, message: string, back?: string, isError = false, reveal?: string): string {
	const shown = reveal ? `<p>The key — copy it now, it is not shown again:</p><pre class="notice" id="revealed">${e(reveal)}</pre>` : '';
	return layout(ctx, heading, `<p class="${isError ? 'error' : 'notice'}">${e(message)}</p>${shown}<p><a href="${back ?? href({})}">Back</a></p>`);
}

/** The campaign API's keys: never a secret, only the prefix lists show; create and revoke for Allowed Actors. */
export function keysPage(ctx: PageContext, keys: ApiKeyInfo[]): string {
	const rows = keys
		.map(
			(k) =>
				`<tr data-key="${e(k.id)}"><td><code>${e(k.prefix)}</code></td><td>${e(k.name)}</td><td>${e(k.scopes.join(', '))}</td><td>${e(k.campaigns ? k.campaigns.join(', ') : 'all')}</td><td class="n">${e(k.rate_limit_per_minute)}/min</td><td class="n">${e(k.calls)}</td><td>${when(k.last_used_at)}</td><td>${e(k.created_by)} ${when(k.created_at)}</td><td>${
					k.revoked_at ? `<span class="badge cancelled">revoked</span> ${e(k.revoked_by)} ${when(k.revoked_at)}` : actionButton(ctx, 'revoke_api_key', { key: k.id }, 'Revoke', true)
				}</td></tr>`,
		)
		.join('');
	const table = keys.length
		? `<table><thead><tr><th>Key</th><th>Client</th><th>Scopes</th><th>Campaigns</th><th>Limit</th><th>Calls</th><th>Last used</th><th>Created</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
		: '<p class="muted">No API keys yet.</p>';
	const create =
		ctx.canAct && ctx.csrf
			? `<h2>New key</h2><form method="post" action="" class="filters"><input type="hidden" name="action" value="create_api_key"><input type="hidden" name="csrf" value="${e(ctx.csrf)}"><input name="name" required maxlength="200" placeholder="Client, e.g. CRM sync"><label><input type="checkbox" name="scopes" value="start" checked> start runs</label><label><input type="checkbox" name="scopes" value="stats"> read stats</label><input name="campaigns" required placeholder="Campaigns: ids, prefix*, or * for all"><input name="per_minute" type="number" min="1" value="10" required> per minute<button type="submit">Create</button></form>`
			: '';
	return layout(ctx, 'API keys', `<p class="muted">Keys for the campaign API (Campaign API Guard with Campaign API Keys on). The secret is shown once when a key is made, and stored only as a salted hash.</p>${table}${create}`);
}
