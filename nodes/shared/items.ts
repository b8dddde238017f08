/** Reading this package's items back, whatever stage produced them (or a user's own nodes). */
import type { INodeExecutionData } from 'n8n-workflow';
import { CampaignInputError, Contact, EmailPayload, describeIssues, emailPayload } from '../../lib/schemas';
import { contactsFromRows } from '../../lib/contacts/loadContacts';

export interface ContactItems {
	contacts: Contact[];
	campaign?: unknown;
	runId?: string;
	/** Rows that could not be used, with reasons (never dropped silently). */
	invalid: Array<{ row: number; email: string; reason: string }>;
}

/** Items from Load Campaign Content (`contact` or `contacts`), or plain items that are contacts. */
export function contactsFromItems(items: INodeExecutionData[]): ContactItems {
	const rows: Array<Record<string, unknown>> = [];
	let campaign: unknown;
	let runId: string | undefined;
	for (const item of items) {
		const j = item.json as Record<string, unknown>;
		if (campaign === undefined && j.campaign && typeof j.campaign === 'object') campaign = j.campaign;
		if (!runId && typeof j.run_id === 'string') runId = j.run_id;
		if (Array.isArray(j.contacts)) rows.push(...(j.contacts as Array<Record<string, unknown>>));
		else if (j.contact && typeof j.contact === 'object') rows.push(j.contact as Record<string, unknown>);
		else {
			const { campaign: _c, run_id: _r, ...plain } = j;
			rows.push(plain);
		}
	}
	// These items are already in n8n's memory and were counted where they came in (Load Campaign Content's Max Rows).
	const list = contactsFromRows(rows, { maxRows: Number.MAX_SAFE_INTEGER });
	return { contacts: list.contacts, invalid: list.invalid, campaign, runId };
}

export function payloadsFromItems(items: INodeExecutionData[]): EmailPayload[] {
	return items.map((item, i) => {
		const r = emailPayload.safeParse(item.json);
		if (!r.success)
			throw Object.assign(
				new CampaignInputError(
					`Item ${i} is not an email payload (${describeIssues(r.error)}) — connect the output of Build Email Payload or Generate Email Copy`,
				),
				{ itemIndex: i },
			);
		return r.data;
	});
}

/** Results from Send Email: batch items (`results` array) or one item per recipient. */
export function resultsFromItems(items: INodeExecutionData[]): unknown[] {
	const out: unknown[] = [];
	for (const item of items) {
		const j = item.json as Record<string, unknown>;
		if (Array.isArray(j.results)) out.push(...j.results);
		else out.push(j);
	}
	return out;
}

export { countByStatus } from '../../lib/delivery/states';
