/**
 * The Campaign Agent: the same stage functions as the five stage nodes, wired as a LangGraph
 * StateGraph. The graph file is wiring only; every I/O comes in through deps.
 *
 *   load_campaign_content → build_email_payload → generate_email_copy → send_email_with_sendgrid
 *     → log_campaign_result ─(source not read to its end)→ build_email_payload
 *                           ├(read to its end)→ done ─(next step queued)→ load_campaign_content | END
 *                           └(campaign or account paused)→ END (the run ends 'paused'; resuming it sends the rest)
 *
 * Contacts stream: build_email_payload reads the next chunk of the source (a CSV stream, a query's
 * cursor, input items), so memory holds one chunk whatever the list's length. The chunk's contacts,
 * payloads and results stay out of the state (a checkpoint of 5,000 payloads, written at every step of
 * a million-contact run, was most of the agent's time and memory): the state keeps where the chunk
 * starts (`cursor`, in source rows) and its counts. A node of a resumed run (a new process) that finds
 * its chunk's work missing makes it again from the source: read the chunk at the cursor, plan, write
 * the copy (the copy cache answers), and for the log, send (the row claims turn that into
 * already-sent results, never a second message). The cursor moves on only once a chunk is logged.
 */
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import type { ContactChunk, InvalidRow } from '../contacts/loadContacts';
import type { Campaign, DeliveryResult, EmailPayload } from '../schemas';
import { planEmailPayloads } from '../stages/buildEmailPayload';
import { type AudienceOptions, type AudienceReport, mergeAudience } from '../contacts/audience';
import { GenerateDeps, GenerateOptions, generateEmailCopy } from '../stages/generateEmailCopy';
import { ContactSource, contactChunks, parseCampaign } from '../stages/loadCampaignContent';
import { logCampaignResult } from '../stages/logCampaignResult';
import { type BatchResult, SendDeps, SendOptions, sendEmailWithSendgrid, storedBySend } from '../stages/sendEmailWithSendgrid';
import type { CampaignStore } from '../store';
import { describeFinding } from '../preview/preflight';
import { type Hold, describeHold } from '../guard/breaker';
import { CampaignError } from '../errors';

export type Counts = Record<string, number>;

/** Invalid rows a run keeps to show (the count covers all of them). */
export const MAX_INVALID_KEPT = 100;

const addCounts = (a: Counts, b: Counts): Counts => {
	const out = { ...a };
	for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
	return out;
};

export const CampaignState = Annotation.Root({
	runId: Annotation<string>,
	campaign: Annotation<Campaign | undefined>,
	/** The step being sent, and the steps still to send in this run. */
	step: Annotation<number>,
	stepQueue: Annotation<number[]>,
	/** Valid contacts read in this step so far (all of them once `exhausted`). */
	total: Annotation<number>,
	/** Source rows (valid and invalid) read in this step: where the next chunk starts. */
	cursor: Annotation<number>,
	/** The source was read to its end in this step. */
	exhausted: Annotation<boolean>,
	/** The first invalid rows of the source (its first step only), and how many there are. */
	invalid: Annotation<InvalidRow[]>({ reducer: (a, b) => (a.length >= MAX_INVALID_KEPT ? a : a.concat(b.slice(0, MAX_INVALID_KEPT - a.length))), default: () => [] }),
	invalidCount: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
	counts: Annotation<Counts>({ reducer: addCounts, default: () => ({}) }),
	llm: Annotation<Counts>({ reducer: addCounts, default: () => ({}) }),
	/** Per-recipient rows kept for the node's output when asked for. */
	rows: Annotation<DeliveryResult[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
	stepsDone: Annotation<number[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
	/** Preflight warnings of the run, each once (a long subject, no preheader, contacts without a merge field...). */
	warnings: Annotation<string[]>({ reducer: (a, b) => [...new Set([...a, ...b])].slice(0, 50), default: () => [] }),
	/** The hold that stopped the run (reputation guard or a user's pause), if one did. */
	paused: Annotation<Hold | null>({ reducer: (_a, b) => b, default: () => null }),
	/** Languages, fallbacks, send instants and who was left for a later run, over every chunk and step of the run. */
	audience: Annotation<AudienceReport | null>({ reducer: (a, b) => (b ? mergeAudience(a ?? undefined, b) : a), default: () => null }),
});
export type CampaignGraphState = typeof CampaignState.State;

export interface AgentProgress {
	runId: string;
	step: number;
	/** Contacts read so far in this step (the source's end is known only when it is reached). */
	total: number;
	processed: number;
	counts: Counts;
}

export interface AgentDeps {
	store: CampaignStore;
	send: SendDeps;
	generate: GenerateDeps;
	onProgress?: (p: AgentProgress) => void | Promise<void>;
}

export interface AgentConfig {
	campaign: unknown;
	contacts: ContactSource;
	/** Steps to send in this run, in order (default: the campaign's first step). */
	steps?: number[];
	/** Recipients per SendGrid request. */
	batchSize?: number;
	/** Contacts read from the source per graph loop (default: Batch Size × the send concurrency, at least 5 batches); memory holds one chunk. */
	chunkSize?: number;
	copy: GenerateOptions;
	sendOptions: SendOptions;
	keepRows?: boolean;
	/** Each contact in their language (a contact field) and, with a Local Send Time, at their local hour. */
	audience?: Pick<AudienceOptions, 'languageField' | 'timeZoneField' | 'localSendTime' | 'defaultTimeZone'>;
}

export function buildCampaignGraph(config: AgentConfig, deps: AgentDeps, checkpointer?: BaseCheckpointSaver) {
	const batchSize = config.batchSize ?? 1000;
	// A chunk holds as many SendGrid batches as may be in flight at once (at least 5), so a chunk's send keeps every allowed request busy.
	const chunkSize = Math.max(batchSize, config.chunkSize ?? batchSize * Math.max(5, Math.min(config.sendOptions.concurrency ?? 4, 32)));
	let campaign: Campaign | undefined;
	// The open read of the source: where it stands (source rows read) and for which step. Contacts stay
	// out of the checkpoints; a resumed run (a new process) opens the source again and skips to the cursor.
	let reader: { step: number; rows: number; chunks: AsyncGenerator<ContactChunk> } | undefined;

	async function loadCampaign(): Promise<Campaign> {
		if (!campaign) {
			campaign = parseCampaign(config.campaign);
			await deps.store.upsertCampaign(campaign);
		}
		return campaign;
	}

	/** The chunk starting at source row `cursor` of this step, or undefined at the end of the source. */
	async function chunkAt(step: number, cursor: number): Promise<ContactChunk | undefined> {
		if (!reader || reader.step !== step || reader.rows !== cursor) {
			await reader?.chunks.return(undefined);
			reader = { step, rows: 0, chunks: contactChunks(config.contacts, chunkSize) };
			// Chunks are cut the same way on every read, so a cursor falls between two; if the source
			// changed meanwhile, the chunk across it is sent whole (its claims skip who already got it).
			while (reader.rows < cursor) {
				const skipped = await reader.chunks.next();
				if (skipped.done) return undefined;
				reader.rows += skipped.value.rows;
				if (reader.rows > cursor) return skipped.value;
			}
		}
		const next = await reader.chunks.next();
		if (next.done) return undefined;
		reader.rows += next.value.rows;
		return next.value;
	}

	/** The chunk being worked on, in memory only: what each node hands the next. */
	interface ChunkWork {
		key: string;
		chunk: ContactChunk;
		payloads: EmailPayload[];
		audience: AudienceReport;
		generated: boolean;
		/** The chunk's results still to log: those the send did not store itself (all of them with keepRows). */
		results?: DeliveryResult[];
		/** Every result of the chunk, by status. */
		statusCounts?: Counts;
	}
	let work: ChunkWork | undefined;
	const keyOf = (s: CampaignGraphState) => `${s.step}:${s.cursor}`;

	/** The chunk at the state's cursor, planned into payloads (undefined at the end of the source). */
	async function planned(s: CampaignGraphState): Promise<ChunkWork | undefined> {
		if (work?.key === keyOf(s)) return work;
		const chunk = await chunkAt(s.step, s.cursor);
		if (!chunk) return (work = undefined);
		// Recipients whose local send time is beyond SendGrid's horizon are in no payload: counted in audience, claimed by a later run.
		const { payloads, audience } = planEmailPayloads(s.campaign!, chunk.contacts, s.runId, { step: s.step, batchSize, ...config.audience });
		return (work = { key: keyOf(s), chunk, payloads, audience, generated: false });
	}

	/** The chunk's payloads with their copy (made again after a resume: the copy cache answers, so no LLM call is repeated). */
	async function written(w: ChunkWork): Promise<{ llmCalls: number; usage: { prompt_tokens: number; completion_tokens: number } }> {
		if (w.generated) return { llmCalls: 0, usage: { prompt_tokens: 0, completion_tokens: 0 } };
		const r = await generateEmailCopy(w.payloads, config.copy, deps.generate);
		w.payloads = r.payloads;
		w.generated = true;
		return r;
	}

	/**
	 * Sends the chunk. Each batch is let go as it ends, not at the chunk's end: its payload (the send
	 * drops a finished batch's recipients) and the results the send already stored — only their counts
	 * are kept. Held for the whole chunk, a chunk's objects outlived V8's young generation and piled up
	 * in n8n's old one.
	 */
	async function sent(w: ChunkWork) {
		const statusCounts: Counts = {};
		const count = (b: BatchResult) => {
			for (const r of b.results) statusCounts[r.status] = (statusCounts[r.status] ?? 0) + 1;
		};
		const letGo = (b: BatchResult): BatchResult => (config.keepRows ? b : { ...b, results: b.results.filter((r) => !storedBySend(r)) });
		const ended = new Set<number>();
		const sending = sendEmailWithSendgrid(
			w.payloads,
			{
				...deps.send,
				onBatchDone: async (i, done) => {
					const b = deps.send.onBatchDone ? await deps.send.onBatchDone(i, done) : done;
					ended.add(i);
					count(b);
					return letGo(b);
				},
			},
			config.sendOptions,
		);
		// The send has its own list of the payloads: this one would keep every batch's recipients to the end.
		w.payloads = [];
		// Batches that did not end by themselves (a pause reports the rest paused) are counted here.
		const batches = (await sending).map((b, i) => (ended.has(i) ? b : (count(b), letGo(b))));
		w.results = batches.flatMap((b) => b.results);
		w.statusCounts = statusCounts;
		return batches;
	}

	/** The chunk this node works on: in memory, or made again from the source after a resume. */
	async function current(s: CampaignGraphState): Promise<ChunkWork> {
		const w = await planned(s);
		if (!w) throw new CampaignError(`Campaign Agent run ${s.runId}: the contacts source ends before row ${s.cursor} of step ${s.step}, where this run stopped — it changed since; start a new run`);
		return w;
	}

	const graph = new StateGraph(CampaignState)
		.addNode('load_campaign_content', async (s) => {
			const c = await loadCampaign();
			const queue = s.stepQueue?.length ? s.stepQueue : (config.steps?.length ? config.steps : [c.steps[0].step]);
			const [step, ...rest] = queue;
			await deps.store.startRun({ runId: s.runId, campaignId: c.id, step, mode: config.sendOptions.dryRun ? 'dry_run' : 'live' });
			return { campaign: c, step, stepQueue: rest, total: 0, cursor: 0, exhausted: false };
		})
		.addNode('build_email_payload', async (s) => {
			// The chunk is planned here and kept in memory for the next nodes; the state learns only whether the source ended.
			return { exhausted: !(await planned(s)) };
		})
		.addNode('generate_email_copy', async (s) => {
			const r = await written(await current(s));
			return { llm: { calls: r.llmCalls, prompt_tokens: r.usage.prompt_tokens, completion_tokens: r.usage.completion_tokens } };
		})
		.addNode('send_email_with_sendgrid', async (s) => {
			const w = await current(s);
			await written(w);
			const batches = await sent(w);
			const counts: Counts = { requests: batches.reduce((n, b) => n + b.requests, 0), batches: batches.length, ...w.statusCounts };
			const warnings = batches.flatMap((b) => b.preflight ?? []).map(describeFinding);
			const paused = batches.find((b) => b.paused)?.paused ?? null;
			return { counts, warnings, ...(paused ? { paused } : {}) };
		})
		.addNode('log_campaign_result', async (s) => {
			const w = await current(s);
			// Resumed between send and log: the send again gives this chunk's results (its claims send nobody twice); its counts are already in the state.
			if (!w.results) {
				await written(w);
				await sent(w);
			}
			const results = w.results!;
			// What the send already wrote to its claimed rows is not written again (for a chunk, thousands of rows that would not change).
			await logCampaignResult(config.keepRows ? results.filter((r) => !storedBySend(r)) : results, { store: deps.store }, { finishRun: false });
			const cursor = s.cursor + w.chunk.rows;
			const total = s.total + w.chunk.contacts.length;
			await deps.store.recordProgress(s.runId, { step: s.step, total, processed: total, counts: s.counts });
			await deps.onProgress?.({ runId: s.runId, step: s.step, total, processed: total, counts: s.counts });
			// Invalid rows are the source's: reported once, in the run's first step.
			const first = (s.stepsDone?.length ?? 0) === 0;
			work = undefined;
			return {
				cursor,
				total,
				audience: w.audience,
				rows: config.keepRows ? results : [],
				...(first ? { invalid: w.chunk.invalid, invalidCount: w.chunk.invalid.length } : {}),
			};
		})
		.addNode('done', async (s) => {
			await deps.store.refreshRun(s.runId, {
				finished: s.stepQueue.length === 0,
				total: s.total,
				llmCalls: s.llm.calls ?? 0,
				llmTokens: (s.llm.prompt_tokens ?? 0) + (s.llm.completion_tokens ?? 0),
			});
			return { stepsDone: [s.step] };
		})
		.addEdge(START, 'load_campaign_content')
		.addEdge('load_campaign_content', 'build_email_payload')
		.addConditionalEdges('build_email_payload', (s) => (s.exhausted ? 'done' : 'generate_email_copy'), ['generate_email_copy', 'done'])
		.addEdge('generate_email_copy', 'send_email_with_sendgrid')
		.addEdge('send_email_with_sendgrid', 'log_campaign_result')
		.addConditionalEdges('log_campaign_result', (s) => (s.paused ? END : 'build_email_payload'), ['build_email_payload', END])
		.addConditionalEdges('done', (s) => (s.stepQueue.length > 0 ? 'load_campaign_content' : END), ['load_campaign_content', END]);
	// closeSource: a run that ends before the source's end (paused, failed) closes its read — a query's cursor holds a connection until then.
	return Object.assign(graph.compile({ checkpointer }), {
		closeSource: async () => {
			const open = reader;
			reader = undefined;
			await open?.chunks.return(undefined);
		},
	});
}

export interface AgentRunResult {
	runId: string;
	campaignId?: string;
	steps: number[];
	total: number;
	counts: Counts;
	llm: Counts;
	/** The first invalid rows (up to MAX_INVALID_KEPT), and how many there were. */
	invalid: InvalidRow[];
	invalidCount: number;
	rows: DeliveryResult[];
	/** Preflight warnings (errors stop the run before anything is sent). */
	warnings: string[];
	/** Per-language counts, language and time-zone fallbacks, send instants, recipients left for a later run. */
	audience?: AudienceReport;
	/** Set when a hold stopped the run: what is paused, why, and how to resume. Unsent recipients are `paused` in the counts. */
	paused?: { scope: string; cause: string; reason: string; message: string; held_at: string; held_by: string };
	resumed: boolean;
	durationMs: number;
}

/** A run's result from the graph's state: finished, paused (with the hold) or already done before a resume. */
function runResult(runId: string, v: CampaignGraphState, resumed: boolean, started: number): AgentRunResult {
	const h = v.paused;
	return {
		runId,
		campaignId: v.campaign?.id,
		steps: v.stepsDone ?? [],
		total: v.total,
		counts: v.counts,
		llm: v.llm,
		invalid: v.invalid ?? [],
		invalidCount: v.invalidCount ?? v.invalid?.length ?? 0,
		rows: v.rows ?? [],
		warnings: v.warnings ?? [],
		...(v.audience ? { audience: v.audience } : {}),
		...(h ? { paused: { scope: h.scope, cause: h.cause, reason: h.reason, message: describeHold(h), held_at: h.held_at, held_by: h.held_by } } : {}),
		resumed,
		durationMs: Date.now() - started,
	};
}

/** Runs (or resumes, when a checkpoint exists for the run id and resume is asked for) a campaign. */
export async function runCampaignAgent(
	config: AgentConfig,
	deps: AgentDeps,
	options: { runId: string; resume?: boolean; checkpointer?: BaseCheckpointSaver },
): Promise<AgentRunResult> {
	const started = Date.now();
	const app = buildCampaignGraph(config, deps, options.checkpointer);
	const thread = { configurable: { thread_id: options.runId }, recursionLimit: 100_000 };
	let resumed = false;
	let input: Partial<CampaignGraphState> | null = { runId: options.runId, stepQueue: config.steps ?? [], counts: {}, llm: {} };
	if (options.resume && options.checkpointer) {
		const snapshot = await app.getState(thread);
		// A run killed after a step finished (its writes saved) but before the next checkpoint lists that
		// step under tasks, not under next: either means the run is not over and resumes from here.
		const before = snapshot.values as Partial<CampaignGraphState> | undefined;
		if (snapshot.next.length > 0 || snapshot.tasks.length > 0) {
			input = null;
			resumed = true;
		} else if (before?.paused && before.step !== undefined) {
			// Stopped by a pause: the paused step again from its first contact (claims skip who already got it), then the rest.
			input = { runId: options.runId, stepQueue: [before.step, ...(before.stepQueue ?? [])], paused: null };
			resumed = true;
		} else if (snapshot.values && (snapshot.values as CampaignGraphState).stepsDone?.length) {
			return runResult(options.runId, snapshot.values as CampaignGraphState, true, started);
		}
	}
	let final: CampaignGraphState;
	try {
		final = (await app.invoke(input, thread)) as CampaignGraphState;
	} catch (e) {
		// With a checkpoint the run can go on from where it stopped: interrupted, not failed.
		await deps.store.failRun(options.runId, e, options.checkpointer ? 'interrupted' : 'failed');
		throw e;
	} finally {
		await app.closeSource().catch(() => undefined);
	}
	if (final.paused) {
		await deps.store.refreshRun(options.runId, {
			finished: true,
			outcome: 'paused',
			error: describeHold(final.paused),
			llmCalls: final.llm.calls ?? 0,
			llmTokens: (final.llm.prompt_tokens ?? 0) + (final.llm.completion_tokens ?? 0),
		});
		return runResult(options.runId, final, resumed, started);
	}
	// Never report a partial run as a finished one.
	if (!final.stepsDone?.length || (final.stepQueue?.length ?? 0) > 0 || !final.exhausted) {
		await deps.store.failRun(options.runId, 'stopped before it was finished; resume it', 'interrupted');
		throw new CampaignError(
			`Campaign Agent run ${options.runId} stopped before it was finished (${final.total ?? 0} contacts of step ${final.step ?? '?'} processed); run it again with the same Run ID and Resume Run on`,
		);
	}
	return runResult(options.runId, final, resumed, started);
}
