/**
 * Lists sent to Postgres as one JSON text parameter instead of a `text[]`. node-postgres writes a JS
 * array as an array literal built a value at a time (quoted, escaped, concatenated): in the send path,
 * with thousands of values per batch, that was the largest single allocation of a campaign (over 200
 * bytes of garbage per value). `JSON.stringify` writes the same list natively as one flat string.
 */

/** SQL for the `text[]` in JSON text parameter `$n` (a list of strings or nulls), in the list's order. */
export function textArrayOf(n: number): string {
	return `ARRAY(SELECT v FROM json_array_elements_text($${n}::json) WITH ORDINALITY AS t(v, i) ORDER BY i)`;
}

/** SQL for the `bigint[]` in JSON text parameter `$n` (ids as strings or numbers). */
export function bigintArrayOf(n: number): string {
	return `ARRAY(SELECT v::bigint FROM json_array_elements_text($${n}::json) AS t(v))`;
}

/**
 * One JSON escape, read from its backslash: a lone surrogate's `\udXXX` or any other escape's
 * backslash and the character after it. Matching escapes left to right from each backslash keeps
 * `\\` pairs together, so an escaped backslash before "udXXX" is never mistaken for an escape, and
 * every match is decided in a fixed number of steps (linear in the text).
 */
const ESCAPE = /\\(?:ud[89a-f][0-9a-f]{2}|[^])/g;

/**
 * JSON text Postgres accepts for these values: JSON.stringify escapes a lone surrogate (\udXXX),
 * which Postgres' json refuses; it becomes U+FFFD, as node-postgres' UTF-8 encoding of a text[] made it.
 */
export function pgJson(text: string): string {
	return text.includes('\\ud') ? text.replace(ESCAPE, (escape) => (escape.length === 6 ? '\\ufffd' : escape)) : text;
}

/** The JSON text of a list parameter. */
export function jsonList(values: ReadonlyArray<string | number | null>): string {
	return pgJson(JSON.stringify(values));
}
