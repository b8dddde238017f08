/**
 * Merge tags: `{{first_name}}` or `{{first_name|there}}` (with a fallback) in subject, html and text.
 * Values are data, never markup: in html they are escaped, in headers CR/LF never survive.
 */

export interface MergeTag {
	/** The tag exactly as written in the copy. */
	raw: string;
	name: string;
	fallback?: string;
	/** Canonical spelling, `{{name}}` or `{{name|fallback}}`; also the SendGrid substitution key. */
	key: string;
}

const TAG_RE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}]*))?\}\}/g;
/** Anything that still looks like a placeholder after merge tags are accounted for. */
const PLACEHOLDER_RE = /\{\{[^{}]*\}\}|\[(?:FIRST ?NAME|NAME|COMPANY|INSERT[^\]]*|YOUR[^\]]*|LINK|URL)\]|<%[^%]*%>/gi;

export function findMergeTags(text: string): MergeTag[] {
	const tags = new Map<string, MergeTag>();
	for (const m of text.matchAll(TAG_RE)) {
		const name = m[1];
		const fallback = m[2] === undefined ? undefined : m[2].trim();
		const key = fallback === undefined ? `{{${name}}}` : `{{${name}|${fallback}}}`;
		if (!tags.has(m[0])) tags.set(m[0], { raw: m[0], name, fallback, key });
	}
	return [...tags.values()];
}

/** Rewrites tags to their canonical spelling so `{{ first_name }}` and `{{first_name}}` are one key. */
export function normalizeMergeTags(text: string): string {
	return text.replace(TAG_RE, (_all, name: string, fallback?: string) =>
		fallback === undefined ? `{{${name}}}` : `{{${name}|${fallback.trim()}}}`,
	);
}

/** Placeholders that would reach a reader unfilled: unknown `{{tags}}`, `[FIRST NAME]`, `<%...%>`. */
export function unfilledPlaceholders(text: string, allowed: Set<string>): string[] {
	const found: string[] = [];
	for (const m of text.matchAll(PLACEHOLDER_RE)) {
		const tag = findMergeTags(m[0])[0];
		if (tag && allowed.has(tag.name)) continue;
		found.push(m[0]);
	}
	return found;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(value: string): string {
	return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
}

/** One line, no control characters: what may go into a subject or header. */
export function headerSafe(value: string): string {
	return value.replace(/[\r\n\u0000-\u001f\u007f]+/g, ' ').trim();
}

export function mergeValue(tag: MergeTag, fields: Record<string, string>, fallbacks: Record<string, string>): string {
	const own = fields[tag.name];
	if (own !== undefined && own.trim() !== '') return own;
	return tag.fallback ?? fallbacks[tag.name] ?? '';
}

export type MergeContext = 'html' | 'text' | 'subject';

/** Renders a text for one recipient (used when a recipient gets a message of its own). */
export function renderMergeTags(
	text: string,
	fields: Record<string, string>,
	fallbacks: Record<string, string>,
	context: MergeContext,
): string {
	return text.replace(TAG_RE, (raw) => {
		const tag = findMergeTags(raw)[0];
		const value = mergeValue(tag, fields, fallbacks);
		if (context === 'html') return escapeHtml(value);
		if (context === 'subject') return headerSafe(value);
		return value;
	});
}

/** The html body uses its own substitution keys so its values can be escaped without touching the text part. */
export function htmlKey(key: string): string {
	return `{{html:${key.slice(2)}`;
}

export function withHtmlKeys(html: string): string {
	return html.replace(TAG_RE, (raw) => htmlKey(findMergeTags(raw)[0].key));
}
