/**
 * In a real browser (playwright-core + Debian's Chromium): the dashboard shows the store's numbers,
 * the form page starts a campaign, and the editor shows this package's nodes with their icons and
 * parameters on every template. Screenshots go to test-artifacts/screenshots/.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { Browser, chromium } from 'playwright-core';
import { UNSUBSCRIBE_URL, eventually, livePipeline, node, template, useN8nRig } from './helpers';
import { csvOf, contacts } from '../helpers/fixtures';
import { deliveryStatuses } from '../helpers/tally';

jest.setTimeout(30 * 60_000);

const SHOTS = 'test-artifacts/screenshots';
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const e2e = useN8nRig({ credentials: { campaignDashboardUsersApi: { name: 'Dashboard users', data: { users: 'marketing:dash-secret-1\nviewer:viewer-secret-1' } } } });
let browser: Browser;

beforeAll(async () => {
	mkdirSync(SHOTS, { recursive: true });
	browser = await chromium.launch({
		executablePath: CHROMIUM,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
});
afterAll(async () => {
	await browser?.close();
});

it('the dashboard: campaigns, a campaign page with uPlot charts under a strict CSP, deliveries and CSV, and actions that change the store', async () => {
	const { n8n, r, q } = e2e;
	const wf = livePipeline('browserDashCamp1', 'dashboard campaign', 'dash-campaign', csvOf(contacts(120, 'dash.example')));
	Object.assign(node(wf, 'Load Campaign Content').parameters, { campaignOptions: { variants: 2, fallbacks: 'first_name=there', unsubscribeUrl: UNSUBSCRIBE_URL } });
	const run = await n8n.importWorkflow(wf, r.creds);
	expect((await n8n.execute(run.id)).error).toBeUndefined();
	// Some engagement so the rates are not all zero.
	const { hook } = await e2e.publishTracking();
	const events = r.sg.eventsFor(r.sg.accepted, { open: 0.5, click: 0.2, bounce: ['user3@dash.example'], seed: 9 });
	await r.sg.postEvents(hook.url, events);
	// The trigger answers SendGrid first and stores in its execution: wait until every event is in the store.
	await eventually(async () => (await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_events WHERE campaign_id = 'dash-campaign'`))[0].n === events.length, 'the events to be stored');

	const dashboard = template('campaign-dashboard.json');
	node(dashboard, 'Campaign Dashboard').parameters.allowedActors = 'marketing';
	const dash = await n8n.importWorkflow(dashboard, r.creds);
	await n8n.activate(dash.id);
	const url = n8n.webhookUrl('campaign-dashboard');
	await eventually(async () => (await fetch(url)).status === 401, 'dashboard');
	const context = await browser.newContext({ httpCredentials: { username: 'marketing', password: 'dash-secret-1' }, viewport: { width: 1400, height: 1000 } });
	const page = await context.newPage();
	const violations: string[] = [];
	page.on('console', (m) => {
		if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
	});
	page.on('pageerror', (e) => violations.push(e.message));

	// The list: the campaign's sent count is the store's.
	await page.goto(url);
	await page.screenshot({ path: `${SHOTS}/dashboard-campaigns.png`, fullPage: true });
	const [stored] = await q<{ sent: number; delivered: number; opened: number; clicked: number; bounced: number }>(
		`SELECT count(*) FILTER (WHERE status = 'sent')::int AS sent, count(*) FILTER (WHERE delivered_at IS NOT NULL)::int AS delivered,
			count(*) FILTER (WHERE open_count > 0)::int AS opened, count(*) FILTER (WHERE click_count > 0)::int AS clicked, count(*) FILTER (WHERE bounced_at IS NOT NULL)::int AS bounced
		 FROM eca_deliveries WHERE campaign_id = 'dash-campaign' AND mode = 'live'`,
	);
	expect(stored.sent).toBe(120);
	const row = page.locator('tr[data-campaign="dash-campaign"]');
	expect(Number(await row.locator('td').nth(2).textContent())).toBe(stored.sent);

	// The campaign page: the KPIs are the store's, and uPlot drew both charts (its script ran under the nonce CSP).
	await row.locator('a').first().click();
	await page.locator('#chart-totals .uplot canvas').first().waitFor({ timeout: 30_000 }).catch(async (e) => {
		// Say what the page showed instead (no data in the window, a script refused by the policy...).
		await page.screenshot({ path: `${SHOTS}/dashboard-failed.png`, fullPage: true });
		const text = (await page.locator('main').innerText()).slice(0, 1500);
		throw new Error(`${(e as Error).message}\npage: ${text}\nconsole: ${violations.join(' | ')}`);
	});
	expect(await page.locator('.uplot').count()).toBe(2);
	const kpi = async (label: string) => Number(await page.locator('.kpi', { hasText: label }).locator('b').textContent());
	expect({ sent: await kpi('Sent'), delivered: await kpi('Delivered'), opened: await kpi('Opened'), clicked: await kpi('Clicked'), bounced: await kpi('Bounced') }).toEqual(stored);
	// Each variant's copy, as its html renders in a sandboxed frame.
	const copyFrame = page.frameLocator('.copy iframe').first().locator('body');
	await copyFrame.waitFor();
	expect((await copyFrame.innerText()).trim().length).toBeGreaterThan(20);
	await page.screenshot({ path: `${SHOTS}/dashboard.png`, fullPage: true });

	// Pick the A/B winner of step 1 by hand: the decision the next runs send to the rest.
	await page.locator('tr[data-step="1"]').getByRole('button', { name: 'Send B' }).click();
	await page.getByRole('button', { name: 'Confirm' }).click();
	await page.getByText('now sends variant B to the rest of its list').waitFor();
	expect(await q(`SELECT send_variant, reason FROM eca_ab_decisions WHERE campaign_id = 'dash-campaign' AND step = 1`)).toEqual([
		{ send_variant: 'B', reason: expect.stringMatching(/^picked by hand by marketing/) },
	]);
	await page.getByRole('link', { name: 'Back' }).click();

	// Pause from the page: a confirmation, then the hold, the audit row, and the next run claims nobody.
	await page.getByRole('button', { name: 'Pause campaign' }).click();
	await page.getByRole('button', { name: 'Confirm' }).click();
	await page.getByText('Campaign dash-campaign is paused.').waitFor();
	expect(await q(`SELECT held_by FROM eca_holds WHERE scope = 'campaign:dash-campaign'`)).toEqual([{ held_by: 'marketing' }]);
	expect(await q(`SELECT actor, action, outcome FROM eca_audit ORDER BY id`)).toEqual([
		{ actor: 'marketing', action: 'pick_winner', outcome: 'done' },
		{ actor: 'marketing', action: 'pause_campaign', outcome: 'done' },
	]);
	const more = livePipeline('browserDashCamp2', 'dashboard campaign more', 'dash-campaign', csvOf(contacts(10, 'later.example')));
	const accepted = r.sg.accepted.length;
	const again = await n8n.importWorkflow(more, r.creds);
	await n8n.execute(again.id);
	expect(r.sg.accepted.length).toBe(accepted);
	expect((await deliveryStatuses(q, 'dash-campaign')).sent).toBe(120);
	await page.getByRole('link', { name: 'Back' }).click();
	await page.getByRole('button', { name: 'Resume campaign' }).click();
	await page.getByRole('button', { name: 'Confirm' }).click();
	await page.getByText('Campaign dash-campaign is resumed.').waitFor();
	expect(await q(`SELECT 1 FROM eca_holds WHERE scope = 'campaign:dash-campaign'`)).toEqual([]);

	// Deliveries: pages by keyset, then the CSV.
	await page.goto(`${url}?view=deliveries&campaign=dash-campaign`);
	expect(await page.locator('tbody tr').count()).toBe(50);
	await page.getByRole('link', { name: 'Next page' }).click();
	expect(await page.locator('tbody tr').count()).toBe(50);
	await page.getByRole('link', { name: 'Next page' }).click();
	expect(await page.locator('tbody tr').count()).toBe(20);
	const auth = { authorization: `Basic ${Buffer.from('marketing:dash-secret-1').toString('base64')}` };
	const csv = await fetch(`${url}?view=export&campaign=dash-campaign`, { headers: auth });
	expect(csv.headers.get('content-disposition')).toBe('attachment; filename="deliveries-dash-campaign.csv"');
	expect((await csv.text()).trimEnd().split('\r\n')).toHaveLength(121);

	// The bounced address: its deliveries page offers to lift its suppression.
	await page.goto(`${url}?view=deliveries&email=user3@dash.example`);
	await page.getByRole('button', { name: 'Lift suppression' }).click();
	await page.getByRole('button', { name: 'Confirm' }).click();
	await page.getByText('The global suppression of user3@dash.example is lifted.').waitFor();
	expect(await q(`SELECT 1 FROM eca_suppressions WHERE email = 'user3@dash.example'`)).toEqual([]);

	// API keys: made (shown once), listed without the secret, revoked.
	await page.goto(`${url}?view=keys`);
	await page.locator('input[name="name"]').fill('CRM sync');
	await page.locator('input[name="campaigns"]').fill('dash-*');
	await page.getByRole('button', { name: 'Create' }).click();
	await page.getByRole('button', { name: 'Confirm' }).click();
	const key = (await page.locator('#revealed').textContent())!;
	expect(key).toMatch(/^eca_live_[0-9a-f]{12}_/);
	await page.screenshot({ path: `${SHOTS}/dashboard-key-created.png` });
	await page.goto(`${url}?view=keys`);
	expect(await page.content()).not.toContain(key);
	await page.getByRole('button', { name: 'Revoke' }).click();
	await page.getByRole('button', { name: 'Confirm' }).click();
	await page.getByText(/is revoked\./).waitFor();
	expect(await q(`SELECT revoked_by FROM eca_api_keys`)).toEqual([{ revoked_by: 'marketing' }]);
	expect(violations).toEqual([]);

	// No token, or a user who may only read: 403 and nothing changes.
	const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
	const noToken = await fetch(url, { ...form({ action: 'pause_campaign', campaign: 'dash-campaign', confirmed: '1' }), headers: { ...form({}).headers, ...auth } });
	expect(noToken.status).toBe(403);
	const viewer = { authorization: `Basic ${Buffer.from('viewer:viewer-secret-1').toString('base64')}` };
	const token = /name="csrf" value="([^"]+)"/.exec(await (await fetch(url, { headers: auth })).text())![1];
	const asViewer = await fetch(url, { ...form({ action: 'pause_campaign', campaign: 'dash-campaign', confirmed: '1', csrf: token }), headers: { ...form({}).headers, ...viewer } });
	expect(asViewer.status).toBe(403);
	expect(await q(`SELECT 1 FROM eca_holds WHERE scope = 'campaign:dash-campaign'`)).toEqual([]);
	expect(await q(`SELECT count(*)::int AS n FROM eca_audit`)).toEqual([{ n: 6 }]);
	await context.close();
});

it('the form page starts a campaign from an uploaded CSV', async () => {
	const { n8n, r, q } = e2e;
	const form = await n8n.importWorkflow(template('campaign-form.json'), r.creds);
	await n8n.activate(form.id);
	const csvPath = 'test-artifacts/form-contacts.csv';
	writeFileSync(csvPath, csvOf(contacts(12, 'form.example')));
	const page = await browser.newPage();
	const url = `${n8n.baseUrl}/form/start-campaign`;
	await eventually(async () => (await fetch(url)).status === 200, 'form page');
	await page.goto(url);
	await page.setInputFiles('input[type=file]', csvPath);
	await page.getByLabel('Campaign name').fill('Form Launch');
	await page.getByLabel('From email').fill('news@example.com');
	await page.getByLabel('Product').fill('Acme Rocket Skates');
	await page.getByLabel('Offer').fill('20% off');
	await page.getByLabel('Link').fill('https://acme.example/sale');
	await page.getByLabel('Tone').selectOption('playful');
	await page.getByLabel('Language').selectOption('es');
	await page.getByLabel('Variants').fill('1');
	await page.getByLabel('Sequence').selectOption('Single email');
	await page.screenshot({ path: `${SHOTS}/form-filled.png`, fullPage: true });
	await page.getByRole('button', { name: /submit/i }).click();
	await eventually(async () => (await deliveryStatuses(q, 'form-launch').then((n) => n.dry_run, () => 0)) === 12, 'the form campaign to run', 120_000).catch(async (e) => {
		// Say why: the last execution's error, as n8n stored it.
		const ex = await n8n.rest<{ results: Array<{ id: string }> }>('GET', '/executions');
		const last = ex.results?.[0] ? JSON.stringify(await n8n.rest('GET', `/executions/${ex.results[0].id}`)) : 'no execution';
		throw new Error(`${(e as Error).message}: ${/Error: [^"\\]*/.exec(last)?.[0] ?? last.slice(0, 500)}`);
	});
	const campaign = (await q<{ definition: unknown }>(`SELECT definition FROM eca_campaigns WHERE id = 'form-launch'`))[0].definition;
	expect(campaign).toMatchObject({ tone: 'playful', language: 'es', brief: { product: 'Acme Rocket Skates', offer: '20% off', links: ['https://acme.example/sale'] } });
	await page.screenshot({ path: `${SHOTS}/form-submitted.png`, fullPage: true });
	await page.close();
});

it('the editor shows every node of this package with its icon and parameters on the templates', async () => {
	const { n8n, r } = e2e;
	const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
	const page = await context.newPage();
	await page.goto(`${n8n.baseUrl}/signin`);
	await page.getByLabel(/email/i).fill(n8n.owner.email);
	await page.getByLabel(/password/i).fill(n8n.owner.password);
	await page.getByRole('button', { name: /sign in/i }).click();
	await page.waitForURL((u) => !u.pathname.includes('signin'), { timeout: 60_000 });
	const seen = new Set<string>();
	for (const file of readdirSync('workflows').filter((f) => f.endsWith('.json')).sort()) {
		const wf = template(file);
		const { id } = await n8n.importWorkflow(wf, r.creds);
		await page.goto(`${n8n.baseUrl}/workflow/${id}`);
		const ours = wf.nodes.filter((n) => n.type.startsWith('n8n-nodes-email-campaign-agent.'));
		for (const n of ours) {
			const canvasNode = page.locator(`[data-test-id="canvas-node"][data-node-name="${n.name}"]`).first();
			await canvasNode.waitFor({ timeout: 60_000 });
			// The node's own SVG icon, not n8n's "unknown node" placeholder.
			const icon = canvasNode.locator('img[src*="icons/n8n-nodes-email-campaign-agent"], img[src*=".svg"]');
			expect(await icon.count()).toBeGreaterThan(0);
			seen.add(n.type);
		}
		await page.screenshot({ path: `${SHOTS}/template-${file.replace('.json', '')}.png` });
		if (ours[0]) {
			await page.locator(`[data-test-id="canvas-node"][data-node-name="${ours[0].name}"]`).first().dblclick();
			const panel = page.locator('[data-test-id="ndv"]');
			await panel.waitFor({ timeout: 30_000 });
			expect(await panel.locator('[data-test-id="parameter-input"], .parameter-input, [data-test-id^="parameter-input-"]').count()).toBeGreaterThan(0);
			await page.screenshot({ path: `${SHOTS}/template-${file.replace('.json', '')}-${ours[0].type.split('.')[1]}.png` });
			await page.keyboard.press('Escape');
		}
	}
	const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { n8n: { nodes: string[] } };
	const declared = pkg.n8n.nodes.map((p) => `n8n-nodes-email-campaign-agent.${p.split('/').pop()!.replace('.node.js', '').replace(/^./, (c) => c.toLowerCase())}`);
	expect([...seen].sort()).toEqual(declared.sort());
	await context.close();
});
