/** Generate Email Copy: one copy per variant, cached; validation feedback; template fallback. */
import { closeAllStores, getCampaignStore, CampaignStore } from '../../../lib/store';
import { generateEmailCopy } from '../../../lib/stages/generateEmailCopy';
import { buildEmailPayloads } from '../../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../../lib/stages/loadCampaignContent';
import type { ChatModel, ChatRequest, ChatResult } from '../../../lib/llm/client';
import { LlmApiError } from '../../../lib/llm/client';
import { campaignInput, contacts } from '../../helpers/fixtures';

jest.setTimeout(30_000);

const good = (subject = 'Spring deals for {{first_name|there}}') => ({
	subject,
	preheader: 'Twenty percent off all skates',
	html: '<p>Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.</p><p><a href="https://acme.example/sale">Shop the sale</a></p><script>alert(1)</script>',
	text: 'Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.\n\nShop the sale: https://acme.example/sale',
	language: 'en',
});

class FakeChat implements ChatModel {
	model = 'fake-model';
	requests: ChatRequest[] = [];
	constructor(private replies: Array<object | string | LlmApiError>) {}
	async complete(req: ChatRequest): Promise<ChatResult> {
		this.requests.push(JSON.parse(JSON.stringify(req)));
		const next = this.replies.length > 1 ? this.replies.shift()! : this.replies[0];
		if (next instanceof LlmApiError) throw next;
		return { content: typeof next === 'string' ? next : JSON.stringify(next), model: this.model, finishReason: 'stop', usage: { prompt_tokens: 100, completion_tokens: 50 } };
	}
	async listModels() {
		return [this.model];
	}
}

let store: CampaignStore;
beforeAll(async () => (store = await getCampaignStore({ inMemory: true })));
afterAll(() => closeAllStores());

const payloads = (id: string, n = 2500, variants = 2) =>
	buildEmailPayloads(parseCampaign(campaignInput({ id, variants })), contacts(n), 'run_1', { step: 1, batchSize: 1000 });

describe('Generate Email Copy stage', () => {
	it('calls the LLM once per variant whatever the number of recipients, and not at all on a re-run', async () => {
		const chat = new FakeChat([good()]);
		const first = await generateEmailCopy(payloads('gen-cache'), { mode: 'llm' }, { chat, store });
		expect(first.llmCalls).toBe(2);
		expect(first.payloads.length).toBeGreaterThanOrEqual(3);
		expect(new Set(first.payloads.map((p) => p.copy?.source))).toEqual(new Set(['llm']));
		expect(first.payloads[0].copy?.html).not.toContain('<script>');
		expect(first.usage).toEqual({ prompt_tokens: 200, completion_tokens: 100 });
		const again = await generateEmailCopy(payloads('gen-cache'), { mode: 'llm' }, { chat, store });
		expect(again.llmCalls).toBe(0);
		expect(chat.requests).toHaveLength(2);
		expect(again.copies.every((c) => c.cached)).toBe(true);
	});

	it('tells the model the tone and language and keeps the brief inside the data block', async () => {
		const chat = new FakeChat([{ ...good(), language: 'es' }]);
		await generateEmailCopy(payloads('gen-prompt', 10, 1), { mode: 'llm', tone: 'urgent', language: 'en' }, { chat, store });
		const [system, user] = chat.requests[0].messages;
		expect(system.content).toMatch(/Write natively in English/);
		expect(system.content).toMatch(/time-sensitive/);
		expect(user.content).toMatch(/<campaign_data>[\s\S]*Acme Rocket Skates[\s\S]*<\/campaign_data>/);
		expect(chat.requests[0].format).toBe('json_schema');
	});

	it('feeds validation problems back and retries: unknown merge tags and foreign links are refused', async () => {
		const bad = { ...good(), html: '<p>Hi {{nickname}} see https://evil.example/x</p>', text: 'Hi {{nickname}} see https://evil.example/x' };
		const chat = new FakeChat([bad, good()]);
		const r = await generateEmailCopy(payloads('gen-retry', 10, 1), { mode: 'llm' }, { chat, store });
		expect(r.llmCalls).toBe(2);
		const repair = chat.requests[1].messages.at(-1)!.content;
		expect(repair).toMatch(/merge tag \{\{nickname\}\} is not available/);
		expect(repair).toMatch(/link https:\/\/evil\.example\/x is not in the brief/);
	});

	it('falls back to JSON mode when the server rejects json_schema', async () => {
		const chat = new FakeChat([new LlmApiError('400: response_format json_schema not supported', 400, {}, true), good()]);
		await generateEmailCopy(payloads('gen-format', 10, 1), { mode: 'llm' }, { chat, store });
		expect(chat.requests.map((r) => r.format)).toEqual(['json_schema', 'json_object']);
	});

	it('gives a clear error after the attempts, or the template when asked to', async () => {
		const chat = new FakeChat(['not json at all']);
		await expect(generateEmailCopy(payloads('gen-fail', 10, 1), { mode: 'llm', write: { maxAttempts: 2 } }, { chat, store })).rejects.toThrow(
			/did not produce valid copy for step 1, variant A after 2 attempts/,
		);
		const r = await generateEmailCopy(payloads('gen-fail2', 10, 1), { mode: 'llm', onLlmFailure: 'template', write: { maxAttempts: 1 } }, { chat, store });
		expect(r.payloads[0].copy).toMatchObject({ source: 'fallback', subject: 'Hi {{first_name|there}}, spring deals inside' });
	});

	it('uses the step template in template mode and says what is missing when there is none', async () => {
		const r = await generateEmailCopy(payloads('gen-template', 10, 1), { mode: 'template' });
		expect(r.llmCalls).toBe(0);
		expect(r.payloads[0].copy?.text).toContain('Our spring sale is on.');
		const bare = buildEmailPayloads(parseCampaign(campaignInput({ id: 'bare', steps: [{ step: 1 }] })), contacts(1), 'r', { step: 1 });
		await expect(generateEmailCopy(bare, { mode: 'template' })).rejects.toThrow(/has no subject and body/);
	});
});
