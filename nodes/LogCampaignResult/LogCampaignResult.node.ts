import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { STORE_NOTICE, campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import * as log from './actions/log.operation';
import { router } from './actions/router';
import * as stats from './actions/stats.operation';

export class LogCampaignResult implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Log Campaign Result',
		name: 'logCampaignResult',
		icon: 'file:logCampaignResult.svg',
		group: ['output'],
		version: 1,
		subtitle: '={{$parameter["operation"]}}',
		description: 'Write one delivery row per recipient and the run summary into the campaign store',
		defaults: { name: 'Log Campaign Result' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' }],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Log Results', value: 'log', action: 'Log delivery results', description: 'Write delivery rows and the run summary' },
					{ name: 'Get Campaign Stats', value: 'stats', action: 'Get campaign stats', description: 'Runs with progress, rates per step and variant, A/B results, recent deliveries' },
				],
				default: 'log',
			},
			...stats.description,
			{
				displayName: STORE_NOTICE,
				name: 'storeNotice',
				type: 'notice',
				default: '',
			},
			...log.description,
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await router.call(this);
	}
}
