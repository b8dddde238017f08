/**
 * Merge tags: `{{first_name}}` or `{{first_name|there}}` (with a fallback) in subject, html and text.
 * Values are data, never markup: in html they are escaped, in headers CR/LF never survive.
 */
import { NextIndex, Splicer, codeUnitReplacer, isJsSpace, replaceRuns } from './text';

export interface MergeTag {
	/** The tag exactly as written in the copy. */
	raw: string;
	name: string;
	fallback?: string;
	/** Canonical spelling, `{{name}}` or `{{name|fallback}}`; also the SendGrid substitution key. */
	key: string;
}

/** `[NAME]`-style words that are a placeholder only when they are the whole bracket. */
const PLACEHOLDER_WORD = /^(?:FIRST ?NAME|NAME|COMPANY|LINK|URL)$/i;
/** `[INSERT …]` and `[YOUR …]`: anything up to the first "]". */
const PLACEHOLDER_PREFIX = /^(?:INSERT|YOUR)/i;
const LONGEST_WORD = 'FIRST NAME'.length;

/**
 * Anything that still looks like a placeholder: `{{…}}` (no braces inside), `[FIRST NAME]`, `[NAME]`,
 * `[COMPANY]`, `[LINK]`, `[URL]`, `[INSERT …]`, `[YOUR …]` and `<%…%>`, left to right and not
 * overlapping. One forward scan: a regex with `INSERT[^\]]*` re-read the rest of the text at every
 * "[INSERT" that had no "]" after it.
 */
function placeholderMatches(text: string): string[] {
	const found: string[] = [];
	const close = new NextIndex(text, ']');
	const n = text.length;
	let i = 0;
	while (i < n) {
		const c = text.charCodeAt(i);
		let end = -1;
		if (c === 123 && text.charCodeAt(i + 1) === 123) {
			let j = i + 2;
			while (j < n && text.charCodeAt(j) !== 123 && text.charCodeAt(j) !== 125) j++;
			if (text.charCodeAt(j) === 125 && text.charCodeAt(j + 1) === 125) end = j + 2;
		} else if (c === 91) {
			// The first "]" after the "[" closes every bracket form; NextIndex finds it once for a run of "[".
			const k = close.of(i + 1);
			if (k > 0 && ((k - i - 1 <= LONGEST_WORD && PLACEHOLDER_WORD.test(text.slice(i + 1, k))) || PLACEHOLDER_PREFIX.test(text.slice(i + 1, i + 7)))) end = k + 1;
		} else if (c === 60 && text.charCodeAt(i + 1) === 37) {
			let j = i + 2;
			while (j < n && text.charCodeAt(j) !== 37) j++;
			if (text.charCodeAt(j + 1) === 62) end = j + 2;
		}
		if (end > 0) {
			found.push(text.slice(i, end));
			i = end;
		} else i++;
	}
	return found;
}

interface TagAt {
	end: number;
	name: string;
	/** As written, untrimmed. */
	fallback?: string;
}

const isNameStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isNameChar = (c: number) => isNameStart(c) || (c >= 48 && c <= 57);

/**
 * The merge tag starting at i, as /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}]*))?\}\}/ reads it:
 * "{{", optional whitespace, a name, optional whitespace, optionally "|" and a fallback without
 * braces, then "}}".
 */
function tagAt(text: string, i: number): TagAt | undefined {
	const n = text.length;
	let j = i + 2;
	while (j < n && isJsSpace(text.charCodeAt(j))) j++;
	if (!isNameStart(text.charCodeAt(j))) return undefined;
	const nameStart = j;
	while (j < n && isNameChar(text.charCodeAt(j))) j++;
	const nameEnd = j;
	while (j < n && isJsSpace(text.charCodeAt(j))) j++;
	let fallback: string | undefined;
	if (text.charCodeAt(j) === 124) {
		const from = ++j;
		while (j < n && text.charCodeAt(j) !== 123 && text.charCodeAt(j) !== 125) j++;
		fallback = text.slice(from, j);
	}
	if (text.charCodeAt(j) !== 125 || text.charCodeAt(j + 1) !== 125) return undefined;
	return { end: j + 2, name: text.slice(nameStart, nameEnd), fallback };
}

/**
 * Every merge tag in the text, left to right, in one scan: 5 MB of "{{a}}" is a million tags, and a
 * regex replace pays a match object and a piece of result for each.
 */
function forEachTag(text: string, onTag: (start: number, tag: TagAt) => void): void {
	for (let i = text.indexOf('{{'); i >= 0; ) {
		const tag = tagAt(text, i);
		if (tag) {
			onTag(i, tag);
			i = text.indexOf('{{', tag.end);
		} else i = text.indexOf('{{', i + 1);
	}
}

const canonical = (name: string, fallback: string | undefined) => (fallback === undefined ? `{{${name}}}` : `{{${name}|${fallback}}}`);

export function findMergeTags(text: string): MergeTag[] {
	const tags = new Map<string, MergeTag>();
	forEachTag(text, (start, tag) => {
		const raw = text.slice(start, tag.end);
		if (tags.has(raw)) return;
		const fallback = tag.fallback?.trim();
		tags.set(raw, { raw, name: tag.name, fallback, key: canonical(tag.name, fallback) });
	});
	return [...tags.values()];
}

/** Placeholders that would reach a reader unfilled: unknown `{{tags}}`, `[FIRST NAME]`, `<%...%>`. */
export function unfilledPlaceholders(text: string, allowed: Set<string>): string[] {
	const found: string[] = [];
	for (const m of placeholderMatches(text)) {
		const tag = findMergeTags(m)[0];
		if (tag && allowed.has(tag.name)) continue;
		found.push(m);
	}
	return found;
}

export const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtmlChars = codeUnitReplacer(HTML_ESCAPES);
export function escapeHtml(value: string): string {
	return escapeHtmlChars(value);
}

const isControl = (c: number) => c <= 0x1f || c === 0x7f;

/** One line, no control characters: what may go into a subject or header (each run of them becomes one space). */
export function headerSafe(value: string): string {
	return replaceRuns(value, isControl, ' ').trim();
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
	const out = new Splicer(text);
	forEachTag(text, (start, tag) => {
		const value = mergeValue({ raw: '', name: tag.name, fallback: tag.fallback?.trim(), key: '' }, fields, fallbacks);
		out.replace(start, tag.end, context === 'html' ? escapeHtml(value) : context === 'subject' ? headerSafe(value) : value);
	});
	return out.result();
}

/** The html body uses its own substitution keys so its values can be escaped without touching the text part. */
export function htmlKey(key: string): string {
	return `{{html:${key.slice(2)}`;
}

export function withHtmlKeys(html: string): string {
	const out = new Splicer(html);
	forEachTag(html, (start, tag) => out.replace(start, tag.end, htmlKey(canonical(tag.name, tag.fallback?.trim()))));
	return out.result();
}
