/**
 * Campaign metrics and logs in a real n8n (issue 24): after a completed live pipeline run and its
 * SendGrid events, the dashboard template's metrics path (?view=metrics, behind the dashboard's own
 * sign-in) answers Prometheus text whose counts are the run's; without sign-in it answers 401; no
 * address or secret is in the text. The SendGrid Trigger's batch line reaches n8n's log.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { eventually, livePipeline, template, useN8nRig } from './helpers';
import { csvOf, contacts } from '../helpers/fixtures';

jest.setTimeout(20 * 60_000);

const PASSWORD = 'scrape-secret-7f3a';
const e2e = useN8nRig({ credentials: { campaignDashboardUsersApi: { name: 'Dashboard users', data: { users: `prometheus:${PASSWORD}` } } } });

it("the metrics path shows a completed run's counts to a signed-in scraper, 401 to anyone else; no address or secret; the event batch is logged", async () => {
	const { n8n, r, q } = e2e;
	const C = 'e2e-metrics';
	const { id } = await n8n.importWorkflow(livePipeline('e2eMetricsCamp01', 'metrics campaign', C, csvOf(contacts(40, 'metrics.example'))), r.creds);
	expect((await n8n.execute(id)).error).toBeUndefined();
	expect(r.sg.accepted).toHaveLength(40);

	// Its events, signed, through the event-tracking template.
	const { hook } = await e2e.publishTracking();
	const events = r.sg.eventsFor(r.sg.accepted, { open: 0.5, click: 0.25, seed: 5 });
	const answers = await r.sg.postEvents(hook.url, events, { batchSize: 100 });
	expect(answers.every((a) => a.status === 200)).toBe(true);
	// The trigger answers 200 only once the store has them.
	const stored = await q<{ event: string; n: number }>(`SELECT event, count(*)::int AS n FROM eca_events WHERE campaign_id = $1 GROUP BY event`, [C]);
	expect(stored.reduce((n, x) => n + x.n, 0)).toBeGreaterThan(40);

	const { id: dash } = await n8n.importWorkflow(template('campaign-dashboard.json'), r.creds);
	await n8n.activate(dash);
	const url = `${n8n.webhookUrl('campaign-dashboard')}?view=metrics`;
	await eventually(async () => (await fetch(url)).status === 401, 'the dashboard to be live');
	const anonymous = await fetch(url);
	expect(anonymous.status).toBe(401);
	expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
	expect(await anonymous.text()).not.toContain('email_campaign_');
	expect((await fetch(url, { headers: { authorization: `Basic ${Buffer.from('prometheus:wrong').toString('base64')}` } })).status).toBe(401);

	const res = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`prometheus:${PASSWORD}`).toString('base64')}` } });
	expect(res.status).toBe(200);
	// n8n puts charset first; Prometheus reads the parameters in any order.
	expect(res.headers.get('content-type')).toMatch(/^text\/plain;/);
	expect(res.headers.get('content-type')).toContain('version=0.0.4');
	const text = await res.text();
	const parsed = parsePrometheusTextFormat(text);
	const value = (name: string, labels: Record<string, string>) =>
		parsed
			.find((f) => f.name === name)
			?.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
			.reduce((n, m) => n + Number(m.value), 0);

	// The run's counts, as the store has them.
	expect(value('email_campaign_deliveries', { campaign_id: C, step: '1', status: 'sent' })).toBe(40);
	const runs = await q<{ status: string; llm_calls: number; llm_tokens: number }>(`SELECT status, llm_calls, llm_tokens FROM eca_runs WHERE campaign_id = $1`, [C]);
	expect(runs.map((x) => x.status)).toEqual(['finished']);
	expect(value('email_campaign_runs', { campaign_id: C, outcome: 'finished' })).toBe(1);
	expect(value('email_campaign_llm_calls_total', { campaign_id: C })).toBe(runs[0].llm_calls);
	expect(value('email_campaign_llm_tokens_total', { campaign_id: C })).toBe(runs[0].llm_tokens);
	for (const row of stored) expect(value('email_campaign_events_total', { campaign_id: C, event: row.event })).toBe(row.n);
	expect(stored.find((x) => x.event === 'open')?.n).toBeGreaterThan(0);
	expect(value('email_campaign_sendgrid_rate_limited_total', { campaign_id: C })).toBe(0);
	expect(value('email_campaign_runs_in_progress', {}) ?? 0).toBe(0);

	// Nothing of a contact or a credential.
	expect(text).not.toContain('@');
	expect(text).not.toContain('metrics.example');
	for (const secret of [PASSWORD, r.sg.credential().apiKey, r.llm.credential().apiKey]) expect(text).not.toContain(secret);

	// n8n's log (the main process runs production webhooks): the trigger's line per post, with counts and no address.
	const log = (await eventually(() => (/SendGrid event batch received: \d+ in, \d+ new/.test(n8n.output('main')) ? n8n.output('main') : undefined), 'the batch line in the log'))!;
	expect(log.match(/SendGrid event batch received: \d+ in/g)!.length).toBeGreaterThanOrEqual(answers.length);
	expect(log).not.toContain('@metrics.example');
});
