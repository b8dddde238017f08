/**
 * The Campaign Agent: the same stage functions as the five stage nodes, wired as a LangGraph
 * StateGraph. The graph file is wiring only; every I/O comes in through deps.
 *
 *   load_campaign_content → build_email_payload → generate_email_copy → send_email_with_sendgrid
 *     → log_campaign_result ─(recipients left)→ build_email_payload
 *                           ├(none left)→ done ─(next step queued)→ load_campaign_content | END
 *                           └(campaign or account paused)→ END (the run ends 'paused'; resuming it sends the rest)
 */
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import type { InvalidRow } from '../contacts/loadContacts';
import type { Campaign, Contact, DeliveryResult, EmailPayload } from '../schemas';
import { planEmailPayloads } from '../stages/buildEmailPayload';
import { type AudienceOptions, type AudienceReport, mergeAudience } from '../contacts/audience';
import { GenerateDeps, GenerateOptions, generateEmailCopy } from '../stages/generateEmailCopy';
import { ContactSource, loadCampaignContent } from '../stages/loadCampaignContent';
import { logCampaignResult } from '../stages/logCampaignResult';
import { SendDeps, SendOptions, sendEmailWithSendgrid } from '../stages/sendEmailWithSendgrid';
import type { CampaignStore } from '../store';
import { countByStatus } from '../delivery/states';
import { describeFinding } from '../preview/preflight';
import { type Hold, describeHold } from '../guard/breaker';
import { CampaignError } from '../errors';

export type Counts = Record<string, number>;

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
	total: Annotation<number>,
	/** Index of the next contact to build a batch for. */
	cursor: Annotation<number>,
	payloads: Annotation<EmailPayload[]>,
	results: Annotation<DeliveryResult[]>,
	invalid: Annotation<InvalidRow[]>,
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
	/** Recipients per graph loop (several SendGrid batches). */
	chunkSize?: number;
	copy: GenerateOptions;
	sendOptions: SendOptions;
	keepRows?: boolean;
	/** Each contact in their language (a contact field) and, with a Local Send Time, at their local hour. */
	audience?: Pick<AudienceOptions, 'languageField' | 'timeZoneField' | 'localSendTime' | 'defaultTimeZone'>;
}

export function buildCampaignGraph(config: AgentConfig, deps: AgentDeps, checkpointer?: BaseCheckpointSaver) {
	const batchSize = config.batchSize ?? 1000;
	const chunkSize = Math.max(batchSize, config.chunkSize ?? batchSize * 5);
	let loaded: { campaign: Campaign; contacts: Contact[]; invalid: InvalidRow[] } | undefined;

	// Contacts stay out of the checkpoints (100,000 of them would be rewritten every step): they are
	// re-read from the same source when a resumed run needs them. Loading is deterministic.
	async function contacts(runId: string) {
		if (!loaded) {
			const r = await loadCampaignContent({ campaign: config.campaign, contacts: config.contacts, runId }, { store: deps.store });
			loaded = { campaign: r.campaign, contacts: r.contacts, invalid: r.invalid };
		}
		return loaded;
	}

	const graph = new StateGraph(CampaignState)
		.addNode('load_campaign_content', async (s) => {
			const { campaign, contacts: list, invalid } = await contacts(s.runId);
			const queue = s.stepQueue?.length ? s.stepQueue : (config.steps?.length ? config.steps : [campaign.steps[0].step]);
			const [step, ...rest] = queue;
			await deps.store.startRun({ runId: s.runId, campaignId: campaign.id, step, mode: config.sendOptions.dryRun ? 'dry_run' : 'live', total: list.length });
			return { campaign, step, stepQueue: rest, total: list.length, cursor: 0, invalid: s.invalid?.length ? s.invalid : invalid, payloads: [], results: [] };
		})
		.addNode('build_email_payload', async (s) => {
			const { contacts: list } = await contacts(s.runId);
			const end = Math.min(s.total, s.cursor + chunkSize);
			// Recipients whose local send time is beyond SendGrid's horizon are in no payload: counted in audience, claimed by a later run.
			const { payloads, audience } = planEmailPayloads(s.campaign!, list.slice(s.cursor, end), s.runId, { step: s.step, batchSize, ...config.audience });
			return { payloads, cursor: end, audience };
		})
		.addNode('generate_email_copy', async (s) => {
			const r = await generateEmailCopy(s.payloads, config.copy, deps.generate);
			return { payloads: r.payloads, llm: { calls: r.llmCalls, prompt_tokens: r.usage.prompt_tokens, completion_tokens: r.usage.completion_tokens } };
		})
		.addNode('send_email_with_sendgrid', async (s) => {
			const batches = await sendEmailWithSendgrid(s.payloads, deps.send, config.sendOptions);
			const counts: Counts = { requests: batches.reduce((n, b) => n + b.requests, 0), batches: batches.length };
			const warnings = batches.flatMap((b) => b.preflight ?? []).map(describeFinding);
			const paused = batches.find((b) => b.paused)?.paused ?? null;
			return { results: batches.flatMap((b) => b.results), payloads: [], counts, warnings, ...(paused ? { paused } : {}) };
		})
		.addNode('log_campaign_result', async (s) => {
			await logCampaignResult(s.results, { store: deps.store }, { finishRun: false });
			const counts: Counts = countByStatus(s.results);
			const processed = s.cursor;
			const merged = addCounts(s.counts, counts);
			await deps.store.recordProgress(s.runId, { step: s.step, total: s.total, processed, counts: merged });
			await deps.onProgress?.({ runId: s.runId, step: s.step, total: s.total, processed, counts: merged });
			return { counts, results: [], rows: config.keepRows ? s.results : [] };
		})
		.addNode('done', async (s) => {
			await deps.store.refreshRun(s.runId, { finished: s.stepQueue.length === 0, llmCalls: s.llm.calls ?? 0, llmTokens: (s.llm.prompt_tokens ?? 0) + (s.llm.completion_tokens ?? 0) });
			return { stepsDone: [s.step] };
		})
		.addEdge(START, 'load_campaign_content')
		.addConditionalEdges('load_campaign_content', (s) => (s.total > 0 ? 'build_email_payload' : 'done'), ['build_email_payload', 'done'])
		.addEdge('build_email_payload', 'generate_email_copy')
		.addEdge('generate_email_copy', 'send_email_with_sendgrid')
		.addEdge('send_email_with_sendgrid', 'log_campaign_result')
		.addConditionalEdges('log_campaign_result', (s) => (s.paused ? END : s.cursor < s.total ? 'build_email_payload' : 'done'), ['build_email_payload', 'done', END])
		.addConditionalEdges('done', (s) => (s.stepQueue.length > 0 ? 'load_campaign_content' : END), ['load_campaign_content', END]);
	return graph.compile({ checkpointer });
}

export interface AgentRunResult {
	runId: string;
	campaignId?: string;
	steps: number[];
	total: number;
	counts: Counts;
	llm: Counts;
	invalid: InvalidRow[];
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
	let input: Partial<CampaignGraphState> | null = { runId: options.runId, stepQueue: config.steps ?? [], counts: {}, llm: {}, invalid: [] };
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
	if (!final.stepsDone?.length || (final.stepQueue?.length ?? 0) > 0 || (final.cursor ?? 0) < (final.total ?? 0)) {
		await deps.store.failRun(options.runId, 'stopped before it was finished; resume it', 'interrupted');
		throw new CampaignError(
			`Campaign Agent run ${options.runId} stopped before it was finished (${final.cursor ?? 0} of ${final.total ?? '?'} contacts of step ${final.step ?? '?'} processed); run it again with the same Run ID and Resume Run on`,
		);
	}
	return runResult(options.runId, final, resumed, started);
}
