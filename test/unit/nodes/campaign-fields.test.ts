/** The campaign fields of a node (nodes/shared/campaignFields): the dynamic template picked on the node reaches every step. */
import { campaignFromParameters } from '../../../nodes/shared/campaignFields';
import { parseCampaign } from '../../../lib/stages/loadCampaignContent';
import { fakeExecuteContext } from './fakeContext';

const TEMPLATE = 'd-0123456789abcdef0123456789abcdef';
const fields = (extra: Record<string, unknown>) =>
	fakeExecuteContext({ campaignSource: 'fields', campaignId: 'fields-test', fromEmail: 'news@acme.example', subject: 'Hi {{first_name}}', body: 'Hello', ...extra }, [{ json: {} }]);
const stepsOf = (extra: Record<string, unknown>) => parseCampaign(campaignFromParameters(fields(extra), 0)).steps;

describe('SendGrid Dynamic Template on the node', () => {
	it('single email and Day 1/3/7: every step is sent in the picked template; none picked, none used', () => {
		expect(stepsOf({ sequence: 'single', dynamicTemplate: TEMPLATE }).map((s) => s.templateId)).toEqual([TEMPLATE]);
		expect(stepsOf({ sequence: 'day137', dynamicTemplate: ` ${TEMPLATE} ` }).map((s) => s.templateId)).toEqual([TEMPLATE, TEMPLATE, TEMPLATE]);
		expect(stepsOf({ sequence: 'day137', dynamicTemplate: '' }).map((s) => s.templateId)).toEqual([undefined, undefined, undefined]);
		// Step 1 keeps its copy: the template is the layout, the copy its data.
		expect(stepsOf({ sequence: 'single', dynamicTemplate: TEMPLATE })[0]).toMatchObject({ subject: 'Hi {{first_name}}', text: 'Hello' });
	});

	it('custom steps keep their own templateId per step; an ID typed wrong is refused naming the step', () => {
		const stepsJson = JSON.stringify([{ step: 1, delayHours: 0, templateId: TEMPLATE }, { step: 2, delayHours: 48 }]);
		expect(stepsOf({ sequence: 'custom', stepsJson, dynamicTemplate: 'd-ffffffffffffffffffffffffffffffff' }).map((s) => s.templateId)).toEqual([TEMPLATE, undefined]);
		expect(() => stepsOf({ sequence: 'single', dynamicTemplate: 'welcome-template' })).toThrow(/steps\.0\.templateId/);
	});
});
