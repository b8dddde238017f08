/** Pause, Cancel and Resume Scheduled: the three operations on a run sent with Send At (its SendGrid batch). */
import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';
import { updateDisplayOptions } from 'n8n-workflow';
import { SCHEDULED_SEND_LIMITS_TEXT, changeScheduledRun } from '../../../lib/sendgrid/scheduled';
import { CampaignInputError } from '../../../lib/schemas';
import { campaignStore, sendGrid } from '../../shared/context';
import { perItem } from '../../shared/items';
import { readActor } from './common';

export type ScheduledAction = 'pause' | 'cancel' | 'resume';

const OPERATION: Record<ScheduledAction, string> = { pause: 'pauseScheduled', cancel: 'cancelScheduled', resume: 'resumeScheduled' };

const WHAT: Record<ScheduledAction, string> = {
	pause: 'SendGrid holds the run past its send_at until Resume Scheduled; its deliveries stay sent.',
	cancel: 'SendGrid discards the run at its send_at; its deliveries become cancelled (never counted as sent) and a later run may send them again.',
	resume: 'Removes the pause or cancellation: the run goes out at send_at (at once if that has passed); a cancellation removed after send_at changes nothing, SendGrid already discarded it.',
};

/** The parameters of one of the three operations. */
export function scheduledDescription(action: ScheduledAction): INodeProperties[] {
	const properties: INodeProperties[] = [
		{ displayName: `${WHAT[action]} ${SCHEDULED_SEND_LIMITS_TEXT}`, name: `${action}ScheduledNotice`, type: 'notice', default: '' },
		{
			displayName: 'Run ID',
			name: 'scheduledRunId',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'e.g. run-20250301-0900-ab12cd',
			description: 'The run sent with Send At (run_id in the send output, the summary or the dashboard)',
		},
		{
			displayName: 'By',
			name: 'scheduledBy',
			type: 'string',
			default: '',
			placeholder: 'e.g. jane@acme.example',
			description: 'Recorded on the run with the time. Empty: the workflow and execution that ran this.',
		},
	];
	return updateDisplayOptions({ show: { operation: [OPERATION[action]] } }, properties);
}

/** Per input item: its Run ID and By. */
export async function executeScheduled(ctx: IExecuteFunctions, action: ScheduledAction): Promise<INodeExecutionData[]> {
	const store = await campaignStore(ctx);
	const { transport } = await sendGrid(ctx);
	return await perItem(ctx, async (i) => {
		const runId = String(ctx.getNodeParameter('scheduledRunId', i, '') ?? '').trim();
		if (!runId) throw new CampaignInputError('Set Run ID: which scheduled run should this act on?', 'scheduledRunId').atItem(i);
		const given = String(ctx.getNodeParameter('scheduledBy', i, '') ?? '').trim();
		const by = given ? given.slice(0, 200) : readActor(ctx, 'pausedBy', i);
		return (await changeScheduledRun(store, transport, runId, action, by)) as unknown as IDataObject;
	});
}
