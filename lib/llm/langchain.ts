/**
 * A Chat Model sub-node as the package's ChatModel. n8n hands a node connected to an
 * `ai_languageModel` input a LangChain chat model (OpenAI, Anthropic, Gemini, Ollama, Mistral, Groq,
 * Azure, Bedrock...) built from n8n's own `@langchain/core`. It is used through the few methods and
 * fields every such model has (duck typing): no LangChain class is imported here, so a second copy of
 * LangChain never meets n8n's and no `instanceof` across copies decides anything. Messages go in as
 * plain `{ role, content }` objects, which LangChain turns into its own messages.
 *
 * Structured output: `withStructuredOutput(jsonSchema, { includeRaw: true })` (each provider picks its
 * own mechanism: OpenAI's json_schema, Anthropic's tool call, Ollama's format...), else its JSON mode,
 * else plain text; the raw reply is what the copywriter parses and checks, exactly as for the
 * OpenAI-compatible client. Retries on bad copy, backoff on 429/5xx and the cache stay the copywriter's.
 */
import { isSecretName, redactDetail } from '../redact';
import { ChatMessage, ChatModel, ChatRequest, ChatResult, LlmApiError, MAX_REPLY_BYTES, replyTooLarge } from './client';
import { CampaignInputError } from '../schemas';

/** What this adapter reads of a LangChain message (AIMessage / AIMessageChunk). */
export interface LangChainMessageLike {
	content?: unknown;
	tool_calls?: Array<{ name?: string; args?: unknown }>;
	invalid_tool_calls?: Array<{ name?: string; args?: unknown }>;
	usage_metadata?: { input_tokens?: number; output_tokens?: number };
	response_metadata?: Record<string, unknown>;
}

export interface LangChainRunnableLike {
	invoke(input: unknown, options?: Record<string, unknown>): Promise<unknown>;
}

/** What this adapter uses of a LangChain BaseChatModel. */
export interface LangChainChatModelLike extends LangChainRunnableLike {
	withStructuredOutput?(schema: Record<string, unknown>, config?: Record<string, unknown>): LangChainRunnableLike;
	_llmType?(): string;
	getName?(): string;
}

export interface LangChainAdapterOptions {
	/** Largest reply content accepted, in bytes (default MAX_REPLY_BYTES). */
	maxReplyBytes?: number;
	/** The execution's cancel signal: a cancelled run stops waiting for the model at once. */
	signal?: AbortSignal;
}

/** Anything that can be invoked like a LangChain chat model. */
export function isLangChainChatModel(value: unknown): value is LangChainChatModelLike {
	return typeof value === 'object' && value !== null && typeof (value as { invoke?: unknown }).invoke === 'function';
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

function fieldOf(obj: unknown, name: string): unknown {
	return obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>)[name] : undefined;
}

/** The provider as LangChain names it ("openai", "anthropic", "ollama"...), else the class name. */
function providerOf(lc: LangChainChatModelLike): string {
	try {
		const t = typeof lc._llmType === 'function' ? str(lc._llmType()) : undefined;
		if (t) return t;
	} catch {
		// a model whose _llmType throws is still a model
	}
	try {
		const n = typeof lc.getName === 'function' ? str(lc.getName()) : undefined;
		if (n) return n;
	} catch {
		// as above
	}
	return str((lc as { constructor?: { name?: unknown } }).constructor?.name) ?? 'chat-model';
}

/** The model's name as the provider's class keeps it (model, modelName, Azure's deployment, Bedrock's id). */
function modelNameOf(lc: LangChainChatModelLike): string {
	for (const k of ['model', 'modelName', 'azureOpenAIApiDeploymentName', 'deploymentName', 'modelId', 'model_id'])
		if (str(fieldOf(lc, k))) return str(fieldOf(lc, k))!;
	return 'unknown-model';
}

/** Only the host of the endpoint (no userinfo, path or query): the same model name on another server is another model. */
function hostOf(lc: LangChainChatModelLike): string | undefined {
	const nested = (k: string) => fieldOf(fieldOf(lc, k), 'baseURL');
	const candidates = [fieldOf(lc, 'baseUrl'), fieldOf(lc, 'baseURL'), fieldOf(lc, 'apiUrl'), fieldOf(lc, 'anthropicApiUrl'), fieldOf(lc, 'endpoint'), nested('clientConfig'), nested('clientOptions'), nested('configuration')];
	for (const c of candidates) {
		const url = str(c);
		if (!url) continue;
		try {
			return new URL(url).host || undefined;
		} catch {
			// not a URL: not part of the identity
		}
	}
	return undefined;
}

/** String values of secret-named fields on the model and one level down (apiKey, clientConfig.apiKey...): masked in every error. */
function secretsOf(lc: LangChainChatModelLike): string[] {
	const out: string[] = [];
	const scan = (obj: unknown, depth: number) => {
		if (obj === null || typeof obj !== 'object') return;
		for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
			if (typeof v === 'string' && v.length >= 4 && isSecretName(k)) out.push(v);
			else if (depth === 0 && v && typeof v === 'object' && !Array.isArray(v) && /^(?:clientConfig|configuration|client|fields|lc_kwargs)$/.test(k)) scan(v, 1);
		}
	};
	scan(lc, 0);
	return out;
}

/** The text of a message's content: a string, or the text parts of a content array. */
export function textOfContent(content: unknown): string {
	if (typeof content === 'string') return content;
	if (!Array.isArray(content)) return '';
	let text = '';
	for (const part of content) {
		if (typeof part === 'string') text += part;
		else if (part && typeof part === 'object' && (part as { type?: unknown }).type === 'text' && typeof (part as { text?: unknown }).text === 'string') text += (part as { text: string }).text;
	}
	return text;
}

/** Token counts from usage_metadata (LangChain's standard field), else from the provider's own response_metadata. */
export function usageOf(message: LangChainMessageLike): ChatResult['usage'] {
	const u = message.usage_metadata;
	if (u && (num(u.input_tokens) !== undefined || num(u.output_tokens) !== undefined)) return { prompt_tokens: num(u.input_tokens) ?? 0, completion_tokens: num(u.output_tokens) ?? 0 };
	const m = message.response_metadata ?? {};
	const tokenUsage = fieldOf(m, 'tokenUsage');
	const usage = fieldOf(m, 'usage');
	const prompt = num(fieldOf(tokenUsage, 'promptTokens')) ?? num(fieldOf(usage, 'prompt_tokens')) ?? num(fieldOf(usage, 'input_tokens')) ?? num(m.prompt_eval_count) ?? 0;
	const completion = num(fieldOf(tokenUsage, 'completionTokens')) ?? num(fieldOf(usage, 'completion_tokens')) ?? num(fieldOf(usage, 'output_tokens')) ?? num(m.eval_count) ?? 0;
	return { prompt_tokens: prompt, completion_tokens: completion };
}

const CUT_OFF = new Set(['length', 'max_tokens', 'MAX_TOKENS', 'model_length']);

/** "length" when the provider says the reply was cut off (OpenAI finish_reason, Anthropic stop_reason, Ollama done_reason, Gemini finishReason). */
export function finishReasonOf(message: LangChainMessageLike): string {
	const m = message.response_metadata ?? {};
	const reason = str(m.finish_reason) ?? str(m.stop_reason) ?? str(m.done_reason) ?? str(m.finishReason) ?? str(m.stopReason) ?? 'stop';
	return CUT_OFF.has(reason) ? 'length' : reason;
}

/** A chat model's failure: with a status when the provider gave one; without, retried only when it looks like the network. */
export class ChatModelError extends LlmApiError {
	constructor(
		message: string,
		status: number | undefined,
		headers: Record<string, string>,
		formatUnsupported: boolean,
		private readonly transient: boolean,
	) {
		super(message, status, headers, formatUnsupported);
		this.name = 'ChatModelError';
	}

	override get retryable(): boolean {
		return this.status === undefined ? this.transient : super.retryable;
	}
}

const NETWORK = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|EPIPE|UND_ERR|fetch failed|socket hang up|network|timed out|timeout/i;
const FORMAT = /response_format|json_schema|json_object|structured output|tool_choice|does not support tools/i;

function headersOf(h: unknown): Record<string, string> {
	const out: Record<string, string> = {};
	if (h && typeof (h as Headers).forEach === 'function' && typeof (h as Headers).get === 'function') (h as Headers).forEach((v, k) => (out[k.toLowerCase()] = v));
	else if (h && typeof h === 'object') for (const [k, v] of Object.entries(h)) if (typeof v === 'string' || typeof v === 'number') out[k.toLowerCase()] = String(v);
	return out;
}

function statusOf(e: unknown): number | undefined {
	for (const v of [fieldOf(e, 'status'), fieldOf(e, 'statusCode'), fieldOf(e, 'status_code'), fieldOf(e, 'httpCode'), fieldOf(fieldOf(e, 'response'), 'status')]) {
		const n = typeof v === 'string' && /^\d{3}$/.test(v) ? Number(v) : v;
		if (typeof n === 'number' && n >= 100 && n < 600) return n;
	}
	return undefined;
}

/**
 * Our error for whatever the model threw: n8n wraps provider errors in a NodeApiError (status in
 * httpCode, the provider's error as its cause), LangChain providers throw their SDK's errors (status,
 * headers): the chain of causes is read for the status, the headers (retry-after) and the words.
 */
function toChatModelError(e: unknown, label: string, secrets: string[]): LlmApiError {
	let status: number | undefined;
	let headers: Record<string, string> = {};
	const words: string[] = [];
	let cause = e;
	for (let depth = 0; cause && depth < 6; depth++) {
		if (cause instanceof LlmApiError) return cause;
		status ??= statusOf(cause);
		const h = fieldOf(cause, 'headers') ?? fieldOf(fieldOf(cause, 'response'), 'headers');
		if (Object.keys(headers).length === 0 && h) headers = headersOf(h);
		for (const w of [fieldOf(cause, 'message'), fieldOf(cause, 'description'), fieldOf(fieldOf(cause, 'error'), 'message'), fieldOf(cause, 'param'), fieldOf(cause, 'code')])
			if (typeof w === 'string' && w && !words.includes(w)) words.push(w);
		cause = fieldOf(cause, 'cause') ?? fieldOf(cause, 'errorResponse');
	}
	const text = words.join(' — ') || String(e);
	const detail = redactDetail(text, secrets);
	headers = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, redactDetail(v, secrets, 200)]));
	const formatUnsupported = status === 400 && FORMAT.test(text);
	const message = status !== undefined ? `The connected Chat Model (${label}) answered ${status}: ${detail}` : `The connected Chat Model (${label}) failed: ${detail}`;
	return new ChatModelError(message, status, headers, formatUnsupported, NETWORK.test(text));
}

function unsupported(label: string, what: string, e: unknown): LlmApiError {
	return new ChatModelError(`The connected Chat Model (${label}) does not offer ${what}: ${redactDetail(e instanceof Error ? e.message : String(e))}`, undefined, {}, true, false);
}

/** The reply as text the copywriter parses: the arguments of a tool call when the provider answered with one, else the text. */
function contentOf(message: LangChainMessageLike): string {
	const call = message.tool_calls?.[0] ?? message.invalid_tool_calls?.[0];
	if (call && call.args !== undefined) return typeof call.args === 'string' ? call.args : JSON.stringify(call.args);
	return textOfContent(message.content);
}

/**
 * The package's ChatModel over a LangChain chat model. `model` is the model's identity in the copy
 * cache key: provider, model name and endpoint host, so copy written by one model is never served as
 * another's. Temperature and the model name are the sub-node's settings (request fields for them are
 * ignored).
 */
export function chatModelFromLangChain(lc: LangChainChatModelLike, options: LangChainAdapterOptions = {}): ChatModel {
	if (!isLangChainChatModel(lc)) throw new CampaignInputError('The node connected as Chat Model did not supply a chat model (no invoke method)', 'Chat Model', 'Connect a Chat Model node (OpenAI, Anthropic, Gemini, Ollama...) to the Chat Model input');
	const provider = providerOf(lc);
	const modelName = modelNameOf(lc);
	const host = hostOf(lc);
	const identity = `${provider}:${modelName}${host ? `@${host}` : ''}`;
	const label = `${provider} ${modelName}`;
	const secrets = secretsOf(lc);
	const maxReplyBytes = options.maxReplyBytes ?? MAX_REPLY_BYTES;
	const callOptions = options.signal ? { signal: options.signal } : undefined;

	const runnableFor = (req: ChatRequest): LangChainRunnableLike => {
		if (req.format === 'text') return lc;
		const what = req.format === 'json_schema' ? 'structured output (JSON schema)' : 'JSON mode';
		if (typeof lc.withStructuredOutput !== 'function') throw unsupported(label, what, new Error('it has no withStructuredOutput'));
		const name = req.schemaName ?? 'email_copy';
		// Strict schemas where the provider has them (OpenAI, Anthropic tool calls); LangChain's base
		// implementation refuses `strict`, so a provider using it is asked again without.
		const configs: Array<Record<string, unknown>> =
			req.format === 'json_schema' ? [{ name, includeRaw: true, strict: true }, { name, includeRaw: true }] : [{ name, includeRaw: true, method: 'jsonMode' }];
		let refusal: unknown;
		for (const config of configs) {
			try {
				// Providers refuse a method they lack when it is asked for (Gemini's and Bedrock's JSON mode): the next format is tried.
				const runnable = lc.withStructuredOutput(req.schema ?? {}, config);
				if (isLangChainChatModel(runnable)) return runnable;
				refusal = new Error('withStructuredOutput returned nothing to invoke');
			} catch (e) {
				refusal = e;
			}
		}
		throw unsupported(label, what, refusal);
	};

	return {
		model: identity,
		maxReplyBytes,
		async complete(req: ChatRequest): Promise<ChatResult> {
			const messages = req.messages.map((m: ChatMessage) => ({ role: m.role, content: m.content }));
			const runnable = runnableFor(req);
			let answer: unknown;
			try {
				answer = await runnable.invoke(messages, callOptions);
			} catch (e) {
				// A cancelled execution ends here, not in a retry.
				if (options.signal?.aborted) throw e;
				throw toChatModelError(e, label, secrets);
			}
			if (!answer || typeof answer !== 'object') throw new ChatModelError(`The connected Chat Model (${label}) returned no message`, undefined, {}, false, false);
			// includeRaw: { raw, parsed }; the raw message is read, so the copywriter's checks see what the model wrote.
			// A structured runnable that ignored includeRaw hands back the parsed value itself.
			const parsedOnly = req.format !== 'text' && !('raw' in answer) && !('content' in answer);
			const raw: LangChainMessageLike = parsedOnly ? {} : 'raw' in answer && req.format !== 'text' ? ((answer as { raw?: LangChainMessageLike }).raw ?? {}) : (answer as LangChainMessageLike);
			const content = parsedOnly ? JSON.stringify(answer) : contentOf(raw);
			if (Buffer.byteLength(content, 'utf8') > maxReplyBytes) throw replyTooLarge(maxReplyBytes);
			const meta = raw.response_metadata ?? {};
			return {
				content,
				model: str(meta.model_name) ?? str(meta.model) ?? modelName,
				finishReason: finishReasonOf(raw),
				usage: usageOf(raw),
			};
		},
		async listModels() {
			return [modelName];
		},
	};
}
