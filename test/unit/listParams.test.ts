/**
 * pgJson: the JSON text of list parameters sent to Postgres. A lone surrogate (which Postgres' json
 * refuses) becomes U+FFFD; every other character, escaped backslashes before "ud…" included, comes
 * back exactly.
 */
import fc from 'fast-check';
import { jsonList, pgJson } from '../../lib/store/listParams';

/** What the value should read as in Postgres: each lone surrogate replaced by U+FFFD. */
const wellFormed = (s: string) => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');

describe('pgJson', () => {
	it('replaces lone surrogates only, whatever backslashes come before them', () => {
		const cases: Array<[string, string]> = [
			['\ud800', '\ufffd'],
			['a\udfffb', 'a\ufffdb'],
			['\\ud800', '\\ud800'], // a backslash and the letters "ud800": text, not an escape
			['\\\ud800', '\\\ufffd'],
			['\\\\ud83d', '\\\\ud83d'],
			['😀', '😀'],
			['\ud83d\ude00\ud83d', '😀\ufffd'],
			['\u0001\ud800\\', '\u0001\ufffd\\'],
		];
		for (const [value, stored] of cases) expect([value, JSON.parse(jsonList([value, null]))]).toEqual([value, [stored, null]]);
	});

	it('agrees with a reference on random strings of backslashes, "u", "d8", hex digits and surrogates', () => {
		const piece = fc.constantFrom('\\', 'u', 'd', '8', 'f', '0', 'a', '"', '\ud800', '\udc00', '\ud83d', '\ude00', '😀', 'x', '\n');
		fc.assert(
			fc.property(fc.array(fc.array(piece, { maxLength: 30 }).map((p) => p.join('')), { maxLength: 5 }), (values) => {
				const text = JSON.stringify(values);
				expect(JSON.parse(pgJson(text))).toEqual(values.map(wellFormed));
			}),
			{ numRuns: 2000, seed: 20261126 },
		);
	});

	it('leaves text without a surrogate escape as the same string', () => {
		const text = JSON.stringify(['\\'.repeat(1000) + 'ud800', 'plain']);
		expect(pgJson(text)).toBe(text);
	});
});
