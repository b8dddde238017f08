import type { ICredentialTestFunctions, ICredentialsDecrypted, IDataObject, IExecuteFunctions, INodeCredentialTestResult, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { parseUsers } from '../../lib/dashboard/access';
import { handleDashboard } from '../../lib/dashboard/router';
import { changeScheduledRun } from '../../lib/sendgrid/scheduled';
import { CREDENTIALS, campaignStore, sendGrid } from '../shared/context';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { failItems } from '../shared/items';

/** The Users field read as the node reads it: a line it cannot use is named (never shown). */
async function campaignDashboardUsersTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
	try {
		const users = parseUsers(String(credential.data?.users ?? ''));
		return { status: 'OK', message: `${users.size} user${users.size === 1 ? '' : 's'}: ${[...users.keys()].join(', ')}` };
	} catch (e) {
		return { status: 'Error', message: (e as Error).message };
	}
}

const list = (v: unknown) => (typeof v === 'string' ? v.split(/[,\n]/).map((s) => s.trim()).filter(Boolean) : []);

// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool -- it answers a browser's request to a Webhook; an AI agent has no page to show
export class CampaignDashboard implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Campaign Dashboard',
		name: 'campaignDashboard',
		icon: 'file:campaignDashboard.svg',
		group: ['transform'],
		version: 1,
		subtitle: 'campaigns, deliveries and actions',
		description: 'Answer a Webhook with the campaign dashboard: campaigns, a page per campaign, deliveries, CSV export, and actions (pause, resume, cancel, pick a winner, lift a suppression)',
		defaults: { name: 'Campaign Dashboard' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' },
			{ name: 'campaignDashboardUsersApi', required: true, testedBy: 'campaignDashboardUsersTest', displayOptions: { show: { signIn: ['users'] } } },
			{ name: 'sendGridCampaignApi', required: false },
		],
		properties: [
			{
				displayName:
					'Put this node between a Webhook (GET and POST on one path, Respond: Using Respond to Webhook Node) and Respond to Webhook; the Campaign Dashboard template has them wired.',
				name: 'placementNotice',
				type: 'notice',
				default: '',
			},
			{
				displayName: 'Sign-In',
				name: 'signIn',
				type: 'options',
				options: [
					{ name: 'Dashboard Users', value: 'users', description: 'Each person signs in with their own name and password from the Campaign Dashboard Users credential (the browser asks)' },
					{ name: "The Webhook's Authentication", value: 'webhook', description: "The Webhook checks Basic Auth, Header Auth or a JWT; only a JWT's subject can act" },
				],
				default: 'users',
				description: 'Who gets in. The dashboard shows contacts\' addresses: never leave it open.',
			},
			{ displayName: 'Title', name: 'title', type: 'string', default: 'Email campaigns' },
			{
				displayName: 'Allowed Actors',
				name: 'allowedActors',
				type: 'string',
				default: '',
				placeholder: 'alice, bob',
				description:
					'Who may act (pause, resume, cancel, pick an A/B winner, lift a suppression): names of Dashboard Users, or JWT subjects the Webhook verified. * for every signed-in user; empty: the dashboard is read-only.',
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add option',
				default: {},
				options: [
					{ displayName: 'Campaign Form URL', name: 'formUrl', type: 'string', default: '', placeholder: 'https://n8n.example.com/form/start-campaign', description: 'The campaign form (template campaign-form.JSON), linked as "start a new run with other tone, language or contacts"' },
					{ displayName: 'Export Row Limit', name: 'exportLimit', type: 'number', typeOptions: { minValue: 1, maxValue: 200000 }, default: 50000, description: 'Rows in one CSV export; the X-Next-Cursor header holds the cursor of the rest' },
					{ displayName: 'JWT Claim Naming the Actor', name: 'jwtClaim', type: 'string', default: 'sub', description: 'With the Webhook\'s JWT Auth: the claim that names the user' },
					{ displayName: 'Page Size', name: 'pageSize', type: 'number', typeOptions: { minValue: 10, maxValue: 500 }, default: 50, description: 'Deliveries per page' },
				],
			},
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest, campaignDashboardUsersTest } };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const out: INodeExecutionData[] = [];
		for (let i = 0; i < items.length; i++) {
			try {
				const store = await campaignStore(this);
				const signIn = this.getNodeParameter('signIn', i, 'users') as string;
				const users = signIn === 'users' ? await this.getCredentials('campaignDashboardUsersApi') : undefined;
				const options = this.getNodeParameter('options', i, {}) as IDataObject;
				const hasSendGrid = !!this.getNode().credentials?.[CREDENTIALS.sendGrid];
				const response = await handleDashboard(store, items[i].json as never, {
					title: this.getNodeParameter('title', i, 'Email campaigns') as string,
					access: {
						allowedActors: list(this.getNodeParameter('allowedActors', i, '')),
						users: users ? parseUsers(String(users.users ?? '')) : undefined,
						jwtClaim: String(options.jwtClaim ?? 'sub'),
					},
					formUrl: String(options.formUrl ?? '') || undefined,
					pageSize: Number(options.pageSize) || 50,
					exportLimit: Number(options.exportLimit) || undefined,
					scheduled: hasSendGrid
						? async (op, runId, actor) => {
								const { transport } = await sendGrid(this);
								return (await changeScheduledRun(store, transport, runId, op, actor)).message;
							}
						: undefined,
				});
				out.push({ json: response as unknown as IDataObject, pairedItem: { item: i } });
			} catch (e) {
				out.push(...failItems(this, e, [i], { status: 500 }));
			}
		}
		return [out];
	}
}
