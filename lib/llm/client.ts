/**
 * An OpenAI-compatible chat client (OpenAI, Azure OpenAI, Ollama, vLLM, any server with
 * /chat/completions) through the `openai` package. Retries are ours (see copywriter), so the
 * package's own are off; errors carry status and headers but never the API key.
 */
import OpenAI from 'openai';

export const OPENAI_URL = 'https://api.openai.com/v1';
export const DEFAULT_MODEL = 'gpt-4o-mini';

export interface LlmConfig {
	apiKey: string;
	baseUrl?: string;
	model?: string;
	timeoutMs?: number;
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

export interface ChatModel {
	readonly model: string;
	complete(req: ChatRequest): Promise<ChatResult>;
	listModels(): Promise<string[]>;
}

export class LlmApiError extends Error {
	constructor(
		message: string,
		readonly status: number | undefined,
		readonly headers: Record<string, string>,
		/** The server does not support the requested response_format. */
		readonly formatUnsupported = false,
	) {
		super(message);
		this.name = 'LlmApiError';
	}

	get retryable(): boolean {
		return this.status === undefined || this.status === 429 || this.status >= 500;
	}
}

function headersOf(h: unknown): Record<string, string> {
	const out: Record<string, string> = {};
	if (h && typeof (h as Headers).forEach === 'function') (h as Headers).forEach((v, k) => (out[k.toLowerCase()] = v));
	else if (h && typeof h === 'object') for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = String(v);
	return out;
}

function toLlmError(e: unknown, baseUrl: string): LlmApiError {
	if (e instanceof OpenAI.APIError && e.status !== undefined) {
		const body = (e.error ?? {}) as { message?: string; param?: string };
		const message = body.message ?? e.message;
		const formatUnsupported = e.status === 400 && /response_format|json_schema|json_object|structured/i.test(`${body.param ?? ''} ${message}`);
		return new LlmApiError(`LLM endpoint ${baseUrl} answered ${e.status}: ${message}`, e.status, headersOf(e.headers), formatUnsupported);
	}
	const reason = e instanceof OpenAI.APIConnectionTimeoutError ? 'timed out' : 'could not be reached';
	return new LlmApiError(`LLM endpoint ${baseUrl} ${reason} — check the LLM credential's base URL and that the server is running`, undefined, {});
}

export function normalizeLlmBaseUrl(url: string | undefined): string {
	return (url || OPENAI_URL).trim().replace(/\/+$/, '').replace(/\/chat\/completions$/, '');
}

export function createChatModel(config: LlmConfig): ChatModel {
	const baseUrl = normalizeLlmBaseUrl(config.baseUrl);
	const model = config.model || DEFAULT_MODEL;
	const client = new OpenAI({
		apiKey: config.apiKey || 'not-needed', // local servers (Ollama, vLLM) accept any key
		baseURL: baseUrl,
		maxRetries: 0,
		timeout: config.timeoutMs ?? 60_000,
	});
	return {
		model,
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
				return {
					content: choice?.message?.content ?? '',
					model: r.model ?? model,
					finishReason: choice?.finish_reason ?? 'stop',
					usage: { prompt_tokens: r.usage?.prompt_tokens ?? 0, completion_tokens: r.usage?.completion_tokens ?? 0 },
				};
			} catch (e) {
				throw toLlmError(e, baseUrl);
			}
		},
		async listModels() {
			try {
				const page = await client.models.list();
				return page.data.map((m) => m.id);
			} catch (e) {
				throw toLlmError(e, baseUrl);
			}
		},
	};
}
