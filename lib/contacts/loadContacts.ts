/**
 * Contacts from CSV text/bytes or from plain rows: validated, normalised and de-duplicated.
 * Every rejected row comes back with its row number and a reason; nothing is dropped silently.
 */
import { parse } from 'csv-parse/sync';
import { CampaignInputError, Contact, isValidEmail, normalizeEmail } from '../schemas';

export interface InvalidRow {
	/** CSV: the line number as a spreadsheet shows it (header = 1). Rows: the 1-based position. */
	row: number;
	email: string;
	reason: string;
}

export interface ContactList {
	contacts: Contact[];
	invalid: InvalidRow[];
	/** Rows read, valid and invalid. */
	total: number;
}

export interface CsvOptions {
	delimiter?: string;
	/** Any encoding TextDecoder knows: utf-8, utf-16le, windows-1252, iso-8859-1, ... */
	encoding?: string;
	/** Header of the column holding the address; default: the first of email, e-mail, email_address, mail. */
	emailColumn?: string;
	/** Rename columns to merge-field names, e.g. { Vorname: 'first_name' }. */
	columnMap?: Record<string, string>;
}

export interface RowOptions {
	emailField?: string;
	columnMap?: Record<string, string>;
}

const EMAIL_HEADERS = ['email', 'e-mail', 'email_address', 'email address', 'emailaddress', 'mail', 'e_mail'];
const MAX_FIELD_CHARS = 10_000;
const LIKELY_DELIMITERS = [',', ';', '\t', '|'];

/** "First Name" → "first_name": the form merge tags use. */
export function mergeFieldName(header: string): string {
	return header
		.trim()
		.toLowerCase()
		.replace(/[^a-z0-9]+/g, '_')
		.replace(/^_+|_+$/g, '');
}

function decode(input: string | Uint8Array, encoding: string): string {
	if (typeof input === 'string') return input;
	try {
		return new TextDecoder(encoding, { fatal: false }).decode(input);
	} catch {
		throw new CampaignInputError(`Unknown encoding "${encoding}" — use utf-8, utf-16le, windows-1252 or iso-8859-1`, 'encoding');
	}
}

function describeHeader(headers: string[]): string {
	return headers.map((h) => `"${h}"`).join(', ');
}

/** Stringifies a cell for use as a merge value; objects become JSON so no data is lost. */
function cellText(value: unknown): string {
	if (value === null || value === undefined) return '';
	if (typeof value === 'string') return value;
	if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
	return JSON.stringify(value);
}

class ContactCollector {
	readonly contacts: Contact[] = [];
	readonly invalid: InvalidRow[] = [];
	private readonly firstRowOf = new Map<string, number>();
	total = 0;

	add(row: number, rawEmail: unknown, fields: Record<string, string>): void {
		this.total++;
		const shown = typeof rawEmail === 'string' ? rawEmail : cellText(rawEmail);
		const email = normalizeEmail(shown);
		if (!email) return this.reject(row, shown, 'email is empty');
		if (!isValidEmail(email)) return this.reject(row, shown, `"${shown.trim().slice(0, 100)}" is not a valid email address`);
		const first = this.firstRowOf.get(email);
		if (first !== undefined) return this.reject(row, email, `duplicate of row ${first}`);
		for (const [key, value] of Object.entries(fields)) {
			if (value.length > MAX_FIELD_CHARS)
				return this.reject(row, email, `field "${key}" is ${value.length} characters long (the limit is ${MAX_FIELD_CHARS})`);
		}
		this.firstRowOf.set(email, row);
		this.contacts.push({ ...fields, email });
	}

	reject(row: number, email: string, reason: string): void {
		// Invalid rows are what users export to fix in a spreadsheet: formula cells must not run there.
		this.invalid.push({ row, email: escapeCsvFormula(email.slice(0, 320)), reason });
	}

	result(): ContactList {
		return { contacts: this.contacts, invalid: this.invalid, total: this.total };
	}
}

function pickEmailColumn(headers: string[], wanted: string | undefined, delimiter: string): number {
	const lower = headers.map((h) => h.trim().toLowerCase());
	if (wanted) {
		const i = lower.indexOf(wanted.trim().toLowerCase());
		if (i >= 0) return i;
		throw new CampaignInputError(
			`The CSV has no column "${wanted}". Its columns are ${describeHeader(headers)} — set "Email Column" to one of them`,
			'emailColumn',
		);
	}
	for (const name of EMAIL_HEADERS) {
		const i = lower.indexOf(name);
		if (i >= 0) return i;
	}
	if (headers.length === 1) {
		const other = LIKELY_DELIMITERS.find((d) => d !== delimiter && headers[0].includes(d));
		if (other)
			throw new CampaignInputError(
				`The CSV header ${describeHeader(headers)} was read as a single column: the delimiter looks like "${other === '\t' ? '\\t (tab)' : other}", not "${delimiter}" — set the Delimiter option`,
				'delimiter',
			);
	}
	throw new CampaignInputError(
		`The CSV has no email column. Its columns are ${describeHeader(headers)} — name one "email" or set "Email Column"`,
		'emailColumn',
	);
}

/** Parses CSV contacts. Throws CampaignInputError only when the file as a whole cannot be used. */
export function contactsFromCsv(input: string | Uint8Array, options: CsvOptions = {}): ContactList {
	const delimiter = options.delimiter && options.delimiter.length > 0 ? options.delimiter.replace('\\t', '\t') : ',';
	const text = decode(input, options.encoding ?? 'utf-8');
	if (text.replace(/^\uFEFF/, '').trim() === '')
		throw new CampaignInputError('The CSV is empty — provide a header row (with an "email" column) and at least one contact', 'csv');

	const skipped: Array<{ line: number; reason: string }> = [];
	let records: Array<{ record: string[]; info: { lines: number } }>;
	try {
		records = parse(text, {
			bom: true,
			delimiter,
			// Files stitched together from several sources mix line endings; accept all three.
			record_delimiter: ['\r\n', '\n', '\r'],
			relax_column_count: true,
			relax_quotes: false,
			skip_empty_lines: true,
			skip_records_with_error: true,
			info: true,
			on_skip: (err: { lines?: number; message: string } | undefined) => {
				// csv-parse can report one broken line more than once; the first reason is the useful one.
				if (err && !skipped.some((s) => s.line === (err.lines ?? 0))) skipped.push({ line: err.lines ?? 0, reason: `unreadable CSV row: ${err.message}` });
			},
		}) as unknown as Array<{ record: string[]; info: { lines: number } }>;
	} catch (e) {
		throw new CampaignInputError(`The CSV could not be read: ${(e as Error).message}`, 'csv');
	}
	if (records.length === 0 && skipped.length === 0)
		throw new CampaignInputError('The CSV is empty — provide a header row (with an "email" column) and at least one contact', 'csv');
	if (records.length === 0) throw new CampaignInputError(`The CSV has no readable header row: ${skipped[0].reason}`, 'csv');

	const headers = records[0].record.map((h) => h.trim());
	const emailIndex = pickEmailColumn(headers, options.emailColumn, delimiter);
	const names = headers.map((h) => options.columnMap?.[h] ?? mergeFieldName(h));
	if (records.length === 1 && skipped.length === 0)
		throw new CampaignInputError('The CSV has a header row but no contacts — add at least one row below the header', 'csv');

	const out = new ContactCollector();
	for (const s of skipped) {
		out.total++;
		out.reject(s.line, '', s.reason);
	}
	for (let r = 1; r < records.length; r++) {
		const { record, info } = records[r];
		const line = info.lines;
		if (record.length === 1 && record[0].trim() === '') continue;
		if (record.length !== headers.length) {
			out.total++;
			out.reject(line, normalizeEmail(record[emailIndex] ?? ''), `has ${record.length} fields but the header has ${headers.length}`);
			continue;
		}
		const fields: Record<string, string> = {};
		for (let c = 0; c < record.length; c++) {
			if (c === emailIndex || names[c] === '' || names[c] === 'email') continue;
			fields[names[c]] = record[c];
		}
		out.add(line, record[emailIndex], fields);
	}
	out.invalid.sort((a, b) => a.row - b.row);
	return out.result();
}

/** Contacts from plain objects (n8n items built by other nodes). */
export function contactsFromRows(rows: Array<Record<string, unknown>>, options: RowOptions = {}): ContactList {
	const emailField = options.emailField?.trim() || 'email';
	const out = new ContactCollector();
	rows.forEach((row, i) => {
		const fields: Record<string, string> = {};
		for (const [key, value] of Object.entries(row)) {
			if (key === emailField) continue;
			const name = options.columnMap?.[key] ?? key;
			if (name === 'email') continue;
			fields[name] = cellText(value);
		}
		const email = row[emailField] ?? (emailField === 'email' ? undefined : row.email);
		out.add(i + 1, email, fields);
	});
	return out.result();
}

/** Parses "Vorname=first_name, Firma=company" into a column map. */
export function parseColumnMap(spec: string | undefined): Record<string, string> {
	const map: Record<string, string> = {};
	if (!spec) return map;
	for (const pair of spec.split(/[,\n]/)) {
		if (!pair.trim()) continue;
		const eq = pair.indexOf('=');
		if (eq < 1) throw new CampaignInputError(`Column mapping "${pair.trim()}" must look like "CSV Header=merge_field"`, 'columnMap');
		map[pair.slice(0, eq).trim()] = mergeFieldName(pair.slice(eq + 1));
	}
	return map;
}

/** Prefixes cells that a spreadsheet would run as a formula, for CSV exports of contacts or errors. */
export function escapeCsvFormula(value: string): string {
	return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}
