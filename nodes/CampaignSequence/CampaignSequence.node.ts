import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { campaignRedisConnectionTest } from '../shared/redisCredential';
import { operations, router } from './actions/router';
import { chatModelInput } from '../shared/properties';
import { sendGridListMethods } from '../shared/sendGridLists';
import { campaignSentryDsnTest } from '../shared/sentryReport';

export class CampaignSequence implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Campaign Sequence',
		name: 'campaignSequence',
		icon: 'file:campaignSequence.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"]}}',
		description: 'Day 1 / Day 3 / Day 7 sequences and A/B tests: enroll contacts, send due steps on a schedule, pause, resume, pick winners',
		defaults: { name: 'Campaign Sequence' },
		usableAsTool: true,
		// Send Due Steps writes copy: it takes a Chat Model sub-node like Generate Email Copy (the other operations do not).
		inputs: `={{ ["enroll", "status", "pause", "resume", "abDecide", "pauseScheduled", "cancelScheduled", "resumeScheduled"].includes($parameter.operation) ? ["main"] : ["main", ${JSON.stringify(chatModelInput)}] }}`,
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			// Send Due Steps (unless Dry Run) and the three scheduled-send operations call SendGrid: hidden for the others, or with Dry Run on.
			{ name: 'sendGridCampaignApi', required: true, displayOptions: { hide: { operation: ['enroll', 'status', 'pause', 'resume', 'abDecide'], dryRun: [true] } } },
			{ name: 'campaignLlmApi', required: false },
			{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' },
			{ name: 'campaignRedisApi', required: false, displayOptions: { show: { operation: ['sendDue'], dryRun: [false] } }, testedBy: 'campaignRedisConnectionTest' },
			// Reports a failed Send Due Steps run to Sentry (nodes/shared/sentryReport.ts).
			{ name: 'campaignSentryApi', required: false, testedBy: 'campaignSentryDsnTest', displayOptions: { show: { operation: ['sendDue'] } } },
		],
		properties: [
			// eslint-disable-next-line @n8n/community-nodes/resource-operation-pattern -- one resource (a campaign's sequence): a Resource select would hold one entry
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Cancel Scheduled', value: 'cancelScheduled', action: 'Cancel a scheduled run', description: 'Cancel a run sent with Send At (its SendGrid batch) at least 10 minutes before send_at: nothing is delivered, its deliveries become cancelled' },
					{ name: 'Enroll Contacts', value: 'enroll', action: 'Enroll contacts in a sequence', description: 'Add contacts to a campaign sequence (existing ones keep their place)' },
					{ name: 'Get Status', value: 'status', action: 'Get the status of a sequence', description: 'Counts of contacts per step, completed and stopped (with reasons)' },
					{ name: 'Pause', value: 'pause', action: 'Pause a campaign', description: 'Stop every send of the campaign (sequences, Campaign Agent, stage nodes, every worker) at its next claim' },
					{ name: 'Pause Scheduled', value: 'pauseScheduled', action: 'Pause a scheduled run', description: 'Hold a run sent with Send At at SendGrid (at least 10 minutes before send_at) until Resume Scheduled; discarded 72 h after send_at' },
					{ name: 'Pick A/B Winner', value: 'abDecide', action: 'Pick the winner of an a b test', description: 'Decide now from the clicks or opens so far (the scheduler also decides when the wait is over)' },
					{ name: 'Resume', value: 'resume', action: 'Resume a campaign', description: 'Lift a pause (yours or the reputation guard\'s) and record who resumed; the next run sends the rest' },
					{ name: 'Resume Scheduled', value: 'resumeScheduled', action: 'Resume a paused or cancelled scheduled run', description: 'Remove the pause or cancellation of a run sent with Send At: it goes out at send_at' },
					{ name: 'Send Due Steps', value: 'sendDue', action: 'Send the steps that are due', description: 'Run from a Schedule Trigger: sends every due step once and moves contacts on' },
				],
				default: 'sendDue',
			},
			...Object.values(operations).flatMap((operation) => operation.description),
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest, campaignRedisConnectionTest, campaignSentryDsnTest }, ...sendGridListMethods };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await router.call(this);
	}
}
