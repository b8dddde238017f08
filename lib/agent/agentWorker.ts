/**
 * The Campaign Agent in a worker thread with a heap of its own (the node's Run Agent In → Worker Thread).
 *
 * Why: in n8n's main process the agent's per-contact garbage (rows read, claims, personalizations,
 * request bodies) shares n8n's large heap, and V8 lets that heap grow by 250–350 MB over idle during a
 * long run however little the agent keeps (README, "Where the agent's memory goes"). In a worker the
 * same graph runs in an isolate capped by `resourceLimits`, so n8n's heap sees only a few messages.
 *
 * What stays in the main thread, reached over messages: the rate limiter (shared with every other send
 * of the account in this process, or Redis), the chat model (a Chat Model sub-node lives in n8n), the
 * contacts file's byte stream (n8n's binary data helpers), progress and send statistics. The worker
 * opens its own Postgres pool and SendGrid transport from the same settings; the embedded store
 * (PGlite) serves one thread and cannot be used from a worker.
 *
 * Faults: an error in the worker comes back as a CampaignError with the same message, field, hint,
 * status and run context; a worker that dies (out of its heap, terminated) rejects the run with what
 * happened; an `error` event is always handled (an unhandled one would end n8n). Cancelling the
 * execution terminates the worker: claimed rows it had in flight are resolved as after any crash.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AgentConfig, AgentProgress, AgentRunResult } from './graph';
import type { ContactSource } from '../stages/loadCampaignContent';
import type { CsvData } from '../contacts/loadContacts';
import type { RateLimiter } from '../sendgrid/rateLimiter';
import type { SendGridConfig } from '../sendgrid/client';
import type { SendStats } from '../store/metrics';
import type { ChatModel, ChatRequest } from '../llm/client';
import type { PostgresConnection } from '../store/driver';
import { CampaignError, type CampaignErrorContext } from '../errors';

/** The worker's heap: measured (bench/plainAgent.ts --worker-old-mb) as the smallest that keeps the agent's speed within about 20 %. */
export const WORKER_HEAP = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8 } as const;

/** The worker's Postgres connections call themselves this in pg_stat_activity (what a DBA, and the e2e test, sees of it). */
export const WORKER_APPLICATION_NAME = 'n8n campaign agent worker';

/** A contacts query the worker runs itself, through its own pool (the same SQL, parameters and limits): the one a paged source carries. */
export type WorkerContactsQuery = NonNullable<Extract<ContactSource, { kind: 'pages' }>['query']>;

/** The contacts source as the worker gets it: data that can be copied, or a stream read from the main thread. */
export type WorkerContactSource =
	| { kind: 'rows'; rows: Array<Record<string, unknown>>; options?: Extract<ContactSource, { kind: 'rows' }>['options'] }
	| { kind: 'csv'; data: string | Uint8Array | 'stream'; options?: Extract<ContactSource, { kind: 'csv' }>['options'] }
	| { kind: 'query'; query: WorkerContactsQuery; options?: Extract<ContactSource, { kind: 'pages' }>['options'] };

/** Everything the worker needs, as plain data (structured clone). */
export interface WorkerJob {
	config: Omit<AgentConfig, 'contacts'> & { contacts: WorkerContactSource };
	postgres: PostgresConnection;
	/** SendGrid settings for the worker's own transport (none for a dry run). */
	sendgrid?: SendGridConfig;
	/** The main thread has a rate limiter the worker's sends wait on. */
	limiter: boolean;
	/** The main thread has a chat model: its identity, and calls go to it. */
	chat?: { model: string; maxReplyBytes?: number };
	runId: string;
	resume: boolean;
}

/** What the main thread lends the worker. */
export interface WorkerHooks {
	limiter?: RateLimiter;
	chat?: ChatModel;
	onProgress?: (p: AgentProgress) => void | Promise<void>;
	onRunStats?: (runId: string, stats: SendStats) => void;
	/** Aborted: the worker is terminated and the run rejects. */
	signal?: AbortSignal;
	/** The worker's heap limits (default WORKER_HEAP). */
	heap?: { maxOldGenerationSizeMb: number; maxYoungGenerationSizeMb: number };
}

/** An error as it crosses between threads: its class name and what a CampaignError carries. */
export interface WireError {
	name: string;
	message: string;
	field?: string;
	hint?: string;
	itemIndex?: number;
	source?: 'input' | 'service';
	httpStatus?: number;
	context?: CampaignErrorContext;
	/** LlmApiError's own fields, so the copywriter's retry rules work on the worker's side. */
	status?: number;
	headers?: Record<string, string>;
	formatUnsupported?: boolean;
	limitBytes?: number;
}

export function toWire(e: unknown): WireError {
	if (!(e instanceof Error)) return { name: 'Error', message: String(e) };
	const c = e as Error & Partial<WireError>;
	const out: WireError = { name: e.name, message: e.message };
	for (const k of ['field', 'hint', 'itemIndex', 'source', 'httpStatus', 'context', 'status', 'headers', 'formatUnsupported', 'limitBytes'] as const) {
		const v = c[k];
		if (v !== undefined && typeof v !== 'function') (out as unknown as Record<string, unknown>)[k] = v;
	}
	return out;
}

/** A worker's error in the main thread: a CampaignError with the same message and details, under the same name. */
export function fromWire(w: WireError): CampaignError {
	const e = new CampaignError(w.message, { field: w.field, hint: w.hint, itemIndex: w.itemIndex, source: w.source, httpStatus: w.httpStatus, context: w.context });
	e.name = w.name;
	return e;
}

/** Messages from the worker. */
export type FromWorker =
	| { type: 'call'; id: number; method: 'limiter.acquire'; args: [number] }
	| { type: 'call'; id: number; method: 'chat.complete'; args: [ChatRequest] }
	| { type: 'call'; id: number; method: 'chat.listModels'; args: [] }
	| { type: 'call'; id: number; method: 'csv.next'; args: [number] }
	| { type: 'call'; id: number; method: 'csv.close'; args: [number] }
	| { type: 'call'; id: number; method: 'progress'; args: [AgentProgress] }
	| { type: 'limiter.pauseUntil'; epochMs: number }
	| { type: 'limiter.setLimits'; limits: Parameters<RateLimiter['setLimits']>[0] }
	| { type: 'runStats'; runId: string; stats: SendStats }
	| { type: 'done'; result: AgentRunResult }
	| { type: 'failed'; error: WireError };

/** Messages to the worker. */
export type ToWorker = { type: 'reply'; id: number; ok: true; value: unknown } | { type: 'reply'; id: number; ok: false; error: WireError };

/** The worker's entry file: the built .js next to this one, or (tests under ts-jest) the .ts through tsx. */
function workerScript(): { code: string } {
	const js = join(__dirname, 'agentWorkerMain.js');
	if (existsSync(js)) return { code: `require(${JSON.stringify(js)});` };
	const ts = join(__dirname, 'agentWorkerMain.ts');
	return { code: `require('tsx/cjs'); require(${JSON.stringify(ts)});` };
}

/** The contacts source in a form the worker can take, and the byte stream the main thread keeps serving. */
export function workerContactSource(source: ContactSource): { contacts: WorkerContactSource; stream?: AsyncIterable<Uint8Array | string> } {
	if (source.kind === 'rows') return { contacts: { kind: 'rows', rows: source.rows, options: source.options } };
	if (source.kind === 'pages') {
		const query = source.query;
		if (!query) throw new CampaignError('A paged contacts source needs its query to run in a worker thread', { field: 'contactSource' });
		return { contacts: { kind: 'query', query, options: source.options } };
	}
	const data: CsvData = source.data;
	if (typeof data === 'string' || data instanceof Uint8Array) return { contacts: { kind: 'csv', data, options: source.options } };
	return { contacts: { kind: 'csv', data: 'stream', options: source.options }, stream: data };
}

/**
 * A stream's piece as bytes the worker can take over. A Buffer that owns all of its memory (a file
 * stream's read) moves as it is: nothing is copied and nothing is left for this thread's collector. A
 * view of a larger buffer (Node's pool, a slice) is copied first, since a transfer would detach the
 * memory around it too.
 */
function transferable(piece: Uint8Array): Uint8Array {
	const whole = piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength && piece.buffer instanceof ArrayBuffer;
	return whole ? piece : new Uint8Array(piece);
}

/**
 * Runs the job in a new worker thread and resolves with the run's result. The main thread answers the
 * worker's calls (rate limiter, chat model, the contacts stream) and relays progress.
 */
export function runAgentInWorker(job: WorkerJob, hooks: WorkerHooks, stream?: AsyncIterable<Uint8Array | string>): Promise<AgentRunResult> {
	return new Promise<AgentRunResult>((resolve, reject) => {
		let settled = false;
		const streams = new Map<number, AsyncIterator<Uint8Array | string>>();
		const heap = hooks.heap ?? WORKER_HEAP;
		const worker = new Worker(workerScript().code, { eval: true, workerData: job, resourceLimits: { ...heap }, stdout: false, stderr: false });
		const closeStreams = () => {
			for (const it of streams.values()) Promise.resolve().then(() => it.return?.(undefined)).catch(() => undefined);
			streams.clear();
		};
		const finish = (error: Error | undefined, result?: AgentRunResult) => {
			if (settled) return;
			settled = true;
			hooks.signal?.removeEventListener('abort', onAbort);
			closeStreams();
			void worker.terminate().catch(() => undefined);
			if (error) reject(error);
			else resolve(result!);
		};
		const onAbort = () => finish(new CampaignError(`Campaign Agent run ${job.runId} was cancelled; resume it with the same Run ID to send the rest`, { source: 'input' }));
		if (hooks.signal?.aborted) return onAbort();
		hooks.signal?.addEventListener('abort', onAbort, { once: true });

		const answer = async (m: Extract<FromWorker, { type: 'call' }>): Promise<unknown> => {
			switch (m.method) {
				case 'limiter.acquire':
					return await hooks.limiter?.acquire(m.args[0]);
				case 'chat.complete':
					if (!hooks.chat) throw new CampaignError('The worker asked for AI copy but the node has no chat model');
					return await hooks.chat.complete(m.args[0]);
				case 'chat.listModels':
					return hooks.chat ? await hooks.chat.listModels() : [];
				case 'csv.next': {
					if (!stream) throw new CampaignError('The worker asked for a contacts stream the node does not have');
					let it = streams.get(m.args[0]);
					if (!it) streams.set(m.args[0], (it = stream[Symbol.asyncIterator]()));
					const next = await it.next();
					if (next.done) {
						streams.delete(m.args[0]);
						return null;
					}
					return typeof next.value === 'string' ? next.value : transferable(next.value);
				}
				case 'csv.close': {
					const it = streams.get(m.args[0]);
					streams.delete(m.args[0]);
					await it?.return?.(undefined);
					return null;
				}
				case 'progress':
					return await hooks.onProgress?.(m.args[0]);
			}
		};

		worker.on('message', (m: FromWorker) => {
			if (settled) return;
			if (m.type === 'call') {
				// A reply that cannot be posted (a value that does not clone) fails the run here, never as an unhandled rejection.
				const reply = (r: ToWorker, transfer: ArrayBuffer[] = []) => {
					if (settled) return;
					try {
						worker.postMessage(r, transfer);
					} catch (e) {
						finish(new CampaignError(`Campaign Agent run ${job.runId}: a reply to the worker thread could not be sent: ${(e as Error).message}`, { source: 'service' }));
					}
				};
				answer(m).then(
					(value) => reply({ type: 'reply', id: m.id, ok: true, value }, value instanceof Uint8Array ? [value.buffer as ArrayBuffer] : []),
					(e: unknown) => reply({ type: 'reply', id: m.id, ok: false, error: toWire(e) }),
				);
			} else if (m.type === 'limiter.pauseUntil') hooks.limiter?.pauseUntil(m.epochMs);
			else if (m.type === 'limiter.setLimits') hooks.limiter?.setLimits(m.limits);
			else if (m.type === 'runStats') hooks.onRunStats?.(m.runId, m.stats);
			else if (m.type === 'done') finish(undefined, m.result);
			else if (m.type === 'failed') finish(fromWire(m.error));
		});
		worker.on('error', (e: Error) => {
			const outOfMemory = (e as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
			finish(
				new CampaignError(
					outOfMemory
						? `Campaign Agent run ${job.runId}: the worker thread ran out of its ${heap.maxOldGenerationSizeMb} MB heap; resume the run with Run Agent In → Main Thread`
						: `Campaign Agent run ${job.runId}: the worker thread failed: ${e.message}`,
					{ source: 'service', cause: e },
				),
			);
		});
		worker.on('exit', (code) => finish(new CampaignError(`Campaign Agent run ${job.runId}: the worker thread stopped (exit code ${code}) before the run ended; resume it with the same Run ID`, { source: 'service' })));
	});
}
