/**
 * The SendGrid simulator refuses what SendGrid's schema refuses, so a bug the real API would reject
 * fails our tests too: string booleans in settings, a blank subject, and a signing toggle without
 * its `enabled` flag (which used to turn signing off without a word).
 */
import { SendGridSimulator, validateMail } from '../simulators/sendgridServer';

const base = () => ({
	personalizations: [{ to: [{ email: 'ada@example.org' }] }],
	from: { email: 'news@example.com' },
	subject: 'Hello',
	content: [
		{ type: 'text/plain', value: 'Hi' },
		{ type: 'text/html', value: '<p>Hi</p>' },
	],
});

describe('mail send validation', () => {
	it('accepts a well-formed request with boolean settings', () => {
		expect(validateMail({ ...base(), mail_settings: { sandbox_mode: { enable: true } }, tracking_settings: { click_tracking: { enable: false, enable_text: false }, open_tracking: { enable: true } } })).toEqual([]);
	});

	it('refuses string booleans in mail and tracking settings, naming the field', () => {
		const fields = (body: unknown) => validateMail(body).map((e) => e.field);
		expect(fields({ ...base(), mail_settings: { sandbox_mode: { enable: 'true' } } })).toEqual(['mail_settings.sandbox_mode.enable']);
		expect(fields({ ...base(), tracking_settings: { click_tracking: { enable: 1 } } })).toEqual(['tracking_settings.click_tracking.enable']);
		expect(fields({ ...base(), tracking_settings: { click_tracking: { enable: true, enable_text: 'false' } } })).toEqual(['tracking_settings.click_tracking.enable_text']);
		expect(fields({ ...base(), mail_settings: 'sandbox' })).toEqual(['mail_settings']);
	});

	it('refuses an empty or blank subject', () => {
		expect(validateMail({ ...base(), subject: '' }).map((e) => e.field)).toEqual(['subject']);
		expect(validateMail({ ...base(), subject: '   ' }).map((e) => e.field)).toContain('subject');
	});
});

describe('Event Webhook settings', () => {
	let sim: SendGridSimulator;
	let url: string;
	beforeAll(async () => {
		sim = new SendGridSimulator();
		url = await sim.start();
	});
	afterAll(() => sim.stop());
	const call = (method: string, path: string, body?: unknown) =>
		fetch(`${url}${path}`, { method, headers: { authorization: 'Bearer SG.test-key', 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

	it('a signing toggle without enabled is refused and leaves signing as it was', async () => {
		const created = (await (await call('POST', '/v3/user/webhooks/event/settings', { url: 'https://hooks.example/x', enabled: true, processed: true })).json()) as { id: string };
		expect((await call('PATCH', `/v3/user/webhooks/event/settings/signed/${created.id}`, { enabled: true })).status).toBe(200);
		const refused = await call('PATCH', `/v3/user/webhooks/event/settings/signed/${created.id}`, {});
		expect(refused.status).toBe(400);
		expect(((await refused.json()) as { errors: Array<{ field: string }> }).errors[0].field).toBe('enabled');
		expect(sim.webhooks.find((w) => w.id === created.id)!.signed).toBe(true);
		expect((await call('PATCH', `/v3/user/webhooks/event/settings/signed/${created.id}`, { enabled: 'false' })).status).toBe(400);
		expect(sim.webhooks.find((w) => w.id === created.id)!.signed).toBe(true);
	});

	it('event flags must be booleans', async () => {
		const r = await call('POST', '/v3/user/webhooks/event/settings', { url: 'https://hooks.example/y', enabled: true, bounce: 'true' });
		expect(r.status).toBe(400);
		expect(((await r.json()) as { errors: Array<{ field: string }> }).errors[0].field).toBe('bounce');
	});
});
