/** The contact loader under hostile CSV: broken quoting, BOMs, mixed line endings, huge fields, formula cells, 100,000 rows. */
import fc from 'fast-check';
import { contactsFromCsv, escapeCsvFormula } from '../../lib/contacts/loadContacts';
import { CampaignInputError } from '../../lib/schemas';
import { recordTally } from '../helpers/tally';

jest.setTimeout(120_000);

const cell = fc.oneof(
	fc.string({ maxLength: 30 }),
	fc.constantFrom('"', '""', '"unterminated', '=cmd|"/c calc"!A1', '+SUM(1)', '@x', '-1', '\uFEFF', '\r', '\n', '\r\n', ',', ';', 'ada@example.com', 'BOB@EXAMPLE.COM ', 'not@', '<script>'),
	fc.emailAddress(),
);
const row = fc.array(cell, { minLength: 0, maxLength: 5 });
const eol = fc.constantFrom('\n', '\r\n', '\r');

describe('CSV fuzzing', () => {
	let inputs = 0;
	let rejected = 0;
	/** Rows read but neither a contact nor an invalid row, and addresses kept twice: both must stay 0. */
	let lost = 0;
	let duplicates = 0;
	afterAll(() => recordTally({ suite: 'csv-fuzz', inputs, rejected, lost, duplicates }));

	it('never crashes: either a clear whole-file error or every row accounted for with a reason', async () => {
		await fc.assert(
			fc.asyncProperty(fc.array(row, { maxLength: 40 }), eol, fc.boolean(), async (rows, nl, bom) => {
				inputs++;
				const text = (bom ? '\uFEFF' : '') + ['email,first_name,company', ...rows.map((r) => r.join(','))].join(nl);
				let result;
				try {
					result = await contactsFromCsv(text);
				} catch (e) {
					expect(e).toBeInstanceOf(CampaignInputError);
					expect((e as Error).message.length).toBeGreaterThan(10);
					rejected++;
					return;
				}
				for (const bad of result.invalid) {
					expect(bad.reason).toEqual(expect.any(String));
					expect(bad.reason.length).toBeGreaterThan(3);
					expect(bad.row).toBeGreaterThanOrEqual(1);
				}
				rejected += result.invalid.length;
				// Every row read is either a contact or an invalid row: nothing dropped silently.
				lost += Math.abs(result.total - result.contacts.length - result.invalid.length);
				expect(result.contacts.length + result.invalid.length).toBe(result.total);
				const emails = result.contacts.map((c) => c.email);
				duplicates += emails.length - new Set(emails).size;
				expect(new Set(emails).size).toBe(emails.length);
				for (const e of emails) expect(e).toBe(e.trim().toLowerCase());
			}),
			{ numRuns: 400, seed: 20261124 },
		);
	});

	it('reads 100,000 rows with mixed line endings and reports every bad row', async () => {
		const lines = ['email,first_name'];
		for (let i = 0; i < 100_000; i++) lines.push(i % 1000 === 0 ? `broken-${i},X` : `user${i}@example.org,U${i}`);
		const text = lines.map((l, i) => l + (i % 3 === 0 ? '\r\n' : '\n')).join('');
		const r = await contactsFromCsv(text);
		inputs += 100_000;
		expect(r.contacts).toHaveLength(99_900);
		expect(r.invalid).toHaveLength(100);
		expect(r.invalid[0]).toMatchObject({ row: 2, reason: expect.stringMatching(/not a valid email/) });
	});

	it('keeps huge fields out and names them', async () => {
		const r = await contactsFromCsv(`email,note\nada@example.com,${'x'.repeat(2_000_000)}\ngrace@example.com,ok`);
		expect(r.contacts.map((c) => c.email)).toEqual(['grace@example.com']);
		expect(r.invalid[0].reason).toMatch(/field "note" is 2000000 characters long/);
	});

	it('escapes formula cells in exports', () => {
		fc.assert(
			fc.property(fc.string(), (s) => {
				const out = escapeCsvFormula(s);
				expect(/^[=+\-@\t\r]/.test(out)).toBe(false);
			}),
			{ numRuns: 500, seed: 7 },
		);
	});
});

describe('formula cells in the Invalid output', () => {
	it('come out escaped so a spreadsheet export cannot run them', async () => {
		const r = await contactsFromCsv('email,name\n=cmd|/c calc!A1,x\n@SUM(A1),y\n+1-1,w\nok@example.com,z\n=HYPERLINK("x"),q');
		expect(r.invalid.map((x) => x.email)).toEqual(["'=cmd|/c calc!A1", "'@SUM(A1)", "'+1-1", '']);
		expect(r.invalid[3]).toMatchObject({ row: 6, reason: expect.stringMatching(/unreadable CSV row/) });
		expect(r.contacts).toHaveLength(1);
	});
});
