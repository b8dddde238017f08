/**
 * A request body's JSON as one Buffer, written piece by piece. `JSON.stringify` of a 1,000-recipient
 * mail send is one string of about 2 MB: V8 allocates strings that size straight into its old
 * generation, where they stay after the request until a full mark-compact, and n8n's heap lets the
 * old generation grow to about twice its live size before one runs — a few hundred MB of RSS over a
 * long campaign. Serialized a personalization at a time, every string is small and dies young, and
 * the body lives outside the heap in a Buffer that is freed with the request.
 *
 * The text is exactly `JSON.stringify(value)`'s (test/unit/jsonBody.test.ts holds it to that).
 */

/** Objects and arrays down to this depth are written member by member; deeper values whole. */
const SPLIT_DEPTH = 2;

function isPlainObject(v: unknown): v is Record<string, unknown> {
	if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
	const proto = Object.getPrototypeOf(v) as unknown;
	return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
const omitted = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * The buffer bodies are written into before their exact-size copy is made: one per process, reused
 * (a call never yields), kept while it is at most KEEP_SCRATCH bytes. Growing a fresh buffer per body
 * would leave about twice the body's size of garbage buffers for every request.
 */
const KEEP_SCRATCH = 8 * 1024 * 1024;
let scratch: Buffer | undefined;

export function jsonBuffer(value: unknown): Buffer {
	let out = scratch ?? Buffer.allocUnsafeSlow(256 * 1024);
	scratch = undefined;
	let at = 0;
	const push = (s: string) => {
		const need = at + Buffer.byteLength(s);
		if (need > out.length) {
			const bigger = Buffer.allocUnsafeSlow(Math.max(need, out.length * 2));
			out.copy(bigger, 0, 0, at);
			out = bigger;
		}
		at += out.write(s, at, 'utf8');
	};
	const write = (v: unknown, depth: number): void => {
		if (depth < SPLIT_DEPTH && Array.isArray(v)) {
			push('[');
			for (let i = 0; i < v.length; i++) {
				if (i > 0) push(',');
				const x: unknown = v[i];
				if (omitted(x)) push('null');
				else write(x, depth + 1);
			}
			push(']');
			return;
		}
		if (depth < SPLIT_DEPTH && isPlainObject(v)) {
			push('{');
			let first = true;
			for (const key of Object.keys(v)) {
				const x = v[key];
				if (omitted(x)) continue;
				push(`${first ? '' : ','}${JSON.stringify(key)}:`);
				first = false;
				write(x, depth + 1);
			}
			push('}');
			return;
		}
		// Undefined, a function or a symbol at the top: JSON.stringify gives no text; a body is never one.
		push(JSON.stringify(v) ?? 'null');
	};
	try {
		write(value, 0);
		const body = Buffer.allocUnsafeSlow(at);
		out.copy(body, 0, 0, at);
		return body;
	} finally {
		if (out.length <= KEEP_SCRATCH) scratch = out;
	}
}
