/** The stats dashboard as one self-contained HTML page: inline SVG charts, no scripts, every value escaped, error texts redacted. */
import { escapeHtml } from '../merge';
import { redactSecrets } from '../redact';
import type { AbEvidence } from '../ab/sequential';
import type { CampaignStats, RateRow } from './campaignStats';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const e = (v: unknown) => escapeHtml(v === null || v === undefined ? '' : String(v));

function progressBar(done: number, total: number): string {
	const share = total > 0 ? Math.min(1, done / total) : 1;
	return `<svg class="bar" width="160" height="12" role="img" aria-label="${pct(share)}"><rect width="160" height="12" rx="6" fill="#e5e7eb"/><rect width="${Math.round(160 * share)}" height="12" rx="6" fill="#2563eb"/></svg> <span>${e(done)}/${e(total)}</span>`;
}

function rateChart(rows: RateRow[]): string {
	if (rows.length === 0) return '<p class="muted">No live deliveries yet.</p>';
	const metrics: Array<[keyof RateRow['rates'], string]> = [
		['delivered', '#10b981'],
		['open', '#3b82f6'],
		['click', '#8b5cf6'],
		['bounce', '#ef4444'],
		['unsubscribe', '#f59e0b'],
	];
	const groupW = metrics.length * 14 + 20;
	const width = Math.max(320, rows.length * groupW + 40);
	const bars = rows
		.map((r, i) =>
			metrics
				.map(([m, color], j) => {
					const h = Math.round(r.rates[m] * 150);
					const x = 30 + i * groupW + j * 14;
					return `<rect x="${x}" y="${170 - h}" width="12" height="${h}" fill="${color}"><title>${e(r.campaign_id)} step ${e(r.step)} ${e(r.variant)} ${m}: ${pct(r.rates[m])}</title></rect>`;
				})
				.join('') + `<text x="${30 + i * groupW}" y="188" font-size="10">${e(`${r.step}${r.variant}`)}</text>`,
		)
		.join('');
	const legend = metrics.map(([m, color], j) => `<rect x="${30 + j * 90}" y="196" width="10" height="10" fill="${color}"/><text x="${44 + j * 90}" y="205" font-size="11">${m}</text>`).join('');
	return `<svg width="${width}" height="215" role="img" aria-label="rates per step and variant"><line x1="26" y1="170" x2="${width}" y2="170" stroke="#9ca3af"/><text x="0" y="24" font-size="10">100%</text><text x="0" y="170" font-size="10">0</text>${bars}${legend}</svg>`;
}

const signed = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;

/** An A/B decision's evidence as table cells: lift with its interval, p-value, detectable lift, what's next and warnings. */
function abEvidenceCells(ev: AbEvidence | null | undefined, pValue: unknown): string {
	// Decisions recorded before the evidence was kept: their p-value only.
	if (!ev || typeof ev !== 'object') return `<td>—</td><td>${e(typeof pValue === 'number' ? pValue.toFixed(4) : pValue)}</td><td>—</td><td>—</td>`;
	const lift =
		typeof ev.lift === 'number'
			? `${e(ev.leader)} vs ${e(ev.runner_up)}: ${signed(ev.lift)}${Array.isArray(ev.lift_ci) ? `<br><small>${e(((1 - ev.alpha) * 100).toFixed(1))}% CI ${signed(ev.lift_ci[0])} to ${ev.lift_ci[1] === null ? '+∞' : signed(ev.lift_ci[1])}</small>` : ''}`
			: '—';
	const evidence = `${typeof ev.p_value === 'number' ? e(ev.p_value.toFixed(4)) : '—'}<br><small>${ev.rule === 'sequential' ? 'always-valid (sequential)' : 'fixed horizon (one look)'}</small>`;
	const mde = typeof ev.mde === 'number' ? signed(ev.mde) : 'none at this sample';
	const warnings = [ev.power?.warning, ev.caveat].filter((w): w is string => typeof w === 'string');
	const next = `${e(ev.expected?.message ?? '')}${warnings.map((w) => `<br><small class="warn">${e(w)}</small>`).join('')}`;
	return `<td data-k="lift">${lift}</td><td data-k="evidence">${evidence}</td><td data-k="mde">${mde}</td><td data-k="expected">${next}</td>`;
}

/** A scheduled run's send_at, and its pause or cancellation at SendGrid (Campaign Sequence → Pause / Cancel Scheduled). */
function scheduledNote(r: CampaignStats['runs'][number]): string {
	if (!r.batch_id || !r.send_at) return '';
	const state = r.scheduled_status === 'cancel' ? 'cancelled' : r.scheduled_status === 'pause' ? 'paused' : 'scheduled';
	return `<br><small data-k="scheduled" class="${state === 'scheduled' ? '' : 'warn'}">${state} for ${e(r.send_at)}</small>`;
}

export function renderDashboard(stats: CampaignStats, title = 'Email campaigns'): string {
	const runs = stats.runs
		.map((r) => {
			const p = r.progress as { processed?: number; total?: number };
			const done = p.processed ?? (r.counts.sent ?? 0) + (r.counts.failed ?? 0) + (r.counts.dry_run ?? 0);
			return `<tr><td>${e(r.run_id)}</td><td>${e(r.campaign_id)}</td><td>${e(r.step)}</td><td>${e(r.mode)}</td><td class="${r.status === 'failed' || r.status === 'interrupted' ? 'err' : r.status === 'paused' ? 'warn' : ''}" title="${e(r.error ?? '')}">${e(r.status)}${r.status === 'interrupted' ? ' (resumable)' : ''}${r.error ? `<br><small>${e(redactSecrets(r.error).slice(0, 300))}</small>` : ''}${scheduledNote(r)}</td><td>${progressBar(done, p.total ?? r.total)}</td><td>${e(r.counts.sent ?? 0)}</td><td>${e(r.counts.failed ?? 0)}</td><td>${e(r.counts.deferred ?? 0)}</td><td>${e(r.started_at)}</td></tr>`;
		})
		.join('');
	const steps = stats.steps
		.map(
			(s) =>
				`<tr><td>${e(s.campaign_id)}</td><td>${e(s.step)}</td><td>${e(s.variant)}</td><td data-k="sent">${s.sent}</td><td data-k="delivered">${s.delivered} (${pct(s.rates.delivered)})</td><td data-k="opened">${s.opened} (${pct(s.rates.open)})</td><td data-k="clicked">${s.clicked} (${pct(s.rates.click)})</td><td data-k="bounced">${s.bounced} (${pct(s.rates.bounce)})</td><td data-k="dropped">${s.dropped} (${pct(s.rates.drop)})</td><td data-k="unsubscribed">${s.unsubscribed} (${pct(s.rates.unsubscribe)})</td><td>${s.failed}</td></tr>`,
		)
		.join('');
	const ab = stats.ab
		.map(
			(d) =>
				`<tr><td>${e(d.campaign_id)}</td><td>${e(d.step)}</td><td>${e(d.metric)}</td><td>${e(d.winner ?? '—')}</td><td>${e(d.send_variant ?? '—')}</td>${abEvidenceCells(d.evidence as AbEvidence | null | undefined, d.p_value)}<td>${e(d.reason)}</td></tr>`,
		)
		.join('');
	const recent = stats.recent
		.map((r) => `<tr class="${r.error ? 'err' : ''}"><td>${e(r.email)}</td><td>${e(r.campaign_id)}</td><td>${e(r.step)}</td><td>${e(r.variant)}</td><td>${e(r.status)}</td><td>${e(redactSecrets(r.error ?? ''))}</td><td>${e(r.updated_at)}</td></tr>`)
		.join('');
	const paused = (stats.paused ?? []).length
		? `<section id="paused" class="alert"><h2>Paused</h2><ul>${(stats.paused ?? []).map((h) => `<li data-scope="${e(h.scope)}"><strong>${e(h.scope)}</strong> (${e(h.cause)}): ${e(h.message)}</li>`).join('')}</ul></section>`
		: '';
	const outcomeRows = stats.outcomes ?? [];
	const outcomes = outcomeRows.length
		? `<table id="outcomes"><tr><th>Event</th><th>Response, classification or reason</th><th>Count</th><th>Last</th></tr>${outcomeRows.map((o) => `<tr><td>${e(o.event)}</td><td>${e(redactSecrets(o.kind))}</td><td>${o.n}</td><td>${e(o.last_at)}</td></tr>`).join('')}</table>`
		: '<p class="muted">None.</p>';
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta http-equiv="refresh" content="15"><title>${e(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#111827}table{border-collapse:collapse;margin:8px 0 24px;width:100%}th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left;font-size:13px}th{background:#f9fafb}.muted{color:#6b7280}tr.err td{color:#b91c1c}h2{margin-top:28px}.warn{color:#b45309}.alert{border:1px solid #f59e0b;background:#fffbeb;padding:4px 16px;margin:16px 0}</style></head>
<body><h1>${e(title)}</h1><p class="muted">Generated ${e(stats.generated_at)} · ${stats.campaigns.length} campaign(s) · refreshes every 15 s</p>${paused}
<h2>Runs</h2><table id="runs"><tr><th>Run</th><th>Campaign</th><th>Step</th><th>Mode</th><th>Status</th><th>Progress</th><th>Sent</th><th>Failed</th><th>Deferred</th><th>Started</th></tr>${runs}</table>
<h2>Per step and variant</h2>${rateChart(stats.steps)}<table id="steps"><tr><th>Campaign</th><th>Step</th><th>Variant</th><th>Sent</th><th>Delivered</th><th>Opened</th><th>Clicked</th><th>Bounced</th><th>Dropped</th><th>Unsubscribed</th><th>Failed</th></tr>${steps}</table>
<h2>A/B tests</h2><table id="ab"><tr><th>Campaign</th><th>Step</th><th>Metric</th><th>Winner</th><th>Sent to rest</th><th>Lift (CI)</th><th>p-value</th><th>Detectable lift</th><th>Expected / warnings</th><th>Decision</th></tr>${ab}</table>
<h2>Recent deliveries</h2><table id="recent"><tr><th>Email</th><th>Campaign</th><th>Step</th><th>Variant</th><th>Status</th><th>Error</th><th>Updated</th></tr>${recent}</table>
<h2>Deferrals, bounces and drops</h2>${outcomes}
<h2>Suppressions</h2><p>${stats.suppressions.map((s) => `${e(s.reason)}: ${s.n}`).join(' · ') || 'none'}</p></body></html>`;
}
