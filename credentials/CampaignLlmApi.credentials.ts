import type { IAuthenticateGeneric, ICredentialTestRequest, ICredentialType, Icon, INodeProperties } from 'n8n-workflow';

export class CampaignLlmApi implements ICredentialType {
	name = 'campaignLlmApi';

	displayName = 'OpenAI-Compatible LLM API';

	documentationUrl = 'https://github.com/n8n-nodes-email-campaign-agent/n8n-nodes-email-campaign-agent#credentials';

	icon: Icon = 'file:campaignLlmApi.svg';

	properties: INodeProperties[] = [
		{
			displayName: 'API Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'Leave empty for local servers that need no key (Ollama, vLLM)',
		},
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'https://api.openai.com/v1',
			description:
				'Any OpenAI-compatible endpoint: https://api.openai.com/v1, https://YOUR-RESOURCE.openai.azure.com/openai/v1, http://localhost:11434/v1 (Ollama), http://localhost:8000/v1 (vLLM)',
		},
		{
			displayName: 'Default Model',
			name: 'model',
			type: 'string',
			default: 'gpt-4o-mini',
			description: 'Model used unless a node overrides it, e.g. gpt-4o-mini, llama3.1, mistral',
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
			baseURL: '={{$credentials.baseUrl.replace(/\\/+$/, "")}}',
			url: '/models',
		},
	};
}
