/**
 * The linear rewrites read text exactly as the regexes they replaced: each is compared with the old
 * regex on many short strings built from the characters those patterns care about. (The old
 * regexes are quadratic, which is harmless on strings this short.)
 */
import fc from 'fast-check';
import { htmlToText, looksLikeHtml, textToHtml } from '../../lib/copy/format';
import { escapeHtml, findMergeTags, headerSafe, renderMergeTags, unfilledPlaceholders, withHtmlKeys } from '../../lib/merge';
import { storableText } from '../../lib/events/normalize';
import { blankTagsAndUrls, guessLanguage } from '../../lib/llm/language';
import { extractJson } from '../../lib/llm/copywriter';
import { mergeFieldName } from '../../lib/contacts/loadContacts';
import { normalizeLlmBaseUrl } from '../../lib/llm/client';
import { NextIndex, TextBuilder, asciiLower } from '../../lib/text';

const runs = { numRuns: 3000 };
/** Strings made of the pieces the patterns look for, so matches, near-misses and overlaps are common. */
const textOf = (pieces: string[], maxLength = 40) => fc.array(fc.constantFrom(...pieces), { maxLength }).map((a) => a.join(''));

const TAG_RE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}]*))?\}\}/g;
const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

const old = {
	findMergeTags(text: string) {
		const tags = new Map<string, { raw: string; name: string; fallback?: string; key: string }>();
		for (const m of text.matchAll(TAG_RE)) {
			const fallback = m[2] === undefined ? undefined : m[2].trim();
			const key = fallback === undefined ? `{{${m[1]}}}` : `{{${m[1]}|${fallback}}}`;
			if (!tags.has(m[0])) tags.set(m[0], { raw: m[0], name: m[1], fallback, key });
		}
		return [...tags.values()];
	},
	escapeHtml: (v: string) => v.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]),
	headerSafe: (v: string) => v.replace(/[\r\n\u0000-\u001f\u007f]+/g, ' ').trim(),
	renderMergeTags(text: string, fields: Record<string, string>, fallbacks: Record<string, string>, context: string) {
		return text.replace(TAG_RE, (raw) => {
			const tag = old.findMergeTags(raw)[0];
			const own = fields[tag.name];
			const value = own !== undefined && own.trim() !== '' ? own : (tag.fallback ?? fallbacks[tag.name] ?? '');
			return context === 'html' ? old.escapeHtml(value) : context === 'subject' ? old.headerSafe(value) : value;
		});
	},
	withHtmlKeys: (html: string) => html.replace(TAG_RE, (raw) => `{{html:${old.findMergeTags(raw)[0].key.slice(2)}`),
	ENTITIES: { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", nbsp: ' ', apos: "'" } as Record<string, string>,
	htmlToText(html: string): string {
		return html
			.replace(/<(script|style|head)[^>]*>[\s\S]*?<\/\1>/gi, '')
			.replace(/<a\s[^>]*href\s*=\s*["']([^"']+)["'][^>]*>([\s\S]*?)<\/a>/gi, (_m, href: string, label: string) => {
				const text = label.replace(/<[^>]+>/g, '').trim();
				return text && text !== href ? `${text} (${href})` : href;
			})
			.replace(/<br\s*\/?>/gi, '\n')
			.replace(/<\/(p|div|h[1-6]|li|tr|table|ul|ol)>/gi, '\n\n')
			.replace(/<li[^>]*>/gi, '- ')
			.replace(/<[^>]+>/g, '')
			.replace(/&(#39|amp|lt|gt|quot|nbsp|apos);/g, (_m, e: string) => old.ENTITIES[e])
			.replace(/[ \t]+\n/g, '\n')
			.replace(/\n{3,}/g, '\n\n')
			.trim();
	},
	placeholders(text: string): string[] {
		return [...text.matchAll(/\{\{[^{}]*\}\}|\[(?:FIRST ?NAME|NAME|COMPANY|INSERT[^\]]*|YOUR[^\]]*|LINK|URL)\]|<%[^%]*%>/gi)].map((m) => m[0]);
	},
	extractJson(content: string): unknown {
		const trimmed = content.trim().replace(/^```(?:json)?\s*|\s*```$/g, '');
		try {
			return JSON.parse(trimmed);
		} catch {
			const start = trimmed.indexOf('{');
			const end = trimmed.lastIndexOf('}');
			if (start >= 0 && end > start) return JSON.parse(trimmed.slice(start, end + 1));
			throw new Error('the reply is not JSON');
		}
	},
};

const outcome = (f: () => unknown) => {
	try {
		return { value: f() };
	} catch (e) {
		return { error: (e as Error).message };
	}
};

describe('linear rewrites read text like the regexes they replace', () => {
	it('NextIndex answers like indexOf, whatever order the questions come in', () => {
		fc.assert(
			fc.property(textOf(['ab', 'a', 'b', 'x'], 30), fc.constantFrom('ab', 'a', 'bab'), fc.array(fc.nat(70), { maxLength: 20 }), (t, needle, questions) => {
				const next = new NextIndex(t, needle);
				for (const q of questions) expect(next.of(q)).toBe(t.indexOf(needle, q));
			}),
			runs,
		);
	});

	it('TextBuilder keeps every code unit it is given (Latin-1 or not, lone surrogates, astral code points)', () => {
		const piece = fc.oneof(textOf(['a', 'é', 'ÿ', 'Ā', '\ud800', '\udfff', '😀', '\u0000'], 8), fc.integer({ min: 0, max: 0x10ffff }));
		fc.assert(
			fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
				const b = new TextBuilder(1);
				let expected = '';
				for (const p of pieces) {
					if (typeof p === 'number') {
						b.appendCodePoint(p);
						expected += String.fromCodePoint(p);
					} else {
						b.appendRange(`<${p}>`, 1, p.length + 1);
						expected += p;
					}
				}
				expect(b.toString()).toBe(expected);
			}),
			runs,
		);
	});

	it('asciiLower keeps every index and reads ASCII letters like a case-insensitive regex', () => {
		fc.assert(
			fc.property(textOf(['A', 'b', 'Z', '@', '[', 'İ', '\u212a', 'É', 'ß', 'Σ', 'ſ', 'x']), (t) => {
				const lower = asciiLower(t);
				expect(lower.length).toBe(t.length);
				for (let i = 0; i < t.length; i++) {
					const c = t.charCodeAt(i);
					if (c < 128) expect(lower[i]).toBe(c >= 65 && c <= 90 ? t[i].toLowerCase() : t[i]);
					// A non-ASCII character never becomes an ASCII one (the Kelvin sign would become "k").
					else expect(lower.charCodeAt(i)).toBeGreaterThanOrEqual(128);
				}
			}),
			runs,
		);
	});

	it('htmlToText', () => {
		const html = textOf(['<', '>', '<a ', '<a\t', '<A ', 'href', 'HREF', '=', ' ', '"', "'", 'x', 'u', '</a>', '</A>', '<b>', '<script>', '</script>', '<STYLE x>', '</style>', '<head>', '</head>', '<li', '<LI>', '<br/>', '<BR', ' /', '</p>', '</P', '</h7>', '</table>', '</li >', '&amp;', '&lt;', '&nbsp;', '&#39;', '&apos', ';', '\n', '\n\n', '\t', 'é', 'href="x>y"']);
		fc.assert(fc.property(html, (h) => expect(htmlToText(h)).toBe(old.htmlToText(h))), runs);
	});

	it('htmlToText on realistic email html', () => {
		const samples = [
			'<p>Hi {{first_name|there}},</p><p>See <a href="https://acme.example/sale">the sale</a> and <a class="x" href=\'https://acme.example/b\' title="t">https://acme.example/b</a>.</p><ul><li>One</li><li>Two</li></ul>',
			'<html><head><title>x</title><style>p{color:red}</style></head><body><script>alert(1)</script><p>Body &amp; more&nbsp;here</p><br><br/><div>Last   \n line</div></body></html>',
			'<a href="a" href="b">two hrefs</a><a  data-href="x" href="y">z</a>',
			'<a href="x>y" >label</a> <a href=\'p>q\' title="t">r</a><a href="z">s</a>',
		];
		for (const h of samples) expect(htmlToText(h)).toBe(old.htmlToText(h));
	});

	it('merge tags: found, normalised, rendered and keyed like TAG_RE read them', () => {
		const text = textOf(['{{', '}}', '{', '}', ' ', '\t', '\n', '\u00a0', 'first_name', 'Name2', '_x', '9', '|', 'there', '<b>', '&', '"', '\r', '\u0000', 'é']);
		const fields = { first_name: 'Ada <b>\r\n', Name2: ' ', _x: 'x&y' };
		const fallbacks = { Name2: 'friend "q"' };
		fc.assert(
			fc.property(text, (t) => {
				expect(findMergeTags(t)).toEqual(old.findMergeTags(t));
				expect(withHtmlKeys(t)).toBe(old.withHtmlKeys(t));
				for (const context of ['html', 'text', 'subject'] as const) expect(renderMergeTags(t, fields, fallbacks, context)).toBe(old.renderMergeTags(t, fields, fallbacks, context));
			}),
			runs,
		);
	});

	it('textToHtml', () => {
		const text = textOf(['\n', '\n\n', ' ', 'a', '<', '&', '"', '\r', 'é', '\ud800']);
		fc.assert(fc.property(text, (t) => expect(textToHtml(t)).toBe(t.split(/\n{2,}/).map((p) => `<p>${old.escapeHtml(p.trim()).replace(/\n/g, '<br>')}</p>`).join('\n'))), runs);
	});

	it('escapeHtml, headerSafe and storableText', () => {
		const text = textOf(['&', '<', '>', '"', "'", 'a', ' ', '\r', '\n', '\t', '\u0000', '\u001f', '\u007f', '\u0080', '\ud800', '\udc00', '😀']);
		fc.assert(
			fc.property(text, (t) => {
				expect(escapeHtml(t)).toBe(old.escapeHtml(t));
				expect(headerSafe(t)).toBe(old.headerSafe(t));
				const noNul = t.replace(/\u0000/g, '') as string & { toWellFormed(): string };
				expect(storableText(t)).toBe(noNul.toWellFormed());
			}),
			runs,
		);
	});

	it('unfilled placeholders', () => {
		const text = textOf(['{{', '}}', '{', '}', '[', ']', 'INSERT', 'insert', 'YOUR', 'FIRST NAME', 'FIRSTNAME', 'NAME', 'name', 'COMPANY', 'LINK', 'URL', ' ', 'x', '<%', '%>', '%', '<', 'first_name', '|']);
		fc.assert(fc.property(text, (t) => expect(unfilledPlaceholders(t, new Set())).toEqual(old.placeholders(t))), runs);
	});

	it('blanking merge tags and URLs before counting words', () => {
		const text = textOf(['{{', '}}', '{', '}', 'http://', 'https://', 'http:/', 'h', 'x', ' ', '\n', '\u00a0', 'word']);
		fc.assert(fc.property(text, (t) => expect(blankTagsAndUrls(t)).toBe(t.replace(/\{\{[^}]*\}\}|https?:\/\/\S+/g, ' '))), runs);
		expect(guessLanguage('the {{first_name}} and you your for with this that are our have will to of https://x.example/the')?.language).toBe('en');
	});

	it('code fences around a JSON reply', () => {
		const reply = textOf(['```', 'json', '`', ' ', '\n', '{"a":1}', '{', '}', 'x', '"'], 12);
		fc.assert(fc.property(reply, (r) => expect(outcome(() => extractJson(r))).toEqual(outcome(() => old.extractJson(r)))), runs);
	});

	it('html detection, merge field names and base URLs', () => {
		const text = textOf(['<', '>', 'a', 'Z', '1', ' ', '_', '-', '/', 'p>']);
		fc.assert(
			fc.property(text, (t) => {
				expect(looksLikeHtml(t)).toBe(/<[a-z][^>]*>/i.test(t));
				expect(mergeFieldName(t)).toBe(t.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, ''));
				expect(normalizeLlmBaseUrl(t)).toBe((t || 'https://api.openai.com/v1').trim().replace(/\/+$/, '').replace(/\/chat\/completions$/, ''));
			}),
			runs,
		);
	});
});
