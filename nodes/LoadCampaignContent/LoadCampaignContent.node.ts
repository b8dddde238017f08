import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { ContactSource, loadCampaignContent } from '../../lib/stages/loadCampaignContent';
import { parseColumnMap } from '../../lib/contacts/loadContacts';
import { campaignStore, nodeError } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { campaignFromParameters, campaignProperties } from './campaignFields';

const PER_CONTACT_LIMIT = 1000;

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
		inputs: ['main'],
		// Two outputs (Valid, Invalid): the lint rule only knows the single-output and If/Switch shapes.
		// eslint-disable-next-line n8n-nodes-base/node-class-description-outputs-wrong
		outputs: ['main', 'main'],
		outputNames: ['Valid', 'Invalid'],
		credentials: [{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		properties: [
			...campaignProperties,
			{
				displayName: 'Contacts Source',
				name: 'contactSource',
				type: 'options',
				options: [
					{ name: 'Input Items', value: 'items', description: 'Each input item is a contact (or holds a list of contacts)' },
					{ name: 'CSV Text', value: 'csvText', description: 'Paste or map CSV text' },
					{ name: 'CSV File (Binary)', value: 'csvBinary', description: 'A CSV file from a previous node, e.g. Read Binary File, Form Trigger, HTTP Request' },
				],
				default: 'items',
			},
			{
				displayName: 'CSV Text',
				name: 'csvText',
				type: 'string',
				typeOptions: { rows: 6 },
				default: '',
				placeholder: 'email,first_name\nada@example.com,Ada',
				displayOptions: { show: { contactSource: ['csvText'] } },
			},
			{
				displayName: 'Input Binary Field',
				name: 'binaryPropertyName',
				type: 'string',
				default: 'data',
				displayOptions: { show: { contactSource: ['csvBinary'] } },
				hint: 'The name of the binary field that holds the CSV file',
			},
			{
				displayName: 'Email Field',
				name: 'emailField',
				type: 'string',
				default: 'email',
				displayOptions: { show: { contactSource: ['items'] } },
				description: 'Field of each item that holds the address',
			},
			{
				displayName: 'Contacts List Field',
				name: 'contactsField',
				type: 'string',
				default: '',
				displayOptions: { show: { contactSource: ['items'] } },
				description: 'Optional: a field holding an array of contacts inside each item; leave empty when each item is one contact',
			},
			{
				displayName: 'CSV Options',
				name: 'csvOptions',
				type: 'collection',
				placeholder: 'Add option',
				default: {},
				displayOptions: { show: { contactSource: ['csvText', 'csvBinary'] } },
				options: [
					{
						displayName: 'Column Mapping',
						name: 'columnMap',
						type: 'string',
						default: '',
						placeholder: 'Vorname=first_name, Firma=company',
						description: 'Rename CSV columns to merge fields: comma-separated "CSV Header=merge_field" pairs',
					},
					{ displayName: 'Delimiter', name: 'delimiter', type: 'string', default: ',', description: 'Use \\t for tab-separated files' },
					{
						displayName: 'Email Column',
						name: 'emailColumn',
						type: 'string',
						default: '',
						description: 'Header of the address column; by default the first of email, e-mail, email_address, mail',
					},
					{
						displayName: 'Encoding',
						name: 'encoding',
						type: 'options',
						options: [
							{ name: 'UTF-8', value: 'utf-8' },
							{ name: 'UTF-16 LE', value: 'utf-16le' },
							{ name: 'Windows-1252', value: 'windows-1252' },
							{ name: 'ISO-8859-1', value: 'iso-8859-1' },
						],
						default: 'utf-8',
					},
				],
			},
			{
				displayName: 'Output',
				name: 'outputMode',
				type: 'options',
				options: [
					{ name: 'Auto', value: 'auto', description: `One item per contact up to ${PER_CONTACT_LIMIT} contacts, batches above` },
					{ name: 'One Item per Contact', value: 'perContact' },
					{ name: 'Batches', value: 'batches', description: 'One item per batch of contacts: fast for large lists' },
				],
				default: 'auto',
				description: 'N8n spends time on every item; batches keep 100,000-contact lists fast',
			},
			{
				displayName: 'Contacts per Batch',
				name: 'batchSize',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 100000 },
				default: 1000,
				displayOptions: { show: { outputMode: ['batches', 'auto'] } },
			},
			{
				displayName: 'Run ID',
				name: 'runId',
				type: 'string',
				default: '',
				description: 'Optional. Leave empty to start a new run; set it to continue or resume a run.',
			},
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const node = this.getNode();
		try {
			const campaign = campaignFromParameters(this, 0);
			const source = this.getNodeParameter('contactSource', 0) as string;
			const csvOptions = this.getNodeParameter('csvOptions', 0, {}) as Record<string, string>;
			const csv = { ...csvOptions, columnMap: parseColumnMap(csvOptions.columnMap) };
			let contacts: ContactSource;
			if (source === 'csvText') contacts = { kind: 'csv', data: this.getNodeParameter('csvText', 0) as string, options: csv };
			else if (source === 'csvBinary') {
				const field = this.getNodeParameter('binaryPropertyName', 0) as string;
				const data = await this.helpers.getBinaryDataBuffer(0, field).catch(() => {
					throw new NodeOperationError(node, `The input item has no binary field "${field}" — set Input Binary Field to the field holding the CSV file`, { itemIndex: 0 });
				});
				contacts = { kind: 'csv', data, options: csv };
			} else {
				const emailField = this.getNodeParameter('emailField', 0, 'email') as string;
				const listField = this.getNodeParameter('contactsField', 0, '') as string;
				const rows = listField
					? items.flatMap((it, i) => {
							const list = (it.json as Record<string, unknown>)[listField];
							if (!Array.isArray(list)) throw new NodeOperationError(node, `Item ${i} has no array in "${listField}"`, { itemIndex: i });
							return list as Array<Record<string, unknown>>;
						})
					: items.map((it) => it.json as Record<string, unknown>);
				contacts = { kind: 'rows', rows, options: { emailField } };
			}
			const store = await campaignStore(this);
			const loaded = await loadCampaignContent({ campaign, contacts, runId: (this.getNodeParameter('runId', 0, '') as string) || undefined }, { store });

			const mode = this.getNodeParameter('outputMode', 0) as string;
			const batchSize = this.getNodeParameter('batchSize', 0, 1000) as number;
			const perContact = mode === 'perContact' || (mode === 'auto' && loaded.contacts.length <= PER_CONTACT_LIMIT);
			const common = { campaign_id: loaded.campaign.id, run_id: loaded.runId };
			const valid: INodeExecutionData[] = [];
			if (perContact) for (const contact of loaded.contacts) valid.push({ json: { ...common, contact, campaign: loaded.campaign } });
			else {
				const batches = Math.ceil(loaded.contacts.length / batchSize);
				for (let b = 0; b < batches; b++)
					valid.push({
						json: { ...common, batch: b, batches, contacts: loaded.contacts.slice(b * batchSize, (b + 1) * batchSize), campaign: loaded.campaign },
					});
			}
			const invalid = loaded.invalid.map((r) => ({ json: { ...common, ...r } }));
			return [valid, invalid];
		} catch (e) {
			if (this.continueOnFail()) return [[], [{ json: { error: (e as Error).message } }]];
			throw nodeError(node, e, 0);
		}
	}
}
