/**
 * A Chat Model sub-node as the copy's model (lib/llm/langchain.ts): what n8n hands the node is a
 * LangChain chat model, used by duck typing. Structured output, validation with retries, backoff, the
 * cache key (the model's identity), token counts, the reply cap and "one call per variant, never per
 * recipient" hold as they do for the OpenAI-compatible credential: shown with a LangChain-like fake,
 * and with a real @langchain/core BaseChatModel subclass for the message and tool-call shapes.
 */
import { AIMessage, type BaseMessage } from '@langchain/core/messages';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { ChatResult as LcChatResult } from '@langchain/core/outputs';
import { closeAllStores, getCampaignStore, CampaignStore } from '../../lib/store';
import { generateEmailCopy } from '../../lib/stages/generateEmailCopy';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { runCampaignAgent } from '../../lib/agent/graph';
import { LLM_COPY_JSON_SCHEMA } from '../../lib/llm/copywriter';
import { LlmApiError, LlmReplyTooLargeError } from '../../lib/llm/client';
import { chatModelFromLangChain, finishReasonOf, isLangChainChatModel, textOfContent, usageOf, type LangChainChatModelLike, type LangChainMessageLike } from '../../lib/llm/langchain';
import type { SendGridResponse, SendGridTransport } from '../../lib/sendgrid/client';
import type { MailSendBody } from '../../lib/sendgrid/mailRequest';
import { campaignInput, contacts, csvOf } from '../helpers/fixtures';

jest.setTimeout(60_000);

const good = (over: Record<string, unknown> = {}) => ({
	subject: 'Spring deals for {{first_name|there}}',
	preheader: 'Twenty percent off all skates',
	html: '<p>Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.</p><p><a href="https://acme.example/sale">Shop the sale</a></p>',
	text: 'Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.\n\nShop the sale: https://acme.example/sale',
	language: 'en',
	...over,
});

type Reply = LangChainMessageLike | Error;
/** An AIMessage-like reply as ChatOpenAI gives it (content text, usage_metadata, response_metadata). */
const message = (copy: object | string, meta: Record<string, unknown> = {}): LangChainMessageLike => ({
	content: typeof copy === 'string' ? copy : JSON.stringify(copy),
	usage_metadata: { input_tokens: 120, output_tokens: 80 },
	response_metadata: { model_name: 'gpt-4o-mini-2024-07-18', finish_reason: 'stop', ...meta },
});

interface Call {
	messages: Array<{ role: string; content: string }>;
	structured?: { schema: Record<string, unknown>; config: Record<string, unknown> };
	options?: Record<string, unknown>;
}

/**
 * A LangChain-like chat model: invoke, withStructuredOutput (returns { raw, parsed } with includeRaw),
 * the fields ChatOpenAI keeps (model, clientConfig.baseURL, apiKey) and _llmType.
 */
class FakeLangChainModel implements LangChainChatModelLike {
	calls: Call[] = [];
	model: string;
	apiKey = 'sk-fake-secret-key-123456';
	clientConfig: { baseURL: string; apiKey: string };
	refuse: { strict?: boolean; jsonSchema?: boolean; jsonMode?: boolean } = {};
	constructor(
		private replies: Reply[],
		opts: { model?: string; baseURL?: string; provider?: string; structured?: boolean } = {},
	) {
		this.model = opts.model ?? 'gpt-4o-mini';
		this.clientConfig = { baseURL: opts.baseURL ?? 'https://api.openai.com/v1', apiKey: this.apiKey };
		this.provider = opts.provider ?? 'openai';
		if (opts.structured === false) delete (this as Partial<FakeLangChainModel>).withStructuredOutput;
	}
	private provider: string;
	_llmType(): string {
		return this.provider;
	}
	private next(): Reply {
		return this.replies.length > 1 ? this.replies.shift()! : this.replies[0];
	}
	private record(input: unknown, options: Record<string, unknown> | undefined, structured?: Call['structured']): Reply {
		const messages = input as Call['messages'];
		this.calls.push({ messages: messages.map((m) => ({ role: m.role, content: m.content })), structured, options });
		return this.next();
	}
	async invoke(input: unknown, options?: Record<string, unknown>): Promise<unknown> {
		const r = this.record(input, options);
		if (r instanceof Error) throw r;
		return r;
	}
	withStructuredOutput?(schema: Record<string, unknown>, config: Record<string, unknown> = {}) {
		if (config.strict && this.refuse.strict) throw new Error('"strict" mode is not supported for this model by default.');
		if (config.method === 'jsonMode' && this.refuse.jsonMode) throw new Error('only supports "jsonSchema" or "functionCalling" as a method.');
		if (config.method !== 'jsonMode' && this.refuse.jsonSchema) throw new Error('Chat model must implement ".bindTools()" to use withStructuredOutput.');
		return {
			invoke: async (input: unknown, options?: Record<string, unknown>) => {
				const r = this.record(input, options, { schema, config });
				if (r instanceof Error) throw r;
				let parsed: unknown = null;
				try {
					parsed = JSON.parse(textOfContent(r.content));
				} catch {
					parsed = null;
				}
				return config.includeRaw ? { raw: r, parsed } : parsed;
			},
		};
	}
}

/** How n8n's OpenAI Chat Model reports a provider error: a NodeApiError (httpCode, message rewritten) whose cause is the SDK's error. */
function n8nApiError(status: number, message: string, headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): Error {
	const sdk = Object.assign(new Error(`${status} ${message}`), { status, headers, error: { message, ...extra } });
	return Object.assign(new Error(status === 429 ? 'The service is receiving too many requests from you' : 'Bad request - please check your parameters'), {
		httpCode: String(status),
		description: message,
		cause: sdk,
	});
}

const noSleep = { sleep: async () => undefined, random: () => 0 };

let store: CampaignStore;
beforeAll(async () => (store = await getCampaignStore({ inMemory: true })));
afterAll(() => closeAllStores());

const payloads = (id: string, n = 2500, variants = 2) => buildEmailPayloads(parseCampaign(campaignInput({ id, variants })), contacts(n), 'run_1', { step: 1, batchSize: 1000 });

describe('a Chat Model sub-node writes copy', () => {
	it('one call per variant for 2,500 recipients, structured output by JSON schema, token counts from usage_metadata, none on a re-run', async () => {
		const lc = new FakeLangChainModel([message(good())]);
		const chat = chatModelFromLangChain(lc);
		const first = await generateEmailCopy(payloads('lc-cache'), { mode: 'llm' }, { chat, store });
		expect(first.llmCalls).toBe(2);
		expect(lc.calls).toHaveLength(2);
		expect(first.payloads.reduce((n, p) => n + p.recipients.length, 0)).toBe(2500);
		expect(first.usage).toEqual({ prompt_tokens: 240, completion_tokens: 160 });
		expect(new Set(first.payloads.map((p) => p.copy?.source))).toEqual(new Set(['llm']));
		// The model the provider reports is what the copy says wrote it.
		expect(first.payloads[0].copy?.model).toBe('gpt-4o-mini-2024-07-18');
		expect(await store.campaignTokenUsage('lc-cache')).toMatchObject({ prompt_tokens: 240, completion_tokens: 160 });

		const { structured, messages } = lc.calls[0];
		expect(structured?.schema).toEqual(LLM_COPY_JSON_SCHEMA);
		expect(structured?.config).toEqual({ name: 'email_copy', includeRaw: true, strict: true });
		// Plain { role, content } messages: LangChain makes its own message classes from them.
		expect(messages.map((m) => m.role)).toEqual(['system', 'user']);
		expect(messages[1].content).toMatch(/<campaign_data>[\s\S]*Acme Rocket Skates/);

		const again = await generateEmailCopy(payloads('lc-cache'), { mode: 'llm' }, { chat: chatModelFromLangChain(lc), store });
		expect(again.llmCalls).toBe(0);
		expect(lc.calls).toHaveLength(2);
		expect(again.copies.every((c) => c.cached)).toBe(true);
	});

	it("the cache key is the model's identity: another model, provider or server writes its own copy; the same one reuses it", async () => {
		const run = async (lc: FakeLangChainModel) => (await generateEmailCopy(payloads('lc-identity', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(lc), store })).llmCalls;
		expect(run.length).toBe(1);
		expect(await run(new FakeLangChainModel([message(good())]))).toBe(1);
		expect(await run(new FakeLangChainModel([message(good())]))).toBe(0);
		expect(await run(new FakeLangChainModel([message(good())], { model: 'gpt-4o' }))).toBe(1);
		expect(await run(new FakeLangChainModel([message(good())], { provider: 'azure_openai' }))).toBe(1);
		expect(await run(new FakeLangChainModel([message(good())], { baseURL: 'http://127.0.0.1:11434/v1' }))).toBe(1);
		expect(chatModelFromLangChain(new FakeLangChainModel([], { baseURL: 'https://user:pw@llm.example/v1' })).model).toBe('openai:gpt-4o-mini@llm.example');
		// The credential's client with the same model name is another way in, with its own entries.
		expect(chatModelFromLangChain(new FakeLangChainModel([])).model).not.toBe('gpt-4o-mini');
	});

	it('per-recipient personalisation, when switched on, is one call per recipient (and only then)', async () => {
		const lc = new FakeLangChainModel([message(good())]);
		const r = await generateEmailCopy(payloads('lc-p13n', 5, 1), { mode: 'llm', personalize: { fields: ['first_name'], concurrency: 2, requestsPerMinute: 6000 } }, { chat: chatModelFromLangChain(lc), store });
		expect(r.llmCalls).toBe(5);
		expect(lc.calls.map((c) => /"first_name": "User\d"/.exec(c.messages[1].content)?.[0]).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `"first_name": "User${i}"`));
	});

	it('invalid copy is fed back and retried: the repair message goes to the model as a user message', async () => {
		const bad = good({ html: '<p>Hi {{nickname}} see https://evil.example/x</p>', text: 'Hi {{nickname}} see https://evil.example/x' });
		const lc = new FakeLangChainModel([message(bad), message(good())]);
		const r = await generateEmailCopy(payloads('lc-retry', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(lc), store });
		expect(r.llmCalls).toBe(2);
		expect(r.usage).toEqual({ prompt_tokens: 240, completion_tokens: 160 });
		const second = lc.calls[1].messages;
		expect(second.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
		expect(second[3].content).toMatch(/merge tag \{\{nickname\}\} is not available/);
	});

	it('a reply cut off (finish_reason length / Anthropic max_tokens / Gemini MAX_TOKENS) is a problem, never sent', async () => {
		expect([{ finish_reason: 'length' }, { stop_reason: 'max_tokens' }, { finishReason: 'MAX_TOKENS' }, { done_reason: 'length' }, {}].map((m) => finishReasonOf({ response_metadata: m }))).toEqual([
			'length',
			'length',
			'length',
			'length',
			'stop',
		]);
		const lc = new FakeLangChainModel([message(good(), { finish_reason: 'length' }), message(good())]);
		const r = await generateEmailCopy(payloads('lc-cut', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(lc), store });
		expect(r.llmCalls).toBe(2);
		expect(lc.calls[1].messages.at(-1)!.content).toMatch(/cut off/);
	});

	it('a provider that answers with a tool call (Anthropic, Bedrock): the call arguments are the copy', async () => {
		const toolReply: LangChainMessageLike = { content: [], tool_calls: [{ name: 'email_copy', args: good() }], usage_metadata: { input_tokens: 7, output_tokens: 5 }, response_metadata: { stop_reason: 'tool_use' } };
		const lc = new FakeLangChainModel([toolReply], { provider: 'anthropic', model: 'claude-sonnet-4-5' });
		const r = await generateEmailCopy(payloads('lc-tool', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(lc), store });
		expect(r.payloads[0].copy).toMatchObject({ source: 'llm', subject: good().subject, model: 'claude-sonnet-4-5' });
		expect(r.usage).toEqual({ prompt_tokens: 7, completion_tokens: 5 });
	});

	it('token counts from response_metadata when a provider gives no usage_metadata (OpenAI tokenUsage, Anthropic usage, Ollama counts)', () => {
		expect(usageOf({ response_metadata: { tokenUsage: { promptTokens: 11, completionTokens: 3 } } })).toEqual({ prompt_tokens: 11, completion_tokens: 3 });
		expect(usageOf({ response_metadata: { usage: { input_tokens: 9, output_tokens: 4 } } })).toEqual({ prompt_tokens: 9, completion_tokens: 4 });
		expect(usageOf({ response_metadata: { usage: { prompt_tokens: 8, completion_tokens: 2 } } })).toEqual({ prompt_tokens: 8, completion_tokens: 2 });
		expect(usageOf({ response_metadata: { prompt_eval_count: 30, eval_count: 12 } })).toEqual({ prompt_tokens: 30, completion_tokens: 12 });
		expect(usageOf({})).toEqual({ prompt_tokens: 0, completion_tokens: 0 });
		expect(textOfContent([{ type: 'text', text: 'a' }, { type: 'image_url' }, 'b', { type: 'text', text: 'c' }])).toBe('abc');
	});
});

describe('structured output where the provider has it, JSON mode or text where it does not', () => {
	it('LangChain base models refuse `strict`: asked again without it, still by schema', async () => {
		const lc = new FakeLangChainModel([message(good())]);
		lc.refuse.strict = true;
		await generateEmailCopy(payloads('lc-nostrict', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(lc), store });
		expect(lc.calls.map((c) => c.structured?.config)).toEqual([{ name: 'email_copy', includeRaw: true }]);
	});

	it('no JSON schema → JSON mode; no JSON mode either → plain text; a model without withStructuredOutput → text at once', async () => {
		const lc = new FakeLangChainModel([message(good())]);
		lc.refuse.jsonSchema = true;
		const w = await generateEmailCopy(payloads('lc-jsonmode', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(lc), store });
		expect(w.llmCalls).toBe(1);
		expect(lc.calls.map((c) => c.structured?.config.method)).toEqual(['jsonMode']);

		const text = new FakeLangChainModel([message('Here it is:\n```json\n' + JSON.stringify(good()) + '\n```')]);
		text.refuse = { jsonSchema: true, jsonMode: true };
		const t = await generateEmailCopy(payloads('lc-text', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(text), store });
		// Refusals before anything is sent are not calls.
		expect([t.llmCalls, text.calls.map((c) => c.structured)]).toEqual([1, [undefined]]);

		const bare = new FakeLangChainModel([message(good())], { structured: false });
		const b = await generateEmailCopy(payloads('lc-bare', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(bare), store });
		expect([b.llmCalls, b.payloads[0].copy?.source]).toEqual([1, 'llm']);
	});

	it("a provider's 400 about response_format moves to the next format without spending an attempt", async () => {
		const lc = new FakeLangChainModel([n8nApiError(400, "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", {}, { param: 'response_format' }), message(good())]);
		const r = await generateEmailCopy(payloads('lc-400format', 10, 1), { mode: 'llm', write: { maxAttempts: 1 } }, { chat: chatModelFromLangChain(lc), store });
		expect(r.payloads[0].copy?.source).toBe('llm');
		// Both requests reached the provider, so both count.
		expect(r.llmCalls).toBe(2);
		expect(lc.calls.map((c) => c.structured?.config.method ?? 'schema')).toEqual(['schema', 'jsonMode']);
	});
});

describe("the model's errors", () => {
	it('429 from n8n\'s model (a NodeApiError with httpCode, the SDK error as cause) waits for retry-after and retries', async () => {
		const waits: number[] = [];
		const lc = new FakeLangChainModel([n8nApiError(429, 'Rate limit reached', { 'retry-after': '2' }), message(good())]);
		const r = await generateEmailCopy(payloads('lc-429', 10, 1), { mode: 'llm', write: { backoff: { ...noSleep, sleep: async (ms: number) => void waits.push(ms) } } }, { chat: chatModelFromLangChain(lc), store });
		expect(r.payloads[0].copy?.source).toBe('llm');
		expect(waits).toEqual([2000]);
		expect(lc.calls).toHaveLength(2);
	});

	it('5xx and network failures are retried with backoff; a 401 or a bug is not, and the key never shows', async () => {
		const down = Object.assign(new Error('Connection error.'), { cause: Object.assign(new Error('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) }) });
		const flaky = new FakeLangChainModel([n8nApiError(503, 'overloaded'), down, message(good())]);
		const r = await generateEmailCopy(payloads('lc-5xx', 10, 1), { mode: 'llm', write: { backoff: noSleep } }, { chat: chatModelFromLangChain(flaky), store });
		expect([r.payloads[0].copy?.source, flaky.calls.length]).toEqual(['llm', 3]);

		const key = 'sk-fake-secret-key-123456';
		const denied = new FakeLangChainModel([n8nApiError(401, `Incorrect API key provided: ${key}.`)]);
		const e401 = await generateEmailCopy(payloads('lc-401', 10, 1), { mode: 'llm', write: { backoff: noSleep } }, { chat: chatModelFromLangChain(denied), store }).catch((e: unknown) => e);
		expect(e401).toBeInstanceOf(LlmApiError);
		expect((e401 as LlmApiError).status).toBe(401);
		expect((e401 as Error).message).toMatch(/^The connected Chat Model \(openai gpt-4o-mini\) answered 401: /);
		expect((e401 as Error).message).not.toContain(key);
		expect(denied.calls).toHaveLength(1);

		const bug = new FakeLangChainModel([new TypeError("Cannot read properties of undefined (reading 'map')")]);
		await expect(generateEmailCopy(payloads('lc-bug', 10, 1), { mode: 'llm', write: { backoff: noSleep } }, { chat: chatModelFromLangChain(bug), store })).rejects.toThrow(
			/^The connected Chat Model \(openai gpt-4o-mini\) failed: Cannot read properties/,
		);
		expect(bug.calls).toHaveLength(1);
	});

	it('a reply over the cap is refused unread and not retried; the template fallback still works', async () => {
		const huge = new FakeLangChainModel([message('x'.repeat(300 * 1024))]);
		const e = await generateEmailCopy(payloads('lc-huge', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(huge), store }).catch((x: unknown) => x);
		expect(e).toBeInstanceOf(LlmReplyTooLargeError);
		expect(huge.calls).toHaveLength(1);
		const small = new FakeLangChainModel([message(good())]);
		await expect(generateEmailCopy(payloads('lc-small', 10, 1), { mode: 'llm' }, { chat: chatModelFromLangChain(small, { maxReplyBytes: 100 }), store })).rejects.toThrow(/larger than 100 bytes/);
	});

	it('a cancelled execution stops at once: the abort is passed to the model and not retried', async () => {
		const controller = new AbortController();
		const lc = new FakeLangChainModel([message(good())]);
		lc.invoke = async () => {
			controller.abort();
			throw Object.assign(new Error('Aborted'), { name: 'AbortError' });
		};
		lc.withStructuredOutput = undefined;
		const chat = chatModelFromLangChain(lc, { signal: controller.signal });
		await expect(generateEmailCopy(payloads('lc-abort', 10, 1), { mode: 'llm', write: { backoff: noSleep } }, { chat, store })).rejects.toThrow(/^Aborted$/);
		const seen = new FakeLangChainModel([message(good())]);
		await chatModelFromLangChain(seen, { signal: new AbortController().signal }).complete({ messages: [{ role: 'user', content: 'json' }], format: 'json_schema', schema: {} });
		expect(seen.calls[0].options?.signal).toBeInstanceOf(AbortSignal);
	});

	it('something that is not a chat model is refused by name', () => {
		expect(isLangChainChatModel({ invoke: () => undefined })).toBe(true);
		expect(isLangChainChatModel({ call: () => undefined })).toBe(false);
		expect(() => chatModelFromLangChain({} as LangChainChatModelLike)).toThrow(/did not supply a chat model/);
	});
});

/** A real LangChain chat model (this package's own @langchain/core): tool calls for structured output, as LangChain's base class does it. */
class ToolCallingChatModel extends BaseChatModel {
	seen: BaseMessage[][] = [];
	model = 'tool-model-1';
	_llmType(): string {
		return 'tool-calling-test';
	}
	bindTools(tools: unknown[]) {
		return this.withConfig({ tools } as never);
	}
	async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'] & { tools?: Array<{ function: { name: string } }> }): Promise<LcChatResult> {
		this.seen.push(messages);
		const tool = options.tools?.[0]?.function.name;
		const msg = new AIMessage({
			content: tool ? '' : JSON.stringify(good()),
			tool_calls: tool ? [{ name: tool, args: good(), id: 'call_1', type: 'tool_call' }] : [],
			usage_metadata: { input_tokens: 50, output_tokens: 25, total_tokens: 75 },
			response_metadata: { model_name: 'tool-model-1', finish_reason: tool ? 'tool_calls' : 'stop' },
		});
		return { generations: [{ text: typeof msg.content === 'string' ? msg.content : '', message: msg }] };
	}
}

describe('with a real @langchain/core chat model', () => {
	it('plain messages become LangChain messages; the base withStructuredOutput (tool calling, no strict) writes the copy', async () => {
		const lc = new ToolCallingChatModel({});
		const chat = chatModelFromLangChain(lc as unknown as LangChainChatModelLike);
		expect(chat.model).toBe('tool-calling-test:tool-model-1');
		const r = await generateEmailCopy(payloads('lc-real', 1200, 2), { mode: 'llm' }, { chat, store });
		expect(r.llmCalls).toBe(2);
		expect(r.usage).toEqual({ prompt_tokens: 100, completion_tokens: 50 });
		expect(lc.seen).toHaveLength(2);
		expect(lc.seen[0].map((m) => m.getType())).toEqual(['system', 'human']);
		expect(r.payloads[0].copy).toMatchObject({ source: 'llm', model: 'tool-model-1', subject: good().subject });
	});

	it('the Campaign Agent sends 300 contacts × 2 variants with 2 calls to the model', async () => {
		const lc = new ToolCallingChatModel({});
		const accepted: string[] = [];
		const transport: SendGridTransport = {
			async sendMail(body: MailSendBody): Promise<SendGridResponse> {
				accepted.push(...body.personalizations.map((p) => p.to[0].email));
				return { status: 202, headers: { 'x-message-id': `m${accepted.length}` }, body: '' };
			},
			async request(): Promise<SendGridResponse> {
				return { status: 200, headers: {}, body: {} };
			},
		};
		const chat = chatModelFromLangChain(lc as unknown as LangChainChatModelLike);
		const r = await runCampaignAgent(
			{ campaign: campaignInput({ id: 'lc-agent', variants: 2 }), contacts: { kind: 'csv', data: csvOf(contacts(300)) }, batchSize: 100, copy: { mode: 'llm' }, sendOptions: { backoff: noSleep } },
			{ store, send: { transport, store }, generate: { chat, store } },
			{ runId: 'run-lc-agent' },
		);
		expect(r.counts.sent).toBe(300);
		expect(new Set(accepted).size).toBe(300);
		expect(r.llm.calls).toBe(2);
		expect(lc.seen).toHaveLength(2);
		expect((r.llm.prompt_tokens ?? 0) + (r.llm.completion_tokens ?? 0)).toBe(150);
	});
});
