/**
 * Writes one variant's copy with an LLM: structured output (JSON schema from zod) where the server
 * supports it, else JSON mode, else plain text parsed as JSON; invalid output is retried with the
 * problems fed back; 429/5xx back off like the delivery engine.
 */
import { z } from 'zod/v4';
import type { EmailCopy } from '../schemas';
import { hashOf } from '../ids';
import { BackoffPolicy, defaultBackoff, jitteredDelay, resetDelay } from '../sendgrid/retry';
import { ChatMessage, ChatModel, LlmApiError, MAX_REPLY_BYTES, ResponseFormat, replyTooLarge } from './client';
import { CopyCheckContext, checkCopy, htmlTagProblem, sanitizeEmailHtml, SUBJECT_HARD_LIMIT } from './checks';
import { PromptInput, buildCopyMessages, repairMessage } from './prompts';
import { CampaignError } from '../errors';

export const llmCopySchema = z.object({
	subject: z.string().min(1).max(SUBJECT_HARD_LIMIT),
	preheader: z.string().max(250),
	html: z.string().min(1),
	text: z.string().min(1),
	language: z.string(),
});

export const LLM_COPY_JSON_SCHEMA = (() => {
	const { $schema: _ignored, ...schema } = z.toJSONSchema(llmCopySchema) as Record<string, unknown>;
	return schema;
})();

/** The model's copy failed the checks after every attempt: the problems say which. */
export class CopyGenerationError extends CampaignError {
	constructor(
		message: string,
		readonly problems: string[],
	) {
		super(message, { source: 'service', hint: 'Try another model, raise Max Attempts, or set On LLM Failure to use the template copy' });
	}
}

export interface WrittenCopy {
	copy: EmailCopy;
	model: string;
	usage: { prompt_tokens: number; completion_tokens: number };
	calls: number;
	format: ResponseFormat;
}

const preferredFormat = new WeakMap<ChatModel, ResponseFormat>();
const FORMATS: ResponseFormat[] = ['json_schema', 'json_object', 'text'];

/**
 * Drops a leading "```" or "```json" (and the whitespace after it) and a trailing "```" (and the
 * whitespace before it): what `replace(/^```(?:json)?\s*|\s*```$/g, '')` did, without that regex's
 * n² backtracking over long runs of whitespace.
 */
function withoutCodeFence(s: string): string {
	let start = 0;
	if (s.startsWith('```')) {
		start = s.startsWith('json', 3) ? 7 : 3;
		const rest = s.slice(start);
		start += rest.length - rest.trimStart().length;
	}
	let end = s.length;
	const fence = s.length - 3;
	if (fence >= start && s.endsWith('```')) {
		const before = s.slice(start, fence);
		end = start + before.trimEnd().length;
	}
	return s.slice(start, end);
}

/**
 * Pulls the first JSON object out of a reply that may wrap it in prose or a code fence. A reply over
 * `maxBytes` is refused unread (JSON.parse of megabytes of "[[[[" alone takes seconds).
 */
export function extractJson(content: string, maxBytes = MAX_REPLY_BYTES): unknown {
	if (Buffer.byteLength(content, 'utf8') > maxBytes) throw replyTooLarge(maxBytes);
	const trimmed = withoutCodeFence(content.trim());
	try {
		return JSON.parse(trimmed);
	} catch {
		const start = trimmed.indexOf('{');
		const end = trimmed.lastIndexOf('}');
		if (start >= 0 && end > start) return JSON.parse(trimmed.slice(start, end + 1));
		throw new Error('the reply is not JSON');
	}
}

export interface WriteOptions {
	maxAttempts?: number;
	backoff?: Partial<BackoffPolicy>;
	temperature?: number;
	/** Replies longer than this (bytes of content) fail with LlmReplyTooLargeError; default: the chat model's cap, else 256 KB. */
	maxReplyBytes?: number;
}

export async function writeCopy(chat: ChatModel, prompt: PromptInput, check: CopyCheckContext, options: WriteOptions = {}): Promise<WrittenCopy> {
	const backoff = defaultBackoff(options.backoff);
	const maxAttempts = options.maxAttempts ?? 3;
	const messages: ChatMessage[] = buildCopyMessages(prompt);
	const usage = { prompt_tokens: 0, completion_tokens: 0 };
	let calls = 0;
	let transientRetries = 0;
	let rateLimitRetries = 0;
	let lastProblems: string[] = [];
	let format = preferredFormat.get(chat) ?? 'json_schema';

	for (let attempt = 0; attempt < maxAttempts; ) {
		let content: string;
		let model: string;
		let finishReason: string;
		try {
			calls++;
			const r = await chat.complete({
				messages,
				format,
				schema: format === 'json_schema' ? LLM_COPY_JSON_SCHEMA : undefined,
				schemaName: 'email_copy',
				temperature: options.temperature ?? 0.7,
			});
			usage.prompt_tokens += r.usage.prompt_tokens;
			usage.completion_tokens += r.usage.completion_tokens;
			({ content, model, finishReason } = r);
		} catch (e) {
			if (!(e instanceof LlmApiError)) throw e;
			if (e.formatUnsupported && format !== 'text') {
				// Refused without a status: a connected Chat Model said so before anything was sent, so no call was made.
				if (e.status === undefined) calls--;
				format = FORMATS[FORMATS.indexOf(format) + 1];
				preferredFormat.set(chat, format);
				continue;
			}
			if (e.status === 429 && rateLimitRetries < backoff.maxRateLimitRetries) {
				await backoff.sleep(resetDelay(e.headers, backoff.now()) ?? jitteredDelay(rateLimitRetries++, backoff));
				continue;
			}
			if (e.retryable && transientRetries < backoff.maxRetries) {
				await backoff.sleep(jitteredDelay(transientRetries++, backoff));
				continue;
			}
			throw e;
		}
		attempt++;
		// Checked before anything parses it: a reply past the cap is refused whole, never read.
		const replyLimit = options.maxReplyBytes ?? chat.maxReplyBytes ?? MAX_REPLY_BYTES;
		if (Buffer.byteLength(content, 'utf8') > replyLimit) throw replyTooLarge(replyLimit);
		const problems: string[] = [];
		let parsed: z.infer<typeof llmCopySchema> | undefined;
		if (finishReason === 'length') problems.push('the reply was cut off (too long); keep the copy shorter');
		else {
			try {
				const r = llmCopySchema.safeParse(extractJson(content, replyLimit));
				if (r.success) parsed = r.data;
				else problems.push(...r.error.issues.map((i) => `${i.path.join('.') || 'reply'}: ${i.message}`));
			} catch (e) {
				problems.push(`${(e as Error).message}; answer with one JSON object with subject, preheader, html, text and language`);
			}
		}
		// Too long or too many tags for sanitize-html to clean quickly: fed back like any other problem.
		const htmlProblem = parsed && htmlTagProblem(parsed.html);
		if (htmlProblem) problems.push(htmlProblem);
		else if (parsed) {
			const draft = { subject: parsed.subject.trim(), preheader: parsed.preheader.trim(), html: sanitizeEmailHtml(parsed.html), text: parsed.text.trim() };
			problems.push(...checkCopy(draft, { maxChars: replyLimit, ...check }));
			if (problems.length === 0) {
				const copy: EmailCopy = { ...draft, source: 'llm', model, hash: hashOf(draft).slice(0, 16) };
				return { copy, model, usage, calls, format };
			}
		}
		lastProblems = problems;
		messages.push({ role: 'assistant', content: content.slice(0, 8000) }, repairMessage(problems));
	}
	throw new CopyGenerationError(
		`The LLM did not produce valid copy for step ${prompt.step.step}, variant ${prompt.variant} after ${maxAttempts} attempts: ${lastProblems.join('; ')}`,
		lastProblems,
	);
}
