/** Picks the Campaign Sequence operation: one file each in this folder. */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { runOperation } from '../../shared/operations';
import * as abDecide from './abDecide.operation';
import * as cancelScheduled from './cancelScheduled.operation';
import * as enroll from './enroll.operation';
import * as pause from './pause.operation';
import * as pauseScheduled from './pauseScheduled.operation';
import * as resume from './resume.operation';
import * as resumeScheduled from './resumeScheduled.operation';
import * as sendDue from './sendDue.operation';
import * as status from './status.operation';

export const operations = { enroll, status, pause, abDecide, resume, sendDue, pauseScheduled, cancelScheduled, resumeScheduled };

export async function router(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	return await runOperation(this, operations, 'sendDue');
}
