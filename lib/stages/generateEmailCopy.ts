/**
 * Stage `generate_email_copy`: one copy per (campaign, step, variant, language, tone), never per
 * recipient. Copy comes from the step's template, or from the LLM through the store's copy cache so
 * a re-run or a later batch makes no new call.
 */
import { hashOf, VARIANT_NAMES } from '../ids';
import type { ChatModel } from '../llm/client';
import { CopyGenerationError, WriteOptions, writeCopy } from '../llm/copywriter';
import { SUBJECT_RECOMMENDED } from '../llm/checks';
import { PROMPT_VERSION } from '../llm/prompts';
import { normalizeLanguage } from '../llm/language';
import { Brief, CampaignInputError, EmailCopy, EmailPayload, brief as briefSchema, copyProblems } from '../schemas';
import type { CampaignStore } from '../store';
import { TokenBucketLimiter } from '../sendgrid/rateLimiter';

export interface GenerateOptions {
	mode: 'template' | 'llm';
	/** What to do when the LLM fails: stop with an error, or use the step's template copy. */
	onLlmFailure?: 'error' | 'template';
	/** Override the campaign's tone/language for this node. */
	tone?: string;
	language?: string;
	maxWords?: number;
	maxSubjectChars?: number;
	/** Merge fields the copy may use; default first_name plus the campaign's fallback fields. */
	mergeTags?: string[];
	/** Used when a payload carries no brief (plain payloads built outside Build Email Payload). */
	brief?: Brief;
	write?: WriteOptions;
	/**
	 * Opt-in per-recipient copy: the LLM sees these contact fields (as data) and writes one email per
	 * recipient; each recipient then gets a message of its own. Costs one call per recipient.
	 */
	personalize?: { fields: string[]; concurrency?: number; requestsPerMinute?: number };
}

export interface GenerateDeps {
	chat?: ChatModel;
	store?: CampaignStore;
}

export interface GeneratedCopyInfo {
	campaign_id: string;
	step: number;
	variant: string;
	language: string;
	tone: string;
	source: EmailCopy['source'];
	subject: string;
	cached: boolean;
	model?: string;
}

export interface GenerateResult {
	payloads: EmailPayload[];
	llmCalls: number;
	usage: { prompt_tokens: number; completion_tokens: number };
	copies: GeneratedCopyInfo[];
}

interface Group {
	key: string;
	first: EmailPayload;
	members: EmailPayload[];
	language: string;
	tone: string;
}

export async function generateEmailCopy(payloads: EmailPayload[], options: GenerateOptions, deps: GenerateDeps = {}): Promise<GenerateResult> {
	const result: GenerateResult = { payloads: [], llmCalls: 0, usage: { prompt_tokens: 0, completion_tokens: 0 }, copies: [] };
	if (options.personalize && options.mode === 'llm') return personalizedCopy(payloads, options, deps, result);
	const groups = new Map<string, Group>();
	for (const p of payloads) {
		const language = copyLanguage(options, p);
		const tone = options.tone || p.tone;
		const key = `${p.campaign_id}\n${p.step}\n${p.variant}\n${language}\n${tone}`;
		let g = groups.get(key);
		if (!g) groups.set(key, (g = { key, first: p, members: [], language, tone }));
		g.members.push(p);
	}
	for (const g of groups.values()) {
		const { copy, info } = await copyFor(g, options, deps, result);
		result.copies.push(info);
		for (const p of g.members) result.payloads.push({ ...p, language: g.language, tone: g.tone, copy });
	}
	return result;
}

/** The language a payload's copy is written in: the node's override, else the payload's, as one canonical tag ("pt_br" → "pt-BR"). */
function copyLanguage(options: GenerateOptions, p: EmailPayload): string {
	const language = options.language || p.language;
	return normalizeLanguage(language) ?? language;
}

function requireTemplate(p: EmailPayload, why: string): EmailCopy {
	if (p.copy) return { ...p.copy, source: p.copy.source === 'llm' ? 'llm' : 'template' };
	throw new CampaignInputError(
		`Step ${p.step} of campaign "${p.campaign_id}" has no subject and body to use ${why} — give the step a subject and html or text, or use AI copy with an LLM credential`,
		'copy',
	);
}

async function copyFor(
	g: Group,
	options: GenerateOptions & { contact?: Record<string, string> },
	deps: GenerateDeps,
	acc: GenerateResult,
): Promise<{ copy: EmailCopy; info: GeneratedCopyInfo }> {
	const p = g.first;
	const info = (copy: EmailCopy, cached: boolean): GeneratedCopyInfo => ({
		campaign_id: p.campaign_id,
		step: p.step,
		variant: p.variant,
		language: g.language,
		tone: g.tone,
		source: copy.source,
		subject: copy.subject,
		cached,
		model: copy.model,
	});
	if (options.mode === 'template') {
		const copy = requireTemplate(p, 'in template mode');
		return { copy, info: info(copy, false) };
	}
	if (!deps.chat)
		throw new CampaignInputError('AI copy needs an LLM credential (OpenAI-compatible) — add one, or switch Copy Source to "Campaign Template"', 'credentials');

	const brief = p.brief ?? options.brief ?? briefSchema.parse({});
	const maxWords = options.maxWords ?? 150;
	const maxSubjectChars = options.maxSubjectChars ?? SUBJECT_RECOMMENDED;
	const mergeTags = [...new Set(options.mergeTags ?? ['first_name', ...Object.keys(p.fallbacks)])].sort();
	const variantIndex = Math.max(0, VARIANT_NAMES.indexOf(p.variant as (typeof VARIANT_NAMES)[number]));
	const stepInfo = { step: p.step, name: p.step_name, goal: p.step_goal };
	// Language tags are case-insensitive: copy cached for a campaign's "pt-br" serves contacts in "pt-BR".
	const cacheKey = hashOf({ v: PROMPT_VERSION, model: deps.chat.model, campaign: p.campaign_id, brief, step: stepInfo, tone: g.tone, language: g.language.toLowerCase(), variant: p.variant, maxWords, maxSubjectChars, mergeTags, contact: options.contact });

	const cached = await deps.store?.getCachedCopy(cacheKey);
	// A cached copy the payload schema refuses (cached by an older version) is written again, never sent.
	if (cached && copyProblems(cached.copy).length === 0) {
		const copy = cached.copy as EmailCopy;
		return { copy, info: info(copy, true) };
	}
	if (cached) await deps.store?.dropCachedCopy(cacheKey);
	const previousSteps = deps.store ? await deps.store.previousStepCopies(p.campaign_id, p.step, p.variant, g.language, g.tone) : [];
	try {
		const written = await writeCopy(
			deps.chat,
			{ brief, step: stepInfo, previousSteps, tone: g.tone, language: g.language, variant: p.variant, variantIndex, maxWords, maxSubjectChars, mergeTags, contact: options.contact },
			{ allowedTags: new Set(mergeTags), allowedLinks: brief.links, language: g.language, maxWords, maxSubjectChars },
			options.write,
		);
		acc.llmCalls += written.calls;
		acc.usage.prompt_tokens += written.usage.prompt_tokens;
		acc.usage.completion_tokens += written.usage.completion_tokens;
		await deps.store?.putCachedCopy({
			key: cacheKey,
			campaignId: p.campaign_id,
			step: p.step,
			variant: p.variant,
			language: g.language,
			tone: g.tone,
			copy: written.copy,
			model: written.model,
			promptTokens: written.usage.prompt_tokens,
			completionTokens: written.usage.completion_tokens,
		});
		return { copy: written.copy, info: info(written.copy, false) };
	} catch (e) {
		if (options.onLlmFailure === 'template' && (p.copy || e instanceof CopyGenerationError)) {
			const copy = { ...requireTemplate(p, 'as the fallback after the LLM failed'), source: 'fallback' as const };
			return { copy, info: info(copy, false) };
		}
		throw e;
	}
}

/** Per-recipient copy, under its own concurrency and rate limit; every recipient becomes its own batch. */
async function personalizedCopy(payloads: EmailPayload[], options: GenerateOptions, deps: GenerateDeps, acc: GenerateResult): Promise<GenerateResult> {
	const p13n = options.personalize!;
	const singles: EmailPayload[] = payloads.flatMap((p) => p.recipients.map((r) => ({ ...p, recipients: [r] })));
	const limiter = new TokenBucketLimiter({ requestsPerSecond: (p13n.requestsPerMinute ?? 60) / 60, emailsPerSecond: 0 });
	const out: EmailPayload[] = new Array(singles.length);
	let next = 0;
	const worker = async () => {
		while (next < singles.length) {
			const i = next++;
			const p = singles[i];
			const r = p.recipients[0];
			const contact: Record<string, string> = {};
			for (const f of p13n.fields) if (r.fields[f] !== undefined) contact[f] = r.fields[f];
			await limiter.acquire(1);
			const language = copyLanguage(options, p);
			const tone = options.tone || p.tone;
			const { copy, info } = await copyFor({ key: '', first: p, members: [p], language, tone }, { ...options, contact }, deps, acc);
			acc.copies.push(info);
			out[i] = { ...p, language, tone, copy };
		}
	};
	await Promise.all(Array.from({ length: Math.max(1, Math.min(p13n.concurrency ?? 4, singles.length)) }, worker));
	acc.payloads = out;
	return acc;
}
