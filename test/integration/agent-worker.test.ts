/**
 * The Campaign Agent in a worker thread (Run Agent In → Worker Thread, lib/agent/agentWorker.ts)
 * against the SendGrid simulator and a real Postgres: the worker opens its own pool and transport;
 * the rate limiter, the chat model and the contacts stream stay in this thread and answer its calls.
 * Every recipient once; errors keep their message and field; a cancelled run resumes with no duplicate.
 */
import { Readable } from 'node:stream';
import { SendGridSimulator } from '../simulators/sendgridServer';
import { WORKER_APPLICATION_NAME, type WorkerJob, runAgentInWorker, workerContactSource } from '../../lib/agent/agentWorker';
import { type AgentConfig, type AgentProgress, runCampaignAgent } from '../../lib/agent/graph';
import { type CampaignStore, closeAllStores, getCampaignStore } from '../../lib/store';
import type { PostgresConnection } from '../../lib/store/driver';
import { LlmApiError, type ChatModel, type ChatRequest, type ChatResult } from '../../lib/llm/client';
import type { RateLimiter } from '../../lib/sendgrid/rateLimiter';
import type { ContactSource } from '../../lib/stages/loadCampaignContent';
import { CampaignError } from '../../lib/errors';
import { campaignInput, contacts, csvOf } from '../helpers/fixtures';
import { createTestDatabase } from '../helpers/services';
import { sql } from '../helpers/sql';

jest.setTimeout(180_000);

let sim: SendGridSimulator;
let store: CampaignStore;
let postgres: PostgresConnection;
let drop: () => Promise<void>;
beforeAll(async () => {
	sim = new SendGridSimulator();
	await sim.start();
	const db = await createTestDatabase('eca_worker');
	postgres = db.connection;
	drop = db.drop;
	store = await getCampaignStore({ postgres });
});
afterAll(async () => {
	await sim?.stop();
	await closeAllStores();
	await drop?.();
});
beforeEach(() => sim.reset());

/** A limiter that counts what the worker asked of it. */
class CountingLimiter implements RateLimiter {
	acquired: number[] = [];
	async acquire(emails: number) {
		this.acquired.push(emails);
	}
	pauseUntil() {}
	setLimits() {}
}

/** A CSV as a stream of small Buffers that are views of one shared buffer (as fs streams hand out pooled slices). */
function pooledStream(text: string, piece = 4096): AsyncIterable<Uint8Array> {
	const all = Buffer.from(text);
	return {
		async *[Symbol.asyncIterator]() {
			for (let i = 0; i < all.length; i += piece) yield all.subarray(i, i + piece);
		},
	};
}

function job(id: string, source: ContactSource, over: Partial<Omit<AgentConfig, 'contacts'>> = {}, run: Partial<Pick<WorkerJob, 'runId' | 'resume'>> = {}) {
	const { contacts: c, stream } = workerContactSource(source);
	const config: WorkerJob['config'] = {
		campaign: campaignInput({ id }),
		contacts: c,
		batchSize: 200,
		chunkSize: 600,
		copy: { mode: 'template' },
		sendOptions: { concurrency: 2 },
		...over,
	};
	const w: WorkerJob = { config, postgres, sendgrid: { apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 5000 }, limiter: true, runId: run.runId ?? `run-${id}`, resume: run.resume ?? false };
	return { job: w, stream };
}

const sentTo = () => sim.accepted.map((m) => m.to);

describe('Campaign Agent in a worker thread', () => {
	it('a CSV streamed from this thread: every contact sent once, limiter and progress answered here, run finished in the store', async () => {
		const limiter = new CountingLimiter();
		const progress: AgentProgress[] = [];
		const stats: string[] = [];
		const { job: j, stream } = job('w-csv', { kind: 'csv', data: pooledStream(csvOf(contacts(2500, 'w-csv.example'))) });
		const workerConnections: number[] = [];
		const onProgress = async (p: AgentProgress) => {
			progress.push(p);
			// While the worker waits for this answer, its own pool is open under its own name.
			const n = await sql(store).query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND datname = $2', [WORKER_APPLICATION_NAME, postgres.database]);
			workerConnections.push(n.rows[0].n);
		};
		const r = await runAgentInWorker(j, { limiter, onProgress, onRunStats: (runId) => void stats.push(runId) }, stream);
		expect(Math.min(...workerConnections)).toBeGreaterThanOrEqual(1);
		expect(r.counts).toMatchObject({ sent: 2500, requests: 13, batches: 13 });
		expect(r.total).toBe(2500);
		expect(sentTo()).toHaveLength(2500);
		expect(new Set(sentTo()).size).toBe(2500);
		expect(sim.duplicateRecipients()).toEqual([]);
		// Every request waited on this thread's limiter, with its recipients.
		expect(limiter.acquired.reduce((a, b) => a + b, 0)).toBe(2500);
		expect(limiter.acquired).toHaveLength(13);
		expect(progress.map((p) => p.processed)).toEqual([600, 1200, 1800, 2400, 2500]);
		expect(stats.length).toBeGreaterThan(0);
		expect((await store.getRun('run-w-csv'))?.status).toBe('finished');
	});

	it('a contacts query runs in the worker through its own pool; in-memory CSV text and rows go as data', async () => {
		await sql(store).query('CREATE TABLE w_contacts (email text, first_name text)');
		await sql(store).query("INSERT INTO w_contacts SELECT 'q' || g || '@w-query.example', 'Q' || g FROM generate_series(1, 1500) g");
		const q = job('w-query', { kind: 'pages', pages: () => (async function* () {})(), options: { emailField: 'email' }, query: { sql: 'SELECT email, first_name FROM w_contacts ORDER BY email', options: { maxRows: 10_000 } } });
		expect(q.stream).toBeUndefined();
		expect((await runAgentInWorker(q.job, { limiter: new CountingLimiter() })).counts.sent).toBe(1500);
		const text = job('w-text', { kind: 'csv', data: csvOf(contacts(300, 'w-text.example')) });
		expect((await runAgentInWorker(text.job, { limiter: new CountingLimiter() })).counts.sent).toBe(300);
		const rows = job('w-rows', { kind: 'rows', rows: contacts(250, 'w-rows.example') as unknown as Array<Record<string, unknown>> });
		expect((await runAgentInWorker(rows.job, { limiter: new CountingLimiter() })).counts.sent).toBe(250);
		expect(sentTo()).toHaveLength(2050);
		expect(sim.duplicateRecipients()).toEqual([]);
	});

	it("a bad campaign fails with the same message and field as in the main thread, and the worker's errors never crash this process", async () => {
		const bad = { campaign: { id: 'w-bad', steps: [{ step: 1, subject: 'Hi' }] } };
		const { job: j } = job('w-bad', { kind: 'csv', data: csvOf(contacts(10)) }, bad);
		const inWorker = (await runAgentInWorker(j, { limiter: new CountingLimiter() }).catch((x: unknown) => x)) as CampaignError;
		const inline = (await runCampaignAgent({ ...j.config, contacts: { kind: 'csv', data: csvOf(contacts(10)) } }, { store, send: { store }, generate: { store } }, { runId: 'run-w-bad-inline' }).catch(
			(x: unknown) => x,
		)) as CampaignError;
		expect(inline).toBeInstanceOf(CampaignError);
		expect(inWorker).toBeInstanceOf(CampaignError);
		expect({ name: inWorker.name, message: inWorker.message, field: inWorker.field, hint: inWorker.hint, source: inWorker.source }).toEqual({
			name: inline.name,
			message: inline.message,
			field: inline.field,
			hint: inline.hint,
			source: inline.source,
		});
		expect(inline.message).toMatch(/^Invalid campaign: from: /);
		expect(sentTo()).toEqual([]);
	});

	it('AI copy asks the chat model in this thread; an LLM error keeps its class on the way, so the copywriter retries it', async () => {
		const good = {
			subject: 'Spring deals for {{first_name|there}}',
			preheader: 'Twenty percent off all skates',
			html: '<p>Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.</p><p><a href="https://acme.example/sale">Shop the sale</a></p>',
			text: 'Hi {{first_name|there}}, the spring sale on Acme Rocket Skates is on: twenty percent off every pair until Sunday.\n\nShop the sale: https://acme.example/sale',
			language: 'en',
		};
		const asked: ChatRequest[] = [];
		let calls = 0;
		const chat: ChatModel = {
			model: 'fake-model',
			async complete(req: ChatRequest): Promise<ChatResult> {
				asked.push(req);
				// The first call fails as a rate-limited API would: retried by the copywriter, in the worker.
				if (calls++ === 0) throw new LlmApiError('rate limited', 429, { 'retry-after': '0' });
				return { content: JSON.stringify(good), model: 'fake-model', finishReason: 'stop', usage: { prompt_tokens: 10, completion_tokens: 5 } };
			},
			async listModels() {
				return ['fake-model'];
			},
		};
		const { job: j } = job('w-llm', { kind: 'csv', data: csvOf(contacts(400, 'w-llm.example')) }, { copy: { mode: 'llm' } });
		j.chat = { model: chat.model };
		const r = await runAgentInWorker(j, { limiter: new CountingLimiter(), chat });
		expect(r.counts.sent).toBe(400);
		expect(asked.length).toBeGreaterThanOrEqual(2);
		expect(r.llm.calls).toBeGreaterThanOrEqual(1);
		expect(sim.accepted[0].subject).toMatch(/^Spring deals for /);
	});

	it('cancelling stops the worker; resuming the run (in a worker again) sends the rest and nobody twice', async () => {
		const csv = csvOf(contacts(3000, 'w-cancel.example'));
		const controller = new AbortController();
		const limiter = new CountingLimiter();
		const first = job('w-cancel', { kind: 'csv', data: pooledStream(csv) }, { batchSize: 100, chunkSize: 300, sendOptions: { concurrency: 1 } });
		const stopped = await runAgentInWorker(first.job, { limiter, onProgress: (p) => (p.processed >= 900 ? controller.abort() : undefined), signal: controller.signal }, first.stream).catch((e: unknown) => e);
		expect(stopped).toBeInstanceOf(CampaignError);
		expect((stopped as Error).message).toMatch(/cancelled; resume it/);
		const before = new Set(sentTo()).size;
		expect(before).toBeGreaterThanOrEqual(900);
		expect(before).toBeLessThan(3000);
		const again = job('w-cancel', { kind: 'csv', data: pooledStream(csv) }, { batchSize: 100, chunkSize: 300 }, { resume: true });
		const r = await runAgentInWorker(again.job, { limiter }, again.stream);
		expect(r.resumed).toBe(true);
		expect(new Set(sentTo()).size).toBe(3000);
		expect(sim.duplicateRecipients()).toEqual([]);
		const rows = await sql(store).query<{ n: number }>("SELECT count(*)::int AS n FROM eca_deliveries WHERE campaign_id = 'w-cancel' AND status = 'sent'");
		expect(rows.rows[0].n).toBe(3000);
	});

	it('a source that fails in this thread (the file cannot be read) fails the run with its message', async () => {
		const broken: AsyncIterable<Uint8Array> = {
			async *[Symbol.asyncIterator]() {
				yield Buffer.from('email,first_name\na@w-broken.example,A\n');
				throw new Error('binary data file is gone');
			},
		};
		const { job: j, stream } = job('w-broken', { kind: 'csv', data: broken });
		const e = await runAgentInWorker(j, { limiter: new CountingLimiter() }, stream).catch((x: unknown) => x);
		expect((e as Error).message).toMatch(/binary data file is gone/);
	});

	it('a worker that runs out of its heap fails the run with that said; this process goes on', async () => {
		const { job: j } = job('w-oom', { kind: 'csv', data: csvOf(contacts(50, 'w-oom.example')) });
		const e = await runAgentInWorker(j, { limiter: new CountingLimiter(), heap: { maxOldGenerationSizeMb: 2, maxYoungGenerationSizeMb: 1 } }).catch((x: unknown) => x);
		expect(e).toBeInstanceOf(CampaignError);
		expect((e as Error).message).toMatch(/worker thread ran out of its 2 MB heap; resume the run with Run Agent In → Main Thread/);
		// The next run in a worker works as before.
		const ok = job('w-after-oom', { kind: 'csv', data: csvOf(contacts(20, 'w-after-oom.example')) });
		expect((await runAgentInWorker(ok.job, { limiter: new CountingLimiter() })).counts.sent).toBe(20);
	});

	it('a Readable stream works as the source too', async () => {
		const { job: j, stream } = job('w-readable', { kind: 'csv', data: Readable.from([Buffer.from(csvOf(contacts(700, 'w-readable.example')))]) });
		expect((await runAgentInWorker(j, { limiter: new CountingLimiter() }, stream)).counts.sent).toBe(700);
	});
});
