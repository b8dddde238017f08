/**
 * An OpenAI-compatible chat client (OpenAI, Azure OpenAI, Ollama, vLLM, any server with
 * /chat/completions) through the `openai` package. Retries are ours (see copywriter), so the
 * package's own are off; errors carry status and headers but never the API key.
 */
import OpenAI from 'openai';
import { trimEndChar } from '../text';
import { redactDetail, redactUrl } from '../redact';
import { CampaignError } from '../errors';

export const OPENAI_URL = 'https://api.openai.com/v1';
export const DEFAULT_MODEL = 'gpt-4o-mini';

export interface LlmConfig {
	apiKey: string;
	baseUrl?: string;
	model?: string;
	timeoutMs?: number;
	/** Largest reply content accepted, in bytes (default MAX_REPLY_BYTES); a larger one fails with LlmReplyTooLargeError. */
	maxReplyBytes?: number;
}

/**
 * 256 KB of reply content: about 40,000 words, far beyond any email (Max Body Words defaults to 150).
 * The cap keeps a runaway or hostile model from filling memory and from feeding megabytes to the checks.
 */
export const MAX_REPLY_BYTES = 256 * 1024;

/**
 * The HTTP body may be larger than its content: JSON escapes (`\u00e9` for "é", from servers that
 * escape non-ASCII) make letters up to three times longer, and the envelope adds ids, usage and the like.
 */
export function replyBodyLimit(maxReplyBytes: number): number {
	return maxReplyBytes * 3 + 64 * 1024;
}

export type ResponseFormat = 'json_schema' | 'json_object' | 'text';

export interface ChatMessage {
	role: 'system' | 'user' | 'assistant';
	content: string;
}

export interface ChatRequest {
	messages: ChatMessage[];
	format: ResponseFormat;
	schema?: Record<string, unknown>;
	schemaName?: string;
	temperature?: number;
	model?: string;
}

export interface ChatResult {
	content: string;
	model: string;
	finishReason: string;
	usage: { prompt_tokens: number; completion_tokens: number };
}

/**
 * What the copywriter talks to: the OpenAI-compatible client below, or a Chat Model sub-node through
 * chatModelFromLangChain (langchain.ts).
 */
export interface ChatModel {
	/**
	 * The model's identity, part of the copy cache key: the credential's model name here; provider,
	 * model and endpoint host for a connected Chat Model.
	 */
	readonly model: string;
	/** Largest reply content the model accepts, in bytes (the copywriter checks it too). */
	readonly maxReplyBytes?: number;
	complete(req: ChatRequest): Promise<ChatResult>;
	listModels(): Promise<string[]>;
}

export class LlmApiError extends CampaignError {
	constructor(
		message: string,
		readonly status: number | undefined,
		readonly headers: Record<string, string>,
		/** The server does not support the requested response_format. */
		readonly formatUnsupported = false,
	) {
		super(message, { source: 'service', httpStatus: status });
	}

	get retryable(): boolean {
		return this.status === undefined || this.status === 429 || this.status >= 500;
	}
}

/** The reply was larger than the cap: never retried (the same prompt would produce the same), never read whole. */
export class LlmReplyTooLargeError extends LlmApiError {
	constructor(readonly limitBytes: number) {
		super(
			`The LLM reply was larger than ${limitBytes % 1024 === 0 ? `${limitBytes / 1024} KB` : `${limitBytes} bytes`}; raise the LLM reply limit (maxReplyBytes) or lower Max Body Words so the copy fits`,
			undefined,
			{},
		);
		this.name = 'LlmReplyTooLargeError';
	}

	override get retryable(): boolean {
		return false;
	}
}

export function replyTooLarge(limitBytes: number): LlmReplyTooLargeError {
	return new LlmReplyTooLargeError(limitBytes);
}

const NO_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * A fetch for the openai client that reads the response body itself, counting bytes, and cancels the
 * download as soon as it passes `bodyLimit`: a 5 MB reply costs at most `bodyLimit` of memory and
 * fails at once. The body is handed on as one buffer, so openai's own parsing is unchanged (this
 * client never asks for a streamed reply).
 */
export function cappedFetch(bodyLimit: number, contentLimit: number): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
	return async (input, init) => {
		const response = await fetch(input, init);
		if (!response.body || NO_BODY_STATUSES.has(response.status)) return response;
		if (Number(response.headers.get('content-length')) > bodyLimit) {
			await response.body.cancel().catch(() => undefined);
			throw replyTooLarge(contentLimit);
		}
		const reader = response.body.getReader();
		const chunks: Uint8Array[] = [];
		let size = 0;
		for (;;) {
			const { done, value } = await reader.read();
			if (done) break;
			size += value.byteLength;
			if (size > bodyLimit) {
				await reader.cancel().catch(() => undefined);
				throw replyTooLarge(contentLimit);
			}
			chunks.push(value);
		}
		return new Response(Buffer.concat(chunks), { status: response.status, statusText: response.statusText, headers: response.headers });
	};
}

/** Our own error, also when openai wrapped it (an error thrown by fetch becomes an APIConnectionError's cause). */
function ownError(e: unknown): LlmApiError | undefined {
	for (let cause = e, depth = 0; cause && depth < 5; cause = (cause as { cause?: unknown }).cause, depth++) if (cause instanceof LlmApiError) return cause;
	return undefined;
}

function headersOf(h: unknown): Record<string, string> {
	const out: Record<string, string> = {};
	if (h && typeof (h as Headers).forEach === 'function') (h as Headers).forEach((v, k) => (out[k.toLowerCase()] = v));
	else if (h && typeof h === 'object') for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = String(v);
	return out;
}

/** Never the key: the URL's userinfo is masked, and a server's text (some echo "Incorrect API key provided: sk-…") is redacted and capped. */
function toLlmError(e: unknown, rawBaseUrl: string, secrets: string[] = []): LlmApiError {
	const own = ownError(e);
	if (own) return own;
	const baseUrl = redactUrl(rawBaseUrl);
	if (e instanceof OpenAI.APIError && e.status !== undefined) {
		const body = (e.error ?? {}) as { message?: string; param?: string };
		const message = body.message ?? e.message;
		const formatUnsupported = e.status === 400 && /response_format|json_schema|json_object|structured/i.test(`${body.param ?? ''} ${message}`);
		const headers = Object.fromEntries(Object.entries(headersOf(e.headers)).map(([k, v]) => [k, redactDetail(v, secrets)]));
		return new LlmApiError(`LLM endpoint ${baseUrl} answered ${e.status}: ${redactDetail(String(message), secrets)}`, e.status, headers, formatUnsupported);
	}
	const reason = e instanceof OpenAI.APIConnectionTimeoutError ? 'timed out' : 'could not be reached';
	return new LlmApiError(`LLM endpoint ${baseUrl} ${reason} — check the LLM credential's base URL and that the server is running`, undefined, {});
}

export function normalizeLlmBaseUrl(url: string | undefined): string {
	return trimEndChar((url || OPENAI_URL).trim(), '/').replace(/\/chat\/completions$/, '');
}

export function createChatModel(config: LlmConfig): ChatModel {
	const baseUrl = normalizeLlmBaseUrl(config.baseUrl);
	const model = config.model || DEFAULT_MODEL;
	const maxReplyBytes = config.maxReplyBytes ?? MAX_REPLY_BYTES;
	const client = new OpenAI({
		apiKey: config.apiKey || 'not-needed', // local servers (Ollama, vLLM) accept any key
		baseURL: baseUrl,
		maxRetries: 0,
		timeout: config.timeoutMs ?? 60_000,
		fetch: cappedFetch(replyBodyLimit(maxReplyBytes), maxReplyBytes),
	});
	return {
		model,
		maxReplyBytes,
		async complete(req) {
			const response_format =
				req.format === 'json_schema'
					? { type: 'json_schema' as const, json_schema: { name: req.schemaName ?? 'email_copy', schema: req.schema ?? {}, strict: true } }
					: req.format === 'json_object'
						? { type: 'json_object' as const }
						: undefined;
			try {
				const r = await client.chat.completions.create({
					model: req.model ?? model,
					messages: req.messages,
					temperature: req.temperature,
					...(response_format ? { response_format } : {}),
				});
				const choice = r.choices[0];
				const content = choice?.message?.content ?? '';
				if (Buffer.byteLength(content, 'utf8') > maxReplyBytes) throw replyTooLarge(maxReplyBytes);
				return {
					content,
					model: r.model ?? model,
					finishReason: choice?.finish_reason ?? 'stop',
					usage: { prompt_tokens: r.usage?.prompt_tokens ?? 0, completion_tokens: r.usage?.completion_tokens ?? 0 },
				};
			} catch (e) {
				throw toLlmError(e, baseUrl, [config.apiKey]);
			}
		},
		async listModels() {
			try {
				const page = await client.models.list();
				return page.data.map((m) => m.id);
			} catch (e) {
				throw toLlmError(e, baseUrl, [config.apiKey]);
			}
		},
	};
}
