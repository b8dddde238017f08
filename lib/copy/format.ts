/**
 * Plain-text and html forms of the same copy: every message carries both parts.
 * The html comes from users and from the LLM, so every pass is linear: the tag-shaped patterns that
 * used to be regexes (`<[^>]+>`, `<a …>…</a>`, `<script…>…</script>`) are forward scans that find
 * each closing ">" or end tag once instead of re-reading the rest of the text from every "<".
 */
import { HTML_ESCAPES } from '../merge';
import { NextIndex, Splicer, TextBuilder, asciiLower, codeUnitReplacer, isJsSpace } from '../text';

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", nbsp: ' ', apos: "'" };

/**
 * The passes, in order, each reading the previous one's output as these regexes did:
 * `<(script|style|head)[^>]*>[\s\S]*?<\/\1>` → "", links → "label (url)", `<br\s*\/?>` → "\n",
 * `<\/(p|div|h[1-6]|li|tr|table|ul|ol)>` → "\n\n", `<li[^>]*>` → "- ", `<[^>]+>` → "", the seven
 * entities, `[ \t]+\n` → "\n", `\n{3,}` → "\n\n", then trim.
 */
export function htmlToText(html: string): string {
	let s = removeRawTextElements(html);
	s = replaceLinks(s);
	s = replaceLineBreaks(s);
	s = replaceBlockEnds(s);
	s = replaceTags(s, 'li', '- ');
	s = stripTags(s);
	s = decodeEntities(s);
	s = trimLineEnds(s);
	return collapseBlankLines(s).trim();
}

/** Escapes a paragraph for html and turns its line breaks into `<br>`. */
const paragraphHtml = codeUnitReplacer({ ...HTML_ESCAPES, '\n': '<br>' });

/** Paragraphs (split at runs of two or more line breaks) as `<p>`, line breaks inside them as `<br>`. */
export function textToHtml(text: string): string {
	const out = new TextBuilder(text.length + 16);
	for (let start = 0; ; ) {
		const gap = text.indexOf('\n\n', start);
		if (start > 0) out.append('\n');
		out.append(`<p>${paragraphHtml(text.slice(start, gap < 0 ? text.length : gap).trim())}</p>`);
		if (gap < 0) break;
		start = gap + 2;
		while (text.charCodeAt(start) === 10) start++;
	}
	return out.toString();
}

/** True when the text holds something tag-shaped (`<p>`, `<a href…>`): what `/<[a-z][^>]*>/i` tested. */
export function looksLikeHtml(text: string): boolean {
	const open = /<[a-z]/i.exec(text);
	return open !== null && text.indexOf('>', open.index + 2) >= 0;
}

const RAW_TEXT_ELEMENTS = ['script', 'style', 'head'];

/** `<script…>…</script>`, `<style…>…</style>` and `<head…>…</head>` (any case) are dropped whole. */
function removeRawTextElements(html: string): string {
	const lower = asciiLower(html);
	const gt = new NextIndex(lower, '>');
	const closers = new Map(RAW_TEXT_ELEMENTS.map((name) => [name, new NextIndex(lower, `</${name}>`)]));
	const out = new Splicer(html);
	let i = lower.indexOf('<');
	while (i >= 0) {
		let end = -1;
		const name = RAW_TEXT_ELEMENTS.find((n) => lower.startsWith(n, i + 1));
		if (name) {
			const g = gt.of(i + 1 + name.length);
			const close = g < 0 ? -1 : closers.get(name)!.of(g + 1);
			if (close >= 0) end = close + name.length + 3;
		}
		if (end > 0) {
			out.replace(i, end, '');
			i = lower.indexOf('<', end);
		} else i = lower.indexOf('<', i + 1);
	}
	return out.result();
}

/**
 * `<a … href="url" …>label</a>` becomes "label (url)", or the url alone when the label is empty or
 * is the url. Same reading as the regex it replaces, /<a\s[^>]*href\s*=\s*["']([^"']+)["'][^>]*>([\s\S]*?)<\/a>/gi:
 * the last `href=` inside the opening tag that has a quoted value, the first ">" after that value,
 * the first "</a>" after that ">".
 */
function replaceLinks(html: string): string {
	const lower = asciiLower(html);
	const n = html.length;
	const gt = new NextIndex(lower, '>');
	const endA = new NextIndex(lower, '</a>');
	const href = new NextIndex(lower, 'href');
	const out = new Splicer(html);
	// All starts before one ">" share their candidate hrefs: once one fails, the later ones fail too.
	let failedBefore = -2;
	let i = lower.indexOf('<a');
	while (i >= 0) {
		let match: { href: string; labelStart: number; labelEnd: number } | undefined;
		if (i + 2 < n && isJsSpace(html.charCodeAt(i + 2))) {
			const g = gt.of(i + 3);
			if (g < 0) break; // no ">" left: no tag can close
			if (g !== failedBefore) {
				match = lastLinkBefore(html, i + 3, g, { gt, endA, href });
				if (!match) failedBefore = g;
			}
		}
		if (match) {
			const label = stripTags(html.slice(match.labelStart, match.labelEnd)).trim();
			out.replace(i, match.labelEnd + 4, label && label !== match.href ? `${label} (${match.href})` : match.href);
			i = lower.indexOf('<a', match.labelEnd + 4);
		} else i = lower.indexOf('<a', i + 1);
	}
	return out.result();
}

/** The rightmost `href` in [from, tagEnd) whose quoted value, closing ">" and "</a>" all exist. */
function lastLinkBefore(
	html: string,
	from: number,
	tagEnd: number,
	next: { gt: NextIndex; endA: NextIndex; href: NextIndex },
): { href: string; labelStart: number; labelEnd: number } | undefined {
	const { gt, endA } = next;
	const hrefs: number[] = [];
	for (let p = next.href.of(from); p >= 0 && p < tagEnd; p = next.href.of(p + 1)) hrefs.push(p);
	for (let k = hrefs.length - 1; k >= 0; k--) {
		let j = hrefs[k] + 4;
		while (j < html.length && isJsSpace(html.charCodeAt(j))) j++;
		if (html.charCodeAt(j) !== 61) continue;
		j++;
		while (j < html.length && isJsSpace(html.charCodeAt(j))) j++;
		const q = html.charCodeAt(j);
		if (q !== 34 && q !== 39) continue;
		const valueStart = j + 1;
		QUOTE.lastIndex = valueStart;
		const quote = QUOTE.exec(html);
		if (!quote || quote.index === valueStart) continue;
		// A value that ends before the tag's first ">" shares that ">"; only one value can run past it.
		const close = quote.index < tagEnd ? tagEnd : gt.of(quote.index + 1);
		if (close < 0) continue;
		const labelEnd = endA.of(close + 1);
		if (labelEnd < 0) continue;
		return { href: html.slice(valueStart, quote.index), labelStart: close + 1, labelEnd };
	}
	return undefined;
}
const QUOTE = /["']/g;

/** `<name…>` (any case, anything up to the first ">") becomes `replacement`. */
function replaceTags(html: string, name: string, replacement: string): string {
	const lower = asciiLower(html);
	const gt = new NextIndex(lower, '>');
	const out = new Splicer(html);
	const open = `<${name}`;
	let i = lower.indexOf(open);
	while (i >= 0) {
		const g = gt.of(i + open.length);
		if (g < 0) break;
		out.replace(i, g + 1, replacement);
		i = lower.indexOf(open, g + 1);
	}
	return out.result();
}

/** Every `<…>` with something inside is dropped (what `/<[^>]+>/g` removed). */
function stripTags(html: string): string {
	const out = new Splicer(html);
	let i = html.indexOf('<');
	while (i >= 0) {
		if (i + 1 < html.length && html.charCodeAt(i + 1) !== 62) {
			const g = html.indexOf('>', i + 2);
			if (g < 0) break;
			out.replace(i, g + 1, '');
			i = html.indexOf('<', g + 1);
		} else i = html.indexOf('<', i + 1);
	}
	return out.result();
}

/** `<br>`, `<br/>`, `<BR  />` (any case, whitespace before the optional "/") become a line break. */
function replaceLineBreaks(html: string): string {
	const lower = asciiLower(html);
	const out = new Splicer(html);
	for (let i = lower.indexOf('<br'); i >= 0; i = lower.indexOf('<br', i + 1)) {
		let j = i + 3;
		while (j < html.length && isJsSpace(html.charCodeAt(j))) j++;
		if (html.charCodeAt(j) === 47) j++;
		if (html.charCodeAt(j) !== 62) continue;
		out.replace(i, j + 1, '\n');
		i = j;
	}
	return out.result();
}

const BLOCK_ENDS = new Set(['p', 'div', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'li', 'tr', 'table', 'ul', 'ol']);

/** `</p>`, `</div>`, `</h1>`…, `</li>`, `</tr>`, `</table>`, `</ul>`, `</ol>` (any case) become a blank line. */
function replaceBlockEnds(html: string): string {
	const lower = asciiLower(html);
	const next = new NextIndex(lower, '>');
	const out = new Splicer(html);
	for (let i = lower.indexOf('</'); i >= 0; i = lower.indexOf('</', i + 1)) {
		const gt = next.of(i + 2);
		if (gt < 0) break;
		if (gt - i - 2 > 5 || !BLOCK_ENDS.has(lower.slice(i + 2, gt))) continue;
		out.replace(i, gt + 1, '\n\n');
		i = gt;
	}
	return out.result();
}

/** The seven entities htmlToText has always decoded (case-sensitive, with their ";"). */
function decodeEntities(s: string): string {
	const out = new Splicer(s);
	for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', i + 1)) {
		for (const name in ENTITIES) {
			if (s.charCodeAt(i + 1 + name.length) === 59 && s.startsWith(name, i + 1)) {
				out.replace(i, i + name.length + 2, ENTITIES[name]);
				i += name.length + 1;
				break;
			}
		}
	}
	return out.result();
}

/** Spaces and tabs before a line break go (what `/[ \t]+\n/g` removed). */
function trimLineEnds(s: string): string {
	const out = new Splicer(s);
	let run = -1;
	for (let i = 0; i < s.length; i++) {
		const c = s.charCodeAt(i);
		if (c === 32 || c === 9) {
			if (run < 0) run = i;
		} else {
			if (c === 10 && run >= 0) out.replace(run, i, '');
			run = -1;
		}
	}
	return out.result();
}

/** Three or more line breaks in a row become two. */
function collapseBlankLines(s: string): string {
	const out = new Splicer(s);
	for (let i = s.indexOf('\n\n\n'); i >= 0; i = s.indexOf('\n\n\n', i)) {
		let end = i + 3;
		while (s.charCodeAt(end) === 10) end++;
		out.replace(i, end, '\n\n');
		i = end;
	}
	return out.result();
}
