/**
 * Large runs through the stage nodes: Build Email Payload puts each request's recipients in a binary
 * file (Auto above 1,000 recipients), Generate Email Copy hands the file on, Send Email writes its
 * results to a file, Log Campaign Result reads them — every recipient accounted for, none in the items' JSON.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IBinaryData, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { LoadCampaignContent } from '../../../nodes/LoadCampaignContent/LoadCampaignContent.node';
import { BuildEmailPayload } from '../../../nodes/BuildEmailPayload/BuildEmailPayload.node';
import { GenerateEmailCopy } from '../../../nodes/GenerateEmailCopy/GenerateEmailCopy.node';
import { SendEmailSendGrid } from '../../../nodes/SendEmailSendGrid/SendEmailSendGrid.node';
import { LogCampaignResult } from '../../../nodes/LogCampaignResult/LogCampaignResult.node';
import { CampaignPreview } from '../../../nodes/CampaignPreview/CampaignPreview.node';
import { closeAllStores } from '../../../lib/store';
import { fakeExecuteContext, type Params } from './fakeContext';
import { readContactSource } from '../../../nodes/shared/readers';
import { campaignInput, contacts, csvOf } from '../../helpers/fixtures';

jest.setTimeout(120_000);

process.env.EMAIL_CAMPAIGN_STORE_DIR = mkdtempSync(join(tmpdir(), 'eca-batch-files-'));
afterAll(() => closeAllStores());

/** n8n's binary helpers as in its in-memory mode: a file is its bytes in base64 on the item. */
function context(params: Params, items: INodeExecutionData[] = [{ json: {} }], continueOnFail = false): IExecuteFunctions {
	const helpers = {
		prepareBinaryData: async (data: Buffer, fileName: string, mimeType: string): Promise<IBinaryData> => ({ data: data.toString('base64'), fileName, mimeType }),
		getBinaryDataBuffer: async (i: number, property: string) => {
			const file = items[i]?.binary?.[property];
			if (!file) throw new Error(`no binary ${property} on item ${i}`);
			return Buffer.from(file.data, 'base64');
		},
	};
	return fakeExecuteContext(params, items, { continueOnFail, more: { helpers } as unknown as Partial<IExecuteFunctions> });
}

const campaignParams = { campaignSource: 'json', campaignJson: JSON.stringify(campaignInput({ id: 'batch-files' })) };
const N = 2500;

it('2,500 recipients: recipients and results travel in files; each recipient is sent and logged once', async () => {
	const loaded = await new LoadCampaignContent().execute.call(
		context({ ...campaignParams, contactSource: 'csvText', csvText: csvOf(contacts(N, 'files.example')), csvOptions: {}, outputMode: 'batches', batchSize: 1000, runId: 'run-files' }),
	);
	expect(loaded[0]).toHaveLength(3);
	// Load Campaign Content's batches (Contacts: Auto, above 1,000 contacts) carry their contacts in a file each, not in JSON.
	for (const b of loaded[0]) {
		expect(b.json.contacts).toBeUndefined();
		expect(b.json).toMatchObject({ campaign_id: 'batch-files', run_id: 'run-files', contacts_file: 'contacts', batches: 3 });
		expect(b.binary?.contacts?.mimeType).toBe('application/json');
	}
	const loadedContacts = loaded[0].flatMap((b) => JSON.parse(Buffer.from(b.binary!.contacts.data, 'base64').toString()) as Array<{ email: string }>);
	expect(loaded[0].map((b) => b.json.contact_count)).toEqual([1000, 1000, 500]);
	expect(new Set(loadedContacts.map((c) => c.email)).size).toBe(N);

	const built = await new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 1000, options: {} }, loaded[0]));
	const requests = built[0];
	expect(requests.length).toBeGreaterThanOrEqual(3);
	for (const r of requests) {
		expect(r.json.recipients).toBeUndefined();
		expect(r.json).toMatchObject({ campaign_id: 'batch-files', run_id: 'run-files', step: 1, recipients_file: 'recipients' });
		expect(r.binary?.recipients?.mimeType).toBe('application/json');
	}
	const inFiles = requests.flatMap((r) => JSON.parse(Buffer.from(r.binary!.recipients.data, 'base64').toString()) as Array<{ email: string; delivery_id: string }>);
	expect(requests.reduce((n, r) => n + (r.json.recipient_count as number), 0)).toBe(N);
	expect(new Set(inFiles.map((r) => r.email)).size).toBe(N);
	expect(inFiles.every((r) => r.delivery_id)).toBe(true);
	expect(built[1][0].json).toMatchObject({ recipients: N });

	const copied = await new GenerateEmailCopy().execute.call(context({ copySource: 'template', options: {} }, requests));
	expect(copied[0]).toHaveLength(requests.length);
	copied[0].forEach((item) => {
		expect(item.json.recipients).toBeUndefined();
		expect(item.json).toMatchObject({ copy: { source: 'template' }, recipients_file: 'recipients' });
	});
	// The very file Build Email Payload made, handed on: nothing copied.
	const byBatch = new Map(requests.map((r) => [r.json.batch, r.binary!.recipients]));
	for (const item of copied[0]) expect(item.binary!.recipients).toBe(byBatch.get(item.json.batch));
	const countOf = new Map(requests.map((r) => [r.json.batch, r.json.recipient_count]));
	for (const item of copied[0]) expect(item.json.recipient_count).toBe(countOf.get(item.json.batch));

	const sent = await new SendEmailSendGrid().execute.call(context({ dryRun: true, outputMode: 'batch', limits: {}, options: {} }, copied[0]));
	expect(sent[0]).toHaveLength(requests.length);
	let results = 0;
	for (const item of sent[0]) {
		expect(item.json.results).toBeUndefined();
		expect(item.json).toMatchObject({ results_file: 'results', counts: { dry_run: item.json.result_count } });
		results += (JSON.parse(Buffer.from(item.binary!.results.data, 'base64').toString()) as unknown[]).length;
	}
	expect(results).toBe(N);

	const logged = await new LogCampaignResult().execute.call(context({ operation: 'log', outputMode: 'summary', finishRun: true }, sent[0]));
	expect(logged[0]).toHaveLength(1);
	expect(logged[0][0].json).toMatchObject({ campaign_id: 'batch-files', run_id: 'run-files', recipients: N, dry_run: N, store: 'pglite' });
});

it('Recipients "In JSON" keeps them in the items whatever the size; "In a Binary File" puts even a few in a file', async () => {
	const loaded = await new LoadCampaignContent().execute.call(
		context({ ...campaignParams, contactSource: 'csvText', csvText: csvOf(contacts(1200, 'json.example')), csvOptions: {}, outputMode: 'batches', batchSize: 1000 }),
	);
	const inJson = await new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 1000, options: { recipientsAs: 'json' } }, loaded[0]));
	expect(inJson[0].reduce((n, r) => n + (r.json.recipients as unknown[]).length, 0)).toBe(1200);
	expect(inJson[0].every((r) => r.binary === undefined)).toBe(true);

	const few = await new LoadCampaignContent().execute.call(context({ ...campaignParams, contactSource: 'csvText', csvText: csvOf(contacts(3, 'few.example')), csvOptions: {}, outputMode: 'auto' }));
	const auto = await new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 1000, options: {} }, few[0]));
	expect((auto[0][0].json.recipients as unknown[]).length).toBe(3);
	const inFile = await new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 1000, options: { recipientsAs: 'file' } }, few[0]));
	expect(inFile[0][0].json).toMatchObject({ recipient_count: 3, recipients_file: 'recipients' });
	// Send Email reads a file-backed payload like any other (and says which item is not one).
	const sent = await new SendEmailSendGrid().execute.call(context({ dryRun: true, outputMode: 'recipient', limits: {}, options: {} }, inFile[0]));
	expect(sent[0].map((i) => i.json.status)).toEqual(['dry_run', 'dry_run', 'dry_run']);
});

it('a file that is not a JSON list of recipients fails its item with the reason', async () => {
	const item: INodeExecutionData = { json: { recipients_file: 'recipients' }, binary: { recipients: { data: Buffer.from('{"nope":1}').toString('base64'), mimeType: 'application/json' } } };
	await expect(new SendEmailSendGrid().execute.call(context({ dryRun: true, outputMode: 'batch', limits: {}, options: {} }, [item]))).rejects.toThrow(/recipients file \(binary property "recipients"\) is not a JSON array/);
});

it('Campaign Preview reads recipients from the files: 2,000 recipients built into files, previewed with their findings', async () => {
	const loaded = await new LoadCampaignContent().execute.call(
		context({ ...campaignParams, contactSource: 'csvText', csvText: csvOf(contacts(2000, 'preview.example')), csvOptions: {}, outputMode: 'batches', batchSize: 1000 }),
	);
	const built = await new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 1000, options: {} }, loaded[0]));
	const requests = built[0];
	expect(requests.every((r) => r.json.recipients === undefined && r.json.recipients_file === 'recipients')).toBe(true);
	const inFiles = new Set(requests.flatMap((r) => (JSON.parse(Buffer.from(r.binary!.recipients.data, 'base64').toString()) as Array<{ email: string }>).map((x) => x.email)));
	expect(inFiles.size).toBe(2000);

	const preview = await new CampaignPreview().execute.call(context({ samples: 3, output: 'samples', live: true, sendTest: false }, requests));
	const samples = preview[0];
	expect(samples.length).toBeGreaterThan(0);
	for (const s of samples) {
		expect(s.json.error).toBeUndefined();
		// Each sample is a recipient read from a file, paired with the item whose file holds it.
		expect(inFiles.has(s.json.contact as string)).toBe(true);
		const item = (s.pairedItem as { item: number }).item;
		const own = JSON.parse(Buffer.from(requests[item].binary!.recipients.data, 'base64').toString()) as Array<{ email: string }>;
		expect(own.some((x) => x.email === s.json.contact)).toBe(true);
		expect(typeof s.json.subject).toBe('string');
		expect(Array.isArray(s.json.findings)).toBe(true);
	}
});

it('Generate Email Copy (no per-recipient personalization) hands a recipients file on unread; Send Email reads and checks it', async () => {
	const loaded = await new LoadCampaignContent().execute.call(
		context({ ...campaignParams, contactSource: 'csvText', csvText: csvOf(contacts(3, 'unread.example')), csvOptions: {}, outputMode: 'auto' }),
	);
	const built = await new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 1000, options: { recipientsAs: 'file' } }, loaded[0]));
	// A file that is not a recipients list: the copy stage never opens it.
	const broken: INodeExecutionData = { ...built[0][0], binary: { recipients: { ...built[0][0].binary!.recipients, data: Buffer.from('not json').toString('base64') } } };
	const copied = await new GenerateEmailCopy().execute.call(context({ copySource: 'template', options: {} }, [broken]));
	expect(copied[0]).toHaveLength(1);
	expect(copied[0][0].json).toMatchObject({ recipients_file: 'recipients', recipient_count: 3, copy: { source: 'template' } });
	expect(copied[0][0].binary!.recipients).toBe(broken.binary!.recipients);
	await expect(new SendEmailSendGrid().execute.call(context({ dryRun: true, outputMode: 'batch', limits: {}, options: {} }, copied[0]))).rejects.toThrow(/recipients file \(binary property "recipients"\) cannot be read/);
});

it('Contacts "In JSON" keeps a large list in the batches\' JSON; "In a Binary File" puts even a few in a file; Build Email Payload reads both alike', async () => {
	const csv = csvOf(contacts(1500, 'contacts-as.example'));
	const load = (contactsAs: string, text = csv) =>
		new LoadCampaignContent().execute.call(context({ ...campaignParams, contactSource: 'csvText', csvText: text, csvOptions: {}, outputMode: 'batches', batchSize: 1000, contactsAs, runId: 'run-contacts-as' }));
	const inJson = await load('json');
	expect(inJson[0].map((b) => (b.json.contacts as unknown[]).length)).toEqual([1000, 500]);
	expect(inJson[0].every((b) => b.binary === undefined && b.json.contacts_file === undefined)).toBe(true);
	const inFile = await load('file', csvOf(contacts(3, 'few-contacts.example')));
	expect(inFile[0]).toHaveLength(1);
	expect(inFile[0][0].json).toMatchObject({ contacts_file: 'contacts', contact_count: 3, batch: 0, batches: 1 });
	expect(JSON.parse(Buffer.from(inFile[0][0].binary!.contacts.data, 'base64').toString())).toHaveLength(3);

	// The same contacts built from JSON and from files: the same recipients in the same requests.
	const fromFiles = await load('auto');
	expect(fromFiles[0].every((b) => b.json.contacts_file === 'contacts')).toBe(true);
	const build = (items: INodeExecutionData[]) => new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 1000, options: { recipientsAs: 'json' } }, items));
	const a = await build(inJson[0]);
	const b = await build(fromFiles[0]);
	const emails = (out: INodeExecutionData[][]) => out[0].map((r) => (r.json.recipients as Array<{ email: string }>).map((x) => x.email));
	expect(emails(b)).toEqual(emails(a));
	expect(emails(b).flat()).toHaveLength(1500);
	expect(b[0].map((r) => r.pairedItem)).toEqual(a[0].map((r) => r.pairedItem));
});

it('a contacts file that cannot be read fails its item in Build Email Payload, naming the file; with Continue On Fail the other batches are built', async () => {
	const loaded = await new LoadCampaignContent().execute.call(
		context({ ...campaignParams, contactSource: 'csvText', csvText: csvOf(contacts(2000, 'bad-contacts.example')), csvOptions: {}, outputMode: 'batches', batchSize: 1000, runId: 'run-bad-contacts' }),
	);
	const items: INodeExecutionData[] = [loaded[0][0], { ...loaded[0][1], binary: { contacts: { ...loaded[0][1].binary!.contacts, data: Buffer.from('[{"email":').toString('base64') } } }];
	const params = { campaignSource: 'input', step: 1, batchSize: 1000, options: {} };
	await expect(new BuildEmailPayload().execute.call(context(params, items))).rejects.toThrow(/Item 1's contacts file \(binary property "contacts"\) cannot be read/);
	const out = await new BuildEmailPayload().execute.call(context(params, items, true));
	const failed = out[0].filter((i) => i.json.error);
	expect(failed).toHaveLength(1);
	expect(failed[0].json).toMatchObject({ item: 1, field: 'contacts' });
	expect(failed[0].pairedItem).toEqual({ item: 1 });
	const built = out[0].filter((i) => !i.json.error);
	expect(built.reduce((n, r) => n + (r.json.recipients as unknown[]).length, 0)).toBe(1000);
	expect(built.every((r) => (r.pairedItem as { item: number }).item === 0)).toBe(true);
});

it("the Campaign Agent's input-items source reads Load Campaign Content's batches whose contacts are in files (Contacts List Field: contacts)", async () => {
	const loaded = await new LoadCampaignContent().execute.call(
		context({ ...campaignParams, contactSource: 'csvText', csvText: csvOf(contacts(N, 'agent-files.example')), csvOptions: {}, outputMode: 'batches', batchSize: 1000, runId: 'run-agent-files' }),
	);
	expect(loaded[0].every((b) => b.json.contacts_file === 'contacts' && b.json.contacts === undefined)).toBe(true);
	const source = await readContactSource(context({ contactSource: 'items', contactsField: 'contacts', emailField: 'email' }, loaded[0]), loaded[0]);
	if (source.kind !== 'rows') throw new Error(`expected rows, got ${source.kind}`);
	const rows = source.rows as Array<{ email: string }>;
	expect(rows).toHaveLength(N);
	expect(new Set(rows.map((r) => r.email)).size).toBe(N);
	expect(rows[0].email).toBe('user0@agent-files.example');

	// A file that is not there names the item and the file.
	const broken = loaded[0].map((b, i) => (i === 1 ? { ...b, binary: { contacts: { ...b.binary!.contacts, data: Buffer.from('{not json').toString('base64') } } } : b));
	await expect(readContactSource(context({ contactSource: 'items', contactsField: 'contacts', emailField: 'email' }, broken), broken)).rejects.toThrow(/Item 1's contacts file \(binary property "contacts"\) cannot be read/);
});

it("Load Campaign Content fed its own batches whose contacts are in files (Contacts List Field: contacts) loads every contact; an unreadable file fails its item, and with Continue On Fail the others load", async () => {
	const loaded = await new LoadCampaignContent().execute.call(
		context({ ...campaignParams, contactSource: 'csvText', csvText: csvOf(contacts(N, 'reload.example')), csvOptions: {}, outputMode: 'batches', batchSize: 1000, runId: 'run-reload' }),
	);
	expect(loaded[0].every((b) => b.json.contacts_file === 'contacts' && b.json.contacts === undefined)).toBe(true);
	const params = { ...campaignParams, contactSource: 'items', contactsField: 'contacts', emailField: 'email', outputMode: 'batches', batchSize: 1000, contactsAs: 'json', runId: 'run-reload-2' };
	const again = await new LoadCampaignContent().execute.call(context(params, loaded[0]));
	const emails = again[0].flatMap((b) => (b.json.contacts as Array<{ email: string }>).map((c) => c.email));
	expect(emails).toHaveLength(N);
	expect(new Set(emails).size).toBe(N);
	// Each contact pairs with the input batch it came from.
	expect(again[0].map((b) => b.pairedItem)).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);

	const broken = loaded[0].map((b, i) => (i === 1 ? { ...b, binary: { contacts: { ...b.binary!.contacts, data: Buffer.from('{not json').toString('base64') } } } : b));
	await expect(new LoadCampaignContent().execute.call(context(params, broken))).rejects.toThrow(/Item 1's contacts file \(binary property "contacts"\) cannot be read/);
	const partial = await new LoadCampaignContent().execute.call(context(params, broken, true));
	// The unreadable batch on the Invalid output, naming the file; the two others loaded.
	expect(partial[1]).toHaveLength(1);
	expect(String(partial[1][0].json.error)).toMatch(/Item 1's contacts file/);
	expect(partial[1][0].pairedItem).toEqual({ item: 1 });
	expect(partial[0].reduce((n, b) => n + (b.json.contacts as unknown[]).length, 0)).toBe(1500);
	expect(partial[0].map((b) => b.pairedItem)).toEqual([{ item: 0 }, { item: 2 }]);
});
