import type { ICredentialType, Icon, INodeProperties } from 'n8n-workflow';

export class CampaignDashboardUsersApi implements ICredentialType {
	name = 'campaignDashboardUsersApi';

	displayName = 'Campaign Dashboard Users API';

	documentationUrl = 'https://github.com/n8n-nodes-email-campaign-agent/n8n-nodes-email-campaign-agent#campaign-dashboard';

	icon: Icon = 'file:campaignDashboardUsersApi.svg';

	properties: INodeProperties[] = [
		{
			displayName:
				'The people who may open the campaign dashboard, each with a password of their own: the browser asks for it (Basic Auth over your https). Who may act (pause, resume, cancel...) is set on the Campaign Dashboard node (Allowed Actors).',
			name: 'notice',
			type: 'notice',
			default: '',
		},
		// eslint-disable-next-line @n8n/community-nodes/credential-unnecessary-password -- every line holds a password
		{
			displayName: 'Users',
			name: 'users',
			type: 'string',
			typeOptions: { password: true, rows: 4 },
			default: '',
			placeholder: 'alice:a-long-password',
			description: 'One user per line: name, a colon, the password (at least 12 characters)',
		},
	];
}
