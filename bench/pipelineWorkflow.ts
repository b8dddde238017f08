/** The five stage nodes behind a CSV upload webhook, as bench:pipeline and bench:agent run them. */
import { campaign, limits, ours, webhook } from './n8nCampaign';

export function pipelineWorkflow() {
	const chain = ['Load Campaign Content', 'Build Email Payload', 'Generate Email Copy', 'Send Email (SendGrid)', 'Log Campaign Result'];
	return {
		id: 'benchPipeline001',
		name: 'bench: stage pipeline',
		nodes: [
			webhook('bench-pipeline'),
			{ id: 'l', name: chain[0], type: ours('loadCampaignContent'), typeVersion: 1, position: [220, 0], parameters: { ...campaign('bench-pipeline'), contactSource: 'csvBinary', binaryPropertyName: 'data', outputMode: 'batches', batchSize: 1000 } },
			{ id: 'b', name: chain[1], type: ours('buildEmailPayload'), typeVersion: 1, position: [440, 0], parameters: { campaignSource: 'input', step: 1, batchSize: 1000, options: {} } },
			{ id: 'g', name: chain[2], type: ours('generateEmailCopy'), typeVersion: 1, position: [660, 0], parameters: { copySource: 'template' } },
			{ id: 's', name: chain[3], type: ours('sendEmailSendGrid'), typeVersion: 1, position: [880, 0], parameters: { dryRun: false, outputMode: 'batch', limits, options: {} } },
			{ id: 'o', name: chain[4], type: ours('logCampaignResult'), typeVersion: 1, position: [1100, 0], parameters: { operation: 'log', outputMode: 'summary', finishRun: true } },
		],
		connections: Object.fromEntries([['Upload CSV', chain[0]], ...chain.slice(0, -1).map((n, i) => [n, chain[i + 1]])].map(([from, to]) => [from, { main: [[{ node: to, type: 'main', index: 0 }]] }])),
	};
}

