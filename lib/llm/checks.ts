/**
 * What generated copy must satisfy before it can be sent: only known merge tags, links only from
 * the brief, no unfilled placeholders, html and text saying the same, the requested language.
 */
import sanitizeHtml from 'sanitize-html';
import { htmlToText } from '../copy/format';
import { findMergeTags, unfilledPlaceholders } from '../merge';
import { languageMatches } from './language';
import { languageName } from './prompts';

export const SUBJECT_RECOMMENDED = 78;
export const SUBJECT_HARD_LIMIT = 100;

/** Generated html may format text and link; nothing that runs, embeds or submits. */
export function sanitizeEmailHtml(html: string): string {
	return sanitizeHtml(html, {
		allowedTags: ['p', 'br', 'a', 'strong', 'b', 'em', 'i', 'u', 'ul', 'ol', 'li', 'h1', 'h2', 'h3', 'h4', 'blockquote', 'span', 'div', 'hr', 'table', 'thead', 'tbody', 'tr', 'td', 'th'],
		allowedAttributes: { a: ['href', 'title'], td: ['colspan', 'rowspan', 'align'], th: ['colspan', 'rowspan', 'align'] },
		allowedSchemes: ['http', 'https', 'mailto'],
		allowProtocolRelative: false,
		disallowedTagsMode: 'discard',
	});
}

const URL_RE = /https?:\/\/[^\s"'<>()]+/gi;

function normalizeUrl(u: string): string {
	return u.replace(/[.,;:!?]+$/, '').replace(/\/+$/, '').toLowerCase();
}

export function linksIn(html: string, text: string): string[] {
	const hrefs = [...html.matchAll(/href\s*=\s*["']([^"']*)["']/gi)].map((m) => m[1]);
	return [...new Set([...hrefs, ...(text.match(URL_RE) ?? []), ...(html.replace(/href\s*=\s*["'][^"']*["']/gi, '').match(URL_RE) ?? [])])];
}

function words(s: string): Set<string> {
	return new Set(
		s
			.toLowerCase()
			.replace(/\{\{[^}]*\}\}|https?:\/\/\S+/g, ' ')
			.split(/[^\p{L}\p{N}]+/u)
			.filter((w) => w.length > 2),
	);
}

/** Share of the text's words that the html also says (and vice versa), 0..1. */
export function sameMessageScore(html: string, text: string): number {
	const a = words(htmlToText(html));
	const b = words(text);
	if (a.size === 0 || b.size === 0) return 0;
	let both = 0;
	for (const w of a) if (b.has(w)) both++;
	return Math.min(both / a.size, both / b.size);
}

export interface CopyCheckContext {
	allowedTags: Set<string>;
	allowedLinks: string[];
	language: string;
	maxWords: number;
	maxSubjectChars?: number;
}

export interface CopyDraft {
	subject: string;
	preheader: string;
	html: string;
	text: string;
}

export function checkCopy(draft: CopyDraft, ctx: CopyCheckContext): string[] {
	const problems: string[] = [];
	const hard = Math.max(ctx.maxSubjectChars ?? SUBJECT_RECOMMENDED, SUBJECT_HARD_LIMIT);
	if (draft.subject.length > hard) problems.push(`subject is ${draft.subject.length} characters; the limit is ${hard}`);
	if (/[\r\n]/.test(draft.subject)) problems.push('subject must be one line');
	const all = `${draft.subject}\n${draft.preheader}\n${draft.html}\n${draft.text}`;
	for (const tag of findMergeTags(all))
		if (!ctx.allowedTags.has(tag.name)) problems.push(`merge tag ${tag.raw} is not available; use only ${[...ctx.allowedTags].map((t) => `{{${t}}}`).join(', ') || 'no merge tags'}`);
	const placeholders = unfilledPlaceholders(all, ctx.allowedTags).filter((p) => !findMergeTags(p).length);
	if (placeholders.length) problems.push(`unfilled placeholders: ${[...new Set(placeholders)].join(', ')}`);
	const allowed = ctx.allowedLinks.map(normalizeUrl);
	for (const link of linksIn(draft.html, draft.text)) {
		if (link.startsWith('mailto:')) continue;
		const n = normalizeUrl(link);
		if (!allowed.some((a) => n === a || n.startsWith(a + '/') || n.startsWith(a + '?') || n.startsWith(a + '#')))
			problems.push(`link ${link} is not in the brief's links (${ctx.allowedLinks.join(', ') || 'none'})`);
	}
	const score = sameMessageScore(draft.html, draft.text);
	if (score < 0.5) problems.push(`the html and text parts do not say the same thing (overlap ${Math.round(score * 100)}%)`);
	const bodyWords = draft.text.split(/\s+/).filter(Boolean).length;
	if (bodyWords > ctx.maxWords * 1.25) problems.push(`the text has ${bodyWords} words; the maximum is ${ctx.maxWords}`);
	if (!languageMatches(`${draft.subject}\n${draft.text}`, ctx.language)) problems.push(`the copy is not written in ${languageName(ctx.language)} (${ctx.language})`);
	return problems;
}
