/**
 * CSVs of any size: streamed under limits a user can raise (rows, bytes, columns, field length).
 * A hostile file is refused with the limit named, quickly, without blocking n8n's event loop or
 * growing its heap; with the limits raised a million rows load without a long block.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { CsvData, CsvOptions, contactsFromCsv } from '../../lib/contacts/loadContacts';
import { CampaignInputError } from '../../lib/schemas';
import { recordTally } from '../helpers/tally';

jest.setTimeout(300_000);

const MB = 1024 * 1024;
/** Generous: a streaming loader blocks for tens of milliseconds at a time; the whole-file parser blocked ~10 s. */
const MAX_BLOCK_MS = 1000;

/** 1,000,000 rows, about 21 MB: the file that froze n8n for 10 s. */
function millionRows(): Buffer {
	const parts: string[] = ['email,first_name\n'];
	for (let i = 0; i < 1_000_000; i++) parts.push(`user${i}@example.io,U${i}\n`);
	return Buffer.from(parts.join(''));
}

/**
 * Runs `run` and measures the longest stretch the event loop was held (a 5 ms timer's largest gap and
 * the event-loop delay histogram) and the peak growth of heap plus buffers meanwhile.
 */
async function watched<T>(run: () => Promise<T>): Promise<{ value?: T; error?: unknown; maxBlockMs: number; heapGrowthMb: number }> {
	const histogram = monitorEventLoopDelay({ resolution: 10 });
	histogram.enable();
	let last = performance.now();
	let maxGap = 0;
	const probe = setInterval(() => {
		const now = performance.now();
		maxGap = Math.max(maxGap, now - last);
		last = now;
	}, 5);
	const before = process.memoryUsage();
	const growth = () => {
		const m = process.memoryUsage();
		return m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers;
	};
	let peak = 0;
	const sampler = setInterval(() => (peak = Math.max(peak, growth())), 20);
	let value: T | undefined;
	let error: unknown;
	try {
		value = await run();
	} catch (e) {
		error = e;
	}
	clearInterval(probe);
	clearInterval(sampler);
	histogram.disable();
	peak = Math.max(peak, growth());
	return { value, error, maxBlockMs: Math.max(maxGap, histogram.max / 1e6), heapGrowthMb: peak / MB };
}

/** Bytes handed out in chunks, counting how many were read before the loader stopped. */
function chunked(data: Buffer, chunk = 64 * 1024): { stream: AsyncIterable<Uint8Array>; read: () => number } {
	let read = 0;
	async function* gen() {
		for (let i = 0; i < data.length; i += chunk) {
			const part = data.subarray(i, i + chunk);
			read += part.length;
			yield part;
		}
	}
	return { stream: gen(), read: () => read };
}

describe('csv: limits', () => {
	let inputs = 0;
	let attacks = 0;
	let rejected = 0;
	let letIn = 0;
	let big: Buffer;

	beforeAll(() => {
		big = millionRows();
	});
	afterAll(() => recordTally({ suite: 'csv: limits', inputs, attacks, rejected, let_in: letIn }));

	/** A hostile file: it must be refused with a CampaignInputError matching `message`. */
	async function hostile(data: CsvData, options: CsvOptions, message: RegExp) {
		inputs++;
		attacks++;
		const r = await watched(() => contactsFromCsv(data, options));
		if (r.error === undefined) letIn++;
		else if (r.error instanceof CampaignInputError && message.test(r.error.message)) rejected++;
		expect(r.error).toBeInstanceOf(CampaignInputError);
		expect((r.error as Error).message).toMatch(message);
		expect(r.maxBlockMs).toBeLessThan(MAX_BLOCK_MS);
		return r;
	}

	it('a 21 MB, 1,000,000-row file with the default limits stops at the row limit, naming it, without reading the rest', async () => {
		expect(big.length).toBeGreaterThan(20 * MB);
		const source = chunked(big);
		const r = await hostile(source.stream, {}, /^The CSV has more than 250,000 rows — raise CSV Options → Max Rows or split the file$/);
		expect((r.error as CampaignInputError).field).toBe('maxRows');
		// It stopped near row 250,000: well before the end of the file.
		expect(source.read()).toBeLessThan(big.length / 2);
		// The same from one buffer in memory.
		await hostile(big, {}, /more than 250,000 rows/);
	});

	it('with Max Rows raised, the million rows load and the event loop is never held long', async () => {
		inputs++;
		const r = await watched(() => contactsFromCsv(big, { maxRows: 1_000_000 }));
		expect(r.error).toBeUndefined();
		expect(r.value!.contacts).toHaveLength(1_000_000);
		expect(r.value!.contacts[999_999]).toEqual({ email: 'user999999@example.io', first_name: 'U999999' });
		expect(r.value!.invalid).toEqual([]);
		expect(r.maxBlockMs).toBeLessThan(MAX_BLOCK_MS);
		// Streamed input works the same.
		const streamed = await watched(() => contactsFromCsv(Readable.from(chunked(big, 1 << 20).stream), { maxRows: 1_000_000 }));
		expect(streamed.value?.contacts).toHaveLength(1_000_000);
		expect(streamed.maxBlockMs).toBeLessThan(MAX_BLOCK_MS);
	});

	it('a 60 MB file is refused by its size before it is decoded, even with an unknown encoding, and the heap hardly grows', async () => {
		// Rows of 300 bytes: 60 MB is fewer rows than the row limit, so only its size is over a limit.
		const row = (i: number) => `user${String(i).padStart(8, '0')}@example.io,${'x'.repeat(272)}\n`;
		const sixty = Buffer.from('email,note\n' + Array.from({ length: Math.ceil((60 * MB) / 290) }, (_, i) => row(i)).join('')).subarray(0, 60 * MB);
		const bytes = await hostile(sixty, { encoding: 'no-such-encoding' }, /^The CSV file is 60\.0 MB — over the 50 MB limit; raise CSV Options → Max File Size \(MB\) or split the file$/);
		expect(bytes.heapGrowthMb).toBeLessThan(200);
		const text = sixty.toString('latin1');
		const asText = await hostile(text, {}, /The CSV file is 60\.0 MB — over the 50 MB limit/);
		expect(asText.heapGrowthMb).toBeLessThan(200);
		// A stream of unknown length is stopped as soon as it passes the limit.
		const source = chunked(sixty);
		const streamed = await hostile(source.stream, {}, /^The CSV file is over the 50 MB limit \(50\.\d MB read when it was stopped\); raise CSV Options → Max File Size \(MB\)/);
		expect(source.read()).toBeLessThanOrEqual(50 * MB + 64 * 1024);
		expect(streamed.heapGrowthMb).toBeLessThan(200);
		// A stream whose size is known up front (n8n's binary metadata) is not read at all.
		const declared = chunked(sixty);
		await hostile(declared.stream, { sizeBytes: sixty.length }, /The CSV file is 60\.0 MB/);
		expect(declared.read()).toBe(0);
	});

	it('an unknown encoding is a clear error naming the option', async () => {
		await hostile(Buffer.from('email\nada@example.com'), { encoding: 'klingon' }, /^Unknown encoding "klingon" — set CSV Options → Encoding to utf-8/);
	});

	it('5,000 columns: the columns limit, in the header or in a row', async () => {
		const wide = Array.from({ length: 5000 }, (_, i) => `c${i}`);
		await hostile(`email,${wide.join(',')}\nada@example.com${',x'.repeat(5000)}`, {}, /^The CSV header has 5,001 columns — more than the 200 limit; raise CSV Options → Max Columns/);
		await hostile(`email,name\nada@example.com,Ada\nbob@example.com${',x'.repeat(5000)}`, {}, /^The CSV row at line 3 has 5,001 columns — more than the 200 limit/);
	});

	it('a 5 MB field is refused without being buffered, quoted or not, and so is a quote that never closes', async () => {
		const five = 'x'.repeat(5 * MB);
		for (const text of [`email,note\nada@example.com,${five}\nbob@example.com,ok`, `email,note\nada@example.com,"${five}"\nbob@example.com,ok`, `email,note\nada@example.com,"${five}`]) {
			const r = await hostile(text, {}, /^The CSV row at line 2 is longer than 2,020,000 characters: a field far over the 10,000-character limit, or a quote that is never closed/);
			expect(r.heapGrowthMb).toBeLessThan(200);
		}
	});

	it('a row of millions of empty fields is stopped before it fills memory', async () => {
		const r = await hostile(`email,name\nada@example.com${','.repeat(20 * MB)}\n`, {}, /^The CSV has more than 6,060,600 bytes without a complete readable row after line 1: a row with far too many columns/);
		expect(r.heapGrowthMb).toBeLessThan(200);
	});

	it('limits between the defaults and the hard cap stay per row: a long field makes only its row invalid', async () => {
		inputs++;
		const r = await contactsFromCsv(`email,note\nada@example.com,${'x'.repeat(20_000)}\nbob@example.com,ok`);
		expect(r.contacts.map((c) => c.email)).toEqual(['bob@example.com']);
		expect(r.invalid).toEqual([{ row: 2, email: 'ada@example.com', reason: 'field "note" is 20000 characters long (the limit is 10000)' }]);
		const raised = await contactsFromCsv(`email,note\nada@example.com,${'x'.repeat(20_000)}\nbob@example.com,ok`, { maxFieldChars: 50_000 });
		expect(raised.contacts).toHaveLength(2);
	});

	it('every limit can be lowered, and a nonsense limit is an error naming the option', async () => {
		const csv = 'email,a,b\nada@example.com,1,2\nbob@example.com,3,4\ncy@example.com,5,6';
		await hostile(csv, { maxRows: 2 }, /more than 2 rows/);
		await hostile(csv, { maxColumns: 2 }, /header has 3 columns — more than the 2 limit/);
		await hostile(csv, { maxBytes: 20 }, /The CSV file is \d+ bytes — over the 20 bytes limit/);
		inputs++;
		expect((await contactsFromCsv(csv, { maxFieldChars: 0.5 as number }).catch((e) => e)).message).toMatch(/Max Field Length must be a positive number/);
		await expect(contactsFromCsv(csv, { maxRows: -1 })).rejects.toThrow('CSV Options → Max Rows must be a positive number, not "-1"');
	});
});
