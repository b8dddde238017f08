import type { IAuthenticateGeneric, ICredentialTestRequest, ICredentialType, Icon, INodeProperties } from 'n8n-workflow';

export class SendGridCampaignApi implements ICredentialType {
	name = 'sendGridCampaignApi';

	displayName = 'SendGrid Campaign API';

	documentationUrl = 'https://github.com/n8n-nodes-email-campaign-agent/n8n-nodes-email-campaign-agent#credentials';

	icon: Icon = 'file:sendGridCampaignApi.svg';

	properties: INodeProperties[] = [
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'A SendGrid API key with Mail Send permission (plus Event Webhook and Suppressions permissions for the SendGrid Trigger)',
		},
		{
			displayName: 'Region',
			name: 'region',
			type: 'options',
			options: [
				{ name: 'Global (api.sendgrid.com)', value: 'global' },
				{ name: 'EU Data Residency (api.eu.sendgrid.com)', value: 'eu' },
				{ name: 'Custom URL', value: 'custom' },
			],
			default: 'global',
			description: 'EU data residency needs an EU-pinned subuser; a custom URL points at a proxy or a test server',
		},
		{
			displayName: 'API Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'https://api.sendgrid.com',
			placeholder: 'https://api.sendgrid.com',
			displayOptions: { show: { region: ['custom'] } },
			description: 'Base URL without /v3, e.g. http://127.0.0.1:3025 for a local SendGrid-compatible server',
		},
		// eslint-disable-next-line @n8n/community-nodes/credential-unnecessary-password -- a public key, kept masked because eslint-plugin-n8n-nodes-base asks key fields to be
		{
			displayName: 'Event Webhook Verification Key',
			name: 'webhookPublicKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				"Optional. The public key SendGrid shows under Mail Settings → Event Webhook → Signed Event Webhook (base64, or PEM — also pasted as one line). The SendGrid Trigger verifies events with it unless the trigger has its own Verification Key; with neither, it uses the key it fetched when it registered the webhook.",
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				Authorization: '=Bearer {{$credentials.apiKey}}',
			},
		},
	};

	test: ICredentialTestRequest = {
		request: {
			baseURL:
				'={{$credentials.region === "eu" ? "https://api.eu.sendgrid.com" : $credentials.region === "custom" ? $credentials.baseUrl.replace(/\\/+$/, "") : "https://api.sendgrid.com"}}',
			url: '/v3/scopes',
		},
	};
}
