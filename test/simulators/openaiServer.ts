/**
 * A loopback OpenAI-compatible server (/v1/chat/completions, /v1/models) for tests and benchmarks.
 * It validates requests like the real API (model, messages, response_format json_schema in strict
 * mode, json_object needing the word "json"), answers in the real shapes with usage counts, and can
 * misbehave on purpose: 429/5xx, malformed or cut-off JSON, servers without structured output.
 * Every request is recorded so tests can assert what the model was told.
 */
import http from 'node:http';
import { LoopbackServer } from './loopback';
import { randomBytes } from 'node:crypto';

export interface ChatRequestRecord {
	model: string;
	messages: Array<{ role: string; content: string }>;
	responseFormat?: { type: string; json_schema?: { name: string; schema: Record<string, unknown>; strict?: boolean } };
	temperature?: number;
	at: number;
	status: number;
}

export type Responder = (req: ChatRequestRecord) => string | object | Promise<string | object>;
type FaultKind = '429' | '500' | '503' | 'malformed' | 'incomplete' | 'drop' | 'huge';

/** What a 'huge' reply did: how much of it was written before the client hung up. */
export interface HugeReplyRecord {
	totalBytes: number;
	bytesWritten: number;
	/** The client closed the connection before the whole body was written. */
	aborted: boolean;
	/** The response is over (written out, or the client hung up). */
	closed: boolean;
}

export interface OpenAISimulatorOptions {
	apiKeys?: string[];
	models?: string[];
	supportsJsonSchema?: boolean;
	supportsJsonObject?: boolean;
	responder?: Responder;
	latencyMs?: number;
}

export function estimateTokens(text: string): number {
	return Math.max(1, Math.ceil(text.length / 4));
}

const LINES: Record<string, { hello: string; body: (p: string, o: string) => string; cta: string; subject: (p: string, v: string) => string; pre: string }> = {
	en: {
		hello: 'Hi {{first_name|there}},',
		body: (p, o) => `We think you will love ${p}. ${o ? `Right now you can get ${o}, and it is the best time to try it.` : 'It is the best time to try it.'} Take a look and let us know what you think.`,
		cta: 'See the offer',
		subject: (p, v) => `${v === 'B' ? 'Still thinking about' : 'Your new favourite:'} ${p}`.slice(0, 70),
		pre: 'A quick note from us with something you will like',
	},
	es: {
		hello: 'Hola {{first_name|amigo}},',
		body: (p, o) => `Creemos que te va a encantar ${p}. ${o ? `Ahora mismo tienes ${o}, y es el mejor momento para probarlo.` : 'Es el mejor momento para probarlo.'} Echa un vistazo y cuéntanos qué te parece.`,
		cta: 'Ver la oferta',
		subject: (p, v) => `${v === 'B' ? '¿Sigues pensando en' : 'Tu nuevo favorito:'} ${p}${v === 'B' ? '?' : ''}`.slice(0, 70),
		pre: 'Una nota rápida con algo que te va a gustar',
	},
	fr: {
		hello: 'Bonjour {{first_name|à vous}},',
		body: (p, o) => `Nous pensons que vous allez adorer ${p}. ${o ? `En ce moment, vous avez ${o}, et c'est le meilleur moment pour l'essayer.` : "C'est le meilleur moment pour l'essayer."} Jetez un œil et dites-nous ce que vous en pensez.`,
		cta: "Voir l'offre",
		subject: (p) => `Votre nouveau favori : ${p}`.slice(0, 70),
		pre: 'Un petit mot avec quelque chose qui va vous plaire',
	},
	de: {
		hello: 'Hallo {{first_name|zusammen}},',
		body: (p, o) => `Wir sind sicher, dass Ihnen ${p} gefallen wird. ${o ? `Gerade gibt es ${o}, und jetzt ist die beste Zeit, es auszuprobieren.` : 'Jetzt ist die beste Zeit, es auszuprobieren.'} Schauen Sie es sich an und sagen Sie uns, was Sie denken.`,
		cta: 'Zum Angebot',
		subject: (p) => `Ihr neuer Favorit: ${p}`.slice(0, 70),
		pre: 'Eine kurze Nachricht mit etwas, das Ihnen gefallen wird',
	},
	pt: {
		hello: 'Olá {{first_name|você}},',
		body: (p, o) => `Achamos que você vai adorar ${p}. ${o ? `Agora mesmo você tem ${o}, e este é o melhor momento para experimentar.` : 'Este é o melhor momento para experimentar.'} Dê uma olhada e conte para nós o que você acha.`,
		cta: 'Ver a oferta',
		subject: (p) => `Seu novo favorito: ${p}`.slice(0, 70),
		pre: 'Uma nota rápida com algo de que você vai gostar',
	},
};

/** A copywriter that reads the data block and writes valid copy in the requested language. */
export const copywriterResponder: Responder = (req) => {
	const system = req.messages.find((m) => m.role === 'system')?.content ?? '';
	const user = req.messages.filter((m) => m.role === 'user').map((m) => m.content).join('\n');
	const lang = (/language code "([^"]+)"/.exec(system)?.[1] ?? 'en').toLowerCase();
	const variant = /This is variant (\w)/.exec(system)?.[1] ?? 'A';
	let data: { brief?: { product?: string; offer?: string; links?: string[] } } = {};
	const block = /<campaign_data>\n([\s\S]*?)\n<\/campaign_data>/.exec(user);
	if (block) data = JSON.parse(block[1]);
	const product = data.brief?.product?.slice(0, 60) || 'our product';
	const offer = data.brief?.offer ?? '';
	const link = data.brief?.links?.[0];
	const l = LINES[lang.split('-')[0]] ?? LINES.en;
	const body = l.body(product, offer);
	return {
		subject: l.subject(product, variant),
		preheader: l.pre,
		html: `<p>${l.hello}</p><p>${body}</p>${link ? `<p><a href="${link}">${l.cta}</a></p>` : ''}`,
		text: `${l.hello}\n\n${body}${link ? `\n\n${l.cta}: ${link}` : ''}`,
		language: lang,
	};
};

/** Any value valid against a JSON schema (the subset zod's toJSONSchema produces). */
export function valueForSchema(schema: Record<string, unknown>, defs: Record<string, unknown> = {}): unknown {
	// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untrusted JSON (a schema, a request body) walked loosely and checked field by field, as the real API does
	const s = schema as Record<string, any>;
	if (s.$ref) return valueForSchema(defs[String(s.$ref).split('/').pop()!] as Record<string, unknown>, defs);
	if (s.enum) return s.enum[0];
	if (s.const !== undefined) return s.const;
	if (s.anyOf) return valueForSchema(s.anyOf[0], defs);
	switch (Array.isArray(s.type) ? s.type[0] : s.type) {
		case 'object': {
			const out: Record<string, unknown> = {};
			for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>)) out[k] = valueForSchema(v, { ...defs, ...(s.$defs ?? {}) });
			return out;
		}
		case 'array':
			return Array.from({ length: s.minItems ?? 1 }, () => valueForSchema(s.items ?? {}, defs));
		case 'number':
		case 'integer':
			return s.minimum ?? 1;
		case 'boolean':
			return true;
		case 'string': {
			const base = 'sample text';
			return (s.minLength && s.minLength > base.length ? base.padEnd(s.minLength, 'x') : base).slice(0, s.maxLength ?? 1000);
		}
		default:
			return null;
	}
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untrusted JSON (a schema, a request body) walked loosely and checked field by field, as the real API does
function strictProblems(schema: Record<string, any>, path = '#'): string[] {
	const out: string[] = [];
	if (schema.type === 'object' || schema.properties) {
		if (schema.additionalProperties !== false) out.push(`${path}: 'additionalProperties' is required to be supplied and to be false`);
		const props = Object.keys(schema.properties ?? {});
		const req = new Set<string>(schema.required ?? []);
		const missing = props.filter((p) => !req.has(p));
		if (missing.length) out.push(`${path}: 'required' is required to be supplied and to be an array including every key in properties. Missing '${missing[0]}'`);
		// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untrusted JSON (a schema, a request body) walked loosely and checked field by field, as the real API does
		for (const [k, v] of Object.entries(schema.properties ?? {})) out.push(...strictProblems(v as Record<string, any>, `${path}/properties/${k}`));
	}
	if (schema.items) out.push(...strictProblems(schema.items, `${path}/items`));
	return out;
}

export class OpenAISimulator extends LoopbackServer {
	requests: ChatRequestRecord[] = [];
	usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
	concurrencyPeak = 0;
	private inFlight = 0;
	private faults: Array<{ kind: FaultKind; retryAfterSeconds?: number; bytes?: number }> = [];
	/** One entry per 'huge' reply, filled in as it streams. */
	hugeReplies: HugeReplyRecord[] = [];
	private rpm?: number;
	private window: number[] = [];

	constructor(private opts: OpenAISimulatorOptions = {}) {
		super();
	}

	/** The package's LLM credential pointed at this simulator (its OpenAI-compatible /v1). */
	credential(apiKey = 'sk-test', model = 'gpt-4o-mini'): { apiKey: string; baseUrl: string; model: string } {
		return { apiKey, baseUrl: `${this.baseUrl}/v1`, model };
	}

	get calls(): number {
		return this.requests.filter((r) => r.status === 200).length;
	}

	setResponder(r?: Responder): void {
		this.opts.responder = r;
	}

	/** 'huge': a valid chat completion whose content makes the body `bytes` long (default 5 MB), streamed in 64 KB chunks. */
	failNext(n: number, kind: FaultKind, opts: { retryAfterSeconds?: number; bytes?: number } = {}): void {
		for (let i = 0; i < n; i++) this.faults.push({ kind, ...opts });
	}

	setRateLimit(rpm?: number): void {
		this.rpm = rpm;
		this.window = [];
	}

	reset(): void {
		this.requests = [];
		this.usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
		this.faults = [];
		this.concurrencyPeak = 0;
		this.hugeReplies = [];
	}

	/**
	 * A chat completion of `totalBytes`, written chunk by chunk with a pause between chunks (so a client
	 * that stops reading is seen hanging up, instead of the whole body sitting in socket buffers).
	 */
	private async streamHugeReply(res: http.ServerResponse, model: string, totalBytes: number): Promise<void> {
		const record: HugeReplyRecord = { totalBytes, bytesWritten: 0, aborted: false, closed: false };
		this.hugeReplies.push(record);
		const head = `{"id":"chatcmpl-huge","object":"chat.completion","created":${Math.floor(Date.now() / 1000)},"model":${JSON.stringify(model)},"choices":[{"index":0,"message":{"role":"assistant","content":"`;
		const tail = '"},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';
		let closed = false;
		res.on('close', () => {
			closed = record.closed = true;
			if (!res.writableFinished) record.aborted = true;
		});
		res.writeHead(200, { 'content-type': 'application/json' });
		const write = (chunk: string) => {
			record.bytesWritten += Buffer.byteLength(chunk);
			return res.write(chunk);
		};
		write(head);
		const chunk = 'x'.repeat(64 * 1024);
		let left = totalBytes - head.length - tail.length;
		while (left > 0 && !closed) {
			const piece = left >= chunk.length ? chunk : chunk.slice(0, left);
			left -= piece.length;
			if (!write(piece))
				await new Promise<void>((resolve) => {
					const done = () => {
						res.off('drain', done);
						res.off('close', done);
						resolve();
					};
					res.on('drain', done);
					res.on('close', done);
				});
			await new Promise((r) => setTimeout(r, 5));
		}
		if (!closed) res.end(tail, () => (record.bytesWritten += tail.length));
	}

	protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
		const chunks: Buffer[] = [];
		for await (const c of req) chunks.push(c as Buffer);
		const path = (req.url ?? '/').split('?')[0].replace(/^\/v1/, '').replace(/\/+$/, '');
		const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
			res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req_${randomBytes(8).toString('hex')}`, ...headers });
			res.end(JSON.stringify(body));
		};
		const error = (status: number, message: string, type: string, param: string | null = null, code: string | null = null, headers: Record<string, string> = {}) =>
			send(status, { error: { message, type, param, code } }, headers);
		const auth = req.headers.authorization ?? '';
		if (!(this.opts.apiKeys ?? ['sk-test']).includes(auth.replace(/^Bearer /, '')))
			return error(401, 'Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.', 'invalid_request_error', null, 'invalid_api_key');
		const models = this.opts.models ?? ['gpt-4o-mini', 'gpt-4o'];
		if (req.method === 'GET' && path === '/models') return send(200, { object: 'list', data: models.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'simulator' })) });
		if (req.method !== 'POST' || path !== '/chat/completions') return error(404, `Unknown request URL: ${req.method} ${req.url}`, 'invalid_request_error', null, 'unknown_url');

		// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untrusted JSON (a schema, a request body) walked loosely and checked field by field, as the real API does
		let body: Record<string, any>;
		try {
			body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
		} catch {
			return error(400, 'We could not parse the JSON body of your request.', 'invalid_request_error');
		}
		const record: ChatRequestRecord = { model: body.model, messages: body.messages ?? [], responseFormat: body.response_format, temperature: body.temperature, at: Date.now(), status: 0 };
		this.requests.push(record);
		const fail = (status: number, ...args: Parameters<typeof error> extends [number, ...infer R] ? R : never) => {
			record.status = status;
			error(status, ...args);
		};
		if (typeof body.model !== 'string' || !body.model) return fail(400, "you must provide a model parameter", 'invalid_request_error', 'model');
		if (!models.includes(body.model)) return fail(404, `The model \`${body.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', null, 'model_not_found');
		if (!Array.isArray(body.messages) || body.messages.length === 0) return fail(400, "'messages' must contain at least one message", 'invalid_request_error', 'messages');
		for (const [i, m] of body.messages.entries())
			if (!['system', 'developer', 'user', 'assistant', 'tool'].includes(m?.role) || typeof m?.content !== 'string')
				return fail(400, `Invalid value for 'messages[${i}]'`, 'invalid_request_error', `messages[${i}]`);
		const rf = body.response_format;
		if (rf?.type === 'json_schema') {
			if (this.opts.supportsJsonSchema === false) return fail(400, "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", 'invalid_request_error', 'response_format');
			if (!/^[a-zA-Z0-9_-]{1,64}$/.test(rf.json_schema?.name ?? '')) return fail(400, "Invalid 'response_format.json_schema.name'", 'invalid_request_error', 'response_format.json_schema.name');
			if (!rf.json_schema?.schema || typeof rf.json_schema.schema !== 'object') return fail(400, "Missing 'response_format.json_schema.schema'", 'invalid_request_error', 'response_format');
			if (rf.json_schema.strict) {
				const problems = strictProblems(rf.json_schema.schema);
				if (problems.length) return fail(400, `Invalid schema for response_format '${rf.json_schema.name}': In context=(), ${problems[0]}.`, 'invalid_request_error', 'response_format');
			}
		} else if (rf?.type === 'json_object') {
			if (this.opts.supportsJsonObject === false) return fail(400, "Invalid parameter: 'response_format' of type 'json_object' is not supported with this model.", 'invalid_request_error', 'response_format');
			if (!body.messages.some((m: { content: string }) => /json/i.test(m.content))) return fail(400, "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.", 'invalid_request_error', 'messages');
		}
		if (this.rpm) {
			const now = Date.now();
			this.window = this.window.filter((t) => now - t < 60_000);
			if (this.window.length >= this.rpm) {
				const reset = Math.ceil((60_000 - (now - this.window[0])) / 1000);
				return fail(429, `Rate limit reached for ${body.model}: Limit ${this.rpm}, Used ${this.window.length}, Requested 1. Please try again in ${reset}s.`, 'requests', null, 'rate_limit_exceeded', {
					'retry-after': String(reset),
					'x-ratelimit-limit-requests': String(this.rpm),
					'x-ratelimit-remaining-requests': '0',
					'x-ratelimit-reset-requests': `${reset}s`,
				});
			}
			this.window.push(now);
		}
		const fault = this.faults.shift();
		if (fault?.kind === '429') return fail(429, 'Rate limit reached. Please try again later.', 'requests', null, 'rate_limit_exceeded', { 'retry-after': String(fault.retryAfterSeconds ?? 0) });
		if (fault?.kind === '500') return fail(500, 'The server had an error while processing your request.', 'server_error');
		if (fault?.kind === '503') return fail(503, 'The engine is currently overloaded, please try again later.', 'server_error');
		if (fault?.kind === 'drop') {
			record.status = -1;
			return void req.socket.destroy();
		}
		if (fault?.kind === 'huge') {
			record.status = 200;
			return this.streamHugeReply(res, body.model, fault.bytes ?? 5 * 1024 * 1024);
		}

		this.inFlight++;
		this.concurrencyPeak = Math.max(this.concurrencyPeak, this.inFlight);
		try {
			if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
			// Default: the copywriter for campaign prompts, else any value valid against the requested schema.
			const isCampaign = record.messages.some((m) => m.content.includes('<campaign_data>'));
			const responder = this.opts.responder ?? (isCampaign || rf?.type !== 'json_schema' ? copywriterResponder : (r: ChatRequestRecord) => valueForSchema(r.responseFormat!.json_schema!.schema));
			let reply = await responder(record);
			let content = typeof reply === 'string' ? reply : JSON.stringify(reply);
			let finish = 'stop';
			// malformed: prose wrapped around a JSON object that never closes; incomplete: cut off, finish_reason "length".
			if (fault?.kind === 'malformed') content = `Sure! Here is your email: ${content.slice(0, Math.floor(content.length / 2))}`;
			if (fault?.kind === 'incomplete') {
				content = content.slice(0, Math.floor(content.length * 0.6));
				finish = 'length';
			}
			const prompt = estimateTokens(record.messages.map((m) => m.content).join('\n'));
			const completion = estimateTokens(content);
			this.usage.prompt_tokens += prompt;
			this.usage.completion_tokens += completion;
			this.usage.total_tokens += prompt + completion;
			record.status = 200;
			reply = content;
			send(200, {
				id: `chatcmpl-${randomBytes(12).toString('hex')}`,
				object: 'chat.completion',
				created: Math.floor(Date.now() / 1000),
				model: body.model,
				choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: finish, logprobs: null }],
				usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
			});
		} finally {
			this.inFlight--;
		}
	}
}
