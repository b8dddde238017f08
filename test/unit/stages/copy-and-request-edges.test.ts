/**
 * Where a payload SendGrid would refuse used to slip through: a request-wide 400 bisected down to
 * single recipients, an image-only step with an empty text part, a recipient rendered alone with an
 * empty subject, and an LLM subject with a tab that passed the copy check, failed the payload schema
 * and stayed in the cache. One validator (the payload's copy schema) now answers for all of them.
 */
import { closeAllStores, getCampaignStore, CampaignStore } from '../../../lib/store';
import { sendEmailWithSendgrid, SendAbortedError } from '../../../lib/stages/sendEmailWithSendgrid';
import { SendGridApiError, SendGridTransport, SendGridResponse } from '../../../lib/sendgrid/client';
import { buildMailRequests, type MailSendBody } from '../../../lib/sendgrid/mailRequest';
import { buildEmailPayloads } from '../../../lib/stages/buildEmailPayload';
import { generateEmailCopy } from '../../../lib/stages/generateEmailCopy';
import { parseCampaign } from '../../../lib/stages/loadCampaignContent';
import { checkCopy } from '../../../lib/llm/checks';
import type { ChatModel, ChatRequest, ChatResult } from '../../../lib/llm/client';
import { CampaignInputError, copyProblems } from '../../../lib/schemas';
import { campaignInput, contacts } from '../../helpers/fixtures';
import { sql } from '../../helpers/sql';

jest.setTimeout(30_000);

/** A SendGrid that refuses every request the way it refuses a bad sender: a 400 naming no personalization. */
class RequestWide400 implements SendGridTransport {
	calls = 0;
	async sendMail(_body: MailSendBody): Promise<SendGridResponse> {
		this.calls++;
		throw new SendGridApiError('SendGrid mail send failed (400): The from address does not match a verified Sender Identity.', 400, [
			{ field: 'from', message: 'The from address does not match a verified Sender Identity.' },
		], {});
	}
	async request(): Promise<SendGridResponse> {
		return { status: 200, headers: {}, body: {} };
	}
}

class Accepting implements SendGridTransport {
	bodies: MailSendBody[] = [];
	async sendMail(body: MailSendBody): Promise<SendGridResponse> {
		this.bodies.push(body);
		return { status: 202, headers: { 'x-message-id': `m${this.bodies.length}` }, body: '' };
	}
	async request(): Promise<SendGridResponse> {
		return { status: 200, headers: {}, body: {} };
	}
}

let store: CampaignStore;
beforeAll(async () => (store = await getCampaignStore({ inMemory: true })));
afterAll(() => closeAllStores());

describe('a 400 that names no personalization', () => {
	it('fails the batch once with SendGrid field and message and stops the run: no bisecting, the claims given back', async () => {
		const sg = new RequestWide400();
		const id = 'edge-request-wide';
		const payloads = buildEmailPayloads(parseCampaign(campaignInput({ id })), contacts(2000), 'run-wide', { step: 1, batchSize: 1000 });
		const err = await sendEmailWithSendgrid(payloads, { transport: sg, store }, { concurrency: 1 }).then(
			() => undefined,
			(e: Error) => e,
		);
		// One request, not 1,999: every other batch would fail the same way.
		expect(sg.calls).toBe(1);
		expect(err).toBeInstanceOf(SendAbortedError);
		expect(err!.message).toMatch(/from/);
		expect(err!.message).toMatch(/verified Sender Identity/);
		// Nobody was sent; nothing is final: once the sender is fixed, a re-run sends all 2,000.
		const rows = await store.deliveries({ campaignId: id });
		expect(rows.filter((r) => r.status === 'sent' || r.status === 'failed')).toHaveLength(0);
		const again = await sendEmailWithSendgrid(
			buildEmailPayloads(parseCampaign(campaignInput({ id })), contacts(2000), 'run-wide-2', { step: 1, batchSize: 1000 }),
			{ transport: new Accepting(), store },
		);
		expect(again.flatMap((b) => b.results).filter((r) => r.status === 'sent')).toHaveLength(2000);
	});
});

describe('an empty part is refused before anything is claimed', () => {
	it('Build Email Payload refuses a step whose html is only an image (its text part would be empty)', () => {
		const campaign = parseCampaign(
			campaignInput({ id: 'edge-image-only', steps: [{ step: 1, delayHours: 0, subject: 'Look', html: '<p><img src="https://acme.example/a.png"></p>' }] }),
		);
		let err: unknown;
		try {
			buildEmailPayloads(campaign, contacts(3), 'run-img', { step: 1 });
		} catch (e) {
			err = e;
		}
		expect(err).toBeInstanceOf(CampaignInputError);
		expect((err as Error).message).toMatch(/[Ss]tep 1/);
		expect((err as Error).message).toMatch(/text/);
	});

	it('a recipient who gets a message of their own with an empty merge value and no fallback is refused alone, with the reason', async () => {
		const id = 'edge-own-empty';
		const campaign = parseCampaign(
			campaignInput({ id, steps: [{ step: 1, delayHours: 0, subject: '{{first_name}}', text: 'About you: {{bio}}' }] }),
		);
		const people = [
			{ email: 'big@example.org', first_name: '', bio: 'x'.repeat(12_000) },
			{ email: 'small@example.org', first_name: 'Ann', bio: 'short' },
			{ email: 'bigname@example.org', first_name: 'Bo', bio: 'y'.repeat(12_000) },
		];
		const payloads = buildEmailPayloads(campaign, people, 'run-own', { step: 1 });
		const sg = new Accepting();
		const out = (await sendEmailWithSendgrid(payloads, { transport: sg, store })).flatMap((b) => b.results);
		const by = Object.fromEntries(out.map((r) => [r.email, r]));
		expect(by['big@example.org'].status).toBe('retry');
		expect(by['big@example.org'].error).toMatch(/subject/);
		expect(by['big@example.org'].error).toMatch(/first_name/);
		expect(by['small@example.org'].status).toBe('sent');
		expect(by['bigname@example.org'].status).toBe('sent');
		// Nothing SendGrid would refuse left: every subject and content part has a character.
		for (const body of sg.bodies) {
			expect(body.subject!.length).toBeGreaterThan(0);
			for (const c of body.content!) expect(c.value.length).toBeGreaterThan(0);
		}
		expect(sg.bodies.flatMap((b) => b.personalizations.map((p) => p.to[0].email)).sort()).toEqual(['bigname@example.org', 'small@example.org']);
	});

	it('buildMailRequests refuses copy the payload schema refuses (a tab in the subject), naming the field', () => {
		const [p] = buildEmailPayloads(parseCampaign(campaignInput({ id: 'edge-tab' })), contacts(2), 'run-tab', { step: 1 });
		expect(() => buildMailRequests({ ...p, copy: { ...p.copy!, subject: 'Spring\tdeals' } })).toThrow(/subject/);
	});
});

describe('one validator for subjects: copy check, payload schema and cache agree', () => {
	const draft = { subject: 'Spring\tdeals', preheader: '', html: '<p>Hi there, spring deals.</p>', text: 'Hi there, spring deals.' };
	it('the copy check refuses what the payload schema refuses', () => {
		expect(copyProblems({ ...draft, source: 'llm' }).join('; ')).toMatch(/subject/);
		const problems = checkCopy(draft, { allowedTags: new Set(), allowedLinks: [], language: 'en', maxWords: 150 });
		expect(problems.join('; ')).toMatch(/subject/);
		for (const bad of ['a\u0000b', 'a\u001bb', 'a\u007fb', 'a\rb', 'a\nb', 'a\u000bb'])
			expect(checkCopy({ ...draft, subject: bad }, { allowedTags: new Set(), allowedLinks: [], language: 'en', maxWords: 150 }).join('; ')).toMatch(/subject/);
	});

	class FakeChat implements ChatModel {
		model = 'fake-model';
		requests: ChatRequest[] = [];
		constructor(private replies: object[]) {}
		async complete(req: ChatRequest): Promise<ChatResult> {
			this.requests.push(req);
			const next = this.replies.length > 1 ? this.replies.shift()! : this.replies[0];
			return { content: JSON.stringify(next), model: this.model, finishReason: 'stop', usage: { prompt_tokens: 10, completion_tokens: 5 } };
		}
		async listModels() {
			return [this.model];
		}
	}
	const good = {
		subject: 'Spring deals for {{first_name|there}}',
		preheader: 'Twenty percent off',
		html: '<p>Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.</p><p><a href="https://acme.example/sale">Shop the sale</a></p>',
		text: 'Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.\n\nShop the sale: https://acme.example/sale',
		language: 'en',
	};

	it('an LLM subject with a tab goes back to the model, and what is sent and cached passes the payload schema', async () => {
		const chat = new FakeChat([{ ...good, subject: 'Spring\tdeals for {{first_name|there}}' }, good]);
		const payloads = buildEmailPayloads(parseCampaign(campaignInput({ id: 'edge-llm-tab' })), contacts(5), 'run-1', { step: 1 });
		const r = await generateEmailCopy(payloads, { mode: 'llm' }, { chat, store });
		expect(chat.requests).toHaveLength(2);
		for (const p of r.payloads) expect(copyProblems(p.copy)).toEqual([]);
		const again = await generateEmailCopy(payloads, { mode: 'llm' }, { chat, store });
		expect(again.llmCalls).toBe(0);
		for (const p of again.payloads) expect(copyProblems(p.copy)).toEqual([]);
	});

	it('a cached copy the payload schema refuses (written by an older version) is written again, not sent', async () => {
		const chat = new FakeChat([good]);
		const payloads = buildEmailPayloads(parseCampaign(campaignInput({ id: 'edge-poisoned' })), contacts(5), 'run-1', { step: 1 });
		// Learn the cache key by writing once, then poison that entry the way an older version could have.
		await generateEmailCopy(payloads, { mode: 'llm' }, { chat, store });
		const calls = chat.requests.length;
		await sql(store).query(`UPDATE eca_copy_cache SET copy = jsonb_set(copy, '{subject}', to_jsonb($2::text)) WHERE campaign_id = $1`, ['edge-poisoned', 'Spring\tdeals']);
		const r = await generateEmailCopy(payloads, { mode: 'llm' }, { chat, store });
		expect(chat.requests.length).toBe(calls + 1);
		for (const p of r.payloads) expect(copyProblems(p.copy)).toEqual([]);
	});
});
