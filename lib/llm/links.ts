/**
 * Links in generated copy: every URL a reader could follow is found and compared with the brief's
 * links by what it points at, not by how it is spelled.
 *
 * Found: URL attributes in the html (href, src, srcset, action… — quoted, unquoted or entity-encoded,
 * read by htmlparser2's tokenizer, the one sanitize-html uses) and bare `scheme://`, `www.` and
 * `mailto:` links in the html's text, its other attribute values and the text part.
 * Compared: with the WHATWG URL parser (node's `URL`): scheme, host (lower-cased, IDN in punycode),
 * port (default dropped), user info, and a path that equals the allowed path or continues it after a
 * "/" once dot segments are resolved and unreserved characters percent-decoded. Query and fragment
 * are free. mailto: links are allowed unless the brief lists mailto: links; then only to those addresses.
 */
import { Tokenizer } from 'htmlparser2';
import type { TokenizerCallbacks } from 'htmlparser2';
import { NextIndex, Splicer, TextBuilder, asciiLower, isJsSpace } from '../text';

/** Attributes whose value is one URL a client follows or loads. */
const URL_ATTRIBUTES = new Set(['href', 'src', 'xlink:href', 'action', 'formaction', 'background', 'poster', 'cite', 'longdesc', 'lowsrc', 'dynsrc', 'data', 'manifest', 'codebase', 'usemap']);
/** Attributes holding several URLs separated by spaces (srcset separates them by commas). */
const URL_LIST_ATTRIBUTES = new Set(['ping', 'archive']);
/** Elements whose boundaries separate words of the visible text (so two links never run together). */
const BLOCK_ELEMENTS = new Set(['p', 'div', 'br', 'li', 'ul', 'ol', 'tr', 'td', 'th', 'table', 'thead', 'tbody', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'blockquote', 'hr', 'a', 'img', 'section', 'article', 'header', 'footer', 'center', 'pre']);

/** More distinct links than this in one email is refused outright (and keeps the check bounded). */
export const MAX_LINKS = 200;
const SHOWN_LENGTH = 200;

function fromCodePoint(cp: number): string {
	return cp > 0x10ffff ? '\ufffd' : String.fromCodePoint(cp);
}

/**
 * Every distinct link in the copy, as a reader's client would see it (entities decoded): the html's
 * URL attributes, then bare links in the html's text and other attributes, then those of the text
 * part. Stops collecting after `limit` distinct links.
 */
export function linksIn(html: string, text: string, limit = Number.POSITIVE_INFINITY): string[] {
	const found = new Set<string>();
	const add = (link: string) => {
		if (found.size < limit) found.add(link);
	};
	htmlLinks(html, add);
	bareLinks(text, add);
	return [...found];
}

/** URL attributes of the html, plus bare links in its text and its other attribute values. */
function htmlLinks(html: string, add: (link: string) => void): void {
	let attrName = '';
	let attrValue = '';
	// Visible text (a space where a block element separates it) and, apart, the other attribute values:
	// each searched for bare links once at the end.
	const text = new TextBuilder(Math.min(html.length, 1 << 20));
	const otherValues = new TextBuilder();
	const addText = (start: number, end: number) => text.appendRange(html, start, end);
	const tagBoundary = (start: number, end: number) => {
		if (end - start <= 10 && BLOCK_ELEMENTS.has(html.slice(start, end).toLowerCase())) text.append(' ');
	};
	const callbacks: TokenizerCallbacks = {
		onattribname(start, end) {
			attrName = html.slice(start, end).toLowerCase();
			attrValue = '';
		},
		onattribdata(start, end) {
			attrValue += html.slice(start, end);
		},
		onattribentity(cp) {
			attrValue += fromCodePoint(cp);
		},
		onattribend() {
			if (URL_ATTRIBUTES.has(attrName)) add(attrValue);
			else if (attrName === 'srcset') for (const candidate of attrValue.split(',')) addFirstWord(candidate, add);
			else if (URL_LIST_ATTRIBUTES.has(attrName)) for (const part of attrValue.split(/\s+/)) addFirstWord(part, add);
			else if (attrValue) otherValues.append(` ${attrValue}`);
			attrName = attrValue = '';
		},
		ontext: addText,
		ontextentity(cp) {
			text.appendCodePoint(cp > 0x10ffff ? 0xfffd : cp);
		},
		onopentagname: tagBoundary,
		onclosetag: tagBoundary,
		oncdata: addText,
		oncomment() {},
		ondeclaration() {},
		onprocessinginstruction() {},
		onopentagend() {},
		onselfclosingtag() {},
		onend() {},
	};
	const tokenizer = new Tokenizer({ decodeEntities: true }, callbacks);
	tokenizer.write(html);
	tokenizer.end();
	bareLinks(text.toString(), add);
	bareLinks(otherValues.toString(), add);
}

/** "url 2x" in a srcset, one url of a ping list. */
function addFirstWord(s: string, add: (link: string) => void): void {
	const word = s.trim().split(/\s+/)[0];
	if (word) add(word);
}

/** Where bare links end in running text (the same characters the old URL pattern stopped at). */
const isStop = (c: number) => isJsSpace(c) || c === 34 || c === 39 || c === 60 || c === 62 || c === 40 || c === 41;
const isSchemeChar = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46;
const isLetter = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
const isWordChar = (c: number) => isLetter(c) || (c >= 48 && c <= 57) || c === 45 || c === 95;
const isTrailingPunctuation = (c: number) => c === 46 || c === 44 || c === 59 || c === 58 || c === 33 || c === 63;

/** `scheme://…`, `www.…` and `mailto:…` in running text: each whitespace-separated run holds at most one, up to its end. */
function bareLinks(text: string, add: (link: string) => void): void {
	if (!text) return;
	const lower = asciiLower(text);
	const slashes = new NextIndex(lower, '://');
	const www = new NextIndex(lower, 'www.');
	const mailto = new NextIndex(lower, 'mailto:');
	const n = text.length;
	let i = 0;
	while (i < n) {
		while (i < n && isStop(text.charCodeAt(i))) i++;
		let end = i;
		while (end < n && !isStop(text.charCodeAt(end))) end++;
		if (end > i) {
			const start = linkStart(text, i, end, slashes, www, mailto);
			if (start >= 0) {
				let stop = end;
				while (stop > start && isTrailingPunctuation(text.charCodeAt(stop - 1))) stop--;
				if (stop > start) add(text.slice(start, stop));
			}
		}
		i = end;
	}
}

/** The first place in text[from, to) where a link starts, or -1. */
function linkStart(text: string, from: number, to: number, slashes: NextIndex, www: NextIndex, mailto: NextIndex): number {
	let best = -1;
	for (let p = slashes.of(from); p >= 0 && p < to; p = slashes.of(p + 3)) {
		let s = p;
		while (s > from && isSchemeChar(text.charCodeAt(s - 1))) s--;
		while (s < p && !isLetter(text.charCodeAt(s))) s++;
		if (s < p) {
			best = s;
			break;
		}
	}
	for (let w = www.of(from); w >= 0 && w < to && (best < 0 || w < best); w = www.of(w + 4)) {
		if (w === from || !isWordChar(text.charCodeAt(w - 1))) {
			best = w;
			break;
		}
	}
	const m = mailto.of(from);
	if (m >= 0 && m < to && (best < 0 || m < best)) best = m;
	return best;
}

interface AllowedUrl {
	protocol: string;
	username: string;
	password: string;
	hostname: string;
	port: string;
	/** The allowed path without its trailing "/": a link's path must equal it or continue it after a "/". */
	base: string;
}

export interface LinkPolicy {
	urls: AllowedUrl[];
	/** Lower-cased addresses, or undefined when the brief lists no mailto: link (then any is allowed). */
	mailto?: Set<string>;
	listed: string;
}

export function linkPolicy(allowedLinks: string[]): LinkPolicy {
	const urls: AllowedUrl[] = [];
	let mailto: Set<string> | undefined;
	for (const link of allowedLinks) {
		const url = parseUrl(link.trim());
		if (!url) continue;
		if (url.protocol === 'mailto:') {
			mailto ??= new Set();
			for (const a of mailtoAddresses(url) ?? []) mailto.add(a);
		} else if (url.protocol === 'http:' || url.protocol === 'https:') {
			const path = canonicalPath(url);
			urls.push({ protocol: url.protocol, username: url.username, password: url.password, hostname: url.hostname, port: url.port, base: path.endsWith('/') ? path.slice(0, -1) : path });
		}
	}
	return { urls, mailto, listed: allowedLinks.join(', ') || 'none' };
}

/** Why a link is not one of the brief's links, or undefined when it is. */
export function linkRefusal(link: string, policy: LinkPolicy): string | undefined {
	const bare = link.trim();
	// A bare "www." link opens as http:// in mail clients.
	const url = parseUrl(/^www\./i.test(bare) ? `http://${bare}` : bare);
	if (!url) return 'it is not a complete http(s) URL';
	if (url.protocol === 'mailto:') {
		if (!policy.mailto) return undefined;
		const to = mailtoAddresses(url);
		if (!to || to.length === 0) return 'its mailto: address cannot be read';
		const other = to.find((a) => !policy.mailto!.has(a));
		return other === undefined ? undefined : `it mails ${show(other)}, which the brief does not list`;
	}
	if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${show(url.protocol)} links are never allowed`;
	if (policy.urls.length === 0) return 'the brief lists no links';
	const path = canonicalPath(url);
	const sameSite = policy.urls.filter((a) => a.hostname === url.hostname && a.port === url.port);
	if (sameSite.length === 0) return `it goes to ${show(url.host)}`;
	const sameScheme = sameSite.filter((a) => a.protocol === url.protocol);
	if (sameScheme.length === 0) return `it uses ${url.protocol.slice(0, -1)} where the brief says ${sameSite[0].protocol.slice(0, -1)}`;
	const sameUser = sameScheme.filter((a) => a.username === url.username && a.password === url.password);
	if (sameUser.length === 0) return 'it carries a user name or password';
	if (sameUser.some((a) => path === a.base || path.startsWith(`${a.base}/`))) return undefined;
	return `its path ${show(path)} is not under ${sameUser.map((a) => a.base || '/').join(' or ')}`;
}

/** Problems for every link of the copy that the brief does not allow (at most a few named, then a count). */
export function linkProblems(html: string, text: string, allowedLinks: string[]): string[] {
	const links = linksIn(html, text, MAX_LINKS + 1);
	if (links.length > MAX_LINKS) return [`the copy has more than ${MAX_LINKS} links; use only the brief's links (${allowedLinks.join(', ') || 'none'})`];
	const policy = linkPolicy(allowedLinks);
	const problems: string[] = [];
	for (const link of links) {
		const why = linkRefusal(link, policy);
		if (why) problems.push(`link ${show(link)} is not in the brief's links (${policy.listed}): ${why}`);
	}
	return problems;
}

function parseUrl(s: string): URL | undefined {
	try {
		return new URL(s);
	} catch {
		return undefined;
	}
}

const isUnreserved = (c: number) => isLetter(c) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
const hexValue = (c: number) => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);

/** The URL's path with unreserved characters percent-decoded, other escapes upper-cased, dot segments resolved. */
function canonicalPath(url: URL): string {
	let path = url.pathname;
	for (let round = 0; round < 3; round++) {
		const decoded = decodeUnreserved(path);
		if (!hasDotSegment(decoded)) return decoded;
		// Decoding made a "." or ".." segment: let the URL parser resolve it again.
		path = new URL(decoded, 'http://x.invalid').pathname;
	}
	return path;
}

/** A "." or ".." segment in a path that starts with "/". */
function hasDotSegment(path: string): boolean {
	return path.includes('/./') || path.includes('/../') || path.endsWith('/.') || path.endsWith('/..');
}

/** %41 → "A" for unreserved characters; every other escape in upper case (%2f → %2F). */
function decodeUnreserved(path: string): string {
	const out = new Splicer(path);
	for (let i = path.indexOf('%'); i >= 0 && i + 2 < path.length; i = path.indexOf('%', i + 1)) {
		const hi = hexValue(path.charCodeAt(i + 1));
		const lo = hexValue(path.charCodeAt(i + 2));
		if (hi < 0 || lo < 0) continue;
		const c = hi * 16 + lo;
		const escape = path.slice(i, i + 3);
		if (isUnreserved(c)) out.replace(i, i + 3, String.fromCharCode(c));
		else if (escape !== escape.toUpperCase()) out.replace(i, i + 3, escape.toUpperCase());
		i += 2;
	}
	return out.result();
}

/** The addresses a mailto: link writes to (path, and to/cc/bcc in the query), lower-cased; undefined if unreadable. */
function mailtoAddresses(url: URL): string[] | undefined {
	try {
		const parts = [decodeURIComponent(url.pathname)];
		for (const [k, v] of url.searchParams) if (['to', 'cc', 'bcc'].includes(k.toLowerCase())) parts.push(v);
		return parts
			.join(',')
			.split(',')
			.map((a) => a.trim().toLowerCase())
			.filter(Boolean);
	} catch {
		return undefined;
	}
}

/** A link as shown in a problem: one line, at most a couple of hundred characters. */
function show(s: string): string {
	const one = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
	return one.length > SHOWN_LENGTH ? `${one.slice(0, SHOWN_LENGTH)}…` : one;
}
