/** Generate Email Copy through the real `openai` client against the OpenAI-compatible simulator. */
import { OpenAISimulator, copywriterResponder } from '../simulators/openaiServer';
import { createChatModel, LlmReplyTooLargeError } from '../../lib/llm/client';
import { generateEmailCopy } from '../../lib/stages/generateEmailCopy';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { LLM_COPY_JSON_SCHEMA } from '../../lib/llm/copywriter';
import { CampaignStore, getCampaignStore, closeAllStores } from '../../lib/store';
import { campaignInput, contacts } from '../helpers/fixtures';

jest.setTimeout(60_000);

let sim: OpenAISimulator;
let store: CampaignStore;
let n = 0;
beforeAll(async () => {
	sim = new OpenAISimulator();
	await sim.start();
	store = await getCampaignStore({ inMemory: true });
});
afterAll(async () => {
	await sim.stop();
	await closeAllStores();
});
beforeEach(() => {
	sim.reset();
	sim.setResponder(undefined);
});

const chat = (model = 'gpt-4o-mini') => createChatModel({ apiKey: 'sk-test', baseUrl: `${sim.baseUrl}/v1`, model });
const payloads = (overrides = {}, count = 30) => buildEmailPayloads(parseCampaign(campaignInput({ id: `llm-${++n}`, ...overrides })), contacts(count), 'r', { step: 1, batchSize: 10 });
const fast = { backoff: { sleep: async () => undefined } };

describe('copy through an OpenAI-compatible endpoint', () => {
	it('our JSON schema passes strict structured-output validation', async () => {
		await generateEmailCopy(payloads(), { mode: 'llm' }, { chat: chat(), store });
		expect(sim.requests[0]).toMatchObject({ status: 200, responseFormat: { type: 'json_schema', json_schema: { name: 'email_copy', strict: true, schema: LLM_COPY_JSON_SCHEMA } } });
	});

	it.each([
		['friendly', 'en', /warm, conversational/],
		['urgent', 'es', /time-sensitive/],
		['calm like a librarian', 'de', /as described by the user: "calm like a librarian"/],
	])('tone %s in %s is what the model is told, and the copy comes back in that language', async (tone, language, toneText) => {
		const r = await generateEmailCopy(payloads({ tone, language }), { mode: 'llm' }, { chat: chat(), store });
		const system = sim.requests[0].messages[0].content;
		expect(system).toMatch(toneText);
		expect(system).toContain(`language code "${language}"`);
		expect(r.payloads[0].copy?.source).toBe('llm');
	});

	it('1 to 5 variants: one call each, each with its own angle and subject', async () => {
		const r = await generateEmailCopy(payloads({ variants: 5 }, 200), { mode: 'llm' }, { chat: chat(), store });
		expect(r.llmCalls).toBe(5);
		const angles = new Set(sim.requests.map((q) => /its angle: ([^.]+)/.exec(q.messages[0].content)![1]));
		expect(angles.size).toBe(5);
	});

	it('retries malformed and cut-off output with the problem fed back, then succeeds', async () => {
		sim.failNext(1, 'malformed');
		sim.failNext(1, 'incomplete');
		const r = await generateEmailCopy(payloads(), { mode: 'llm' }, { chat: chat(), store });
		expect(r.llmCalls).toBe(3);
		expect(sim.requests[1].messages.at(-1)!.content).toMatch(/did not pass validation/);
		expect(sim.requests[2].messages.at(-1)!.content).toMatch(/cut off/);
	});

	it('copy in the wrong language is refused and retried', async () => {
		let calls = 0;
		sim.setResponder((req) => {
			const good = copywriterResponder(req) as Record<string, string>;
			return ++calls === 1 ? { ...good, subject: 'The best skates you will ever try', text: 'Hi there, these are the best skates you will ever have. Take a look and tell us what you think of them and the offer.', html: '<p>Hi there, these are the best skates you will ever have. Take a look and tell us what you think of them and the offer.</p>' } : good;
		});
		const r = await generateEmailCopy(payloads({ language: 'es' }), { mode: 'llm' }, { chat: chat(), store });
		expect(r.llmCalls).toBe(2);
		expect(sim.requests[1].messages.at(-1)!.content).toMatch(/not written in Spanish/);
	});

	it('backs off on 429 and 5xx, and falls back to JSON mode on servers without structured output', async () => {
		sim.failNext(1, '429', { retryAfterSeconds: 0 });
		sim.failNext(1, '503');
		const r = await generateEmailCopy(payloads(), { mode: 'llm', write: fast }, { chat: chat(), store });
		expect(r.payloads[0].copy?.source).toBe('llm');
		expect(sim.requests.map((q) => q.status)).toEqual([429, 503, 200]);

		const plain = new OpenAISimulator({ supportsJsonSchema: false });
		await plain.start();
		try {
			const local = createChatModel({ apiKey: 'sk-test', baseUrl: `${plain.baseUrl}/v1`, model: 'gpt-4o-mini' });
			const out = await generateEmailCopy(payloads(), { mode: 'llm' }, { chat: local, store });
			expect(out.payloads[0].copy?.source).toBe('llm');
			expect(plain.requests.map((q) => q.responseFormat?.type)).toEqual(['json_schema', 'json_object']);
		} finally {
			await plain.stop();
		}
	});

	it('the cache: a second run makes no call; per-recipient mode keeps to its concurrency limit', async () => {
		const ps = payloads();
		await generateEmailCopy(ps, { mode: 'llm' }, { chat: chat(), store });
		const calls = sim.calls;
		const second = await generateEmailCopy(ps, { mode: 'llm' }, { chat: chat(), store });
		expect(second.llmCalls).toBe(0);
		expect(sim.calls).toBe(calls);

		const slow = new OpenAISimulator({ latencyMs: 40 });
		await slow.start();
		try {
			const local = createChatModel({ apiKey: 'sk-test', baseUrl: `${slow.baseUrl}/v1`, model: 'gpt-4o-mini' });
			const r = await generateEmailCopy(payloads({}, 12), { mode: 'llm', personalize: { fields: ['first_name'], concurrency: 3, requestsPerMinute: 100_000 } }, { chat: local });
			expect(r.payloads).toHaveLength(12);
			expect(slow.calls).toBe(12);
			expect(slow.concurrencyPeak).toBeLessThanOrEqual(3);
			expect(slow.concurrencyPeak).toBeGreaterThan(1);
		} finally {
			await slow.stop();
		}
	});

	it('an endpoint that is down fails fast with a clear error (or the template when chosen)', async () => {
		const down = createChatModel({ apiKey: 'sk-test', baseUrl: 'http://127.0.0.1:9/v1', model: 'gpt-4o-mini' });
		const t0 = Date.now();
		await expect(generateEmailCopy(payloads(), { mode: 'llm', write: { backoff: { maxRetries: 1, sleep: async () => undefined } } }, { chat: down })).rejects.toThrow(/could not be reached — check the LLM credential's base URL/);
		expect(Date.now() - t0).toBeLessThan(5000);
		const r = await generateEmailCopy(payloads(), { mode: 'llm', onLlmFailure: 'template', write: { backoff: { maxRetries: 0 } } }, { chat: down });
		expect(r.payloads[0].copy?.source).toBe('fallback');
	});
});

describe('a reply too large for any email', () => {
	/** The heap after a full collection (gc exposed at run time, as jest does not pass --expose-gc). */
	const heapAfterGc = (): number => {
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		require('node:v8').setFlagsFromString('--expose-gc');
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		const gc = require('node:vm').runInNewContext('gc') as () => void;
		gc();
		gc();
		return process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
	};

	it('a 5 MB reply fails at once with a clear error, is never downloaded whole, and leaves no memory behind', async () => {
		const FIVE_MB = 5 * 1024 * 1024;
		await generateEmailCopy(payloads(), { mode: 'llm' }, { chat: chat(), store }); // warm up the client and the store
		sim.reset();
		const before = heapAfterGc();
		for (let k = 0; k < 3; k++) {
			sim.failNext(1, 'huge', { bytes: FIVE_MB });
			const t0 = Date.now();
			const error = await generateEmailCopy(payloads(), { mode: 'llm', write: fast }, { chat: chat(), store }).catch((e: unknown) => e);
			expect(Date.now() - t0).toBeLessThan(5000);
			expect(error).toBeInstanceOf(LlmReplyTooLargeError);
			expect((error as LlmReplyTooLargeError).message).toMatch(/^The LLM reply was larger than 256 KB; raise the LLM reply limit \(maxReplyBytes\) or lower Max Body Words/);
			expect((error as LlmReplyTooLargeError).retryable).toBe(false);
			expect(JSON.stringify(error).length + String((error as Error).stack).length).toBeLessThan(5000);
		}
		// Not retried, and each download was cut off long before the server got the body out.
		expect(sim.requests.map((r) => r.status)).toEqual([200, 200, 200]);
		expect(sim.hugeReplies).toHaveLength(3);
		for (let wait = 0; wait < 500 && !sim.hugeReplies.every((r) => r.closed); wait++) await new Promise((r) => setTimeout(r, 10));
		for (const reply of sim.hugeReplies) {
			expect(reply.aborted).toBe(true);
			expect(reply.bytesWritten).toBeLessThan(FIVE_MB / 2);
		}
		// Three 5 MB bodies kept alive would be 15 MB or more.
		expect(heapAfterGc() - before).toBeLessThan(4 * 1024 * 1024);
	});

	it('the cap is an option: a lower maxReplyBytes refuses a normal reply, the default lets it through', async () => {
		const small = createChatModel({ apiKey: 'sk-test', baseUrl: `${sim.baseUrl}/v1`, model: 'gpt-4o-mini', maxReplyBytes: 100 });
		await expect(generateEmailCopy(payloads(), { mode: 'llm', write: fast }, { chat: small })).rejects.toThrow(/The LLM reply was larger than 100 bytes/);
		const r = await generateEmailCopy(payloads(), { mode: 'llm', write: fast }, { chat: chat() });
		expect(r.payloads[0].copy?.source).toBe('llm');
	});
});
