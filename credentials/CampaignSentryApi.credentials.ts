import type { ICredentialType, Icon, INodeProperties } from 'n8n-workflow';

export class CampaignSentryApi implements ICredentialType {
	name = 'campaignSentryApi';

	displayName = 'Campaign Sentry API';

	documentationUrl = 'https://github.com/n8n-nodes-email-campaign-agent/n8n-nodes-email-campaign-agent#campaign-error-report';

	icon: Icon = 'file:campaignSentryApi.svg';

	properties: INodeProperties[] = [
		{
			displayName:
				"Where Campaign Error Report sends failed campaign executions: your Sentry project's DSN (Project Settings → Client Keys). Reports carry the campaign, run, step, node and the error's field and hint — never contacts' addresses or secrets.",
			name: 'notice',
			type: 'notice',
			default: '',
		},
		{
			displayName: 'DSN',
			name: 'dsn',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'https://<public key>@o123.ingest.sentry.io/<project ID>',
			description: 'The Sentry DSN: https, a public key, the host and the numeric project ID. Plain http only to this machine. Sentry treats a DSN as public: it only lets one send events to the project.',
		},
		{
			displayName: 'Environment',
			name: 'environment',
			type: 'string',
			default: 'production',
			description: "Sentry's environment of every report (production, staging...)",
		},
		{
			displayName: 'Release',
			name: 'release',
			type: 'string',
			default: '',
			description: "Sentry's release of every report (e.g. campaigns@2026.11); empty for none",
		},
	];
}
