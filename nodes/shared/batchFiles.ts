/**
 * Large runs keep their per-recipient lists in n8n binary files instead of the items' JSON. n8n keeps
 * every node's output of a run (and `n8n execute` prints all of it): with 100,000 recipients the same
 * recipients in Build Email Payload's, Generate Email Copy's and Send Email's JSON cost n8n more than a
 * gigabyte. A batch item then says how many recipients its file holds, and the file (n8n binary data,
 * on disk in n8n's default filesystem mode) holds them; Generate Email Copy hands the file on untouched,
 * Send Email writes its results the same way, and Log Campaign Result reads them. Load Campaign
 * Content's batches do the same with their contacts (Build Email Payload reads them). Items whose
 * contacts, recipients or results are in their JSON (plain items, small runs) work as before.
 */
import type { IBinaryData, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { CampaignInputError, type EmailPayload, type Recipient } from '../../lib/schemas';
import { payloadItem, payloadItemWithoutRecipients, type payloadItems } from './items';

/** Binary property holding a batch's recipients (a JSON array, as `recipients` would be). */
export const RECIPIENTS_FILE = 'recipients';
/** Binary property holding a batch's delivery results (a JSON array, as `results` would be). */
export const RESULTS_FILE = 'results';
/** Binary property holding a Load Campaign Content batch's contacts (a JSON array, as `contacts` would be). */
export const CONTACTS_FILE = 'contacts';

/** Build Email Payload's Recipients option: files only when the build has more recipients than this. */
export const RECIPIENTS_IN_JSON_LIMIT = 1000;
/** Load Campaign Content's Contacts option: batches put their contacts in files only when the list has more contacts than this. */
export const CONTACTS_IN_JSON_LIMIT = 1000;

/** A JSON array as an n8n binary file. */
export async function jsonFile(ctx: IExecuteFunctions, rows: unknown[], fileName: string): Promise<IBinaryData> {
	return await ctx.helpers.prepareBinaryData(Buffer.from(JSON.stringify(rows)), fileName, 'application/json');
}

/** The JSON array in an input item's binary property. */
async function readJsonFile(ctx: IExecuteFunctions, itemIndex: number, property: string, what: string): Promise<unknown[]> {
	let rows: unknown;
	try {
		rows = JSON.parse((await ctx.helpers.getBinaryDataBuffer(itemIndex, property)).toString('utf8'));
	} catch (e) {
		throw new CampaignInputError(`Item ${itemIndex}'s ${what} file (binary property "${property}") cannot be read: ${(e as Error).message}`, property).atItem(itemIndex);
	}
	if (!Array.isArray(rows)) throw new CampaignInputError(`Item ${itemIndex}'s ${what} file (binary property "${property}") is not a JSON array`, property).atItem(itemIndex);
	return rows;
}

/** A Load Campaign Content batch as an output item: its contacts in JSON, or (`inFile`) in a binary file of their own with their count. */
export async function contactBatchItem(ctx: IExecuteFunctions, json: Record<string, unknown>, contacts: unknown[], inFile: boolean, fileName: string): Promise<Pick<INodeExecutionData, 'json' | 'binary'>> {
	if (!inFile) return { json: { ...json, contacts } as INodeExecutionData['json'] };
	const binary = await jsonFile(ctx, contacts, fileName);
	return { json: { ...json, contacts_file: CONTACTS_FILE, contact_count: contacts.length } as INodeExecutionData['json'], binary: { [CONTACTS_FILE]: binary } };
}

/** Load Campaign Content's batches with their contacts in files are among these items, read through Contacts List Field `contacts`: withContactFiles reads them. */
export function hasContactFiles(listField: string, items: INodeExecutionData[]): boolean {
	return listField === 'contacts' && items.some((it) => typeof (it.json as Record<string, unknown>).contacts_file === 'string');
}

/**
 * The input items with each batch's contacts file read into its `contacts` list (the items Load Campaign
 * Content made with Contacts in a binary file), for contactsFromItems; other items as they are. An item
 * whose file cannot be read keeps its place with no contacts and comes back in `bad` with the reason.
 */
export async function withContactFiles(ctx: IExecuteFunctions, items: INodeExecutionData[]): Promise<{ items: INodeExecutionData[]; bad: Array<{ item: number; error: CampaignInputError }> }> {
	const out: INodeExecutionData[] = [];
	const bad: Array<{ item: number; error: CampaignInputError }> = [];
	for (const [i, item] of items.entries()) {
		const j = item.json as Record<string, unknown>;
		const file = typeof j.contacts_file === 'string' ? j.contacts_file : undefined;
		if (j.contacts !== undefined || !file || !item.binary?.[file]) {
			out.push(item);
			continue;
		}
		const { contacts_file: _f, contact_count: _n, ...rest } = j;
		let contacts: unknown[] = [];
		try {
			contacts = await readJsonFile(ctx, i, file, 'contacts');
		} catch (e) {
			bad.push({ item: i, error: e as CampaignInputError });
		}
		out.push({ ...item, json: { ...rest, contacts } as INodeExecutionData['json'] });
	}
	return { items: out, bad };
}

/** A payload item's recipients are in its binary file (Build Email Payload on a large run), not in its JSON. */
function recipientsInFile(item: INodeExecutionData): string | undefined {
	const j = item.json as Record<string, unknown>;
	const file = typeof j.recipients_file === 'string' ? j.recipients_file : undefined;
	return j.recipients === undefined && file && item.binary?.[file] ? file : undefined;
}

/**
 * Each item as an email payload (payloadItems), its recipients read from its file when it has one.
 * `file` on an entry: the binary property the recipients came from (an output should carry it on).
 * Item by item: a file's parsed text is checked and dropped before the next file is read, so only the
 * checked recipients are held (not also every file's raw rows until the last one is read).
 */
export async function payloadItemsWithFiles(
	ctx: IExecuteFunctions,
	items: INodeExecutionData[],
	/** false: a file's recipients are not read (the payload has none; payloadOutput hands the file on with its count) — for a node that never looks at them. */
	readFiles = true,
): Promise<{ ok: Array<{ payload: EmailPayload; item: number; file?: string }>; bad: ReturnType<typeof payloadItems>['bad'] }> {
	const ok: Array<{ payload: EmailPayload; item: number; file?: string }> = [];
	const bad: ReturnType<typeof payloadItems>['bad'] = [];
	for (const [i, item] of items.entries()) {
		const file = recipientsInFile(item);
		let json = item.json as Record<string, unknown>;
		if (file) {
			const { recipients_file: _f, recipient_count: _n, ...rest } = json;
			json = readFiles ? { ...rest, recipients: await readJsonFile(ctx, i, file, 'recipients') } : rest;
		}
		const r = file && !readFiles ? payloadItemWithoutRecipients(json, i) : payloadItem(json, i);
		if (r instanceof CampaignInputError) bad.push({ item: i, error: r });
		else ok.push(file ? { payload: r, item: i, file } : { payload: r, item: i });
	}
	return { ok, bad };
}

/** A payload as an output item: with its recipients in JSON, or (`file`) in the binary file the input item had, which is handed on as it is. */
export function payloadOutput(payload: EmailPayload, input: INodeExecutionData | undefined, file: string | undefined, extra: Record<string, unknown> = {}): Pick<INodeExecutionData, 'json' | 'binary'> {
	if (!file || !input?.binary?.[file]) return { json: { ...payload, ...extra } as unknown as INodeExecutionData['json'] };
	const { recipients, ...rest } = payload;
	// No recipients: they were not read (payloadItemsWithFiles' readFiles false), the input's count stands.
	const count = recipients.length > 0 ? recipients.length : Number((input.json as Record<string, unknown>).recipient_count ?? 0);
	return { json: { ...rest, recipients_file: file, recipient_count: count, ...extra } as unknown as INodeExecutionData['json'], binary: { [file]: input.binary[file] } };
}

/** A built payload as an output item, its recipients in JSON or in a file of their own. */
export async function builtPayloadItem(ctx: IExecuteFunctions, payload: EmailPayload, inFile: boolean): Promise<Pick<INodeExecutionData, 'json' | 'binary'>> {
	if (!inFile) return { json: payload as unknown as INodeExecutionData['json'] };
	const { recipients, ...rest } = payload;
	const binary = await jsonFile(ctx, recipients as Recipient[], `recipients-${payload.run_id}-step${payload.step}-batch${payload.batch}.json`);
	return { json: { ...rest, recipients_file: RECIPIENTS_FILE, recipient_count: recipients.length } as unknown as INodeExecutionData['json'], binary: { [RECIPIENTS_FILE]: binary } };
}

/** The delivery results one input item carries: its `results` list, its results file (Send Email on a large run), or the item itself (one per recipient). */
export async function resultsOfItemWithFiles(ctx: IExecuteFunctions, item: INodeExecutionData, itemIndex: number): Promise<unknown[]> {
	const j = item.json as Record<string, unknown>;
	if (Array.isArray(j.results)) return j.results;
	const file = typeof j.results_file === 'string' ? j.results_file : undefined;
	if (file && item.binary?.[file]) return await readJsonFile(ctx, itemIndex, file, 'results');
	return [j];
}

