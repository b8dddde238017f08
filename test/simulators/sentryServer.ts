/**
 * A loopback Sentry-compatible ingest endpoint: POST /api/<project>/envelope/ with an envelope body
 * (https://develop.sentry.dev/sdk/envelopes/). Like Sentry's Relay it authenticates the request by the
 * public key (X-Sentry-Auth `sentry_key=`, or `?sentry_key=`): none → 401, an unknown key or a key of
 * another project → 403; a body that is not an envelope (header line, item header, payload) → 400.
 * Accepted envelopes are kept raw and parsed, and answered 200 `{"id": "<event_id>"}`.
 */
import type http from 'node:http';
import { LoopbackServer } from './loopback';

export interface SentryEnvelopeRecord {
	projectId: string;
	publicKey: string;
	/** The request's headers (lower-case names). */
	headers: Record<string, string>;
	raw: string;
	header: Record<string, unknown>;
	items: Array<{ header: Record<string, unknown>; payload: Record<string, unknown> }>;
}

export interface SentrySimulatorOptions {
	projectId?: string;
	publicKey?: string;
}

export class SentrySimulator extends LoopbackServer {
	readonly projectId: string;
	readonly publicKey: string;
	readonly envelopes: SentryEnvelopeRecord[] = [];
	/** Every request: method, path, status answered. */
	readonly requests: Array<{ method: string; path: string; status: number }> = [];

	constructor(opts: SentrySimulatorOptions = {}) {
		super();
		this.projectId = opts.projectId ?? '4242';
		this.publicKey = opts.publicKey ?? '0123456789abcdef0123456789abcdef';
	}

	/** The DSN of the simulated project (or one with another key). */
	dsn(publicKey = this.publicKey): string {
		return `${this.baseUrl.replace('://', `://${publicKey}@`)}/${this.projectId}`;
	}

	/** The events received, in order. */
	get events(): Array<Record<string, unknown>> {
		return this.envelopes.flatMap((e) => e.items.filter((i) => i.header.type === 'event').map((i) => i.payload));
	}

	protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
		const chunks: Buffer[] = [];
		for await (const c of req) chunks.push(c as Buffer);
		const url = new URL(req.url ?? '/', 'http://x');
		const send = (status: number, body: unknown) => {
			this.requests.push({ method: req.method ?? '', path: url.pathname, status });
			res.writeHead(status, { 'content-type': 'application/json' });
			res.end(JSON.stringify(body));
		};
		const m = /^\/api\/([0-9]+)\/envelope\/?$/.exec(url.pathname);
		if (req.method !== 'POST' || !m) return send(404, { detail: 'not found' });
		const auth = String(req.headers['x-sentry-auth'] ?? '');
		const key = /sentry_key=([A-Za-z0-9]+)/.exec(auth)?.[1] ?? url.searchParams.get('sentry_key') ?? '';
		if (!key) return send(401, { detail: 'missing authorization information' });
		if (key !== this.publicKey || m[1] !== this.projectId) return send(403, { detail: 'event submission rejected with_reason: ProjectId' });
		const raw = Buffer.concat(chunks).toString('utf8');
		const lines = raw.split('\n');
		try {
			const header = JSON.parse(lines[0]) as Record<string, unknown>;
			const items: SentryEnvelopeRecord['items'] = [];
			let i = 1;
			while (i < lines.length && lines[i] !== '') {
				const itemHeader = JSON.parse(lines[i]) as Record<string, unknown>;
				const payload = lines[i + 1];
				if (payload === undefined) throw new Error('item without a payload');
				if (typeof itemHeader.length === 'number' && Buffer.byteLength(payload) !== itemHeader.length) throw new Error('item length does not match');
				items.push({ header: itemHeader, payload: JSON.parse(payload) as Record<string, unknown> });
				i += 2;
			}
			if (items.length === 0) throw new Error('no items');
			const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
			this.envelopes.push({ projectId: m[1], publicKey: key, headers, raw, header, items });
			send(200, { id: header.event_id ?? null });
		} catch (e) {
			send(400, { detail: `invalid envelope: ${(e as Error).message}` });
		}
	}
}
