/** The JWT campaign API and the stats dashboard templates in a real n8n. */
import { createHmac } from 'node:crypto';
import { eventually, template, useN8nRig } from './helpers';
import { campaignInput, contacts } from '../helpers/fixtures';
import { deliveryStatuses } from '../helpers/tally';

jest.setTimeout(20 * 60_000);

const SECRET = 'e2e-jwt-secret-0123456789abcdef';
const b64 = (v: object | string) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
function jwt(payload: Record<string, unknown>, secret = SECRET): string {
	const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
	return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

const e2e = useN8nRig({
	credentials: {
		jwtAuth: { name: 'API JWT', data: { keyType: 'passphrase', secret: SECRET, algorithm: 'HS256' } },
		campaignDashboardUsersApi: { name: 'Dashboard users', data: { users: 'marketing:dash-secret-1\nviewer:viewer-secret-1' } },
	},
});

it('campaign API: 401 without a token, 403 forged or expired, 400 naming the field, 202 with the run id, 429 over the limit', async () => {
	const { n8n, r, q } = e2e;
	const { id } = await n8n.importWorkflow(template('campaign-api.json'), r.creds);
	await n8n.activate(id);
	const url = n8n.webhookUrl('campaigns');
	await eventually(async () => (await fetch(url, { method: 'POST' })).status === 401, 'the API to be live');
	const now = Math.floor(Date.now() / 1000);
	const call = (token: string | undefined, body: unknown, caller = 'system-a') =>
		fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) }).then(async (res) => ({ status: res.status, body: await res.text(), caller }));
	const good = { campaign: campaignInput({ id: 'api-campaign' }), contacts: contacts(20, 'api.example'), dry_run: true };

	expect((await call(undefined, good)).status).toBe(401);
	expect((await call(jwt({ sub: 'system-a', exp: now + 600 }, 'not-the-secret'), good)).status).toBe(403);
	expect((await call(jwt({ sub: 'system-a', exp: now - 60 }), good)).status).toBe(403);

	const bad = await call(jwt({ sub: 'system-a', exp: now + 600 }), { ...good, campaign: { ...good.campaign, from: { email: 'nope' } } });
	expect(bad.status).toBe(400);
	expect(JSON.parse(bad.body)).toMatchObject({ fields: ['campaign.from.email'], error: expect.stringMatching(/campaign\.from\.email: is not a valid email address/) });

	const ok = await call(jwt({ sub: 'system-a', exp: now + 600 }), good);
	expect(ok.status).toBe(202);
	const runId = JSON.parse(ok.body).run_id as string;
	expect(runId).toMatch(/^run_/);
	await eventually(async () => (await deliveryStatuses(q, 'api-campaign', { runId })).dry_run === 20, 'the accepted campaign to run');

	// 10 per minute per caller: this caller has used 2 of its window (the bad body and the good one).
	const flood = await Promise.all(Array.from({ length: 10 }, () => call(jwt({ sub: 'system-b', exp: now + 600 }), { nope: true }, 'system-b')));
	expect(flood.filter((x) => x.status === 400)).toHaveLength(10);
	const over = await call(jwt({ sub: 'system-b', exp: now + 600 }), good, 'system-b');
	expect(over.status).toBe(429);
	expect(JSON.parse(over.body).error).toMatch(/rate limit of 10 requests per minute/);
	expect((await call(jwt({ sub: 'system-c', exp: now + 600 }), { nope: true }, 'system-c')).status).toBe(400); // other callers unaffected
});

it('dashboard: behind its own sign-in (a Basic challenge), a page whose every script and style carries the nonce of its own CSP, listing the campaigns', async () => {
	const { n8n, r } = e2e;
	const { id } = await n8n.importWorkflow(template('campaign-dashboard.json'), r.creds);
	await n8n.activate(id);
	const url = n8n.webhookUrl('campaign-dashboard');
	await eventually(async () => (await fetch(url)).status === 401, 'the dashboard to be live');
	const anonymous = await fetch(url);
	expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="Campaign dashboard"/);
	expect(await anonymous.text()).not.toContain('api-campaign');
	expect((await fetch(url, { headers: { authorization: `Basic ${Buffer.from('marketing:wrong-password').toString('base64')}` } })).status).toBe(401);
	const res = await fetch(url, { headers: { authorization: `Basic ${Buffer.from('viewer:viewer-secret-1').toString('base64')}` } });
	expect(res.status).toBe(200);
	expect(res.headers.get('content-type')).toMatch(/text\/html/);
	// n8n puts its sandbox policy in the header; the page's own policy (with its nonce) is in the page, and the browser enforces both.
	expect(res.headers.get('content-security-policy')).toMatch(/^sandbox /);
	const html = await res.text();
	const nonce = /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'nonce-([^']+)'/.exec(html)?.[1];
	expect(nonce).toBeDefined();
	for (const m of html.matchAll(/<(script|style)\b([^>]*)>/g)) if (!m[2].includes('application/json')) expect(m[2]).toContain(`nonce="${nonce}"`);
	expect(html).toContain('api-campaign');
	expect(html).toContain('viewer (read only)');
});
