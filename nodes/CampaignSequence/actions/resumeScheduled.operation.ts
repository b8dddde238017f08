/** Resume Scheduled: see ./scheduled.ts. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { executeScheduled, scheduledDescription } from './scheduled';

export const description = scheduledDescription('resume');

export async function execute(this: IExecuteFunctions): Promise<INodeExecutionData[]> {
	return await executeScheduled(this, 'resume');
}
