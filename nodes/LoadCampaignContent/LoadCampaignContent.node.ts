import type { IExecuteFunctions, INodeExecutionData, INodeProperties, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { loadCampaignContent } from '../../lib/stages/loadCampaignContent';
import { readContactSource } from '../shared/readers';
import { campaignStore, nodeError } from '../shared/context';
import { contactItems, errorItem, failItems, inInputOrder, inputError, pairedWith } from '../shared/items';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { campaignFromParameters, campaignProperties } from '../shared/campaignFields';
import { getDynamicTemplates } from '../shared/sendGridLists';
import { PER_CONTACT_LIMIT, contactProperties } from '../shared/properties';
import { CONTACTS_IN_JSON_LIMIT, contactBatchItem, hasContactFiles, withContactFiles } from '../shared/batchFiles';

const contactsAsProperty: INodeProperties = {
	displayName: 'Contacts',
	name: 'contactsAs',
	type: 'options',
	options: [
		{ name: 'Auto', value: 'auto', description: `In each batch's JSON up to ${CONTACTS_IN_JSON_LIMIT.toLocaleString('en-US')} contacts in all, in a binary file per batch above` },
		{ name: 'In JSON', value: 'json', description: 'Each batch item\'s "contacts" list' },
		{ name: 'In a Binary File', value: 'file', description: 'Each batch item\'s binary "contacts" (a JSON file) and "contact_count" in its JSON' },
	],
	default: 'auto',
	displayOptions: { show: { outputMode: ['batches', 'auto'] } },
	description: 'Where each batch\'s contacts go. n8n keeps every node\'s output of a run: on large lists a file per batch keeps that small. Build Email Payload reads either.',
};

export class LoadCampaignContent implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Load Campaign Content',
		name: 'loadCampaignContent',
		icon: 'file:loadCampaignContent.svg',
		group: ['input'],
		version: 1,
		subtitle: '={{"contacts from " + $parameter["contactSource"]}}',
		description: 'Load a campaign and its contacts (items or CSV), validated and de-duplicated; bad rows go to the Invalid output',
		defaults: { name: 'Load Campaign Content' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
		outputNames: ['Valid', 'Invalid'],
		credentials: [
			{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' },
			// Only to list the account's dynamic templates for SendGrid Dynamic Template; nothing is sent from here.
			{ name: 'sendGridCampaignApi', required: false, displayOptions: { show: { campaignSource: ['fields'], sequence: ['single', 'day137'] } } },
		],
		properties: [
			...campaignProperties,
			// Where a batch's contacts go, right after the batch size.
			...contactProperties.flatMap((p) => (p.name === 'batchSize' ? [p, contactsAsProperty] : [p])),
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest }, loadOptions: { getDynamicTemplates } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		let all = this.getInputData();
		const node = this.getNode();
		const source = this.getNodeParameter('contactSource', 0) as string;
		const listField = source === 'items' ? ((this.getNodeParameter('contactsField', 0, '') as string) || '') : '';
		// Input items that are not what the contacts parameters say become error items of their own (Continue On Fail).
		const errors: INodeExecutionData[] = [];
		const unreadable = new Map<number, Error>();
		// Batches of an earlier Load Campaign Content with their contacts in a binary file each: read into their `contacts` list.
		if (hasContactFiles(listField, all)) {
			const read = await withContactFiles(this, all);
			all = read.items;
			for (const b of read.bad) unreadable.set(b.item, b.error);
		}
		const kept: number[] = [];
		for (const [i, item] of all.entries()) {
			const bad = unreadable.get(i);
			if (bad) {
				if (!this.continueOnFail()) throw nodeError(node, bad, i);
				errors.push(errorItem(node, bad, i));
			} else if (listField && !Array.isArray((item.json as Record<string, unknown>)[listField])) {
				const e = inputError(`Item ${i} has no array in "${listField}"`, 'contactsField', 'Set Contacts List Field to the field holding each item\'s array of contacts, or leave it empty when each item is one contact').atItem(i);
				if (!this.continueOnFail()) throw nodeError(node, e, i);
				errors.push(errorItem(node, e, i));
			} else kept.push(i);
		}
		if (kept.length === 0 && errors.length > 0) return [[], errors];
		const items = kept.length === all.length ? all : kept.map((i) => all[i]);
		try {
			const campaign = campaignFromParameters(this, 0);
			const store = await campaignStore(this);
			const contacts = await readContactSource(this, items, store);
			const loaded = await loadCampaignContent({ campaign, contacts, runId: (this.getNodeParameter('runId', 0, '') as string) || undefined }, { store });

			// Which input item each row and contact came from: rows of input items pair with their item; a CSV or a query with item 0.
			const rowItem = source === 'items' ? rowItems(items, kept, listField) : undefined;
			const contactItem = rowItem ? contactItems(rowItem, loaded.invalid, loaded.contacts.length) : undefined;
			const mode = this.getNodeParameter('outputMode', 0) as string;
			const batchSize = this.getNodeParameter('batchSize', 0, 1000) as number;
			const perContact = mode === 'perContact' || (mode === 'auto' && loaded.contacts.length <= PER_CONTACT_LIMIT);
			const common = { campaign_id: loaded.campaign.id, run_id: loaded.runId };
			const valid: INodeExecutionData[] = [];
			if (perContact)
				loaded.contacts.forEach((contact, k) => valid.push({ json: { ...common, contact, campaign: loaded.campaign }, pairedItem: { item: contactItem?.[k] ?? 0 } }));
			else {
				// Large lists: each batch's contacts in a binary file, so n8n does not keep (and print) them all in this node's JSON.
				const contactsAs = this.getNodeParameter('contactsAs', 0, 'auto') as string;
				const inFile = contactsAs === 'file' || (contactsAs === 'auto' && loaded.contacts.length > CONTACTS_IN_JSON_LIMIT);
				const batches = Math.ceil(loaded.contacts.length / batchSize);
				for (let b = 0; b < batches; b++) {
					const json = { ...common, batch: b, batches, campaign: loaded.campaign };
					const slice = loaded.contacts.slice(b * batchSize, (b + 1) * batchSize);
					valid.push({
						...(await contactBatchItem(this, json, slice, inFile, `contacts-${loaded.runId}-batch${b}.json`)),
						pairedItem: contactItem ? pairedWith(contactItem.slice(b * batchSize, (b + 1) * batchSize)) : { item: 0 },
					});
				}
			}
			const invalid = loaded.invalid.map((r) => ({ json: { ...common, ...r }, pairedItem: { item: rowItem?.[r.row - 1] ?? 0 } }));
			return [valid, inInputOrder([...invalid, ...errors])];
		} catch (e) {
			// Nothing loaded (the campaign, the CSV or the store failed): every input item gets the error, on the Invalid output.
			return [[], inInputOrder([...errors, ...failItems(this, e, kept.length ? kept : [0])])];
		}
	}
}

/** The input item (its index among all input items) of each row readContactSource read from the kept items. */
function rowItems(items: INodeExecutionData[], kept: number[], listField: string): number[] {
	if (!listField) return kept.slice();
	const out: number[] = [];
	items.forEach((it, k) => {
		const n = ((it.json as Record<string, unknown>)[listField] as unknown[]).length;
		for (let r = 0; r < n; r++) out.push(kept[k]);
	});
	return out;
}
