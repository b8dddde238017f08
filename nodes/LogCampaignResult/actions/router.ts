/** Picks the Log Campaign Result operation: one file each in this folder. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { runOperation } from '../../shared/operations';
import * as log from './log.operation';
import * as stats from './stats.operation';

export async function router(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	return await runOperation(this, { log, stats }, 'log');
}
