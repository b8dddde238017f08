/**
 * Campaign metrics in the Prometheus text format (exposition format 0.0.4), written by prom-client.
 * Every value is read from the campaign store at scrape time (lib/store/metrics.ts) into a fresh
 * Registry: in queue mode the scrape is one execution (on whichever worker n8n queues it to) while the
 * sends run in others, so counters kept in this process would miss theirs. Totals that only grow are counters (set from the stored total);
 * numbers that move both ways (deliveries by status, runs by outcome, suppressions) are gauges.
 * Labels: campaign_id and step (bounded: METRICS_CAMPAIGN_LIMIT campaigns, the most recent first),
 * and small vocabularies (status, event, outcome, reason, worker). No address, subject or secret is
 * a label or a value.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { CampaignStore } from '../store';
import { type CampaignMetricsData, METRICS_CAMPAIGN_LIMIT, campaignMetricsData } from '../store/metrics';

export const METRICS_PREFIX = 'email_campaign_';
/** The step label of an event or run that names no step. */
export const NO_STEP = 'none';

const stepLabel = (step: number | null | undefined) => (step === null || step === undefined ? NO_STEP : String(step));

/** The text of one scrape, from data already read from the store. */
export async function metricsText(data: CampaignMetricsData): Promise<{ contentType: string; text: string }> {
	const registry = new Registry();
	const registers = [registry];
	const p = METRICS_PREFIX;
	const campaignStep = ['campaign_id', 'step'] as const;

	const deliveries = new Gauge({
		name: `${p}deliveries`,
		help: 'Live recipients per campaign, step and delivery status (claimed, sent, failed, deferred, unconfirmed, retry, suppressed, ...), from eca_deliveries',
		labelNames: [...campaignStep, 'status'],
		registers,
	});
	for (const r of data.deliveries) deliveries.set({ campaign_id: r.campaign_id, step: stepLabel(r.step), status: r.status }, r.n);

	const events = new Counter({
		name: `${p}events_total`,
		help: 'SendGrid events stored per campaign, step and event type (processed, delivered, open, click, bounce, ...)',
		labelNames: [...campaignStep, 'event'],
		registers,
	});
	for (const r of data.events) events.inc({ campaign_id: r.campaign_id, step: stepLabel(r.step), event: r.event }, r.n);

	const runs = new Gauge({
		name: `${p}runs`,
		help: "Runs per campaign, the run's (first) step and outcome (running, finished, failed, interrupted, paused)",
		labelNames: [...campaignStep, 'outcome'],
		registers,
	});
	const perRun = (name: string, help: string) => new Counter({ name: `${p}${name}`, help, labelNames: [...campaignStep], registers });
	const llmCalls = perRun('llm_calls_total', "LLM calls made by the campaign's runs");
	const llmTokens = perRun('llm_tokens_total', "LLM tokens (prompt and completion) used by the campaign's runs");
	const rateLimited = perRun('sendgrid_rate_limited_total', "SendGrid 429 (rate limited) answers to the campaign's runs");
	const retries = perRun('sendgrid_retries_total', 'SendGrid requests sent again after a 429, a 5xx, a timeout or a connection error');
	const waited = perRun('limiter_wait_seconds_total', "Seconds the campaign's sends waited for the rate limiter (and for a 429's reset)");
	for (const r of data.runs) {
		const labels = { campaign_id: r.campaign_id, step: stepLabel(r.step) };
		runs.inc({ ...labels, outcome: r.status }, r.n);
		llmCalls.inc(labels, Number(r.llm_calls) || 0);
		llmTokens.inc(labels, Number(r.llm_tokens) || 0);
		rateLimited.inc(labels, Number(r.sg_rate_limited) || 0);
		retries.inc(labels, Number(r.sg_retries) || 0);
		waited.inc(labels, (Number(r.limiter_wait_ms) || 0) / 1000);
	}

	const suppressions = new Gauge({ name: `${p}suppressions`, help: 'Suppressed address and scope pairs per reason (all campaigns)', labelNames: ['reason'], registers });
	for (const r of data.suppressions) suppressions.set({ reason: r.reason }, r.n);

	const running = new Gauge({
		name: `${p}runs_in_progress`,
		help: 'Runs still running per worker (host:pid, or EMAIL_CAMPAIGN_WORKER_ID) that last started or resumed them',
		labelNames: ['worker'],
		registers,
	});
	for (const r of data.running) running.set({ worker: r.worker }, r.n);

	new Gauge({ name: `${p}metrics_campaigns_exported`, help: `Campaigns in this scrape (at most ${METRICS_CAMPAIGN_LIMIT}, the most recently created or run)`, registers }).set(data.campaigns.length);
	new Gauge({ name: `${p}metrics_campaigns_known`, help: 'Campaigns in the campaign store', registers }).set(data.campaigns_total);

	return { contentType: registry.contentType, text: await registry.metrics() };
}

/** One scrape: the store's numbers as Prometheus text. */
export async function campaignMetrics(store: CampaignStore, options: { limit?: number } = {}): Promise<{ contentType: string; text: string }> {
	return metricsText(await campaignMetricsData(store, options));
}
