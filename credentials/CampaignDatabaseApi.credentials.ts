import type { ICredentialType, Icon, INodeProperties } from 'n8n-workflow';

export class CampaignDatabaseApi implements ICredentialType {
	name = 'campaignDatabaseApi';

	displayName = 'Campaign Database (Postgres) API';

	documentationUrl = 'https://github.com/n8n-nodes-email-campaign-agent/n8n-nodes-email-campaign-agent#credentials';

	icon: Icon = 'file:campaignDatabaseApi.svg';

	properties: INodeProperties[] = [
		{ displayName: 'Host', name: 'host', type: 'string', default: 'localhost' },
		{ displayName: 'Port', name: 'port', type: 'number', default: 5432 },
		{ displayName: 'Database', name: 'database', type: 'string', default: 'postgres' },
		{ displayName: 'User', name: 'user', type: 'string', default: 'postgres' },
		{ displayName: 'Password', name: 'password', type: 'string', typeOptions: { password: true }, default: '' },
		{
			displayName: 'Schema',
			name: 'schema',
			type: 'string',
			default: 'public',
			description: 'Postgres schema that holds the campaign tables (created on first use)',
		},
		{
			displayName: 'SSL',
			name: 'ssl',
			type: 'options',
			options: [
				{ name: 'Disable', value: 'disable' },
				{ name: 'Allow (Do Not Verify Certificate)', value: 'allow' },
				{ name: 'Require', value: 'require' },
			],
			default: 'disable',
		},
		// eslint-disable-next-line @n8n/community-nodes/credential-password-field -- a boolean switch, not a secret (the rule matches "auth" in its name)
		{
			displayName: 'Ignore SSL Issues (Insecure)',
			name: 'allowUnauthorizedCerts',
			type: 'boolean',
			default: false,
			displayOptions: { show: { ssl: ['require'] } },
			description: 'Whether to accept self-signed certificates',
		},
	];
}
