/**
 * A request body's JSON as one Buffer, written piece by piece. `JSON.stringify` of a 1,000-recipient
 * mail send is one string of about 2 MB: V8 allocates strings that size straight into its old
 * generation, where they stay after the request until a full mark-compact, and n8n's heap lets the
 * old generation grow to about twice its live size before one runs — a few hundred MB of RSS over a
 * long campaign. Serialized a personalization at a time, every string is small and dies young, and
 * the body lives outside the heap in a Buffer, leased from a pool that the next request reuses.
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
 * Body buffers: a request's body is written into a buffer taken from this pool and handed to the
 * HTTP client as a view of it, with no copy; when SendGrid has answered the request the buffer goes
 * back for the next body. A campaign's requests then reuse as many buffers as are in flight (each
 * about 2 MB for 1,000 recipients) instead of leaving a new one per request for the GC — freed late,
 * those added up to tens of MB of n8n's RSS. The pool is emptied once no body has been out for
 * IDLE_MS, so an idle n8n holds none.
 */
const KEEP_BYTES = 8 * 1024 * 1024;
const MAX_POOLED = 32;
const IDLE_MS = 10_000;
const FIRST_BYTES = 256 * 1024;
const pool: Buffer[] = [];
let leased = 0;
let idleTimer: NodeJS.Timeout | undefined;

function giveBack(buf: Buffer | undefined): void {
	leased--;
	if (buf && buf.length <= KEEP_BYTES && pool.length < MAX_POOLED) pool.push(buf);
	if (leased === 0 && pool.length > 0 && !idleTimer) {
		idleTimer = setTimeout(() => {
			idleTimer = undefined;
			if (leased === 0) pool.length = 0;
		}, IDLE_MS);
		idleTimer.unref();
	}
}

/** Pooled buffers and buffers out now (tests). */
export function bodyPoolState(): { pooled: number; leased: number } {
	return { pooled: pool.length, leased };
}

export interface JsonLease {
	/** The JSON text's bytes: a view of the leased buffer. */
	readonly body: Buffer;
	/** The request is over and SendGrid answered it: the buffer may carry the next body. Call at most once, and not while anything still reads `body`. */
	reuse(): void;
	/** The request failed or its bytes may still be read: the buffer is left to the GC. */
	drop(): void;
}

/** `value` as JSON text in a buffer leased from the pool (see reuse/drop). */
export function leaseJsonBuffer(value: unknown): JsonLease {
	if (idleTimer) {
		clearTimeout(idleTimer);
		idleTimer = undefined;
	}
	let out = pool.pop() ?? Buffer.allocUnsafeSlow(FIRST_BYTES);
	leased++;
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
	} catch (e) {
		giveBack(out);
		throw e;
	}
	let open = true;
	const buf = out;
	return {
		body: buf.subarray(0, at),
		reuse: () => {
			if (open) giveBack(buf);
			open = false;
		},
		drop: () => {
			if (open) giveBack(undefined);
			open = false;
		},
	};
}

/** `value` as JSON text in a Buffer of its own (exactly JSON.stringify's bytes). */
export function jsonBuffer(value: unknown): Buffer {
	const lease = leaseJsonBuffer(value);
	const own = Buffer.allocUnsafeSlow(lease.body.length);
	lease.body.copy(own);
	lease.reuse();
	return own;
}
