import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { enrollContacts, sequenceStatus, setSequenceStatus } from '../../lib/sequences/enrollments';
import { sendDueSteps } from '../../lib/sequences/runner';
import { decideAbTest, storedDecision } from '../../lib/ab/decide';
import { loadCampaignContent } from '../../lib/stages/loadCampaignContent';
import { campaignStore, nodeError } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { campaignRedisConnectionTest } from '../shared/redisCredential';
import { combinedCopyProperties, combinedDeliveryProperties, contactProperties } from '../shared/properties';
import { readContactSource, readCopy, readDelivery } from '../shared/readers';
import { campaignFromParameters, campaignProperties } from '../shared/campaignFields';

/** Shows a shared parameter group only for the given operations, keeping its own conditions. */
function onlyFor(props: INodeProperties[], operations: string[]): INodeProperties[] {
	return props.map((p) => ({ ...p, displayOptions: { ...p.displayOptions, show: { ...p.displayOptions?.show, operation: operations } } }));
}

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
		inputs: ['main'],
		outputs: ['main'],
		credentials: [
			{ name: 'sendGridCampaignApi', required: true, displayOptions: { show: { operation: ['sendDue'], dryRun: [false] } } },
			{ name: 'campaignLlmApi', required: false },
			{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' },
			{ name: 'campaignRedisApi', required: false, displayOptions: { show: { operation: ['sendDue'], dryRun: [false] } }, testedBy: 'campaignRedisConnectionTest' },
		],
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Enroll Contacts', value: 'enroll', action: 'Enroll contacts in a sequence', description: 'Add contacts to a campaign sequence (existing ones keep their place)' },
					{ name: 'Get Status', value: 'status', action: 'Get the status of a sequence', description: 'Counts of contacts per step, completed and stopped (with reasons)' },
					{ name: 'Pause', value: 'pause', action: 'Pause a sequence' },
					{ name: 'Pick A/B Winner', value: 'abDecide', action: 'Pick the winner of an a b test', description: 'Decide now from the clicks or opens so far (the scheduler also decides when the wait is over)' },
					{ name: 'Resume', value: 'resume', action: 'Resume a sequence' },
					{ name: 'Send Due Steps', value: 'sendDue', action: 'Send the steps that are due', description: 'Run from a Schedule Trigger: sends every due step once and moves contacts on' },
				],
				default: 'sendDue',
			},
			...onlyFor(campaignProperties, ['enroll']),
			...onlyFor(
				contactProperties.filter((p) => !['outputMode', 'batchSize', 'runId'].includes(p.name)),
				['enroll'],
			),
			{
				displayName: 'Time Zone Field',
				name: 'timezoneField',
				type: 'string',
				default: 'timezone',
				displayOptions: { show: { operation: ['enroll'] } },
				description: "Contact field holding an IANA time zone (e.g. Europe/Berlin); steps are timed in the contact's zone",
			},
			{
				displayName: 'Campaign ID',
				name: 'campaignRef',
				type: 'string',
				default: '',
				displayOptions: { show: { operation: ['sendDue', 'pause', 'resume', 'status', 'abDecide'] } },
				description: 'For Send Due Steps: leave empty to send every campaign\'s due steps',
			},
			{ displayName: 'Step', name: 'abStep', type: 'number', default: 1, displayOptions: { show: { operation: ['abDecide'] } } },
			{
				displayName: 'As Of',
				name: 'asOf',
				type: 'dateTime',
				default: '',
				displayOptions: { show: { operation: ['sendDue', 'enroll', 'abDecide'] } },
				description: 'The time to act at; empty = now. Set it to rehearse a schedule.',
			},
			{
				displayName: 'Max Contacts per Run',
				name: 'maxContacts',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 100000,
				description: 'Due contacts handled by one run; the rest go in the next run',
				displayOptions: { show: { operation: ['sendDue'] } },
			},
			{ displayName: 'Batch Size', name: 'batchSize', type: 'number', typeOptions: { minValue: 1, maxValue: 1000 }, default: 1000, displayOptions: { show: { operation: ['sendDue'] } } },
			...onlyFor(combinedCopyProperties, ['sendDue']),
			...onlyFor(combinedDeliveryProperties, ['sendDue']),
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest, campaignRedisConnectionTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const node = this.getNode();
		try {
			const op = this.getNodeParameter('operation', 0) as string;
			const store = await campaignStore(this);
			const asOfRaw = op === 'enroll' || op === 'sendDue' || op === 'abDecide' ? (this.getNodeParameter('asOf', 0, '') as string) : '';
			const now = asOfRaw ? Date.parse(asOfRaw) : Date.now();
			if (Number.isNaN(now)) throw new NodeOperationError(node, `"As Of" is not a date: ${asOfRaw}`);
			const ref = op === 'enroll' ? '' : (this.getNodeParameter('campaignRef', 0, '') as string).trim();
			const needRef = () => {
				if (!ref) throw new NodeOperationError(node, 'Set Campaign ID: which sequence should this act on?');
				return ref;
			};
			let out: IDataObject[];
			if (op === 'enroll') {
				const loaded = await loadCampaignContent({ campaign: campaignFromParameters(this, 0), contacts: await readContactSource(this, this.getInputData(), store) }, { store });
				const r = await enrollContacts(store, loaded.campaign, loaded.contacts, now, this.getNodeParameter('timezoneField', 0, 'timezone') as string);
				out = [{ campaign_id: loaded.campaign.id, ...r, invalid: loaded.invalid.length, invalid_rows: loaded.invalid.slice(0, 100) as unknown as IDataObject[] }];
			} else if (op === 'sendDue') {
				const copy = await readCopy(this, { copyOptions: 'copyOptions', toneOverride: false });
				const delivery = await readDelivery(this, { deliveryOptions: 'deliveryOptions' });
				const summaries = await sendDueSteps(
					store,
					{ send: { transport: delivery.transport, store, limiter: delivery.limiter }, generate: { chat: copy.chat, store } },
					{
						now,
						campaignId: ref || undefined,
						limit: this.getNodeParameter('maxContacts', 0, 100000) as number,
						batchSize: this.getNodeParameter('batchSize', 0, 1000) as number,
						copy: copy.options,
						send: delivery.options,
					},
				);
				out = summaries.length ? (summaries as unknown as IDataObject[]) : [{ due: 0, message: 'No sequence step is due' }];
			} else if (op === 'pause' || op === 'resume') {
				const n = await setSequenceStatus(store, needRef(), op === 'pause' ? 'paused' : 'active');
				if (n === 0) throw new NodeOperationError(node, `No campaign "${ref}" in the campaign store — enroll contacts first`);
				out = [{ campaign_id: ref, status: op === 'pause' ? 'paused' : 'active' }];
			} else if (op === 'status') {
				out = [{ campaign_id: needRef(), enrollments: (await sequenceStatus(store, ref)) as unknown as IDataObject[] }];
			} else {
				const campaign = await store.getCampaign(needRef());
				if (!campaign) throw new NodeOperationError(node, `No campaign "${ref}" in the campaign store`);
				const step = this.getNodeParameter('abStep', 0, 1) as number;
				const decision = (await storedDecision(store, ref, step))?.send ? await storedDecision(store, ref, step) : await decideAbTest(store, campaign, step, Number.POSITIVE_INFINITY);
				out = [decision as unknown as IDataObject];
			}
			return [out.map((json) => ({ json }))];
		} catch (e) {
			throw nodeError(node, e);
		}
	}
}
