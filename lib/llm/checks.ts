/**
 * What generated copy must satisfy before it can be sent: only known merge tags, links only from
 * the brief, no unfilled placeholders, html and text saying the same, the requested language.
 */
import sanitizeHtml from 'sanitize-html';
import { htmlToText } from '../copy/format';
import { findMergeTags, unfilledPlaceholders } from '../merge';
import { CampaignInputError, LIMITS, copyProblems } from '../schemas';
import { blankTagsAndUrls, languageMatches } from './language';
import { MAX_REPLY_BYTES } from './client';
import { linkProblems } from './links';
import { languageName } from './prompts';

export { linksIn } from './links';

export const SUBJECT_RECOMMENDED = 78;
export const SUBJECT_HARD_LIMIT = 100;
/**
 * More tags than this and the html is refused before sanitize-html parses it: its parser looks each
 * closing tag up in the stack of open ones, so thousands of unclosed tags times thousands of stray
 * closing tags cost seconds. A generated email needs a few dozen.
 */
export const MAX_HTML_TAGS = 5000;

/** How many tags the html could hold at most: every "<" followed by a letter, "/" or "!". */
export function htmlTagCount(html: string): number {
	let count = 0;
	for (let i = html.indexOf('<'); i >= 0; i = html.indexOf('<', i + 1)) {
		const c = html.charCodeAt(i + 1) | 0x20;
		if ((c >= 97 && c <= 122) || c === 0x2f || c === 0x21) count++;
	}
	return count;
}

/** Longer html is refused before sanitize-html reads it (its own escaping costs seconds on megabytes). */
export const MAX_HTML_CHARS = 512 * 1024;

/** A problem when the html is too long or has too many tags to be cleaned quickly, else undefined. */
export function htmlTagProblem(html: string): string | undefined {
	if (html.length > MAX_HTML_CHARS) return `the html is ${Math.ceil(html.length / 1024)} KB; the limit is ${MAX_HTML_CHARS / 1024} KB — write a much shorter email`;
	const tags = htmlTagCount(html);
	return tags > MAX_HTML_TAGS ? `the html has ${tags} tags; the limit is ${MAX_HTML_TAGS} — write a simple email` : undefined;
}

/** Generated html may format text and link; nothing that runs, embeds or submits. */
export function sanitizeEmailHtml(html: string): string {
	const tooMany = htmlTagProblem(html);
	if (tooMany) throw new CampaignInputError(`The email html cannot be cleaned: ${tooMany}`, 'html');
	return sanitizeHtml(html, {
		allowedTags: ['p', 'br', 'a', 'strong', 'b', 'em', 'i', 'u', 'ul', 'ol', 'li', 'h1', 'h2', 'h3', 'h4', 'blockquote', 'span', 'div', 'hr', 'table', 'thead', 'tbody', 'tr', 'td', 'th'],
		allowedAttributes: { a: ['href', 'title'], td: ['colspan', 'rowspan', 'align'], th: ['colspan', 'rowspan', 'align'] },
		allowedSchemes: ['http', 'https', 'mailto'],
		allowProtocolRelative: false,
		disallowedTagsMode: 'discard',
	});
}

function words(s: string): Set<string> {
	return new Set(
		blankTagsAndUrls(s.toLowerCase())
			.split(/[^\p{L}\p{N}]+/u)
			.filter((w) => w.length > 2),
	);
}

/** How much of each part sameMessageScore compares: far more than an email, and bounded work for anything longer. */
export const COMPARED_CHARS = 256 * 1024;

/** Share of the text's words that the html also says (and vice versa), 0..1. */
export function sameMessageScore(html: string, text: string): number {
	const a = words(htmlToText(html.slice(0, COMPARED_CHARS)));
	const b = words(text.slice(0, COMPARED_CHARS));
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
	/** Copy longer than this (all parts, in characters) gets one problem and no other check; default MAX_REPLY_BYTES. */
	maxChars?: number;
}

export interface CopyDraft {
	subject: string;
	preheader: string;
	html: string;
	text: string;
}

/** Problems name at most this many tags, placeholders or links (the rest are counted): the list goes back to the LLM. */
const MAX_NAMED = 10;
const clip = (s: string) => (s.length > 100 ? `${s.slice(0, 100)}…` : s);
const named = (items: string[]) => items.slice(0, MAX_NAMED).map(clip).join(', ') + (items.length > MAX_NAMED ? ` and ${items.length - MAX_NAMED} more` : '');

export function checkCopy(draft: CopyDraft, ctx: CopyCheckContext): string[] {
	const size = draft.subject.length + draft.preheader.length + draft.html.length + draft.text.length;
	const maxChars = ctx.maxChars ?? MAX_REPLY_BYTES;
	// Nothing else is read from copy this large: one problem, at once.
	if (size > maxChars) return [`the copy is ${Math.ceil(size / 1024)} KB; the limit is ${Math.floor(maxChars / 1024)} KB — write a much shorter email`];
	const problems: string[] = [];
	const hard = Math.min(Math.max(ctx.maxSubjectChars ?? SUBJECT_RECOMMENDED, SUBJECT_HARD_LIMIT), LIMITS.subjectHardLimit);
	if (draft.subject.length > hard) problems.push(`subject is ${draft.subject.length} characters; the limit is ${hard}`);
	// Whatever the payload schema would refuse later (a tab or other control character in the subject, an empty part).
	problems.push(...copyProblems({ ...draft, source: 'llm' }).filter((p) => !(draft.subject.length > hard && p.startsWith('subject:'))));
	const all = `${draft.subject}\n${draft.preheader}\n${draft.html}\n${draft.text}`;
	const unknownTags = findMergeTags(all).filter((tag) => !ctx.allowedTags.has(tag.name));
	const available = [...ctx.allowedTags].map((t) => `{{${t}}}`).join(', ') || 'no merge tags';
	for (const tag of unknownTags.slice(0, MAX_NAMED)) problems.push(`merge tag ${clip(tag.raw)} is not available; use only ${available}`);
	if (unknownTags.length > MAX_NAMED) problems.push(`${unknownTags.length - MAX_NAMED} more merge tags are not available; use only ${available}`);
	const placeholders = unfilledPlaceholders(all, ctx.allowedTags).filter((p) => !findMergeTags(p).length);
	if (placeholders.length) problems.push(`unfilled placeholders: ${named([...new Set(placeholders)])}`);
	const links = linkProblems(draft.html, draft.text, ctx.allowedLinks);
	problems.push(...links.slice(0, MAX_NAMED));
	if (links.length > MAX_NAMED) problems.push(`${links.length - MAX_NAMED} more links are not in the brief's links (${ctx.allowedLinks.join(', ') || 'none'})`);
	const score = sameMessageScore(draft.html, draft.text);
	if (score < 0.5) problems.push(`the html and text parts do not say the same thing (overlap ${Math.round(score * 100)}%)`);
	const bodyWords = draft.text.split(/\s+/).filter(Boolean).length;
	if (bodyWords > ctx.maxWords * 1.25) problems.push(`the text has ${bodyWords} words; the maximum is ${ctx.maxWords}`);
	if (!languageMatches(`${draft.subject}\n${draft.text}`, ctx.language)) problems.push(`the copy is not written in ${languageName(ctx.language)} (${ctx.language})`);
	return problems;
}
