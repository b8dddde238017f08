/**
 * Masks secrets in any text that leaves the package: error messages, stored error columns, the
 * dashboard. What counts as a secret: URL userinfo, Authorization values (Bearer/Basic and header
 * echoes), API-key shapes (SendGrid `SG.…`, OpenAI-style `sk-…`, campaign API keys `eca_live_…`), values of secret-named fields
 * (`password=…`, `?api_key=…`, `"token": "…"`) and any literal secret the caller knows.
 *
 * The text can be a server's whole reply (megabytes), so every pass is one forward scan with
 * indexOf/charCodeAt: nothing that backtracks.
 */

export const MASK = '***';

/** Known secrets shorter than this are not masked literally: masking every "ab" would wreck the text. */
const MIN_KNOWN_SECRET = 4;

/** Field and query names whose values are secrets (compared lowercased, without "-" and "_"). */
const SECRET_NAME_PARTS = ['key', 'token', 'secret', 'pass', 'pwd', 'sig', 'auth', 'credential', 'session', 'jwt', 'bearer'];

/** Header names whose whole value is a secret when a server echoes the request back. */
const SECRET_HEADERS = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'x-auth-token']);

const MAX_NAME = 64;

const AUTH_SCHEMES = new Set(['bearer', 'basic', 'token', 'digest', 'negotiate', 'apikey']);

/** True for names such as api_key, X-Amz-Signature, access_token, password, client_secret. */
export function isSecretName(name: string): boolean {
	if (name.length < 3) return false;
	let n = name.toLowerCase();
	if (n.includes('_') || n.includes('-')) n = n.replace(/[-_]/g, '');
	for (const p of SECRET_NAME_PARTS) if (n.includes(p)) return true;
	return false;
}

/** Masks userinfo and secret-looking query parameters of one URL (also a URL with no scheme, `user:pass@host`). */
export function redactUrl(url: string): string {
	if (!url) return url;
	let text = url;
	if (!text.includes('://')) {
		const at = text.indexOf('@');
		const slash = text.indexOf('/');
		if (at > 0 && (slash < 0 || at < slash)) text = MASK + text.slice(at);
	}
	return redactSecrets(text);
}

/**
 * Masks every secret in `text`. `knownSecrets` (API keys, passwords of the credential in use) are
 * masked wherever they appear, also URL-encoded or JSON-escaped.
 */
export function redactSecrets(text: string, knownSecrets: ReadonlyArray<string | null | undefined> = []): string {
	if (typeof text !== 'string' || text.length === 0) return text;
	let out = maskKnown(text, knownSecrets);
	out = maskUserinfo(out);
	out = maskKeyShapes(out);
	out = maskNamedValues(out);
	return out;
}

/** Redacts, then caps what is copied from a server's reply (so a huge body never becomes an error message). */
export function redactDetail(text: string, knownSecrets: ReadonlyArray<string | null | undefined> = [], max = 500): string {
	return clip(redactSecrets(String(text ?? ''), knownSecrets), max);
}

export function clip(text: string, max: number): string {
	return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

function maskKnown(text: string, known: ReadonlyArray<string | null | undefined>): string {
	const variants = new Set<string>();
	for (const s of known) {
		if (typeof s !== 'string') continue;
		for (const v of [s, s.trim()]) {
			if (v.length < MIN_KNOWN_SECRET) continue;
			variants.add(v);
			variants.add(encodeURIComponent(v));
			variants.add(JSON.stringify(v).slice(1, -1));
		}
	}
	// Longest first, so a secret that contains another is masked whole.
	for (const v of [...variants].sort((a, b) => b.length - a.length)) if (text.includes(v)) text = text.split(v).join(MASK);
	return text;
}

const isSpace = (c: number) => c === 32 || c === 9;
const isAlnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
/** Characters of identifiers and header names. */
const isNameChar = (c: number) => isAlnum(c) || c === 95 || c === 45;
/** Characters of tokens: API keys, bearer tokens, base64. */
const isTokenChar = (c: number) => isAlnum(c) || c === 45 || c === 95 || c === 46 || c === 126 || c === 43 || c === 47 || c === 61;
/** Where a URL or an unquoted value ends in running text. */
const isValueEnd = (c: number) => c <= 32 || c === 34 || c === 39 || c === 96 || c === 60 || c === 62 || c === 92 || c === 38;

/** Collects [start, end) ranges to replace, then builds the result once. */
class Masker {
	private out = '';
	private last = 0;
	private changed = false;
	constructor(private readonly text: string) {}
	mask(start: number, end: number, replacement = MASK): void {
		if (start < this.last || end <= start) return;
		this.out += this.text.slice(this.last, start) + replacement;
		this.last = end;
		this.changed = true;
	}
	result(): string {
		return this.changed ? this.out + this.text.slice(this.last) : this.text;
	}
}

/** scheme://user:pass@host → scheme://***@host, for every URL in the text. */
function maskUserinfo(text: string): string {
	const m = new Masker(text);
	let from = 0;
	for (;;) {
		const p = text.indexOf('://', from);
		if (p < 0) break;
		const start = p + 3;
		let e = start;
		let at = -1;
		for (; e < text.length; e++) {
			const c = text.charCodeAt(e);
			if (c === 47 || c === 63 || c === 35 || (isValueEnd(c) && c !== 38)) break;
			if (c === 64) at = e;
		}
		if (at >= 0) m.mask(start, at);
		// The authority may end on the ':' of the next URL's "://".
		from = Math.max(e - 1, start);
	}
	return m.result();
}

/** SendGrid keys (SG.xxx.yyy) and OpenAI-style keys (sk-…, sk-proj-…), wherever they stand. */
function maskKeyShapes(text: string): string {
	const m = new Masker(text);
	const shapes: Array<{ prefix: string; min: number; allowDot: boolean }> = [
		{ prefix: 'SG.', min: 8, allowDot: true },
		{ prefix: 'sk-', min: 16, allowDot: false },
		// Campaign API keys (lib/api/apiKeys.ts): eca_live_<id>_<secret>; the listed prefix eca_live_<id>… stays.
		{ prefix: 'eca_live_', min: 20, allowDot: false },
	];
	// One scan per shape; each is linear and their matches never overlap (different first letters).
	const found: Array<[number, number, string]> = [];
	for (const s of shapes) {
		let from = 0;
		for (;;) {
			const p = text.indexOf(s.prefix, from);
			if (p < 0) break;
			let e = p + s.prefix.length;
			while (e < text.length) {
				const c = text.charCodeAt(e);
				if (!(isAlnum(c) || c === 45 || c === 95 || (s.allowDot && c === 46))) break;
				e++;
			}
			const boundary = p === 0 || !isAlnum(text.charCodeAt(p - 1));
			if (boundary && e - p - s.prefix.length >= s.min) found.push([p + s.prefix.length, e, s.prefix]);
			from = Math.max(e, p + 1);
		}
	}
	found.sort((a, b) => a[0] - b[0]);
	for (const [start, end] of found) m.mask(start, end);
	return m.result();
}

/**
 * Values that follow a secret name: `Bearer <token>`, `Basic <base64>`, `Authorization: <value>`,
 * `password=<value>`, `"api_key": "<value>"`. One scan over the identifiers of the text.
 */
function maskNamedValues(text: string): string {
	const m = new Masker(text);
	const n = text.length;
	let i = 0;
	while (i < n) {
		if (!isNameChar(text.charCodeAt(i))) {
			i++;
			continue;
		}
		const start = i;
		while (i < n && isNameChar(text.charCodeAt(i))) i++;
		// Field and header names are short; a long run of letters is data (and is not copied to look at).
		if (i - start > MAX_NAME) continue;
		const name = text.slice(start, i).toLowerCase();
		if (name === 'bearer' || name === 'basic') {
			i = maskSchemeToken(text, i, name, m);
			continue;
		}
		if (SECRET_HEADERS.has(name)) {
			i = maskHeaderValue(text, start, i, m);
			continue;
		}
		if (!isSecretName(name)) continue;
		i = maskAssignedValue(text, start, i, m);
	}
	return m.result();
}

/** After "Bearer"/"Basic": the credential that follows one or more spaces. */
function maskSchemeToken(text: string, i: number, scheme: string, m: Masker): number {
	let j = i;
	while (j < text.length && isSpace(text.charCodeAt(j))) j++;
	if (j === i) return i;
	const start = j;
	let lowerOnly = true;
	while (j < text.length && isTokenChar(text.charCodeAt(j))) {
		const c = text.charCodeAt(j);
		if (c < 97 || c > 122) lowerOnly = false;
		j++;
	}
	const len = j - start;
	// Plain words ("Bearer authentication required", "Basic auth") are prose, not credentials.
	const credential = scheme === 'basic' ? len >= 8 && len % 4 === 0 && !lowerOnly : len >= 20 || (len >= 8 && !lowerOnly);
	if (credential) m.mask(start, j);
	return j;
}

/** After a header name such as Authorization: the whole value (to the end of the line), keeping the scheme word. */
function maskHeaderValue(text: string, start: number, i: number, m: Masker): number {
	let j = i;
	if (text.charCodeAt(j) === 34 || text.charCodeAt(j) === 39) j++;
	while (j < text.length && isSpace(text.charCodeAt(j))) j++;
	// `api-key=…` in a query string is an assignment: its value ends where the parameter does.
	if (text.charCodeAt(j) !== 58) return maskAssignedValue(text, start, i, m);
	j++;
	while (j < text.length && isSpace(text.charCodeAt(j))) j++;
	const quote = text.charCodeAt(j) === 34 || text.charCodeAt(j) === 39 ? text.charCodeAt(j++) : 0;
	// Keep a scheme word so the text still says what kind of credential it was.
	let w = j;
	while (w < text.length && isAlnum(text.charCodeAt(w))) w++;
	if (w > j && AUTH_SCHEMES.has(text.slice(j, w).toLowerCase()) && isSpace(text.charCodeAt(w))) {
		j = w;
		while (j < text.length && isSpace(text.charCodeAt(j))) j++;
	}
	const end = quote ? scanQuoted(text, j, quote) : scanUntilLineEnd(text, j);
	m.mask(j, end);
	return end;
}

/** After a secret-looking name: `name=value`, `name = 'value'`, or the JSON form `"name": "value"`. */
function maskAssignedValue(text: string, start: number, i: number, m: Masker): number {
	let j = i;
	const quotedName = start > 0 && (text.charCodeAt(start - 1) === 34 || text.charCodeAt(start - 1) === 39) && text.charCodeAt(j) === text.charCodeAt(start - 1);
	if (quotedName) j++;
	while (j < text.length && isSpace(text.charCodeAt(j))) j++;
	const sep = text.charCodeAt(j);
	// An unquoted `name: value` is ordinary prose ("secret: is required"); only `=` or a JSON key assigns.
	if (!(sep === 61 || (sep === 58 && quotedName))) return i;
	j++;
	while (j < text.length && isSpace(text.charCodeAt(j))) j++;
	const q = text.charCodeAt(j);
	if (q === 34 || q === 39) {
		const end = scanQuoted(text, j + 1, q);
		m.mask(j + 1, end);
		return end;
	}
	if (quotedName) return j; // a JSON number, true/false or null: not a secret string
	let e = j;
	while (e < text.length && !isValueEnd(text.charCodeAt(e))) e++;
	m.mask(j, e);
	return e;
}

/** Index of the closing quote (backslash escapes skipped), or the end of the text. */
function scanQuoted(text: string, j: number, quote: number): number {
	while (j < text.length) {
		const c = text.charCodeAt(j);
		if (c === 92) j += 2;
		else if (c === quote) return j;
		else j++;
	}
	return text.length;
}

function scanUntilLineEnd(text: string, j: number): number {
	while (j < text.length) {
		const c = text.charCodeAt(j);
		if (c === 10 || c === 13) return j;
		j++;
	}
	return text.length;
}
