/**
 * Stage `load_campaign_content`: the campaign definition plus contacts (rows, CSV text or CSV
 * bytes) → a validated campaign and de-duplicated contacts; bad rows come back with reasons.
 */
import { ContactChunk, ContactList, CsvData, CsvOptions, InvalidRow, RowOptions, contactsFromCsv, checkRowCount, contactsFromRows, csvContactChunks, rowContactChunks } from '../contacts/loadContacts';
import { Campaign, Contact, campaign as campaignSchema, parseOrThrow } from '../schemas';
import { newRunId } from '../ids';
import type { CampaignStore } from '../store';
import type { ContactsQueryOptions } from '../store/contactsQuery';

export type ContactSource =
	| { kind: 'rows'; rows: Array<Record<string, unknown>>; options?: RowOptions }
	/** CSV text, bytes, or a byte stream (n8n binary data); read as a stream under the options' limits. */
	| { kind: 'csv'; data: CsvData; options?: CsvOptions }
	/** Rows read a page at a time (a Postgres cursor); each call of `pages` reads the source again from its start. */
	| {
			kind: 'pages';
			pages: () => AsyncIterable<Array<Record<string, unknown>>>;
			options?: RowOptions;
			/** The query behind the pages, so a worker thread can run it through its own pool (lib/agent/agentWorker.ts). */
			query?: { sql: string; options: ContactsQueryOptions };
	  };

export interface LoadCampaignInput {
	campaign: unknown;
	contacts: ContactSource;
	runId?: string;
}

export interface LoadedCampaign {
	campaign: Campaign;
	runId: string;
	contacts: Contact[];
	invalid: InvalidRow[];
	total: number;
}

export function parseCampaign(raw: unknown): Campaign {
	return parseOrThrow(campaignSchema, raw, 'campaign');
}

export async function loadCampaignContent(input: LoadCampaignInput, deps: { store?: CampaignStore } = {}): Promise<LoadedCampaign> {
	const campaign = parseCampaign(input.campaign);
	const list: ContactList =
		input.contacts.kind === 'csv'
			? await contactsFromCsv(input.contacts.data, input.contacts.options)
			: input.contacts.kind === 'rows'
				? contactsFromRows(input.contacts.rows, input.contacts.options)
				: contactsFromRows(await allPages(input.contacts.pages()), input.contacts.options);
	if (deps.store) await deps.store.upsertCampaign(campaign);
	return { campaign, runId: input.runId || newRunId(), contacts: list.contacts, invalid: list.invalid, total: list.total };
}

async function allPages(pages: AsyncIterable<Array<Record<string, unknown>>>): Promise<Array<Record<string, unknown>>> {
	const rows: Array<Record<string, unknown>> = [];
	for await (const page of pages) for (const row of page) rows.push(row);
	return rows;
}

/**
 * The contacts of a source a chunk at a time (the Campaign Agent): `chunkSize` valid contacts per
 * chunk, duplicates found across the whole source in a compact fingerprint table, memory flat in
 * the list's length otherwise. Every call reads the source again from its start.
 */
export function contactChunks(source: ContactSource, chunkSize: number): AsyncGenerator<ContactChunk> {
	if (source.kind === 'csv') return csvContactChunks(source.data, source.options ?? {}, chunkSize);
	if (source.kind === 'pages') return rowContactChunks(source.pages(), source.options ?? {}, chunkSize);
	checkRowCount(source.rows.length, source.options);
	return rowContactChunks([source.rows], source.options ?? {}, chunkSize);
}
