/** Every list a user or an LLM controls is capped, and going past a cap is one clear error naming the field and the cap. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { contactsFromCsv, contactsFromRows, parseFieldList } from '../../lib/contacts/loadContacts';
import { LIMITS, campaign, contact, describeIssues, emailPayload, recipient } from '../../lib/schemas';
import { startCampaignRequest } from '../../lib/api/startRequest';
import { LLM_COPY_JSON_SCHEMA } from '../../lib/llm/copywriter';
import { readContactSource, readCopy } from '../../nodes/shared/readers';
import { campaignInput } from '../helpers/fixtures';

const fieldsOf = (n: number, value = 'x') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, value]));

/** The error text a user sees for a campaign, or undefined when it is valid. */
function campaignError(overrides: Record<string, unknown>): string | undefined {
	const r = campaign.safeParse({ ...campaignInput(), ...overrides });
	return r.success ? undefined : describeIssues(r.error);
}

describe('campaign lists', () => {
	it('fallbacks: at most 100, names of at most 100 characters, values of at most 1,000', () => {
		expect(campaignError({ fallbacks: fieldsOf(100) })).toBeUndefined();
		expect(campaignError({ fallbacks: fieldsOf(101) })).toBe('fallbacks: at most 100 fallbacks (this one has 101)');
		expect(campaignError({ fallbacks: { ['n'.repeat(101)]: 'x' } })).toBe('fallbacks: fallback names are at most 100 characters (this one has 101)');
		expect(campaignError({ fallbacks: { first_name: 'x'.repeat(1001) } })).toBe('fallbacks.first_name: fallback values are at most 1000 characters');
	});

	it('categories: at most 10 (SendGrid), and a million of them is still one short error', () => {
		expect(campaignError({ categories: Array.from({ length: 10 }, (_, i) => `c${i}`) })).toBeUndefined();
		expect(campaignError({ categories: Array.from({ length: 11 }, (_, i) => `c${i}`) })).toBe('categories: SendGrid accepts at most 10 categories (this one has 11)');
		const huge = campaignError({ categories: new Array(1_000_000).fill('') });
		expect(huge).toBe('categories: SendGrid accepts at most 10 categories (this one has 1000000)');
	});

	it('variants: at most 5, and variant copy for at most 5 variants named A to E', () => {
		expect(campaignError({ variants: 6 })).toMatch(/^variants: /);
		const step = (variantCopy: unknown) => ({ steps: [{ step: 1, subject: 'Hi', html: '<p>Hi</p>', variantCopy }] });
		expect(campaignError(step({ B: { subject: 'Other' } }))).toBeUndefined();
		expect(campaignError(step(fieldsOf(6, {} as never)))).toBe('steps.0.variantCopy: at most 5 variants (A to E) (this one has 6)');
		expect(campaignError(step(fieldsOf(100_000, {} as never)))).toBe('steps.0.variantCopy: at most 5 variants (A to E) (this one has 100000)');
		expect(campaignError(step({ B: { text: 'x'.repeat(1_000_001) } }))).toMatch(/^steps\.0\.variantCopy\.B\.text: /);
	});

	it('brief links: at most 20', () => {
		const links = (n: number) => ({ brief: { links: Array.from({ length: n }, (_, i) => `https://shop.example/${i}`) } });
		expect(campaignError(links(20))).toBeUndefined();
		expect(campaignError(links(21))).toBe('brief.links: at most 20 links (this one has 21)');
	});

	it('steps: 1 to 50', () => {
		const steps = (n: number) => ({ steps: Array.from({ length: n }, (_, i) => ({ step: i + 1, subject: 'Hi', html: '<p>Hi</p>' })) });
		expect(campaignError(steps(50))).toBeUndefined();
		expect(campaignError(steps(51))).toBe('steps: at most 50 steps (this one has 51)');
		expect(campaignError({ steps: [] })).toBe('steps: needs at least one step');
	});

	it('the campaign API: at most 50 steps, numbered 1 to 50', () => {
		const body = (steps: number[]) => ({ campaign: campaignInput(), contacts: [{ email: 'ada@example.com' }], steps });
		expect(startCampaignRequest.safeParse(body([1, 2, 3])).success).toBe(true);
		const many = startCampaignRequest.safeParse(body(Array.from({ length: 51 }, (_, i) => i + 1)));
		expect(many.success || describeIssues(many.error)).toMatch(/steps: at most 50 steps per request/);
		const high = startCampaignRequest.safeParse(body([51]));
		expect(high.success || describeIssues(high.error)).toMatch(/steps\.0: steps are numbered 1 to 50/);
	});

	it('a zod error listing thousands of problems shows the first 20 and counts the rest', () => {
		const r = campaign.safeParse({ ...campaignInput(), steps: Array.from({ length: 50 }, () => ({ step: 0 })) });
		expect(r.success).toBe(false);
		if (!r.success) {
			const text = describeIssues(r.error);
			expect(text.split('; ')).toHaveLength(21);
			expect(text).toMatch(/; and \d+ more problems$/);
		}
	});
});

describe("a contact's fields", () => {
	it('the contact schema: at most 500 merge fields, names up to 100 characters, values up to 10,000', () => {
		expect(contact.safeParse({ email: 'ada@example.com', ...fieldsOf(500) }).success).toBe(true);
		const many = contact.safeParse({ email: 'ada@example.com', ...fieldsOf(501) });
		expect(many.success || describeIssues(many.error)).toBe('a contact has at most 500 merge fields besides its email (this one has 502)');
		const longName = contact.safeParse({ email: 'ada@example.com', ['n'.repeat(101)]: 'x' });
		expect(longName.success || describeIssues(longName.error)).toMatch(/merge field names are at most 100 characters/);
		const longValue = contact.safeParse({ email: 'ada@example.com', note: 'x'.repeat(10_001) });
		expect(longValue.success || describeIssues(longValue.error)).toBe('note: merge field values are at most 10000 characters');
	});

	it('payload recipients and payloads: fields, fallbacks, categories and recipients are capped', () => {
		expect(recipient.safeParse({ email: 'ada@example.com', delivery_id: 'd', fields: fieldsOf(501) }).success).toBe(false);
		const payload = (over: Record<string, unknown>) =>
			emailPayload.safeParse({ campaign_id: 'c', run_id: 'r', step: 1, variant: 'A', batch: 0, from: { email: 'news@shop.example' }, recipients: [{ email: 'ada@example.com', delivery_id: 'd' }], ...over });
		expect(payload({}).success).toBe(true);
		expect(payload({ fallbacks: fieldsOf(101) }).success).toBe(false);
		expect(payload({ categories: Array.from({ length: 11 }, (_, i) => `c${i}`) }).success).toBe(false);
		const crowd = payload({ recipients: Array.from({ length: 1001 }, (_, i) => ({ email: `u${i}@example.com`, delivery_id: `d${i}` })) });
		expect(crowd.success || describeIssues(crowd.error)).toBe('recipients: at most 1000 recipients per payload (this one has 1001)');
	});

	it('rows from items: too many fields, a long field name or a long value make that row invalid with the reason', () => {
		const r = contactsFromRows([
			{ email: 'ok@example.com', ...fieldsOf(500) },
			{ email: 'many@example.com', ...fieldsOf(501) },
			{ email: 'name@example.com', ['n'.repeat(101)]: 'x' },
			{ email: 'value@example.com', note: 'x'.repeat(10_001) },
		]);
		expect(r.contacts.map((c) => c.email)).toEqual(['ok@example.com']);
		expect(r.invalid).toEqual([
			{ row: 2, email: 'many@example.com', reason: 'has more than 500 fields besides the email — a contact can have at most 500' },
			{ row: 3, email: 'name@example.com', reason: expect.stringMatching(/^field name "n+…" is 101 characters long \(the limit is 100\)$/) },
			{ row: 4, email: 'value@example.com', reason: 'field "note" is 10001 characters long (the limit is 10000)' },
		]);
		// The field-length limit can be raised for rows too.
		expect(contactsFromRows([{ email: 'value@example.com', note: 'x'.repeat(10_001) }], { maxFieldChars: 20_000 }).contacts).toHaveLength(1);
	});

	it('rows from items: at most 250,000 by default, with the limit named', () => {
		const rows = Array.from({ length: 250_001 }, (_, i) => ({ email: `u${i}@example.com` }));
		expect(() => contactsFromRows(rows)).toThrow('The input has 250,001 contacts — more than the 250,000 limit; split it into several runs (e.g. Loop Over Items) or filter the query');
		expect(contactsFromRows(rows, { maxRows: 300_000 }).contacts).toHaveLength(250_001);
	});

	it('CSV: more merge-field columns than a contact can hold, or a header name over 100 characters, stops the file with the reason', async () => {
		const header = ['email', ...Array.from({ length: 501 }, (_, i) => `f${i}`)].join(',');
		await expect(contactsFromCsv(`${header}\nada@example.com${',x'.repeat(501)}`, { maxColumns: 600 })).rejects.toThrow(
			'The CSV has 501 merge-field columns besides the email — a contact can have at most 500; remove unused columns',
		);
		await expect(contactsFromCsv(`email,${'n'.repeat(101)}\nada@example.com,x`)).rejects.toThrow(/Column 2 of the CSV header is 101 characters long — a merge-field name has at most 100/);
	});
});

describe('comma lists typed into the nodes', () => {
	it('Merge Tags Allowed and Personalize per Recipient (Fields) are capped and name the option', () => {
		expect(parseFieldList(' first_name, company ,, first_name', 'Merge Tags Allowed', LIMITS.maxMergeTags)).toEqual(['first_name', 'company']);
		const tags = Array.from({ length: 101 }, (_, i) => `t${i}`).join(',');
		expect(() => parseFieldList(tags, 'Merge Tags Allowed', LIMITS.maxMergeTags)).toThrow('Merge Tags Allowed lists 101 fields — at most 100 are allowed');
		expect(() => parseFieldList('a,'.repeat(21), 'Personalize per Recipient (Fields)', LIMITS.maxPersonalizeFields)).not.toThrow();
		const fields = Array.from({ length: 21 }, (_, i) => `f${i}`).join(',');
		expect(() => parseFieldList(fields, 'Personalize per Recipient (Fields)', LIMITS.maxPersonalizeFields)).toThrow(/Personalize per Recipient \(Fields\) lists 21 fields — at most 20/);
		expect(() => parseFieldList(`${'x'.repeat(101)}`, 'Merge Tags Allowed', LIMITS.maxMergeTags)).toThrow(/is 101 characters long — a field name has at most 100/);
	});

	function fakeContext(params: Record<string, unknown>, helpers: Record<string, unknown> = {}): IExecuteFunctions {
		return {
			getNode: () => ({ id: '1', name: 'Under test', type: 'test', typeVersion: 1, position: [0, 0], parameters: {}, credentials: {} }),
			getNodeParameter: (name: string, _i: number, fallback?: unknown) => (name in params ? params[name] : fallback),
			helpers,
		} as unknown as IExecuteFunctions;
	}

	it('the Generate Email Copy options read through those caps', async () => {
		const ok = await readCopy(fakeContext({ copySource: 'template', options: { mergeTags: 'first_name, company', personalizeFields: 'role' } }));
		expect(ok.options.mergeTags).toEqual(['first_name', 'company']);
		const many = Array.from({ length: 101 }, (_, i) => `t${i}`).join(',');
		await expect(readCopy(fakeContext({ copySource: 'template', options: { mergeTags: many } }))).rejects.toThrow(/Merge Tags Allowed lists 101 fields/);
	});

	it('CSV Options reach the loader, and a stored binary file over Max File Size is refused by its size before it is read', async () => {
		const items: INodeExecutionData[] = [{ json: {}, binary: { data: { data: 'filesystem-v2', id: 'filesystem-v2:abc', mimeType: 'text/csv' } } }];
		let opened = 0;
		const helpers = {
			getBinaryMetadata: async () => ({ fileSize: 60 * 1024 * 1024 }),
			getBinaryStream: async () => {
				opened++;
				throw new Error('must not be opened');
			},
			getBinaryDataBuffer: async () => {
				throw new Error('must not be read into memory');
			},
		};
		const params = { contactSource: 'csvBinary', binaryPropertyName: 'data', csvOptions: {} };
		await expect(readContactSource(fakeContext(params, helpers), items)).rejects.toThrow(
			'The CSV file is 60.0 MB — over the 50 MB limit; raise CSV Options → Max File Size (MB) or split the file',
		);
		expect(opened).toBe(0);
		const raised = await readContactSource(fakeContext({ ...params, csvOptions: { maxFileSizeMb: 100, maxRows: 10, maxColumns: 5, maxFieldLength: 50 } }, helpers), items);
		expect(raised).toMatchObject({ kind: 'csv', options: { maxBytes: 100 * 1024 * 1024, maxRows: 10, maxColumns: 5, maxFieldChars: 50, sizeBytes: 60 * 1024 * 1024 } });
		expect(opened).toBe(0);
	});

	it('a stored binary file within the limit is streamed, not read into one buffer', async () => {
		const csv = 'email,first_name\nada@example.com,Ada\n';
		const items: INodeExecutionData[] = [{ json: {}, binary: { data: { data: 'filesystem-v2', id: 'filesystem-v2:abc', mimeType: 'text/csv' } } }];
		const { Readable } = await import('node:stream');
		const helpers = {
			getBinaryMetadata: async () => ({ fileSize: csv.length }),
			getBinaryStream: async () => Readable.from([Buffer.from(csv.slice(0, 20)), Buffer.from(csv.slice(20))]),
			getBinaryDataBuffer: async () => {
				throw new Error('must not be read into memory');
			},
		};
		const source = await readContactSource(fakeContext({ contactSource: 'csvBinary', binaryPropertyName: 'data', csvOptions: {} }, helpers), items);
		if (source.kind !== 'csv') throw new Error('expected a CSV source');
		const r = await contactsFromCsv(source.data, source.options);
		expect(r.contacts).toEqual([{ email: 'ada@example.com', first_name: 'Ada' }]);
	});

	it('an in-memory binary file is refused by its base64 size before it is decoded', async () => {
		const items: INodeExecutionData[] = [{ json: {}, binary: { data: { data: 'A'.repeat(4 * 1024 * 1024), mimeType: 'text/csv' } } }];
		let read = 0;
		const helpers = {
			getBinaryDataBuffer: async () => {
				read++;
				return Buffer.alloc(0);
			},
		};
		await expect(readContactSource(fakeContext({ contactSource: 'csvBinary', binaryPropertyName: 'data', csvOptions: { maxFileSizeMb: 2 } }, helpers), items)).rejects.toThrow(
			/The CSV file is 3\.0 MB — over the 2 MB limit/,
		);
		expect(read).toBe(0);
	});
});

describe('what the LLM returns', () => {
	it('the copy JSON schema has no list the model could grow without bound', () => {
		const arrays: unknown[] = [];
		const walk = (node: unknown) => {
			if (!node || typeof node !== 'object') return;
			const n = node as Record<string, unknown>;
			if (n.type === 'array' && typeof n.maxItems !== 'number') arrays.push(n);
			Object.values(n).forEach(walk);
		};
		walk(LLM_COPY_JSON_SCHEMA);
		expect(arrays).toEqual([]);
	});
});
