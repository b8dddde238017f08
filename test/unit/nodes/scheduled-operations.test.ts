/** Campaign Sequence's Pause, Cancel and Resume Scheduled as n8n shows them: operations, SendGrid's limits in a notice, the credentials they ask for. */
import { NodeHelpers, type INode, type INodeCredentialDescription, type INodeTypeDescription } from 'n8n-workflow';
import { CampaignSequence } from '../../../nodes/CampaignSequence/CampaignSequence.node';

const description = new CampaignSequence().description as INodeTypeDescription;
const node = { id: '1', name: 'Campaign Sequence', type: 'campaignSequence', typeVersion: 1, position: [0, 0], parameters: {} } as INode;
const credential = (name: string) => description.credentials!.find((c) => c.name === name) as INodeCredentialDescription;
const shown = (name: string, parameters: Record<string, unknown>) => NodeHelpers.displayParameter(parameters as never, credential(name), node, description);
const SCHEDULED = ['pauseScheduled', 'cancelScheduled', 'resumeScheduled'];

describe('scheduled-send operations on Campaign Sequence', () => {
	it('are offered, each with its Run ID and a notice stating SendGrid\'s limits', () => {
		const operations = description.properties.find((p) => p.name === 'operation')!.options as Array<{ value: string }>;
		expect(operations.map((o) => o.value)).toEqual(expect.arrayContaining(SCHEDULED));
		for (const op of SCHEDULED) {
			const mine = description.properties.filter((p) => (p.displayOptions?.show?.operation as string[] | undefined)?.includes(op));
			expect(mine.map((p) => p.name)).toEqual([`${op.replace('Scheduled', '')}ScheduledNotice`, 'scheduledRunId', 'scheduledBy']);
			expect(mine[0].displayName).toMatch(/10 minutes before its send_at.*10 paused or cancelled batches.*72 hours ahead.*72 hours after its send_at/);
		}
	});

	it('ask for the SendGrid credential, as Send Due Steps does unless Dry Run; the other operations do not', () => {
		for (const operation of SCHEDULED) expect([operation, shown('sendGridCampaignApi', { operation })]).toEqual([operation, true]);
		expect(shown('sendGridCampaignApi', { operation: 'sendDue', dryRun: false })).toBe(true);
		expect(shown('sendGridCampaignApi', { operation: 'sendDue', dryRun: true })).toBe(false);
		for (const operation of ['enroll', 'status', 'pause', 'resume', 'abDecide']) expect([operation, shown('sendGridCampaignApi', { operation })]).toEqual([operation, false]);
	});

	it('take no Chat Model input', () => {
		for (const op of SCHEDULED) expect(String(description.inputs)).toContain(`"${op}"`);
	});
});
