/**
 * A loopback Ollama server, only as much of it as n8n's Ollama Chat Model uses to write copy:
 * POST /api/chat (streamed as NDJSON chunks the way Ollama streams, or one JSON object with
 * `"stream": false`), GET /api/tags and /api/version. Requests are checked like Ollama checks them
 * (model, messages with role and string content, format "json" or a JSON schema object), usage comes
 * back as prompt_eval_count / eval_count, and the copy is the OpenAI simulator's copywriter's.
 */
import http from 'node:http';
import { LoopbackServer } from './loopback';
import { copywriterResponder, estimateTokens } from './openaiServer';

export interface OllamaChatRecord {
	model: string;
	messages: Array<{ role: string; content: string }>;
	format?: unknown;
	stream: boolean;
	status: number;
}

export class OllamaSimulator extends LoopbackServer {
	requests: OllamaChatRecord[] = [];

	constructor(private models: string[] = ['llama3.2']) {
		super();
	}

	/** Chat requests answered with copy. */
	get calls(): number {
		return this.requests.filter((r) => r.status === 200).length;
	}

	protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
		const chunks: Buffer[] = [];
		for await (const c of req) chunks.push(c as Buffer);
		const path = (req.url ?? '/').split('?')[0];
		const json = (status: number, body: unknown) => {
			res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
			res.end(JSON.stringify(body));
		};
		if (req.method === 'GET' && path === '/api/version') return json(200, { version: '0.6.0' });
		if (req.method === 'GET' && path === '/api/tags')
			return json(200, { models: this.models.map((name) => ({ name, model: name, modified_at: '2025-01-01T00:00:00Z', size: 1, digest: 'sim', details: {} })) });
		if (req.method !== 'POST' || path !== '/api/chat') return json(404, { error: `${req.method} ${path} not found` });

		let body: Record<string, unknown>;
		try {
			body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
		} catch {
			return json(400, { error: 'invalid character in request body' });
		}
		const record: OllamaChatRecord = { model: String(body.model ?? ''), messages: [], format: body.format, stream: body.stream !== false, status: 0 };
		this.requests.push(record);
		const fail = (status: number, error: string) => {
			record.status = status;
			json(status, { error });
		};
		if (!record.model) return fail(400, 'model is required');
		if (!this.models.includes(record.model) && !this.models.includes(`${record.model}:latest`)) return fail(404, `model "${record.model}" not found, try pulling it first`);
		if (!Array.isArray(body.messages) || body.messages.length === 0) return fail(400, 'messages are required');
		for (const m of body.messages as Array<Record<string, unknown>>) {
			if (!['system', 'user', 'assistant', 'tool'].includes(String(m?.role))) return fail(400, `invalid role: ${String(m?.role)}`);
			if (typeof m.content !== 'string') return fail(400, 'invalid message content: expected a string');
			record.messages.push({ role: String(m.role), content: m.content });
		}
		if (body.format !== undefined && body.format !== '' && body.format !== 'json' && (typeof body.format !== 'object' || body.format === null))
			return fail(400, `invalid format: ${JSON.stringify(body.format)}`);

		const reply = await copywriterResponder({ model: record.model, messages: record.messages, at: Date.now(), status: 200 });
		const content = typeof reply === 'string' ? reply : JSON.stringify(reply);
		const promptTokens = estimateTokens(record.messages.map((m) => m.content).join('\n'));
		const evalTokens = estimateTokens(content);
		record.status = 200;
		const createdAt = new Date().toISOString();
		const done = { model: record.model, created_at: createdAt, done: true, done_reason: 'stop', total_duration: 1_000_000, load_duration: 1000, prompt_eval_count: promptTokens, prompt_eval_duration: 1000, eval_count: evalTokens, eval_duration: 1000 };
		if (!record.stream) return json(200, { ...done, message: { role: 'assistant', content } });
		res.writeHead(200, { 'content-type': 'application/x-ndjson' });
		// A few pieces, as a model streams tokens; the last line carries the counts.
		const size = Math.ceil(content.length / 4);
		for (let i = 0; i < content.length; i += size)
			res.write(JSON.stringify({ model: record.model, created_at: createdAt, message: { role: 'assistant', content: content.slice(i, i + size) }, done: false }) + '\n');
		res.end(JSON.stringify({ ...done, message: { role: 'assistant', content: '' } }) + '\n');
	}
}
