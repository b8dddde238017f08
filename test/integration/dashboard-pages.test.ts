/**
 * The campaign dashboard (issue 18) on a real store: its pages from a campaign sent through the
 * simulator and its events, every value escaped under a nonce CSP; the deliveries page and CSV; and
 * its actions — only for a verified user on Allowed Actors, with that user's CSRF token, after a
 * confirmation — changing the store and leaving an audit row, while a refused request changes nothing.
 */
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import { applyEvents } from '../../lib/store/events';
import { normalizeEvent } from '../../lib/events/normalize';
import { handleDashboard, type DashboardOptions, type DashboardRequest } from '../../lib/dashboard/router';
import { parseUsers } from '../../lib/dashboard/access';
import { activeHold, insertEnrollments } from '../../lib/store';
import { takeResumeRequest } from '../../lib/store/audit';
import { changeScheduledRun } from '../../lib/sendgrid/scheduled';
import { campaignInput, contacts } from '../helpers/fixtures';
import { useSimulatorAndStore } from '../helpers/simulatorStore';
import { sql } from '../helpers/sql';

jest.setTimeout(120_000);

const env = useSimulatorAndStore();
const ID = 'dash-1';
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const USERS = 'alice:alice-password-1\nbob:bob-password-22';
const options: DashboardOptions = { title: 'Acme <campaigns>', access: { users: parseUsers(USERS), allowedActors: ['alice'] } };
const as = (user: string, password: string, req: DashboardRequest = {}) => handleDashboard(env.store, { ...req, headers: { ...basic(user, password), ...(req.headers as object) } }, options);
const alice = (req: DashboardRequest = {}) => as('alice', 'alice-password-1', req);
const bob = (req: DashboardRequest = {}) => as('bob', 'bob-password-22', req);
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1];

let campaign: ReturnType<typeof parseCampaign>;
let transport: ReturnType<typeof createSendGridTransport>;
beforeAll(async () => {
	const { sim, store } = env;
	campaign = parseCampaign(campaignInput({ id: ID, name: 'Spring <b>sale</b>', variants: 2, abTest: { mode: 'split', metric: 'unique_click_rate' } } as never));
	await store.upsertCampaign(campaign);
	const people = contacts(60, 'dash.example');
	people[3] = { ...people[3], email: '=cmd@dash.example' };
	transport = createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 5000 });
	await sendEmailWithSendgrid(buildEmailPayloads(campaign, people, 'run-dash-1', { step: 1 }), { transport, store });
	const accepted = sim.accepted;
	const events = sim.eventsFor(accepted, { open: 0.5, click: accepted.slice(0, 10).map((m) => m.to), bounce: accepted.slice(50, 53).map((m) => m.to) });
	await applyEvents(store, events.map((e) => normalizeEvent(e as never)));
	const due = new Date(Date.now() + 86_400_000).toISOString();
	await insertEnrollments(store, ID, 2, new Date().toISOString(), people.slice(0, 5).map((c) => ({ email: c.email, tz: null, variant: 'A', fields: '{}', due })));
});

describe('reading', () => {
	it('without a user of the list: 401 with a Basic challenge, and nothing is shown', async () => {
		for (const r of [await handleDashboard(env.store, {}, options), await as('alice', 'wrong-password-1'), await as('mallory', 'alice-password-1')]) {
			expect(r.status).toBe(401);
			expect(r.headers['www-authenticate']).toMatch(/^Basic realm="Campaign dashboard"/);
			expect(r.body).not.toContain(ID);
		}
	});

	it('the campaigns list: the campaign with its rates, escaped, under a nonce CSP in the page; buttons only for an allowed actor', async () => {
		const page = await alice();
		expect(page.status).toBe(200);
		// The policy is the page's first element after its charset (n8n drops a webhook's CSP header for its own sandbox policy).
		const policy = /^<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(page.body)![1];
		expect(policy).toMatch(/^default-src 'none'; script-src 'nonce-[^']+'; style-src 'nonce-[^']+';/);
		const nonce = /script-src 'nonce-([^']+)'/.exec(policy)![1];
		expect(page.body).toContain('Spring &lt;b&gt;sale&lt;/b&gt;');
		expect(page.body).toContain('Acme &lt;campaigns&gt;');
		expect(page.body).not.toContain('<b>sale');
		// Every script and style element carries the nonce; no inline handler anywhere.
		for (const m of page.body.matchAll(/<(script|style)\b([^>]*)>/g)) if (!/type="application\/json"/.test(m[2])) expect(m[2]).toContain(`nonce="${nonce}"`);
		expect(page.body).not.toMatch(/\son[a-z]+=/i);
		expect(page.body).toMatch(/data-campaign="dash-1"><td>.*<td class="n">60<\/td>/);
		// Sequence progress: 5 enrolled, none done yet.
		expect(page.body).toContain('<progress max="5" value="0"></progress> <small>0/5 done · 5 active</small>');
		expect(page.body).toContain('name="action" value="pause_campaign"');
		const read = await bob();
		expect(read.status).toBe(200);
		expect(read.body).toContain('bob (read only)');
		expect(read.body).not.toContain('name="action"');
	});

	it('the campaign page: charts from uPlot inline, clicks per link, bounce reasons, A/B section, runs', async () => {
		const page = await alice({ query: { view: 'campaign', id: ID } });
		expect(page.status).toBe(200);
		expect(page.body).toContain('uPlot');
		const data = JSON.parse(/<script type="application\/json" id="eca-data">(.*?)<\/script>/s.exec(page.body)![1]);
		expect(data.charts.map((c: { id: string }) => c.id)).toEqual(['chart-totals', 'chart-variants']);
		const clicks = data.charts[0].series.indexOf('unique clicks') + 1;
		expect(data.charts[0].data[clicks].reduce((a: number, b: number) => a + b, 0)).toBe(10);
		// A time axis of whole days around the events, empty days at 0: one busy day still draws as a line.
		const axis = data.charts[0].data[0] as number[];
		expect(axis.length).toBeGreaterThanOrEqual(3);
		expect(new Set(axis.slice(1).map((t, i) => t - axis[i]))).toEqual(new Set([86_400]));
		expect(page.body).toContain('<h2>Clicks per link</h2><table>');
		// Per step × variant × language: the language each claim was made with.
		const languages = /<table id="languages">.*?<\/table>/s.exec(page.body)![0];
		expect([...languages.matchAll(/<tr><td class="n">1<\/td><td>([AB])<\/td><td>en<\/td><td class="n">(\d+)<\/td>/g)].reduce((n, m) => n + Number(m[2]), 0)).toBe(60);
		expect(page.body).toMatch(/<h2>Bounce and drop reasons<\/h2><table>.*bounce/s);
		expect(page.body).toContain('data-run="run-dash-1"');
		expect((await alice({ query: { view: 'campaign', id: 'nope' } })).status).toBe(404);
	});

	it('deliveries: keyset pages, filters, a bad cursor is a 400 naming it; CSV export escapes formula cells', async () => {
		const first = await alice({ query: { view: 'deliveries', campaign: ID } });
		expect(first.status).toBe(200);
		const next = /href="\?([^"]*after=[^"]*)" rel="next"/.exec(first.body)?.[1];
		expect(next).toBeDefined();
		const second = await alice({ query: Object.fromEntries(new URLSearchParams(next!.replace(/&amp;/g, '&'))) });
		expect(second.status).toBe(200);
		const emails = (html: string) => [...html.matchAll(/view=deliveries&email=([^"]+)"/g)].map((m) => m[1]);
		expect(emails(first.body)).toHaveLength(50);
		expect(emails(second.body)).toHaveLength(10);
		expect(new Set([...emails(first.body), ...emails(second.body)]).size).toBe(60);
		const bad = await alice({ query: { view: 'deliveries', campaign: ID, after: 'not-a-cursor' } });
		expect(bad.status).toBe(400);
		expect(bad.body).toContain('after');
		const csv = await alice({ query: { view: 'export', campaign: ID } });
		expect(csv.kind).toBe('csv');
		expect(csv.headers['content-disposition']).toBe('attachment; filename="deliveries-dash-1.csv"');
		const lines = csv.body.trimEnd().split('\r\n');
		expect(lines).toHaveLength(61);
		expect(lines.some((l) => l.includes(",'=cmd@dash.example,"))).toBe(true);
		expect(lines.some((l) => /(^|,)=/.test(l))).toBe(false);
	});
});

describe('acting', () => {
	const audits = async () => (await sql(env.store).query<{ actor: string; action: string; outcome: string }>('SELECT actor, action, outcome FROM eca_audit ORDER BY id')).rows;

	it('pause: a confirmation page first, then the hold is placed and audited; the next claim is refused by it', async () => {
		const page = await alice({ query: { view: 'campaign', id: ID } });
		const csrf = csrfOf(page.body)!;
		const confirm = await alice({ body: { action: 'pause_campaign', campaign: ID, csrf } });
		expect(confirm.status).toBe(200);
		expect(confirm.body).toContain('name="confirmed" value="1"');
		expect(await activeHold(env.store, [`campaign:${ID}`])).toBeUndefined();
		const done = await alice({ body: { action: 'pause_campaign', campaign: ID, csrf, confirmed: '1' } });
		expect(done.status).toBe(200);
		expect(done.body).toContain(`Campaign ${ID} is paused.`);
		expect(await activeHold(env.store, [`campaign:${ID}`])).toMatchObject({ held_by: 'alice' });
		expect(await audits()).toEqual([{ actor: 'alice', action: 'pause_campaign', outcome: 'done' }]);
		// The next run's claims obey it: nobody is sent while the campaign is paused.
		const requests = env.sim.requests.length;
		const held = await sendEmailWithSendgrid(buildEmailPayloads(campaign, contacts(3, 'late.example'), 'run-dash-2', { step: 1 }), { transport, store: env.store });
		expect(held.flatMap((b) => b.results).map((r) => r.status)).toEqual(['paused', 'paused', 'paused']);
		expect(env.sim.requests.slice(requests).filter((r) => r.path === '/v3/mail/send')).toHaveLength(0);
		const resumed = await alice({ body: { action: 'resume_campaign', campaign: ID, csrf, confirmed: '1' } });
		expect(resumed.body).toContain(`Campaign ${ID} is resumed.`);
		expect(await activeHold(env.store, [`campaign:${ID}`])).toBeUndefined();
	});

	it('refused with 403 and nothing written: no token, a token of another user, a user not allowed, no user', async () => {
		const before = (await audits()).length;
		const aliceToken = csrfOf((await alice()).body)!;
		const attempts = [
			await alice({ body: { action: 'pause_campaign', campaign: ID, confirmed: '1' } }),
			await alice({ body: { action: 'pause_campaign', campaign: ID, confirmed: '1', csrf: 'x.y' } }),
			await bob({ body: { action: 'pause_campaign', campaign: ID, confirmed: '1', csrf: aliceToken } }),
			await handleDashboard(env.store, { body: { action: 'pause_campaign', campaign: ID, confirmed: '1', csrf: aliceToken } }, { access: { allowedActors: ['*'] } }),
		];
		expect(attempts.map((r) => r.status)).toEqual([403, 403, 403, 403]);
		expect(await activeHold(env.store, [`campaign:${ID}`])).toBeUndefined();
		expect(await audits()).toHaveLength(before);
	});

	it('a JWT subject the Webhook verified may act when allowed; a claimed Basic name without a user list may not', async () => {
		const jwtOptions: DashboardOptions = { access: { allowedActors: ['ops@acme.example'] } };
		const page = await handleDashboard(env.store, { jwtPayload: { sub: 'ops@acme.example' } }, jwtOptions);
		const csrf = csrfOf(page.body)!;
		const done = await handleDashboard(env.store, { jwtPayload: { sub: 'ops@acme.example' }, body: { action: 'cancel_sequence', campaign: ID, csrf, confirmed: '1' } }, jwtOptions);
		expect(done.body).toContain(`5 contacts stopped in campaign ${ID}.`);
		const n = (await sql(env.store).query<{ n: number }>(`SELECT count(*)::int AS n FROM eca_enrollments WHERE campaign_id = $1 AND status = 'active'`, [ID])).rows[0].n;
		expect(n).toBe(0);
		const claimed = await handleDashboard(env.store, { headers: basic('ops@acme.example', 'whatever'), body: { action: 'pause_campaign', campaign: ID, csrf, confirmed: '1' } }, jwtOptions);
		expect(claimed.status).toBe(403);
	});

	it('pick an A/B winner by hand and lift a suppression: stored, audited, and shown', async () => {
		const csrf = csrfOf((await alice()).body)!;
		const pick = await alice({ body: { action: 'pick_winner', campaign: ID, step: '1', variant: 'B', csrf, confirmed: '1' } });
		expect(pick.body).toContain('now sends variant B');
		const row = (await sql(env.store).query<{ send_variant: string; reason: string }>('SELECT send_variant, reason FROM eca_ab_decisions WHERE campaign_id = $1 AND step = 1', [ID])).rows[0];
		expect(row).toMatchObject({ send_variant: 'B', reason: expect.stringMatching(/^picked by hand by alice/) });
		const unknown = await alice({ body: { action: 'pick_winner', campaign: ID, step: '1', variant: 'E', csrf, confirmed: '1' } });
		expect(unknown.status).toBe(400);

		const bounced = env.sim.accepted[50].to;
		const view = await alice({ query: { view: 'deliveries', email: bounced } });
		expect(view.body).toContain('name="action" value="lift_suppression"');
		const lifted = await alice({ body: { action: 'lift_suppression', email: bounced, scope: 'global', csrf, confirmed: '1' } });
		expect(lifted.body).toContain(`The global suppression of ${bounced} is lifted.`);
		expect((await sql(env.store).query('SELECT 1 FROM eca_suppressions WHERE email = $1', [bounced])).rowCount).toBe(0);
		const log = await alice({ query: { view: 'campaign', id: ID } });
		expect(log.body).toMatch(/<h2>Dashboard actions<\/h2><table>.*alice.*pick_winner/s);
	});
});

describe('a scheduled run', () => {
	it('cancel from its run row: SendGrid holds the batch, the deliveries become cancelled, audited; resume brings them back', async () => {
		const sendAt = Math.floor(Date.now() / 1000) + 3600;
		await sendEmailWithSendgrid(buildEmailPayloads(campaign, contacts(12, 'sched.example'), 'run-dash-sched', { step: 1, sendAt }), { transport, store: env.store });
		const withScheduled: DashboardOptions = { ...options, scheduled: async (op, runId, actor) => (await changeScheduledRun(env.store, transport, runId, op, actor)).message };
		const asAlice = (req: DashboardRequest) => handleDashboard(env.store, { ...req, headers: basic('alice', 'alice-password-1') }, withScheduled);
		const page = await asAlice({ query: { view: 'campaign', id: ID } });
		const row = /<tr data-run="run-dash-sched">.*?<\/tr>/s.exec(page.body)![0];
		expect(row).toContain('scheduled');
		expect(row).toContain('value="cancel_scheduled"');
		const csrf = csrfOf(page.body)!;
		const done = await asAlice({ body: { action: 'cancel_scheduled', campaign: ID, run: 'run-dash-sched', csrf, confirmed: '1' } });
		expect(done.status).toBe(200);
		const stored = async () => (await sql(env.store).query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM eca_deliveries WHERE run_id = 'run-dash-sched' GROUP BY status`)).rows;
		expect(await stored()).toEqual([{ status: 'cancelled', n: 12 }]);
		expect(env.sim.held.filter((m) => m.to.endsWith('@sched.example'))).toHaveLength(12);
		const resumed = await asAlice({ body: { action: 'resume_scheduled', campaign: ID, run: 'run-dash-sched', csrf, confirmed: '1' } });
		expect(resumed.status).toBe(200);
		expect((await stored()).map((r) => r.status)).not.toContain('cancelled');
		const log = (await sql(env.store).query<{ action: string; outcome: string }>(`SELECT action, outcome FROM eca_audit WHERE target = 'run-dash-sched' ORDER BY id`)).rows;
		expect(log).toEqual([
			{ action: 'cancel_scheduled', outcome: 'done' },
			{ action: 'resume_scheduled', outcome: 'done' },
		]);
		// Without a SendGrid credential on the node, the action says what it needs and changes nothing.
		const none = await alice({ body: { action: 'pause_scheduled', campaign: ID, run: 'run-dash-sched', csrf, confirmed: '1' } });
		expect(none.status).toBe(400);
		expect(none.body).toContain('need a SendGrid credential');
	});
});

describe('an interrupted Campaign Agent run', () => {
	it('the run page offers Resume; asking records who, once; the agent takes the request once; a run not interrupted is refused', async () => {
		await env.store.startRun({ runId: 'run-dash-int', campaignId: ID, step: 1, mode: 'live' });
		await env.store.failRun('run-dash-int', 'SendGrid answered 503 for 10 minutes', 'interrupted');
		const page = await alice({ query: { view: 'campaign', id: ID } });
		const row = /<tr data-run="run-dash-int">.*?<\/tr>/s.exec(page.body)![0];
		expect(row).toContain('SendGrid answered 503 for 10 minutes — resumable');
		expect(row).toContain('name="action" value="resume_run"');
		const csrf = csrfOf(page.body)!;
		const asked = await alice({ body: { action: 'resume_run', campaign: ID, run: 'run-dash-int', csrf, confirmed: '1' } });
		expect(asked.body).toContain('will be resumed by the next Campaign Agent execution');
		expect((await alice({ body: { action: 'resume_run', campaign: ID, run: 'run-dash-int', csrf, confirmed: '1' } })).body).toContain('was already waiting to be resumed');
		const after = /<tr data-run="run-dash-int">.*?<\/tr>/s.exec((await alice({ query: { view: 'campaign', id: ID } })).body)![0];
		expect(after).toContain('resume asked by alice');
		expect(after).not.toContain('value="resume_run"');
		expect(await takeResumeRequest(env.store, ID)).toEqual({ run_id: 'run-dash-int', requested_by: 'alice' });
		expect(await takeResumeRequest(env.store, ID)).toBeUndefined();
		const finished = await alice({ body: { action: 'resume_run', campaign: ID, run: 'run-dash-1', csrf, confirmed: '1' } });
		expect(finished.status).toBe(400);
		expect(finished.body).toContain('is not interrupted');
	});
});

describe('API keys from the dashboard', () => {
	it('create shows the key once (never in the audit log or the list), revoke refuses its next use, a reader sees no form', async () => {
		const { authenticateApiKey } = await import('../../lib/api/apiKeys');
		const keys = await alice({ query: { view: 'keys' } });
		expect(keys.body).toContain('name="action" value="create_api_key"');
		expect((await bob({ query: { view: 'keys' } })).body).not.toContain('create_api_key');
		const csrf = csrfOf(keys.body)!;
		const form = { action: 'create_api_key', name: 'CRM <sync>', scopes: ['start', 'stats'], campaigns: 'dash-*', per_minute: '30', csrf };
		const confirm = await alice({ body: form });
		expect(confirm.body).toContain('name="scopes" value="start,stats"');
		const made = await alice({ body: { ...form, scopes: 'start,stats', confirmed: '1' } });
		const secret = /<pre class="notice" id="revealed">([^<]+)<\/pre>/.exec(made.body)![1];
		expect(secret).toMatch(/^eca_live_[0-9a-f]{12}_/);
		const verdict = await authenticateApiKey(env.store, secret);
		expect(verdict.ok).toBe(true);
		const id = verdict.ok ? verdict.key.id : '';
		const list = await alice({ query: { view: 'keys' } });
		expect(list.body).toContain('CRM &lt;sync&gt;');
		expect(list.body).not.toContain(secret);
		const logged = JSON.stringify((await sql(env.store).query('SELECT * FROM eca_audit')).rows);
		expect(logged).toContain('create_api_key');
		expect(logged).not.toContain(secret.slice(22));
		const revoked = await alice({ body: { action: 'revoke_api_key', key: id, csrf, confirmed: '1' } });
		expect(revoked.body).toContain('is revoked.');
		expect((await authenticateApiKey(env.store, secret)).ok).toBe(false);
		expect((await alice({ query: { view: 'keys' } })).body).toMatch(/badge cancelled">revoked<\/span> alice/);
	});
});
