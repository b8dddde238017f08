/**
 * The SendGrid transport: @sendgrid/mail's HTTP client (@sendgrid/client) for /v3/mail/send and the rest,
 * pointed at any base URL (global, EU data residency, a proxy or the test simulator).
 * Errors are rebuilt from status and body only, so the API key (inside axios' request config)
 * never travels into a message, a log or an n8n item; what is copied from the body is redacted
 * (a proxy may echo the Authorization header) and capped.
 */
import { Client } from '@sendgrid/client';
import type { MailSendBody } from './mailRequest';
import { jsonBuffer } from './jsonBody';
import { clip, redactDetail, redactSecrets, redactUrl } from '../redact';
import { CampaignError } from '../errors';

/** How much of a server's error text an error message carries. */
const MAX_DETAIL = 500;
/** A 400 names at most one error per personalization (≤ 1,000 per request). */
const MAX_ERRORS = 1000;

export const SENDGRID_GLOBAL_URL = 'https://api.sendgrid.com';
export const SENDGRID_EU_URL = 'https://api.eu.sendgrid.com';

export interface SendGridConfig {
	apiKey: string;
	baseUrl?: string;
	timeoutMs?: number;
}

export interface SendGridResponse {
	status: number;
	headers: Record<string, string>;
	body: unknown;
}

export interface SendGridErrorDetail {
	message: string;
	field?: string | null;
}

export class SendGridApiError extends CampaignError {
	constructor(
		message: string,
		readonly status: number | undefined,
		readonly errors: SendGridErrorDetail[],
		readonly headers: Record<string, string>,
		/** Network-level failure code (ECONNRESET, ETIMEDOUT...) when there was no HTTP answer. */
		readonly networkCode?: string,
	) {
		super(message, { source: 'service', httpStatus: status, field: errors.find((x) => x.field)?.field ?? undefined });
	}

	/** True when SendGrid may have accepted the request although we got no answer. */
	get ambiguous(): boolean {
		if (this.status !== undefined) return false;
		return !['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_INVALID_URL'].includes(this.networkCode ?? '');
	}

	get retryable(): boolean {
		return this.status === undefined || this.status === 429 || this.status >= 500;
	}
}

export interface SendGridTransport {
	sendMail(body: MailSendBody): Promise<SendGridResponse>;
	request(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<SendGridResponse>;
}

/** Response headers, lowercased; an error's are redacted (it keeps them, and a proxy may echo the key). */
function lowerHeaders(h: unknown, secrets?: string[]): Record<string, string> {
	const out: Record<string, string> = {};
	if (!h || typeof h !== 'object') return out;
	const raw = typeof (h as { toJSON?: () => unknown }).toJSON === 'function' ? (h as { toJSON: () => unknown }).toJSON() : h;
	for (const [k, v] of Object.entries(raw as Record<string, unknown>)) if (v !== undefined && v !== null) out[k.toLowerCase()] = secrets ? redactDetail(String(v), secrets) : String(v);
	return out;
}

function toApiError(e: unknown, what: string, secrets: string[]): SendGridApiError {
	const err = e as { code?: unknown; response?: { headers?: unknown; body?: unknown }; message?: string };
	if (typeof err?.code === 'number' && err.response) {
		const body = err.response.body as { errors?: SendGridErrorDetail[] } | undefined;
		const errors = Array.isArray(body?.errors)
			? body!.errors.slice(0, MAX_ERRORS).map((x) => ({
					message: redactDetail(String(x?.message ?? ''), secrets),
					field: x?.field === undefined || x?.field === null ? null : redactDetail(String(x.field), secrets, 200),
				}))
			: [];
		const detail = errors.length ? clip(errors.map((x) => (x.field ? `${x.field}: ${x.message}` : x.message)).join('; '), MAX_DETAIL) : `HTTP ${err.code}`;
		return new SendGridApiError(`SendGrid ${what} failed (${err.code}): ${detail}`, err.code, errors, lowerHeaders(err.response.headers, secrets));
	}
	const code = typeof err?.code === 'string' ? err.code : 'ENETWORK';
	const reason = code === 'ECONNABORTED' || code === 'ETIMEDOUT' ? 'timed out' : `connection failed (${code})`;
	return new SendGridApiError(`SendGrid ${what} ${reason}`, undefined, [], {}, code === 'ECONNABORTED' ? 'ETIMEDOUT' : code);
}

/** Trailing slashes off, in one backward pass (a /+$ pattern backtracks on long runs of slashes). */
function trimSlashes(u: string): string {
	let end = u.length;
	while (end > 0 && u.charCodeAt(end - 1) === 47) end--;
	return u.slice(0, end);
}

const stripV3 = (u: string) => (u.endsWith('/v3') ? u.slice(0, -3) : u);

/**
 * The API base URL for the credential's region: the global API, EU data residency, or any custom
 * base URL (a proxy, a test simulator), normalised. The credential's own test request spells the same
 * choice as an n8n expression (credentials/SendGridCampaignApi.credentials.ts).
 */
export function sendGridBaseUrl(region: unknown, customUrl: unknown): string {
	if (region === 'eu') return normalizeBaseUrl(SENDGRID_EU_URL);
	if (region === 'custom' && typeof customUrl === 'string' && customUrl.trim()) return normalizeBaseUrl(customUrl);
	return normalizeBaseUrl(SENDGRID_GLOBAL_URL);
}

export function normalizeBaseUrl(url: string | undefined): string {
	const u = stripV3(trimSlashes((url || SENDGRID_GLOBAL_URL).trim()));
	let parsed: URL;
	try {
		parsed = new URL(u);
		if (!/^https?:$/.test(parsed.protocol)) throw new Error();
	} catch {
		throw new SendGridApiError(`SendGrid API base URL "${clip(redactUrl(u), 200)}" is not an http(s) URL — fix it in the SendGrid API credential`, undefined, [], {}, 'ERR_INVALID_URL');
	}
	// SendGrid authenticates with the API key; a password in the URL would only travel (and leak) with every request.
	if (parsed.username || parsed.password)
		throw new SendGridApiError(
			`SendGrid API base URL "${clip(redactUrl(u), 200)}" carries a user name or password — remove them from the SendGrid API credential's base URL (the API key authenticates)`,
			undefined,
			[],
			{},
			'ERR_INVALID_URL',
		);
	return u + '/';
}

export function createSendGridTransport(config: SendGridConfig): SendGridTransport {
	if (!config.apiKey || !config.apiKey.trim())
		throw new SendGridApiError('The SendGrid API credential has no API key — paste one from SendGrid → Settings → API Keys', 401, [], {});
	const baseUrl = normalizeBaseUrl(config.baseUrl);
	const secrets = [config.apiKey];
	const client = new Client();
	// setApiKey resets the base URL to the global host, so the base URL is set after it.
	const warn = console.warn;
	try {
		console.warn = () => undefined; // @sendgrid/client warns about keys without the SG. prefix (proxies, tests)
		client.setApiKey(config.apiKey.trim());
	} finally {
		console.warn = warn;
	}
	client.setDefaultRequest('baseUrl', baseUrl);
	client.setDefaultRequest('timeout' as never, (config.timeoutMs ?? 30_000) as never);
	// A body leaves as a Buffer written a member at a time (jsonBody.ts) instead of axios' one big
	// JSON.stringify string, which would outlive the request in V8's old generation.
	const toJson = (data: unknown) => (data === undefined || data === null || typeof data === 'string' || Buffer.isBuffer(data) ? data : jsonBuffer(data));
	client.setDefaultRequest('transformRequest' as never, [toJson] as never);

	return {
		async sendMail(body) {
			try {
				// The body is already in SendGrid's wire format (mailRequest.ts), so it goes straight to the
				// client @sendgrid/mail sends with: its Mail helper would deep-clone and re-case 1,000
				// personalizations per request (2 s of CPU per 100,000 recipients) to produce the same JSON.
				const [response] = await client.request({ method: 'POST', url: '/v3/mail/send', body: body as unknown as object });
				return { status: response.statusCode, headers: lowerHeaders(response.headers), body: response.body };
			} catch (e) {
				throw toApiError(e, 'mail send', secrets);
			}
		},
		async request(method, path, body) {
			try {
				const [response, data] = await client.request({ method, url: path, body: body as object | undefined });
				return { status: response.statusCode, headers: lowerHeaders(response.headers), body: data };
			} catch (e) {
				throw toApiError(e, `${method} ${redactSecrets(path, secrets)}`, secrets);
			}
		},
	};
}
