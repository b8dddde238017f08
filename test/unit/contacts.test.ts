import { EmailFingerprints, contactsFromCsv, contactsFromRows, csvContactChunks, escapeCsvFormula, parseColumnMap } from '../../lib/contacts/loadContacts';
import { CampaignInputError } from '../../lib/schemas';
import { contacts, csvOf } from '../helpers/fixtures';

describe('contacts from CSV', () => {
	it('trims and lower-cases emails, keeps custom fields as merge fields and reports bad rows with line numbers', async () => {
		const csv = 'Email,First Name,Company\n  Ada@Example.COM ,Ada,Acme\nnot-an-email,Bob,Beta\n,Empty,Co\nada@example.com,Ada again,Acme\ngrace@example.com,Grace,Navy\n';
		const r = await contactsFromCsv(csv);
		expect(r.contacts).toEqual([
			{ email: 'ada@example.com', first_name: 'Ada', company: 'Acme' },
			{ email: 'grace@example.com', first_name: 'Grace', company: 'Navy' },
		]);
		expect(r.invalid).toEqual([
			{ row: 3, email: 'not-an-email', reason: '"not-an-email" is not a valid email address' },
			{ row: 4, email: '', reason: 'email is empty' },
			{ row: 5, email: 'ada@example.com', reason: 'duplicate of row 2' },
		]);
		expect(r.total).toBe(5);
	});

	it('reads a BOM, semicolons, windows-1252 bytes and a column mapping', async () => {
		const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('Mail;Vorname\r\nzoe@example.de;Zo', 'latin1'), Buffer.from([0xeb])]);
		const utf8 = await contactsFromCsv(bytes, { delimiter: ';', columnMap: parseColumnMap('Vorname=first_name') });
		expect(utf8.contacts[0].email).toBe('zoe@example.de');
		const latin = await contactsFromCsv(Buffer.from('email;Vorname\nzoe@example.de;Zo\xeb', 'latin1'), { delimiter: ';', encoding: 'windows-1252', columnMap: parseColumnMap('Vorname=first_name') });
		expect(latin.contacts).toEqual([{ email: 'zoe@example.de', first_name: 'Zoë' }]);
	});

	it('names the fix for an empty file, a header-only file, a missing email column and a wrong delimiter', async () => {
		await expect(contactsFromCsv('')).rejects.toThrow(/The CSV is empty/);
		await expect(contactsFromCsv('email,first_name\n')).rejects.toThrow(/header row but no contacts/);
		await expect(contactsFromCsv('name,phone\nAda,123')).rejects.toThrow(/no email column.*"name", "phone".*Email Column/);
		await expect(contactsFromCsv('email;first_name\nada@example.com;Ada')).rejects.toThrow(/delimiter looks like ";"/);
		await expect(contactsFromCsv('email,name\nada@example.com,Ada', { emailColumn: 'mail' })).rejects.toThrow(CampaignInputError);
	});

	it('reports rows with the wrong number of fields or broken quoting instead of failing the file', async () => {
		const csv = 'email,first_name\nada@example.com,Ada\nbob@example.com,Bob,extra\n"carol@example.com,Carol\ndan@example.com,Dan';
		const r = await contactsFromCsv(csv);
		expect(r.contacts.map((c) => c.email)).toContain('ada@example.com');
		expect(r.invalid.find((x) => x.email === 'bob@example.com')?.reason).toMatch(/has 3 fields but the header has 2/);
		expect(r.invalid.length + r.contacts.length).toBeGreaterThanOrEqual(3);
		for (const bad of r.invalid) expect(bad.reason.length).toBeGreaterThan(5);
	});

	it('rejects oversize fields with the field named', async () => {
		const r = await contactsFromCsv(`email,note\nada@example.com,${'x'.repeat(10_001)}`);
		expect(r.invalid[0].reason).toMatch(/field "note" is 10001 characters/);
	});
});

describe('contacts from items', () => {
	it('uses the email field, stringifies values and reports positions', () => {
		const r = contactsFromRows([{ mail: 'A@x.io', age: 42, tags: ['a'] }, { mail: 'bad' }], { emailField: 'mail' });
		expect(r.contacts).toEqual([{ email: 'a@x.io', age: '42', tags: '["a"]' }]);
		expect(r.invalid).toEqual([{ row: 2, email: 'bad', reason: '"bad" is not a valid email address' }]);
	});
});

describe('formula escaping for exports', () => {
	it('prefixes cells a spreadsheet would execute', () => {
		expect(escapeCsvFormula('=cmd|"/c calc"!A1')).toBe('\'=cmd|"/c calc"!A1');
		expect(escapeCsvFormula('@SUM(1)')).toBe("'@SUM(1)");
		expect(escapeCsvFormula('Ada')).toBe('Ada');
	});
});

describe('streamed contacts', () => {
	it('the fingerprint table finds every repeat with its first row and takes no two of 300,000 addresses for one', () => {
		const seen = new EmailFingerprints();
		for (let i = 0; i < 300_000; i++) {
			const email = `person.${i}@example${i % 97}.com`;
			expect(seen.firstRow(email)).toBeUndefined();
			seen.add(email, i + 2);
		}
		expect(seen.size).toBe(300_000);
		for (const i of [0, 1, 4_095, 4_096, 150_000, 299_999]) expect(seen.firstRow(`person.${i}@example${i % 97}.com`)).toBe(i + 2);
	});

	it('chunks of a CSV hold the same contacts and invalid rows as the whole-file load, cut every N valid contacts or invalid rows', async () => {
		const rows = contacts(1_000).map((c, i) => (i % 7 === 0 ? { ...c, email: `bad-${i}` } : i === 900 ? { ...c, email: contacts(1_000)[3].email } : c));
		const csv = csvOf(rows);
		const whole = await contactsFromCsv(csv);
		const chunks = [];
		for await (const chunk of csvContactChunks(csv, {}, 100)) chunks.push(chunk);
		expect(chunks.slice(0, -1).every((c) => c.contacts.length + c.invalid.length === 100)).toBe(true);
		expect(chunks.flatMap((c) => c.contacts)).toEqual(whole.contacts);
		expect(chunks.flatMap((c) => c.invalid)).toEqual(whole.invalid);
		expect(chunks.reduce((n, c) => n + c.rows, 0)).toBe(whole.total);
		expect(whole.invalid).toContainEqual({ row: 902, email: rows[3].email.toLowerCase(), reason: 'duplicate of row 5' });
	});
});
