import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { loadCampaignContent } from '../../lib/stages/loadCampaignContent';
import { readContactSource } from '../shared/readers';
import { campaignStore, nodeError } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { campaignFromParameters, campaignProperties } from '../shared/campaignFields';
import { PER_CONTACT_LIMIT, contactProperties } from '../shared/properties';

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
			...contactProperties,
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const node = this.getNode();
		try {
			const campaign = campaignFromParameters(this, 0);
			const store = await campaignStore(this);
			const contacts = await readContactSource(this, items, store);
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
