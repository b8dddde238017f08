/** The five stage nodes, as bench:pipeline and bench:agent run them: behind a CSV upload webhook, or read from a CSV file for `n8n execute`. */
import { campaign, limits, ours, webhook } from './n8nCampaign';

const chain = ['Load Campaign Content', 'Build Email Payload', 'Generate Email Copy', 'Send Email (SendGrid)', 'Log Campaign Result'];

function stageNodes(campaignId: string) {
	return [
		{ id: 'l', name: chain[0], type: ours('loadCampaignContent'), typeVersion: 1, position: [220, 0], parameters: { ...campaign(campaignId), contactSource: 'csvBinary', binaryPropertyName: 'data', outputMode: 'batches', batchSize: 1000 } },
		{ id: 'b', name: chain[1], type: ours('buildEmailPayload'), typeVersion: 1, position: [440, 0], parameters: { campaignSource: 'input', step: 1, batchSize: 1000, options: {} } },
		{ id: 'g', name: chain[2], type: ours('generateEmailCopy'), typeVersion: 1, position: [660, 0], parameters: { copySource: 'template' } },
		{ id: 's', name: chain[3], type: ours('sendEmailSendGrid'), typeVersion: 1, position: [880, 0], parameters: { dryRun: false, outputMode: 'batch', limits, options: {} } },
		{ id: 'o', name: chain[4], type: ours('logCampaignResult'), typeVersion: 1, position: [1100, 0], parameters: { operation: 'log', outputMode: 'summary', finishRun: true } },
	];
}

function connect(pairs: string[][]) {
	return Object.fromEntries(pairs.map(([from, to]) => [from, { main: [[{ node: to, type: 'main', index: 0 }]] }]));
}

export function pipelineWorkflow() {
	return {
		id: 'benchPipeline001',
		name: 'bench: stage pipeline',
		nodes: [webhook('bench-pipeline'), ...stageNodes('bench-pipeline')],
		connections: connect([['Upload CSV', chain[0]], ...chain.slice(0, -1).map((n, i) => [n, chain[i + 1]])]),
	};
}

/** The same five nodes started by hand (`n8n execute --id`): a Manual Trigger, then Read/Write Files from Disk reads the CSV at `csvPath`. */
export function pipelineExecuteWorkflow(csvPath: string, campaignId = 'bench-pipeline-cli') {
	return {
		id: 'benchPipelineCli',
		name: 'bench: stage pipeline (n8n execute)',
		nodes: [
			{ id: 't', name: 'Start', type: 'n8n-nodes-base.manualTrigger', typeVersion: 1, position: [-440, 0], parameters: {} },
			{ id: 'f', name: 'Read CSV', type: 'n8n-nodes-base.readWriteFile', typeVersion: 1.1, position: [-220, 0], parameters: { operation: 'read', fileSelector: csvPath, options: { dataPropertyName: 'data' } } },
			...stageNodes(campaignId),
		],
		connections: connect([['Start', 'Read CSV'], ['Read CSV', chain[0]], ...chain.slice(0, -1).map((n, i) => [n, chain[i + 1]])]),
	};
}
