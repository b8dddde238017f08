/**
 * Reading this package's items back, whatever stage produced them (or a user's own nodes), and the
 * n8n side of items going out: pairedItem (item linking) and Continue On Fail error items.
 */
import type { IDataObject, IExecuteFunctions, INode, INodeExecutionData, IPairedItemData, NodeApiError, NodeOperationError } from 'n8n-workflow';
import { CampaignInputError, Contact, EmailPayload, describeIssues, emailPayload } from '../../lib/schemas';
import { contactsFromRows } from '../../lib/contacts/loadContacts';
import { CampaignError } from '../../lib/errors';
import { nodeError } from './context';

/** What an output item is paired with: one input item, or the input items a batch was built from. */
export type Paired = IPairedItemData | IPairedItemData[];

/** pairedItem for the input items with these indexes (each once, in order): one `{ item }`, or a list of them. */
export function pairedWith(indexes: Iterable<number>): Paired {
	const seen = new Set<number>();
	for (const i of indexes) seen.add(i);
	const list = [...seen].sort((a, b) => a - b).map((item) => ({ item }));
	return list.length === 1 ? list[0] : list;
}

/** pairedItem of an item made from every input item (a summary, as n8n's Aggregate pairs its item). */
export function pairedAll(count: number): Paired {
	return count <= 1 ? { item: 0 } : Array.from({ length: count }, (_, item) => ({ item }));
}

/** The first input item an output item is paired with (for keeping output in input order). */
function firstPaired(item: INodeExecutionData): number {
	const p = item.pairedItem;
	if (typeof p === 'number') return p;
	if (Array.isArray(p)) return p[0]?.item ?? 0;
	return p?.item ?? 0;
}

/** Output items in the order of the input items they are paired with (stable). */
export function inInputOrder(items: INodeExecutionData[]): INodeExecutionData[] {
	return items
		.map((item, k) => ({ item, k, at: firstPaired(item) }))
		.sort((a, b) => a.at - b.at || a.k - b.k)
		.map((x) => x.item);
}

/**
 * A failure as an item (Continue On Fail): `json` says what went wrong (error, field, hint, item, and
 * the HTTP status of a service) and `error` holds n8n's error, which is how n8n's "Continue (using error
 * output)" finds the item to route. The message and hint are the ones nodeError gives when thrown.
 */
export function errorItem(node: INode, e: unknown, itemIndex: number, paired: Paired = { item: itemIndex }, extra: IDataObject = {}): INodeExecutionData {
	return errorItemFrom(nodeError(node, e, itemIndex), e, itemIndex, paired, extra);
}

function errorItemFrom(error: Error, e: unknown, itemIndex: number, paired: Paired, extra: IDataObject): INodeExecutionData {
	const c = e instanceof CampaignError ? e : undefined;
	const json: IDataObject = { error: error.message, ...extra };
	if (c?.field) json.field = c.field;
	const hint = c ? c.hint : (error as { description?: string | null }).description;
	if (hint) json.hint = hint;
	if (c?.httpStatus !== undefined) json.http_status = c.httpStatus;
	json.item = itemIndex;
	return { json, error: error as NodeOperationError | NodeApiError, pairedItem: paired };
}

/**
 * The whole operation failed (SendGrid or the store unreachable, a bad parameter every item shares):
 * with Continue On Fail, one error item per input item it concerned, paired with it (one n8n error
 * shared by all of them); else the error is thrown.
 */
export function failItems(ctx: IExecuteFunctions, e: unknown, itemIndexes: number[], extra: IDataObject = {}): INodeExecutionData[] {
	const node = ctx.getNode();
	const own = e instanceof CampaignError ? e.itemIndex : undefined;
	if (!ctx.continueOnFail()) throw nodeError(node, e, own);
	const error = nodeError(node, e, own);
	return itemIndexes.map((i) => errorItemFrom(error, e, i, { item: i }, extra));
}

/** 0, 1, ..., count - 1. */
export function indexes(count: number): number[] {
	return Array.from({ length: count }, (_, i) => i);
}

/**
 * Runs `each` on every input item: its output items are paired with the item; a failing item becomes
 * an error item with Continue On Fail, else its error is thrown naming the item.
 */
export async function perItem(
	ctx: IExecuteFunctions,
	each: (itemIndex: number, item: INodeExecutionData) => Promise<IDataObject | IDataObject[]>,
): Promise<INodeExecutionData[]> {
	const node = ctx.getNode();
	const out: INodeExecutionData[] = [];
	for (const [i, item] of ctx.getInputData().entries()) {
		try {
			const r = await each(i, item);
			for (const json of Array.isArray(r) ? r : [r]) out.push({ json, pairedItem: { item: i } });
		} catch (e) {
			if (!ctx.continueOnFail()) throw nodeError(node, e, i);
			out.push(errorItem(node, e, i));
		}
	}
	return out;
}

/**
 * A parameter or input problem found in a node file, as the domain's error (field and hint travel to
 * the thrown n8n error and to Continue On Fail error items alike through nodeError / errorItem).
 */
export function inputError(message: string, field: string, hint?: string): CampaignInputError {
	return new CampaignInputError(message, field, hint);
}

/** A JSON parameter (text or an object an expression gave) as a value; text that does not parse names the parameter. */
export function jsonParameter(value: unknown, displayName: string, field: string): unknown {
	if (typeof value !== 'string') return value;
	try {
		return JSON.parse(value);
	} catch (e) {
		throw new CampaignInputError(`${displayName} is not valid JSON: ${(e as Error).message}`, field, `Fix the JSON in ${displayName}: an object, or an expression that gives one`);
	}
}

export interface ContactItems {
	contacts: Contact[];
	campaign?: unknown;
	runId?: string;
	/** Rows that could not be used, with reasons (never dropped silently); `row` is 1-based over all input contacts. */
	invalid: Array<{ row: number; email: string; reason: string }>;
	/** The input item each row came from (rowItem[row - 1]). */
	rowItem: number[];
	/** The input item each contact came from (contactItem[k] for contacts[k]). */
	contactItem: number[];
}

/** Items from Load Campaign Content (`contact` or `contacts`), or plain items that are contacts. */
export function contactsFromItems(items: INodeExecutionData[]): ContactItems {
	const rows: Array<Record<string, unknown>> = [];
	const rowItem: number[] = [];
	let campaign: unknown;
	let runId: string | undefined;
	for (const [i, item] of items.entries()) {
		const j = item.json as Record<string, unknown>;
		if (campaign === undefined && j.campaign && typeof j.campaign === 'object') campaign = j.campaign;
		if (!runId && typeof j.run_id === 'string') runId = j.run_id;
		if (Array.isArray(j.contacts)) {
			for (const c of j.contacts as Array<Record<string, unknown>>) {
				rows.push(c);
				rowItem.push(i);
			}
		} else {
			if (j.contact && typeof j.contact === 'object') rows.push(j.contact as Record<string, unknown>);
			else {
				const { campaign: _c, run_id: _r, ...plain } = j;
				rows.push(plain);
			}
			rowItem.push(i);
		}
	}
	// These items are already in n8n's memory and were counted where they came in (Load Campaign Content's Max Rows).
	const list = contactsFromRows(rows, { maxRows: Number.MAX_SAFE_INTEGER });
	return { contacts: list.contacts, invalid: list.invalid, campaign, runId, rowItem, contactItem: contactItems(rowItem, list.invalid, list.contacts.length) };
}

/**
 * The input item of each valid contact: every row yields one contact or one invalid row, in row order,
 * so the k-th row that is not invalid is the k-th contact. Item 0 for all when that does not add up.
 */
export function contactItems(rowItem: number[], invalid: Array<{ row: number }>, contacts: number): number[] {
	const bad = new Set(invalid.map((r) => r.row));
	const out: number[] = [];
	for (let r = 1; r <= rowItem.length; r++) if (!bad.has(r)) out.push(rowItem[r - 1]);
	return out.length === contacts ? out : new Array<number>(contacts).fill(0);
}

/** Each item as an email payload, or the reason it is not one (naming the item and the field). */
export function payloadItems(items: INodeExecutionData[]): { ok: Array<{ payload: EmailPayload; item: number }>; bad: Array<{ item: number; error: CampaignInputError }> } {
	const ok: Array<{ payload: EmailPayload; item: number }> = [];
	const bad: Array<{ item: number; error: CampaignInputError }> = [];
	for (const [i, item] of items.entries()) {
		const r = payloadItem(item.json, i);
		if (r instanceof CampaignInputError) bad.push({ item: i, error: r });
		else ok.push({ payload: r, item: i });
	}
	return { ok, bad };
}

/** Input item `i`'s JSON as an email payload, or the reason it is not one (naming the item and the field). */
export function payloadItem(json: unknown, i: number): EmailPayload | CampaignInputError {
	return payloadOf(emailPayload.safeParse(json), i);
}

const withoutRecipients = emailPayload.omit({ recipients: true });

/** payloadItem for an item whose recipients stay in their file (not read): the payload with no recipients. */
export function payloadItemWithoutRecipients(json: unknown, i: number): EmailPayload | CampaignInputError {
	const r = withoutRecipients.safeParse(json);
	return payloadOf(r.success ? { success: true, data: { ...r.data, recipients: [] } } : r, i);
}

function payloadOf(r: { success: true; data: EmailPayload } | { success: false; error: Parameters<typeof describeIssues>[0] }, i: number): EmailPayload | CampaignInputError {
	if (r.success) return r.data;
	const path = r.error.issues[0]?.path.map(String).join('.');
	return new CampaignInputError(
		`Item ${i} is not an email payload (${describeIssues(r.error)}) — connect the output of Build Email Payload or Generate Email Copy`,
		path || undefined,
		'Connect the output of Build Email Payload or Generate Email Copy, or build items with the same fields',
	).atItem(i);
}

export function payloadsFromItems(items: INodeExecutionData[]): EmailPayload[] {
	const { ok, bad } = payloadItems(items);
	if (bad.length > 0) throw bad[0].error;
	return ok.map((o) => o.payload);
}

/** Results from Send Email: batch items (`results` array) or one item per recipient. */
export function resultsFromItems(items: INodeExecutionData[]): unknown[] {
	const out: unknown[] = [];
	for (const item of items) out.push(...resultsOfItem(item));
	return out;
}

/** The delivery results one item carries. */
export function resultsOfItem(item: INodeExecutionData): unknown[] {
	const j = item.json as Record<string, unknown>;
	return Array.isArray(j.results) ? j.results : [j];
}

export { countByStatus } from '../../lib/delivery/states';
