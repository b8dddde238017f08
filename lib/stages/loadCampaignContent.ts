/**
 * Stage `load_campaign_content`: the campaign definition plus contacts (rows, CSV text or CSV
 * bytes) → a validated campaign and de-duplicated contacts; bad rows come back with reasons.
 */
import { ContactList, CsvData, CsvOptions, InvalidRow, RowOptions, contactsFromCsv, contactsFromRows } from '../contacts/loadContacts';
import { Campaign, Contact, campaign as campaignSchema, parseOrThrow } from '../schemas';
import { newRunId } from '../ids';
import type { CampaignStore } from '../store';

export type ContactSource =
	| { kind: 'rows'; rows: Array<Record<string, unknown>>; options?: RowOptions }
	/** CSV text, bytes, or a byte stream (n8n binary data); read as a stream under the options' limits. */
	| { kind: 'csv'; data: CsvData; options?: CsvOptions };

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
			: contactsFromRows(input.contacts.rows, input.contacts.options);
	if (deps.store) await deps.store.upsertCampaign(campaign);
	return { campaign, runId: input.runId || newRunId(), contacts: list.contacts, invalid: list.invalid, total: list.total };
}
