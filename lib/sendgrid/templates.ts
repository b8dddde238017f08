/**
 * The account's dynamic templates (GET /v3/templates?generations=dynamic): what a step's templateId
 * picks from. SendGrid requires page_size (1-200) and pages with a page_token found in
 * `_metadata.next`; an account holds at most 300 templates, so a few pages are all there is.
 */
import { CampaignError } from '../errors';
import type { SendGridTransport } from './client';

export interface DynamicTemplate {
	id: string;
	name: string;
	updated_at?: string;
	/** The active version's subject and name, when it has one (SendGrid sends the active version). */
	activeVersion?: { id: string; name: string; subject: string };
}

const PAGE_SIZE = 200;
/** 300 templates per account at most: 2 pages; a few more in case that limit grows, never an endless loop. */
const MAX_PAGES = 5;

interface TemplateWire {
	id?: unknown;
	name?: unknown;
	generation?: unknown;
	updated_at?: unknown;
	versions?: Array<{ id?: unknown; name?: unknown; subject?: unknown; active?: unknown }>;
}

function nextToken(next: unknown): string | undefined {
	if (typeof next !== 'string' || !next) return undefined;
	try {
		return new URL(next, 'https://api.sendgrid.com').searchParams.get('page_token') ?? undefined;
	} catch {
		return undefined;
	}
}

export async function listDynamicTemplates(transport: SendGridTransport): Promise<DynamicTemplate[]> {
	const all: DynamicTemplate[] = [];
	let token: string | undefined;
	for (let page = 0; page < MAX_PAGES; page++) {
		const res = await transport.request('GET', `/v3/templates?generations=dynamic&page_size=${PAGE_SIZE}${token ? `&page_token=${encodeURIComponent(token)}` : ''}`);
		const body = res.body as { result?: unknown; _metadata?: { next?: unknown } } | undefined;
		const list = Array.isArray(body?.result) ? (body.result as TemplateWire[]) : [];
		for (const t of list) {
			if (typeof t?.id !== 'string' || typeof t.name !== 'string' || (t.generation !== undefined && t.generation !== 'dynamic')) continue;
			const active = Array.isArray(t.versions) ? t.versions.find((v) => v?.active === 1 || v?.active === true) : undefined;
			all.push({
				id: t.id,
				name: t.name,
				...(typeof t.updated_at === 'string' ? { updated_at: t.updated_at } : {}),
				...(active && typeof active.id === 'string' ? { activeVersion: { id: active.id, name: String(active.name ?? ''), subject: String(active.subject ?? '') } } : {}),
			});
		}
		const nextPage = nextToken(body?._metadata?.next);
		if (!nextPage || nextPage === token) break;
		token = nextPage;
	}
	return all;
}

/** A dynamic template's active version as a step renders with it (GET /v3/templates/{id}). */
export interface ActiveTemplateVersion {
	templateId: string;
	templateName: string;
	versionId: string;
	subject: string;
	html?: string;
	text?: string;
	/** SendGrid makes the text part from the html when the version has none and this is on. */
	generatePlainContent: boolean;
}

/** One template with its versions: the active one, or a TemplateNotReadyError naming what to fix. */
export async function getActiveTemplateVersion(transport: SendGridTransport, templateId: string): Promise<ActiveTemplateVersion> {
	const res = await transport.request('GET', `/v3/templates/${encodeURIComponent(templateId)}`);
	const t = res.body as { name?: unknown; versions?: Array<Record<string, unknown>> } | undefined;
	const active = Array.isArray(t?.versions) ? t.versions.find((v) => v?.active === 1 || v?.active === true) : undefined;
	if (!t || typeof t.name !== 'string' || !active)
		throw new TemplateNotReadyError(
			`Dynamic template ${templateId} has no active version — SendGrid sends a template's active version: make one active in SendGrid's template editor`,
			'templateId',
		);
	const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
	return {
		templateId,
		templateName: t.name,
		versionId: String(active.id ?? ''),
		subject: str(active.subject) ?? '',
		html: str(active.html_content),
		text: str(active.plain_content),
		generatePlainContent: active.generate_plain_content !== false,
	};
}

export class TemplateNotReadyError extends CampaignError {
	constructor(message: string, field: string) {
		super(message, { field, hint: 'Pick a template with an active version, or activate one of its versions in SendGrid' });
		this.name = 'TemplateNotReadyError';
	}
}
