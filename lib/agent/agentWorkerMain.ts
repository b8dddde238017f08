/**
 * The worker thread's side of lib/agent/agentWorker.ts: opens its own store (Postgres pool) and
 * SendGrid transport, stands in for the main thread's rate limiter, chat model and contacts stream
 * with calls over the message port, runs the graph, and posts the result or the error. Loaded only
 * inside a worker (workerData is the job).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runCampaignAgent, type AgentConfig, type AgentRunResult } from './graph';
import { StoreCheckpointSaver } from './checkpointer';
import { type FromWorker, type ToWorker, type WireError, type WorkerJob, WORKER_APPLICATION_NAME, fromWire, toWire } from './agentWorker';
import type { ContactSource } from '../stages/loadCampaignContent';
import { closeAllStores, contactPagesFromQuery, getCampaignStore } from '../store';
import { createSendGridTransport } from '../sendgrid/client';
import type { RateLimiter } from '../sendgrid/rateLimiter';
import { type ChatModel, type ChatRequest, type ChatResult, LlmApiError, LlmReplyTooLargeError } from '../llm/client';

const port = parentPort!;
const job = workerData as WorkerJob;
let nextId = 1;
const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

/** An error from the main thread, as the worker's code expects it: LLM errors keep their class (the copywriter retries by it). */
function errorOf(w: WireError): Error {
	if (w.name === 'LlmReplyTooLargeError' && typeof w.limitBytes === 'number') return new LlmReplyTooLargeError(w.limitBytes);
	if (w.name === 'LlmApiError') return new LlmApiError(w.message, w.status, w.headers ?? {}, w.formatUnsupported === true);
	return fromWire(w);
}

port.on('message', (m: ToWorker) => {
	const w = waiting.get(m.id);
	if (!w) return;
	waiting.delete(m.id);
	if (m.ok) w.resolve(m.value);
	else w.reject(errorOf(m.error));
});

function call<T>(method: Extract<FromWorker, { type: 'call' }>['method'], ...args: unknown[]): Promise<T> {
	const id = nextId++;
	return new Promise<T>((resolve, reject) => {
		waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
		port.postMessage({ type: 'call', id, method, args } as FromWorker);
	});
}

const post = (m: FromWorker) => port.postMessage(m);

/** The main thread's rate limiter: every request still waits on the one limit the account shares in n8n. */
const limiter: RateLimiter | undefined = job.limiter
	? {
			acquire: (emails: number) => call<void>('limiter.acquire', emails),
			pauseUntil: (epochMs: number) => post({ type: 'limiter.pauseUntil', epochMs }),
			setLimits: (limits) => post({ type: 'limiter.setLimits', limits }),
		}
	: undefined;

const chat: ChatModel | undefined = job.chat
	? {
			model: job.chat.model,
			maxReplyBytes: job.chat.maxReplyBytes,
			complete: (req: ChatRequest) => call<ChatResult>('chat.complete', req),
			listModels: () => call<string[]>('chat.listModels'),
		}
	: undefined;

let streams = 0;

async function run(): Promise<AgentRunResult> {
	const store = await getCampaignStore({ postgres: { ...job.postgres, applicationName: WORKER_APPLICATION_NAME } });
	const source = job.config.contacts;
	let contacts: ContactSource;
	if (source.kind === 'rows') contacts = { kind: 'rows', rows: source.rows, options: source.options };
	else if (source.kind === 'query') contacts = { kind: 'pages', pages: () => contactPagesFromQuery(store, source.query.sql, source.query.options), options: source.options };
	else if (source.data !== 'stream') contacts = { kind: 'csv', data: source.data, options: source.options };
	else
		contacts = {
			kind: 'csv',
			// Each read of the file (a resume, a second step) is a stream of its own in the main thread.
			data: {
				async *[Symbol.asyncIterator]() {
					const id = ++streams;
					let ended = false;
					try {
						for (;;) {
							const piece = await call<Uint8Array | string | null>('csv.next', id);
							if (piece === null) {
								ended = true;
								return;
							}
							yield piece;
						}
					} finally {
						if (!ended) await call('csv.close', id).catch(() => undefined);
					}
				},
			},
			options: source.options,
		};
	const config: AgentConfig = { ...job.config, contacts };
	const transport = job.sendgrid ? createSendGridTransport(job.sendgrid) : undefined;
	const result = await runCampaignAgent(
		config,
		{
			store,
			send: { transport, store, limiter, onRunStats: (runId, stats) => post({ type: 'runStats', runId, stats }) },
			generate: { chat, store },
			onProgress: (p) => call<void>('progress', p),
		},
		{ runId: job.runId, resume: job.resume, checkpointer: new StoreCheckpointSaver(store) },
	);
	return result;
}

/** The worker's pool is closed before the outcome is posted (the main thread ends the worker on it); a close that hangs is not waited for past 5 s. */
async function closeStores(): Promise<void> {
	let timer: NodeJS.Timeout | undefined;
	await Promise.race([closeAllStores().catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, 5000)))]);
	clearTimeout(timer);
}

run().then(
	async (result) => {
		await closeStores();
		post({ type: 'done', result });
	},
	async (e: unknown) => {
		await closeStores();
		post({ type: 'failed', error: toWire(e) });
	},
);
