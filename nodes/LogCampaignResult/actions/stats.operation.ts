/** Get Campaign Stats: runs with progress, rates per step and variant, A/B decisions, recent deliveries; JSON or an HTML page. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { campaignStats } from '../../../lib/stats/campaignStats';
import { renderDashboard } from '../../../lib/stats/dashboardHtml';
import { campaignStore } from '../../shared/context';
import { toItems } from '../../shared/operations';

export const description = updateDisplayOptions({ show: { operation: ['stats'] } }, [
	{
		displayName: 'Campaign ID',
		name: 'statsCampaignId',
		type: 'string',
		default: '',
		description: 'Leave empty for every campaign',
	},
	{
		displayName: 'Format',
		name: 'format',
		type: 'options',
		options: [
			{ name: 'JSON', value: 'json' },
			{ name: 'HTML Dashboard Page', value: 'html', description: 'A self-contained page (inline SVG charts) for Respond to Webhook' },
		],
		default: 'json',
	},
	{
		displayName: 'Recent Deliveries',
		name: 'recent',
		type: 'number',
		typeOptions: { minValue: 0, maxValue: 1000 },
		default: 50,
	},
]);

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	const store = await campaignStore(this);
	const stats = await campaignStats(store, {
		campaignId: (this.getNodeParameter('statsCampaignId', 0, '') as string).trim() || undefined,
		recent: this.getNodeParameter('recent', 0, 50) as number,
	});
	return toItems([this.getNodeParameter('format', 0) === 'html' ? { html: renderDashboard(stats) } : stats]);
}
