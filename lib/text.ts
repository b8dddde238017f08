/**
 * Linear-time building blocks for the text functions that see user, CSV, webhook or LLM text.
 *
 * Two costs are avoided. A regex whose quantifiers can overlap backtracks: "<<<<…" against /<[^>]+>/
 * costs n² steps (320 KB of crafted LLM output blocked the event loop for 15 s). And even a linear
 * global `replace` pays about a microsecond per match for its match object and result piece, so
 * 5 MB of two-character matches costs seconds; the scans here copy into one growing UTF-16 buffer
 * instead (tens of milliseconds for the same text).
 */

/**
 * Lower-cases for ASCII matching with the indexes unchanged. String#toLowerCase does that except for
 * "İ" (two characters in lower case) and the Kelvin sign (an ASCII "k"), so only text holding one of
 * those takes the slower letter-by-letter way.
 */
export function asciiLower(s: string): string {
	if (!s.includes('\u0130') && !s.includes('\u212a')) return s.toLowerCase();
	return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** JavaScript's `\s`: WhiteSpace and LineTerminator, the same set String#trim removes. */
export function isJsSpace(c: number): boolean {
	return (
		(c >= 9 && c <= 13) ||
		c === 32 ||
		c === 160 ||
		c === 5760 ||
		(c >= 8192 && c <= 8202) ||
		c === 8232 ||
		c === 8233 ||
		c === 8239 ||
		c === 8287 ||
		c === 12288 ||
		c === 65279
	);
}

/**
 * `indexOf(needle, from)` for scans that ask many times: the last answer is reused while it is still
 * ahead (the text from `from` to `at` is known to hold no other match), so a scan with growing `from`
 * searches the text once in total instead of once per question, and a question a little behind the
 * last one searches only the stretch in between.
 */
export class NextIndex {
	private from = Number.POSITIVE_INFINITY;
	private at = -1;

	constructor(
		private readonly text: string,
		private readonly needle: string,
	) {}

	of(from: number): number {
		if (from >= this.from && (this.at === -1 || from <= this.at)) return this.at;
		if (from < this.from && this.from !== Number.POSITIVE_INFINITY) {
			// Behind the known stretch: only [from, this.from) can hold an earlier match.
			const before = this.text.slice(from, this.from + this.needle.length - 1).indexOf(this.needle);
			if (before >= 0) this.at = from + before;
			this.from = from;
			return this.at;
		}
		this.from = from;
		this.at = this.text.indexOf(this.needle, from);
		return this.at;
	}
}

/**
 * The string of the first `n` code units. Text that is all Latin-1 (most of it) is decoded from one
 * byte a unit, which Node does several times faster than UTF-16 for megabytes.
 */
function unitsToString(units: Uint16Array, n: number, wide: boolean): string {
	if (!wide) {
		const bytes = Buffer.allocUnsafe(n);
		for (let i = 0; i < n; i++) bytes[i] = units[i];
		return bytes.toString('latin1', 0, n);
	}
	return Buffer.from(units.buffer, units.byteOffset, n * 2).toString('utf16le');
}

/** A string built by appending code units to one growing buffer: no piece per append. */
export class TextBuilder {
	private buf: Uint16Array;
	private n = 0;
	/** Some unit is above 255 (the result is not Latin-1). */
	private wide = false;

	constructor(capacity = 1024) {
		this.buf = new Uint16Array(Math.max(16, capacity));
	}

	private ensure(extra: number): void {
		if (this.n + extra <= this.buf.length) return;
		const bigger = new Uint16Array(Math.max(this.buf.length * 2, this.n + extra));
		bigger.set(this.buf.subarray(0, this.n));
		this.buf = bigger;
	}

	appendRange(s: string, start: number, end: number): void {
		if (end <= start) return;
		this.ensure(end - start);
		const b = this.buf;
		let n = this.n;
		let high = 0;
		for (let i = start; i < end; i++) {
			const c = s.charCodeAt(i);
			high |= c;
			b[n++] = c;
		}
		if (high > 255) this.wide = true;
		this.n = n;
	}

	append(s: string): void {
		this.appendRange(s, 0, s.length);
	}

	/** One character by its code point (two units above U+FFFF). */
	appendCodePoint(cp: number): void {
		this.ensure(2);
		if (cp > 0xffff) {
			this.buf[this.n++] = 0xd800 + ((cp - 0x10000) >> 10);
			this.buf[this.n++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
		} else this.buf[this.n++] = cp;
		if (cp > 255) this.wide = true;
	}

	toString(): string {
		return unitsToString(this.buf, this.n, this.wide);
	}
}

/** Replaces ranges of a text, left to right; the untouched text is copied once, at the end of the scan. */
export class Splicer {
	private out?: TextBuilder;
	private last = 0;

	constructor(private readonly text: string) {}

	replace(start: number, end: number, replacement: string): void {
		this.out ??= new TextBuilder(this.text.length + 16);
		this.out.appendRange(this.text, this.last, start);
		this.out.append(replacement);
		this.last = end;
	}

	result(): string {
		if (!this.out) return this.text;
		this.out.appendRange(this.text, this.last, this.text.length);
		return this.out.toString();
	}
}

/**
 * A function that replaces single ASCII characters by strings (possibly empty), in two passes over
 * the text with lookup tables built once: no callback and no piece per match. Other code units, lone
 * surrogates included, are copied unchanged.
 */
export function codeUnitReplacer(replacements: Readonly<Record<string, string>>): (s: string) => string {
	const first = new Int32Array(128).fill(-1);
	const size = new Int32Array(128);
	const flat: number[] = [];
	let wideReplacement = false;
	for (const [ch, to] of Object.entries(replacements)) {
		const c = ch.charCodeAt(0);
		if (ch.length !== 1 || c >= 128) throw new Error(`codeUnitReplacer replaces ASCII characters, not ${JSON.stringify(ch)}`);
		first[c] = flat.length;
		size[c] = to.length;
		for (let k = 0; k < to.length; k++) {
			flat.push(to.charCodeAt(k));
			if (to.charCodeAt(k) > 255) wideReplacement = true;
		}
	}
	const units = Uint16Array.from(flat);
	return (s) => {
		const n = s.length;
		let outLength = n;
		let found = false;
		let high = 0;
		for (let i = 0; i < n; i++) {
			const c = s.charCodeAt(i);
			if (c < 128) {
				if (first[c] >= 0) {
					outLength += size[c] - 1;
					found = true;
				}
			} else high |= c;
		}
		if (!found) return s;
		// Latin-1 text (most of it) is written one byte a unit: half the memory, and Node decodes it fastest.
		const out = high > 255 || wideReplacement ? new Uint16Array(outLength) : new Uint8Array(outLength);
		let j = 0;
		for (let i = 0; i < n; i++) {
			const c = s.charCodeAt(i);
			const at = c < 128 ? first[c] : -1;
			if (at < 0) out[j++] = c;
			else for (let k = at, end = at + size[c]; k < end; k++) out[j++] = units[k];
		}
		return out instanceof Uint8Array ? Buffer.from(out.buffer, 0, j).toString('latin1') : unitsToString(out, j, true);
	};
}

/** Each maximal run of code units for which `inRun` holds becomes `replacement` (what `replace(/[…]+/g, r)` does). */
export function replaceRuns(s: string, inRun: (c: number) => boolean, replacement: string): string {
	const out = new Splicer(s);
	const n = s.length;
	for (let i = 0; i < n; i++) {
		if (!inRun(s.charCodeAt(i))) continue;
		let end = i + 1;
		while (end < n && inRun(s.charCodeAt(end))) end++;
		out.replace(i, end, replacement);
		i = end;
	}
	return out.result();
}

/** The text without trailing `ch` characters (what `replace(/x+$/, '')` does, without its n² backtracking). */
export function trimEndChar(s: string, ch: string): string {
	let end = s.length;
	while (end > 0 && s[end - 1] === ch) end--;
	return end === s.length ? s : s.slice(0, end);
}

/**
 * Each run of characters other than a–z and 0–9 becomes one "_", and none is left at either end:
 * `replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '')` in one pass.
 */
export function underscoreRuns(s: string): string {
	const n = s.length;
	const out = new Uint16Array(n);
	let j = 0;
	let gap = false;
	for (let i = 0; i < n; i++) {
		const c = s.charCodeAt(i);
		if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) {
			if (gap && j > 0) out[j++] = 95;
			gap = false;
			out[j++] = c;
		} else gap = true;
	}
	return unitsToString(out, j, false);
}
