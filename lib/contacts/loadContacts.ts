/**
 * Contacts from CSV text, bytes or a byte stream, or from plain rows: validated, normalised and
 * de-duplicated. Every rejected row comes back with its row number and a reason; nothing is dropped
 * silently. A CSV is parsed as a stream under limits a user can raise (rows, bytes, columns, field
 * length), yielding to the event loop as it goes, so a big file neither blocks n8n nor exhausts its memory.
 */
import { TextDecoder } from 'node:util';
import { parse } from 'csv-parse';
import type { Parser } from 'csv-parse';
import { CampaignInputError, Contact, LIMITS, checkEmailAddress, normalizeEmail } from '../schemas';
import { underscoreRuns } from '../text';

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

/** CSV input: text, bytes, or bytes arriving in chunks (a file or n8n binary stream). */
export type CsvData = string | Uint8Array | AsyncIterable<Uint8Array | string>;

export interface CsvLimits {
	/** Data rows (not counting the header). */
	maxRows?: number;
	/** Size of the file in bytes (text: its UTF-8 size). */
	maxBytes?: number;
	maxColumns?: number;
	/** Characters in one field; a longer field makes its row invalid. */
	maxFieldChars?: number;
}

export interface CsvOptions extends CsvLimits {
	delimiter?: string;
	/** Any encoding TextDecoder knows: utf-8, utf-16le, windows-1252, iso-8859-1, ... */
	encoding?: string;
	/** Header of the column holding the address; default: the first of email, e-mail, email_address, mail. */
	emailColumn?: string;
	/** Rename columns to merge-field names, e.g. { Vorname: 'first_name' }. */
	columnMap?: Record<string, string>;
	/** The size of a streamed input when known before reading (n8n's binary metadata): refused early when too big. */
	sizeBytes?: number;
}

export interface RowOptions {
	emailField?: string;
	columnMap?: Record<string, string>;
	maxRows?: number;
	maxFieldChars?: number;
}

export const CSV_LIMIT_DEFAULTS = {
	maxRows: 250_000,
	maxBytes: 50 * 1024 * 1024,
	maxColumns: 200,
	maxFieldChars: LIMITS.maxFieldChars,
} as const;

/** Where each limit is raised in the node, for the error messages. */
const LIMIT_OPTION: Record<keyof CsvLimits, string> = {
	maxRows: 'Max Rows',
	maxBytes: 'Max File Size (MB)',
	maxColumns: 'Max Columns',
	maxFieldChars: 'Max Field Length',
};

const EMAIL_HEADERS = ['email', 'e-mail', 'email_address', 'email address', 'emailaddress', 'mail', 'e_mail'];
const LIKELY_DELIMITERS = [',', ';', '\t', '|'];
/** Text handed to the parser at a time: small enough that parsing one chunk is a few milliseconds. */
const CHUNK = 64 * 1024;
/** Records handled between two turns given back to the event loop. */
const RECORDS_PER_TURN = 2000;
/** A single field longer than this is refused by the parser itself rather than buffered, whatever the limits. */
const MIN_RECORD_CAP = 1_000_000;

const MB = 1024 * 1024;
const count = (n: number) => n.toLocaleString('en-US');
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** "First Name" → "first_name": the form merge tags use. */
export function mergeFieldName(header: string): string {
	return underscoreRuns(header.trim().toLowerCase()); // linear, without a regex match per run
}

function limitOf(options: CsvLimits, name: keyof CsvLimits): number {
	const raw = options[name] as unknown;
	if (raw === undefined || raw === null || raw === '') return CSV_LIMIT_DEFAULTS[name];
	const n = Number(raw);
	if (!Number.isFinite(n) || n < 1)
		throw new CampaignInputError(`CSV Options → ${LIMIT_OPTION[name]} must be a positive number, not "${String(raw).slice(0, 40)}"`, name);
	return Math.floor(n);
}

function csvLimits(options: CsvLimits): Required<CsvLimits> {
	return {
		maxRows: limitOf(options, 'maxRows'),
		maxBytes: limitOf(options, 'maxBytes'),
		maxColumns: limitOf(options, 'maxColumns'),
		maxFieldChars: limitOf(options, 'maxFieldChars'),
	};
}

function sizeError(bytes: number, maxBytes: number, atLeast = false): CampaignInputError {
	const size = bytes >= MB ? `${(bytes / MB).toFixed(1)} MB` : `${count(bytes)} bytes`;
	const limit = maxBytes >= MB ? `${+(maxBytes / MB).toFixed(2)} MB` : `${count(maxBytes)} bytes`;
	const what = atLeast ? `over the ${limit} limit (${size} read when it was stopped)` : `${size} — over the ${limit} limit`;
	return new CampaignInputError(`The CSV file is ${what}; raise CSV Options → ${LIMIT_OPTION.maxBytes} or split the file`, 'maxBytes');
}

/** Refuses a file by its size alone, before anything is read or decoded (n8n's binary metadata gives the size). */
export function checkCsvSize(bytes: number, options: CsvLimits = {}): void {
	const { maxBytes } = csvLimits(options);
	if (bytes > maxBytes) throw sizeError(bytes, maxBytes);
}

function openDecoder(encoding: string): TextDecoder {
	try {
		return new TextDecoder(encoding, { fatal: false });
	} catch {
		throw new CampaignInputError(
			`Unknown encoding "${encoding.slice(0, 40)}" — set CSV Options → Encoding to utf-8, utf-16le, windows-1252 or iso-8859-1`,
			'encoding',
		);
	}
}

/** Slices text without splitting a surrogate pair. */
function* textChunks(text: string): Generator<string> {
	for (let i = 0; i < text.length; ) {
		let end = Math.min(i + CHUNK, text.length);
		const last = text.charCodeAt(end - 1);
		if (end < text.length && last >= 0xd800 && last <= 0xdbff) end++;
		yield text.slice(i, end);
		i = end;
	}
}

/** Decodes bytes a slice at a time (no whole-file string), counting them against the size limit. */
async function* decodedChunks(input: CsvData, encoding: string, maxBytes: number): AsyncGenerator<string> {
	if (typeof input === 'string') {
		yield* textChunks(input);
		return;
	}
	const decoder = openDecoder(encoding);
	const parts: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array> = input instanceof Uint8Array ? [input] : input;
	let bytes = 0;
	for await (const part of parts) {
		if (typeof part === 'string') {
			bytes += Buffer.byteLength(part, 'utf8');
			if (bytes > maxBytes) throw sizeError(bytes, maxBytes, true);
			yield* textChunks(part);
			continue;
		}
		bytes += part.byteLength;
		if (bytes > maxBytes) throw sizeError(bytes, maxBytes, true);
		for (let i = 0; i < part.byteLength; i += CHUNK) {
			const text = decoder.decode(part.subarray(i, i + CHUNK), { stream: true });
			if (text) yield text;
		}
	}
	const rest = decoder.decode();
	if (rest) yield rest;
}

function inputBytes(input: CsvData): number | undefined {
	if (typeof input === 'string') return Buffer.byteLength(input, 'utf8');
	if (input instanceof Uint8Array) return input.byteLength;
	return undefined;
}

function describeHeader(headers: string[]): string {
	const shown = headers.slice(0, 20).map((h) => `"${h.slice(0, 60)}"`);
	return shown.join(', ') + (headers.length > 20 ? ` and ${count(headers.length - 20)} more` : '');
}

/** Stringifies a cell for use as a merge value; objects become JSON so no data is lost. */
function cellText(value: unknown): string {
	if (value === null || value === undefined) return '';
	if (typeof value === 'string') return value;
	if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
	return JSON.stringify(value) ?? '';
}

/** Which addresses a load has seen, and the row each was first seen in. */
interface SeenEmails {
	firstRow(email: string): number | undefined;
	add(email: string, row: number): void;
}

/** Exact: every address kept (a whole list is in memory anyway). */
class SeenEmailSet implements SeenEmails {
	private readonly rows = new Map<string, number>();
	firstRow(email: string): number | undefined {
		return this.rows.get(email);
	}
	add(email: string, row: number): void {
		this.rows.set(email, row);
	}
}

/**
 * For a streamed list: 12 bytes a slot (two 32-bit hashes of the address and its first row), about
 * 25 MB for a million addresses instead of the ~70 MB of a Set of the strings. Two different
 * addresses are taken for one only when both hashes agree (about 1 in 10^7 for a million-row file),
 * and then the row is listed as invalid with the row it was taken for, never dropped silently.
 */
export class EmailFingerprints implements SeenEmails {
	private h1 = new Uint32Array(1 << 12);
	private h2 = new Uint32Array(1 << 12);
	private row = new Uint32Array(1 << 12);
	size = 0;

	/** Slot of the address's fingerprint, or of the empty slot where it goes. */
	private slot(a: number, b: number): number {
		const mask = this.row.length - 1;
		let i = a & mask;
		while (this.row[i] !== 0 && (this.h1[i] !== a || this.h2[i] !== b)) i = (i + 1) & mask;
		return i;
	}

	firstRow(email: string): number | undefined {
		const i = this.slot(fnv1a(email), mix(email));
		return this.row[i] === 0 ? undefined : this.row[i];
	}

	add(email: string, row: number): void {
		if ((this.size + 1) * 10 > this.row.length * 6) this.grow();
		const a = fnv1a(email);
		const b = mix(email);
		const i = this.slot(a, b);
		if (this.row[i] === 0) this.size++;
		this.h1[i] = a;
		this.h2[i] = b;
		this.row[i] = Math.max(1, row);
	}

	private grow(): void {
		const { h1, h2, row } = this;
		this.h1 = new Uint32Array(row.length * 2);
		this.h2 = new Uint32Array(row.length * 2);
		this.row = new Uint32Array(row.length * 2);
		for (let j = 0; j < row.length; j++) {
			if (row[j] === 0) continue;
			const i = this.slot(h1[j], h2[j]);
			this.h1[i] = h1[j];
			this.h2[i] = h2[j];
			this.row[i] = row[j];
		}
	}
}

function fnv1a(s: string): number {
	let h = 0x811c9dc5;
	for (let i = 0; i < s.length; i++) {
		h ^= s.charCodeAt(i);
		h = Math.imul(h, 0x01000193);
	}
	return h >>> 0;
}

/** A second, independent 32-bit hash (murmur3's mixing steps). */
function mix(s: string): number {
	let h = 0x9747b28c ^ s.length;
	for (let i = 0; i < s.length; i++) {
		let k = Math.imul(s.charCodeAt(i), 0xcc9e2d51);
		k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
		h ^= k;
		h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
	}
	h ^= h >>> 16;
	h = Math.imul(h, 0x85ebca6b);
	h ^= h >>> 13;
	h = Math.imul(h, 0xc2b2ae35);
	return (h ^ (h >>> 16)) >>> 0;
}

class ContactCollector {
	contacts: Contact[] = [];
	invalid: InvalidRow[] = [];
	total = 0;

	constructor(
		private readonly maxFieldChars: number,
		private readonly seen: SeenEmails = new SeenEmailSet(),
	) {}

	add(row: number, rawEmail: unknown, fields: Record<string, string>): void {
		this.total++;
		const shown = typeof rawEmail === 'string' ? rawEmail : cellText(rawEmail);
		const checked = checkEmailAddress(shown);
		if (checked.reason !== undefined)
			return this.reject(row, shown, checked.reason === 'is empty' ? 'email is empty' : `"${shown.trim().slice(0, 100)}" ${checked.reason}`);
		const email = checked.email;
		const first = this.seen.firstRow(email);
		if (first !== undefined) return this.reject(row, email, `duplicate of row ${first}`);
		let fieldCount = 0;
		for (const key in fields) {
			if (++fieldCount > LIMITS.maxContactFields)
				return this.reject(row, email, `has more than ${LIMITS.maxContactFields} fields besides the email — a contact can have at most ${LIMITS.maxContactFields}`);
			if (key.length > LIMITS.maxFieldNameChars)
				return this.reject(row, email, `field name "${key.slice(0, 40)}…" is ${key.length} characters long (the limit is ${LIMITS.maxFieldNameChars})`);
			const value = fields[key];
			if (value.length > this.maxFieldChars)
				return this.reject(row, email, `field "${key}" is ${value.length} characters long (the limit is ${this.maxFieldChars})`);
		}
		this.seen.add(email, row);
		this.contacts.push({ ...fields, email });
	}

	reject(row: number, email: string, reason: string): void {
		// Invalid rows are what users export to fix in a spreadsheet: formula cells must not run there.
		this.invalid.push({ row, email: escapeCsvFormula(email.slice(0, 320)), reason });
	}

	result(): ContactList {
		return { contacts: this.contacts, invalid: this.invalid, total: this.total };
	}

	/** What was collected since the last take: the contacts, the invalid rows (in row order) and the rows read. */
	take(): ContactChunk {
		const chunk = { contacts: this.contacts, invalid: this.invalid.sort((a, b) => a.row - b.row), rows: this.total - this.taken };
		this.contacts = [];
		this.invalid = [];
		this.taken = this.total;
		return chunk;
	}
	private taken = 0;
}

/** A part of a streamed list: its valid contacts, its invalid rows, and how many source rows it covers. */
export interface ContactChunk {
	contacts: Contact[];
	invalid: InvalidRow[];
	rows: number;
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

function columnsError(columns: number, maxColumns: number, where: string): CampaignInputError {
	return new CampaignInputError(
		`${where} has ${count(columns)} columns — more than the ${count(maxColumns)} limit; raise CSV Options → ${LIMIT_OPTION.maxColumns} or remove unused columns`,
		'maxColumns',
	);
}

function recordSizeError(line: number | undefined, maxRecordChars: number, maxFieldChars: number): CampaignInputError {
	return new CampaignInputError(
		`The CSV row ${line ? `at line ${count(line)} ` : ''}is longer than ${count(maxRecordChars)} characters: a field far over the ${count(maxFieldChars)}-character limit, or a quote that is never closed — fix that row or raise CSV Options → ${LIMIT_OPTION.maxFieldChars}`,
		'maxFieldChars',
	);
}

function runawayRowError(afterLine: number, maxRecordBytes: number): CampaignInputError {
	return new CampaignInputError(
		`The CSV has more than ${count(maxRecordBytes)} bytes without a complete readable row${afterLine ? ` after line ${count(afterLine)}` : ''}: a row with far too many columns, a quote that is never closed, or a run of unreadable rows — check the delimiter and the quoting there`,
		'csv',
	);
}

/** The header row: merge-field names, the email column and the checks that concern the file as a whole. */
function readHeader(record: string[], options: CsvOptions, delimiter: string, maxColumns: number) {
	if (record.length > maxColumns) throw columnsError(record.length, maxColumns, 'The CSV header');
	const headers = record.map((h) => h.trim());
	const emailIndex = pickEmailColumn(headers, options.emailColumn, delimiter);
	const names = headers.map((h) => options.columnMap?.[h] ?? mergeFieldName(h));
	const long = names.findIndex((n) => n.length > LIMITS.maxFieldNameChars);
	if (long >= 0)
		throw new CampaignInputError(
			`Column ${long + 1} of the CSV header is ${names[long].length} characters long — a merge-field name has at most ${LIMITS.maxFieldNameChars}; shorten it or map it with Column Mapping`,
			'csv',
		);
	const fieldCount = names.filter((n, i) => i !== emailIndex && n !== '' && n !== 'email').length;
	if (fieldCount > LIMITS.maxContactFields)
		throw new CampaignInputError(
			`The CSV has ${count(fieldCount)} merge-field columns besides the email — a contact can have at most ${LIMITS.maxContactFields}; remove unused columns`,
			'maxColumns',
		);
	return { headers, emailIndex, names };
}

interface ParsedRecord {
	record: string[];
	line: number;
}

/** Writes one chunk and waits until the parser has taken it; false when the parser was closed meanwhile. */
function written(parser: Parser, text: string): Promise<boolean> {
	return new Promise((resolve, reject) => {
		const closed = () => resolve(false);
		parser.once('close', closed);
		parser.write(text, (e) => {
			parser.off('close', closed);
			if (e && !parser.destroyed) reject(e);
			else resolve(!e);
		});
	});
}

const isBlank = (record: string[]) => record.every((cell) => cell.trim() === '');

/**
 * Parses CSV contacts as a stream. Throws CampaignInputError only when the file as a whole cannot be
 * used: empty, no email column, or past a limit (the message names the limit and the option raising it).
 */
export async function contactsFromCsv(input: CsvData, options: CsvOptions = {}): Promise<ContactList> {
	const out: ContactList = { contacts: [], invalid: [], total: 0 };
	for await (const chunk of csvContactChunks(input, options, Number.MAX_SAFE_INTEGER, new SeenEmailSet())) {
		for (const c of chunk.contacts) out.contacts.push(c);
		for (const r of chunk.invalid) out.invalid.push(r);
		out.total += chunk.rows;
	}
	out.invalid.sort((a, b) => a.row - b.row);
	return out;
}

/**
 * The same parse, handed out a part at a time: a chunk every `chunkSize` contacts and invalid rows
 * (and at the end), so neither a long list nor a long run of bad rows piles up in memory. Duplicates are found across the whole file (`seen`);
 * errors about the file as a whole come when the stream reaches them.
 */
export async function* csvContactChunks(input: CsvData, options: CsvOptions, chunkSize: number, seen: SeenEmails = new EmailFingerprints()): AsyncGenerator<ContactChunk> {
	const limits = csvLimits(options);
	if (input === undefined || input === null)
		throw new CampaignInputError('The CSV is empty — provide a header row (with an "email" column) and at least one contact', 'csv');
	// Size first, before any decoding: an oversize file gets a message about its size.
	const known = inputBytes(input) ?? options.sizeBytes;
	if (known !== undefined && known > limits.maxBytes) throw sizeError(known, limits.maxBytes);
	const delimiter = options.delimiter && options.delimiter.length > 0 ? options.delimiter.replace('\\t', '\t') : ',';
	const encoding = options.encoding || 'utf-8';
	if (typeof input !== 'string') openDecoder(encoding);
	// A row longer than every column at its maximum cannot be valid: the parser refuses it instead of buffering it.
	const maxRecordChars = Math.max(MIN_RECORD_CAP, (limits.maxColumns + 2) * limits.maxFieldChars);

	const out = new ContactCollector(limits.maxFieldChars, seen);
	let skippedLine = -1;
	let skipped = 0;
	let lastRecordEnd = 0;
	let lastRecordLine = 0;
	const parser: Parser = parse({
		bom: true,
		delimiter,
		// Files stitched together from several sources mix line endings; accept all three.
		record_delimiter: ['\r\n', '\n', '\r'],
		relax_column_count: true,
		relax_quotes: false,
		skip_empty_lines: true,
		skip_records_with_error: true,
		max_record_size: maxRecordChars,
		on_record: (record: string[], context: { lines: number; bytes: number }) => {
			lastRecordEnd = context.bytes;
			lastRecordLine = context.lines;
			return { record, line: context.lines } as unknown as string[];
		},
		on_skip: (err: { code?: string; lines?: number; message: string } | undefined) => {
			if (!err) return undefined;
			// The parser cannot resume after an oversize record: that stops the load, with the row named.
			if (err.code === 'CSV_MAX_RECORD_SIZE') throw recordSizeError(err.lines, maxRecordChars, limits.maxFieldChars);
			// csv-parse can report one broken line more than once; the first reason is the useful one.
			const line = err.lines ?? 0;
			if (line === skippedLine) return undefined;
			skippedLine = line;
			skipped++;
			if (out.total + 1 > limits.maxRows) throw rowsError(limits.maxRows);
			out.total++;
			out.reject(line, '', `unreadable CSV row: ${err.message.slice(0, 300)}`);
			return undefined;
		},
	});

	// Feeds the parser one chunk at a time; after each, a row still growing past what any valid row can
	// take (3 UTF-8 bytes a character, quotes and delimiters) stops the load: empty fields add no
	// characters for max_record_size to count, only array slots.
	const maxRecordBytes = 3 * maxRecordChars + 3 * limits.maxColumns;
	const feeding = (async () => {
		try {
			for await (const text of decodedChunks(input, encoding, limits.maxBytes)) {
				if (parser.destroyed || !(await written(parser, text))) return;
				if (parser.info.bytes - lastRecordEnd > maxRecordBytes) throw runawayRowError(lastRecordLine, maxRecordBytes);
				await nextTurn();
			}
			parser.end();
		} catch (e) {
			parser.destroy(e as Error);
		}
	})();

	let header: ReturnType<typeof readHeader> | undefined;
	let dataRows = 0;
	let handled = 0;
	try {
		for await (const parsed of parser as AsyncIterable<ParsedRecord>) {
			if (++handled % RECORDS_PER_TURN === 0) await nextTurn();
			const { record, line } = parsed;
			if (!header) {
				if (isBlank(record)) continue;
				header = readHeader(record, options, delimiter, limits.maxColumns);
				continue;
			}
			if (record.length > limits.maxColumns) throw columnsError(record.length, limits.maxColumns, `The CSV row at line ${count(line)}`);
			dataRows++;
			if (record.length === 1 && record[0].trim() === '') continue;
			if (out.total + 1 > limits.maxRows) throw rowsError(limits.maxRows);
			const { headers, emailIndex, names } = header;
			if (record.length !== headers.length) {
				out.total++;
				out.reject(line, normalizeEmail(record[emailIndex] ?? ''), `has ${record.length} fields but the header has ${headers.length}`);
				continue;
			}
			const fields: Record<string, string> = Object.create(null);
			for (let c = 0; c < record.length; c++) {
				if (c === emailIndex || names[c] === '' || names[c] === 'email') continue;
				fields[names[c]] = record[c];
			}
			out.add(line, record[emailIndex], fields);
			if (out.contacts.length + out.invalid.length >= chunkSize) yield out.take();
		}
	} catch (e) {
		if (e instanceof CampaignInputError) throw e;
		throw new CampaignInputError(`The CSV could not be read: ${String((e as Error)?.message ?? e).slice(0, 300)}`, 'csv');
	} finally {
		if (!parser.destroyed) parser.destroy();
		await feeding;
	}

	if (!header && skipped === 0)
		throw new CampaignInputError('The CSV is empty — provide a header row (with an "email" column) and at least one contact', 'csv');
	if (!header) throw new CampaignInputError(`The CSV has no readable header row: ${out.invalid[0].reason}`, 'csv');
	if (dataRows === 0 && skipped === 0)
		throw new CampaignInputError('The CSV has a header row but no contacts — add at least one row below the header', 'csv');
	yield out.take();
}

function rowsError(maxRows: number): CampaignInputError {
	return new CampaignInputError(`The CSV has more than ${count(maxRows)} rows — raise CSV Options → ${LIMIT_OPTION.maxRows} or split the file`, 'maxRows');
}

/** Refuses a list of rows longer than the limit, before any of it is used. */
export function checkRowCount(rows: number, options: RowOptions = {}): void {
	const { maxRows } = csvLimits({ maxRows: options.maxRows });
	if (rows > maxRows)
		throw new CampaignInputError(
			`The input has ${count(rows)} contacts — more than the ${count(maxRows)} limit; split it into several runs (e.g. Loop Over Items) or filter the query`,
			'maxRows',
		);
}

/** Contacts from plain objects (n8n items built by other nodes, rows of a query). */
export function contactsFromRows(rows: Array<Record<string, unknown>>, options: RowOptions = {}): ContactList {
	const emailField = options.emailField?.trim() || 'email';
	const { maxFieldChars } = csvLimits({ maxFieldChars: options.maxFieldChars });
	checkRowCount(rows.length, options);
	const out = new ContactCollector(maxFieldChars);
	rows.forEach((row, i) => addRow(out, row, i + 1, emailField, options.columnMap));
	return out.result();
}

function addRow(out: ContactCollector, row: Record<string, unknown>, position: number, emailField: string, columnMap: Record<string, string> | undefined): void {
	if (!row || typeof row !== 'object') {
		out.total++;
		out.reject(position, cellText(row), 'is not an object with an email field');
		return;
	}
	const fields: Record<string, string> = Object.create(null);
	for (const [key, value] of Object.entries(row)) {
		if (key === emailField) continue;
		const name = columnMap?.[key] ?? key;
		if (name === 'email') continue;
		fields[name] = cellText(value);
	}
	const email = row[emailField] ?? (emailField === 'email' ? undefined : row.email);
	out.add(position, email, fields);
}

/**
 * Contacts from rows arriving in pages (a query read through a cursor), handed out every `chunkSize`
 * contacts and invalid rows; duplicates are found across every page. Past `maxRows` rows the stream stops with an error.
 */
export async function* rowContactChunks(
	pages: AsyncIterable<Array<Record<string, unknown>>> | Iterable<Array<Record<string, unknown>>>,
	options: RowOptions,
	chunkSize: number,
	seen: SeenEmails = new EmailFingerprints(),
): AsyncGenerator<ContactChunk> {
	const emailField = options.emailField?.trim() || 'email';
	const { maxRows, maxFieldChars } = csvLimits({ maxRows: options.maxRows, maxFieldChars: options.maxFieldChars });
	const out = new ContactCollector(maxFieldChars, seen);
	for await (const page of pages) {
		for (const row of page) {
			if (out.total + 1 > maxRows)
				throw new CampaignInputError(`The contacts query returned more than ${count(maxRows)} rows — narrow it, or send in parts`, 'maxRows');
			addRow(out, row, out.total + 1, emailField, options.columnMap);
			if (out.contacts.length + out.invalid.length >= chunkSize) yield out.take();
		}
		await nextTurn();
	}
	yield out.take();
}

/**
 * A comma-separated list of merge-field names typed into a node ("first_name, company"), capped:
 * `what` names the option in the error, e.g. "Merge Tags Allowed".
 */
export function parseFieldList(spec: unknown, what: string, max: number): string[] {
	if (spec === undefined || spec === null || spec === '') return [];
	if (typeof spec !== 'string') throw new CampaignInputError(`${what} must be a comma-separated list of field names`, what);
	const names = [...new Set(spec.split(',').map((s) => s.trim()).filter(Boolean))];
	if (names.length > max) throw new CampaignInputError(`${what} lists ${count(names.length)} fields — at most ${max} are allowed`, what);
	const long = names.find((n) => n.length > LIMITS.maxFieldNameChars);
	if (long)
		throw new CampaignInputError(`${what}: "${long.slice(0, 40)}…" is ${long.length} characters long — a field name has at most ${LIMITS.maxFieldNameChars}`, what);
	return names;
}

/** Parses "Vorname=first_name, Firma=company" into a column map. */
export function parseColumnMap(spec: string | undefined): Record<string, string> {
	const map: Record<string, string> = {};
	if (!spec) return map;
	for (const pair of spec.split(/[,\n]/)) {
		if (!pair.trim()) continue;
		const eq = pair.indexOf('=');
		if (eq < 1) throw new CampaignInputError(`Column mapping "${pair.trim().slice(0, 100)}" must look like "CSV Header=merge_field"`, 'columnMap');
		map[pair.slice(0, eq).trim()] = mergeFieldName(pair.slice(eq + 1));
	}
	return map;
}

/** Prefixes cells that a spreadsheet would run as a formula, for CSV exports of contacts or errors. */
export function escapeCsvFormula(value: string): string {
	return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}
