import type { ICredentialType, Icon, INodeProperties } from 'n8n-workflow';

export class CampaignRedisApi implements ICredentialType {
	name = 'campaignRedisApi';

	displayName = 'Campaign Redis';

	documentationUrl = 'https://github.com/n8n-nodes-email-campaign-agent/n8n-nodes-email-campaign-agent#credentials';

	icon: Icon = 'file:campaignRedisApi.svg';

	properties: INodeProperties[] = [
		{
			displayName:
				'Share SendGrid rate limits across queue-mode workers: every worker sending with the same SendGrid account takes its requests and emails per second from this Redis. Not needed with a single n8n process.',
			name: 'notice',
			type: 'notice',
			default: '',
		},
		{ displayName: 'Password', name: 'password', type: 'string', typeOptions: { password: true }, default: '' },
		{ displayName: 'User', name: 'user', type: 'string', default: '', hint: 'Leave blank for password-only auth' },
		{ displayName: 'Host', name: 'host', type: 'string', default: 'localhost' },
		{ displayName: 'Port', name: 'port', type: 'number', default: 6379 },
		{ displayName: 'Database Number', name: 'database', type: 'number', default: 0 },
		{ displayName: 'SSL', name: 'ssl', type: 'boolean', default: false },
		{
			displayName: 'Ignore SSL Issues (Insecure)',
			name: 'disableTlsVerification',
			type: 'boolean',
			default: false,
			displayOptions: { show: { ssl: [true] } },
			description: 'Whether to accept self-signed certificates',
		},
	];
}
