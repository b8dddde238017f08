/**
 * Issue 15 in a real n8n: a sequence sends step 1 through the SendGrid simulator; the one-click link
 * is read from the message's List-Unsubscribe header and POSTed the way a mailbox provider does; the
 * address is suppressed and skipped by step 2; forged links change nothing; the footer carries the
 * same link; and Campaign Preview renders and test-sends each variant without claiming anyone.
 */
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { DAY, T0, node, sequenceScheduler, setContacts, template, useN8nRig } from './helpers';
import { contacts, csvOf } from '../helpers/fixtures';

jest.setTimeout(20 * 60_000);

const e2e = useN8nRig();
const tracking = template('sendgrid-event-tracking.json');
const unsubscribeNode = tracking.nodes.find((n) => n.type.endsWith('.campaignUnsubscribeTrigger')) as { webhookId: string } | undefined;
const PUBLIC = 'https://campaigns.acme.example';
const publicUrl = `${PUBLIC}/webhook/${unsubscribeNode?.webhookId}/unsubscribe`;
const SHOTS = 'test-artifacts/screenshots';
let previewHtml = '';
const scheduler = sequenceScheduler(e2e, { csv: csvOf(contacts(5, 'unsub.example')), ids: { enroll: 'e2eUnsubEnroll01', tick: 'e2eUnsubTick0001' }, name: 'unsubscribe', unsubscribeUrl: publicUrl });

it('a provider POSTs the List-Unsubscribe link: 200, suppressed, skipped by the next step; forged links change nothing', async () => {
	const { n8n, r, q } = e2e;
	expect(unsubscribeNode?.webhookId).toBeTruthy();
	await e2e.publishTracking(tracking);
	await scheduler.enroll(T0);
	await scheduler.tick(T0);
	const step1 = r.sg.accepted.filter((m) => m.customArgs.campaign_id === 'spring-sequence' && m.customArgs.step === '1');
	expect(step1).toHaveLength(5);
	const message = step1.find((m) => m.to === 'user1@unsub.example')!;
	expect(message.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
	const header = message.headers['List-Unsubscribe'];
	expect(header).toMatch(new RegExp(`^<${PUBLIC.replace(/\./g, '\\.')}/webhook/[^>]+[?&]t=[\\w-]{22}>$`));
	const link = header.slice(1, -1);
	// The footer carries the same signed link.
	expect(message.text).toContain(link);
	// Behind the user's https address sits this n8n: the test plays the reverse proxy.
	const local = (u: string) => u.replace(PUBLIC, n8n.baseUrl);
	const suppressions = async () => (await q<{ email: string; scope: string }>(`SELECT email, scope FROM eca_suppressions ORDER BY email`)).map((s) => `${s.email} ${s.scope}`);
	const post = (u: string) => fetch(local(u), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click', redirect: 'manual' });

	// Forged first: someone who knows user2's address but not the store's secret.
	const forged = new URL(link);
	forged.searchParams.set('t', 'A'.repeat(22));
	expect((await post(forged.toString())).status).toBe(403);
	expect((await fetch(local(forged.toString()))).status).toBe(403);
	expect(await suppressions()).toEqual([]);

	// A GET (a link scanner, or a person before confirming) changes nothing.
	const page = await fetch(local(link));
	expect(page.status).toBe(200);
	expect(page.headers.get('content-type')).toMatch(/text\/html/);
	expect(page.headers.get('referrer-policy')).toBe('no-referrer');
	expect(await page.text()).toContain('name="List-Unsubscribe" value="One-Click"');
	expect(await suppressions()).toEqual([]);

	const one = await post(link);
	expect(one.status).toBe(200);
	expect(one.headers.get('location')).toBeNull();
	expect(await suppressions()).toEqual(['user1@unsub.example global']);
	expect((await post(link)).status).toBe(200); // providers retry: once is once
	expect(await suppressions()).toEqual(['user1@unsub.example global']);

	await scheduler.tick(T0 + 3 * DAY);
	const step2 = r.sg.accepted.filter((m) => m.customArgs.campaign_id === 'spring-sequence' && m.customArgs.step === '2').map((m) => m.to);
	expect(step2).toHaveLength(4);
	expect(step2).not.toContain('user1@unsub.example');
	expect(r.sg.duplicateRecipients()).toEqual([]);
});

it('Campaign Preview renders every variant and test-sends it to seeds without claiming or counting anyone', async () => {
	const { n8n, r, q } = e2e;
	const wf = setContacts(template('campaign-pipeline.json'), csvOf(contacts(4, 'preview.example')));
	const load = node(wf, 'Load Campaign Content');
	Object.assign(load.parameters, { campaignId: 'e2e-preview', campaignOptions: { ...(load.parameters.campaignOptions as object), variants: 2, unsubscribeUrl: publicUrl } });
	const preview = { name: 'Campaign Preview', type: 'n8n-nodes-email-campaign-agent.campaignPreview', typeVersion: 1, position: [740, 60], parameters: { samples: 2, output: 'page', live: true, sendTest: true, seeds: 'me@acme.example, qa@acme.example', sandbox: false } };
	const connections = { ...(wf.connections as Record<string, unknown>), 'Generate Email Copy': { main: [[{ node: 'Campaign Preview', type: 'main', index: 0 }]] } };
	const nodes = [...wf.nodes.filter((n) => !['Send Email (SendGrid)', 'Log Campaign Result'].includes(n.name)), preview];
	delete (connections as Record<string, unknown>)['Send Email (SendGrid)'];
	const { id } = await n8n.importWorkflow({ ...wf, id: 'e2ePreview000001', name: 'preview', nodes, connections }, r.creds);
	const out = await n8n.execute(id);
	expect(out.error).toBeUndefined();
	const [item] = out.nodes['Campaign Preview'][0] as Array<{ html: string; findings: Array<{ rule: string; level: string }>; test_sends: Array<{ variant: string; status: string }> }>;
	previewHtml = item.html;
	expect(item.html).toContain('data-variant="A"');
	expect(item.html).toContain('data-variant="B"');
	expect(item.findings.filter((f) => f.level === 'error')).toEqual([]);
	expect(item.test_sends.map((t) => `${t.variant}:${t.status}`).sort()).toEqual(['A:sent', 'B:sent']);
	const tests = r.sg.accepted.filter((m) => m.customArgs.eca_test === '1' && m.customArgs.eca_campaign === 'e2e-preview');
	expect(tests.map((m) => m.to).sort()).toEqual(['me@acme.example', 'me@acme.example', 'qa@acme.example', 'qa@acme.example']);
	expect(tests.every((m) => m.subject.startsWith('[Test] '))).toBe(true);
	expect(await q(`SELECT 1 FROM eca_deliveries WHERE campaign_id = 'e2e-preview'`).catch(() => [])).toEqual([]);
});

it('in Chromium: the footer link opens the confirm page, confirm unsubscribes, Resubscribe undoes it; the preview page shows each variant', async () => {
	const { n8n, r, q } = e2e;
	const message = r.sg.accepted.find((m) => m.customArgs.campaign_id === 'spring-sequence' && m.customArgs.step === '1' && m.to === 'user2@unsub.example')!;
	const href = /<a href="([^"]+)"[^>]*>Unsubscribe<\/a>/.exec(message.html ?? '')?.[1];
	expect(href).toBeDefined();
	const link = href!.replace(/&amp;/g, '&').replace(PUBLIC, n8n.baseUrl);
	const suppressed = async () => (await q<{ n: number }>(`SELECT count(*)::int AS n FROM eca_suppressions WHERE email = 'user2@unsub.example'`))[0].n;
	mkdirSync(SHOTS, { recursive: true });
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	try {
		const page = await browser.newPage();
		await page.goto(link);
		await page.getByRole('button', { name: 'Unsubscribe' }).waitFor();
		await page.screenshot({ path: `${SHOTS}/unsubscribe-ask.png` });
		expect(await suppressed()).toBe(0);
		await page.getByRole('button', { name: 'Unsubscribe' }).click();
		await page.locator('#done').waitFor();
		await page.screenshot({ path: `${SHOTS}/unsubscribe-done.png` });
		expect(await suppressed()).toBe(1);
		await page.getByRole('button', { name: 'Resubscribe' }).click();
		await page.locator('#back').waitFor();
		expect(await suppressed()).toBe(0);

		expect(previewHtml).not.toBe('');
		// Tall enough that every frame is painted (headless Chromium leaves frames below the viewport blank in full-page shots).
		const preview = await browser.newPage({ viewport: { width: 1280, height: 1700 } });
		await preview.setContent(previewHtml);
		expect(await preview.locator('section[data-variant]').count()).toBe(2);
		// Up to two samples per variant (the four contacts split between A and B by their hash), each message in its own frame.
		for (const v of ['A', 'B']) {
			const frames = await preview.locator(`section[data-variant="${v}"] iframe`).count();
			expect([v, frames >= 1 && frames <= 2]).toEqual([v, true]);
		}
		// Each variant's message renders in its frame, footer link included.
		for (const v of ['A', 'B']) await preview.frameLocator(`section[data-variant="${v}"] iframe`).first().locator('a', { hasText: 'Unsubscribe' }).waitFor({ timeout: 10_000 });
		await preview.screenshot({ path: `${SHOTS}/campaign-preview.png`, fullPage: true });
	} finally {
		await browser.close();
	}
});
