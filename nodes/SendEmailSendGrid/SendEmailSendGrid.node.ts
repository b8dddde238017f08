import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { campaignStore, nodeError } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { campaignRedisConnectionTest } from '../shared/redisCredential';
import { countByStatus, payloadsFromItems } from '../shared/items';
import type { EmailPayload } from '../../lib/schemas';
import { deliveryProperties } from '../shared/properties';
import { readDelivery } from '../shared/readers';
import { sendGridListMethods } from '../shared/sendGridLists';

export class SendEmailSendGrid implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Send Email (SendGrid)',
		name: 'sendEmailSendGrid',
		icon: 'file:sendEmailSendGrid.svg',
		group: ['output'],
		version: 1,
		subtitle: '={{$parameter["dryRun"] ? "dry run" : "send"}}',
		description: 'Send campaign batches through SendGrid: throttled, retried, and at most once per recipient and step',
		defaults: { name: 'Send Email (SendGrid)' },
		usableAsTool: true,
		inputs: ['main'],
		outputs: ['main'],
		credentials: [
			{ name: 'sendGridCampaignApi', required: true, displayOptions: { show: { dryRun: [false] } } },
			{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' },
			{ name: 'campaignRedisApi', required: false, displayOptions: { show: { dryRun: [false] } }, testedBy: 'campaignRedisConnectionTest' },
		],
		properties: [
			...deliveryProperties,
		],
	};

	methods = {
		credentialTest: { campaignDatabaseConnectionTest, campaignRedisConnectionTest },
		...sendGridListMethods,
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		try {
			let payloads: EmailPayload[] = payloadsFromItems(this.getInputData());
			const delivery = await readDelivery(this);
			if (delivery.unsubscribeGroupId) payloads = payloads.map((p) => ({ ...p, asm_group_id: delivery.unsubscribeGroupId }));
			const store = await campaignStore(this);
			const batches = await sendEmailWithSendgrid(payloads, { transport: delivery.transport, store, limiter: delivery.limiter }, delivery.options);
			if (this.getNodeParameter('outputMode', 0) === 'recipient')
				return [batches.flatMap((b) => b.results.map((r) => ({ json: r as unknown as INodeExecutionData['json'] })))];
			return [batches.map((b) => ({ json: { ...b, counts: countByStatus(b.results) } as unknown as INodeExecutionData['json'] }))];
		} catch (e) {
			throw nodeError(node, e);
		}
	}
}
