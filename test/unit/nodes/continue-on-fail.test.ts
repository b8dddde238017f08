/**
 * Continue On Fail and item linking, node by node: a failing item in the middle of good ones. With the
 * setting on, that item leaves as an error item (error, field, item index, paired with it) and the good
 * items go through, each paired with the input item(s) it came from; with it off, the node throws n8n's
 * error naming the item and the field.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeApiError, NodeOperationError, type IDataObject, type IExecuteFunctions, type INodeExecutionData, type IPairedItemData } from 'n8n-workflow';
import { LoadCampaignContent } from '../../../nodes/LoadCampaignContent/LoadCampaignContent.node';
import { BuildEmailPayload } from '../../../nodes/BuildEmailPayload/BuildEmailPayload.node';
import { GenerateEmailCopy } from '../../../nodes/GenerateEmailCopy/GenerateEmailCopy.node';
import { SendEmailSendGrid } from '../../../nodes/SendEmailSendGrid/SendEmailSendGrid.node';
import { LogCampaignResult } from '../../../nodes/LogCampaignResult/LogCampaignResult.node';
import { CampaignAgent } from '../../../nodes/CampaignAgent/CampaignAgent.node';
import { CampaignSequence } from '../../../nodes/CampaignSequence/CampaignSequence.node';
import { CampaignApiGuard } from '../../../nodes/CampaignApiGuard/CampaignApiGuard.node';
import { CampaignPreview } from '../../../nodes/CampaignPreview/CampaignPreview.node';
import { closeAllStores } from '../../../lib/store';
import { fakeExecuteContext, type Params } from './fakeContext';
import { campaignInput, contacts, csvOf } from '../../helpers/fixtures';

jest.setTimeout(60_000);

process.env.EMAIL_CAMPAIGN_STORE_DIR = mkdtempSync(join(tmpdir(), 'eca-cof-'));
afterAll(() => closeAllStores());

/** The shared fake context, with Continue On Fail as given. */
function context(params: Params, items: INodeExecutionData[], continueOnFail: boolean, more: Partial<IExecuteFunctions> = {}): IExecuteFunctions {
	return fakeExecuteContext(params, items, { continueOnFail, workflowName: 'Continue On Fail', more });
}

const run = (node: { execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> }, ctx: IExecuteFunctions) => node.execute.call(ctx);
const thrown = async (p: Promise<unknown>) => {
	const e = await p.then(() => undefined, (x: unknown) => x);
	expect(e).toBeInstanceOf(Error);
	return e as NodeOperationError;
};
const paired = (item: INodeExecutionData) => item.pairedItem as IPairedItemData | IPairedItemData[];
const items = (...json: Array<Record<string, unknown>>): INodeExecutionData[] => json.map((j) => ({ json: j as IDataObject }));
const campaign = (id: string) => campaignInput({ id });

describe('Load Campaign Content', () => {
	const params = (id: string) => ({ campaignSource: 'json', campaignJson: JSON.stringify(campaign(id)), contactSource: 'items', contactsField: 'people', emailField: 'email', csvOptions: {}, outputMode: 'perContact', runId: `run-${id}` });
	const input = () => items({ people: contacts(2, 'one.example') }, { people: 'not a list' }, { people: [...contacts(1, 'three.example'), { email: 'broken' }] });

	it('on: the item without a contact list is an error item on the Invalid output; the others load, each contact paired with its item', async () => {
		const out = await run(new LoadCampaignContent(), context(params('cof-load'), input(), true));
		expect(out[0].map((i) => [i.json.contact && (i.json.contact as { email: string }).email, paired(i)])).toEqual([
			['user0@one.example', { item: 0 }],
			['user1@one.example', { item: 0 }],
			['user0@three.example', { item: 2 }],
		]);
		expect(out[1].map((i) => [i.json.error ?? i.json.reason, i.json.field, paired(i)])).toEqual([
			['Item 1 has no array in "people"', 'contactsField', { item: 1 }],
			['"broken" is not a valid email address', undefined, { item: 2 }],
		]);
		expect(out[1][0].json.item).toBe(1);
		expect(out[1][0].error).toBeInstanceOf(NodeOperationError);
	});

	it('batches pair with the input items their contacts came from', async () => {
		const out = await run(new LoadCampaignContent(), context({ ...params('cof-load-b'), contactsField: '', outputMode: 'batches', batchSize: 2 }, items(...contacts(3, 'b.example')), true));
		expect(out[0].map(paired)).toEqual([[{ item: 0 }, { item: 1 }], { item: 2 }]);
	});

	it('off: the node throws, naming the item and the parameter', async () => {
		const e = await thrown(run(new LoadCampaignContent(), context(params('cof-load-off'), input(), false)));
		expect(e.message).toBe('Item 1 has no array in "people"');
		expect(e.context.itemIndex).toBe(1);
		expect(e.description).toMatch(/Field: contactsField/);
	});

	it('a whole failure (bad Campaign JSON) is one error item per input item with it on, the parameter named', async () => {
		const bad = { ...params('x'), contactsField: '', campaignJson: '{"id": "x",' };
		const out = await run(new LoadCampaignContent(), context(bad, items(...contacts(2)), true));
		expect(out[0]).toEqual([]);
		expect(out[1].map((i) => [i.json.field, paired(i)])).toEqual([
			['campaignJson', { item: 0 }],
			['campaignJson', { item: 1 }],
		]);
		expect(out[1][0].json.error).toMatch(/^Campaign JSON is not valid JSON/);
		const e = await thrown(run(new LoadCampaignContent(), context(bad, items(...contacts(2)), false)));
		expect(e.message).toMatch(/^Campaign JSON is not valid JSON/);
		expect(e.description).toMatch(/Field: campaignJson/);
	});
});

describe('Build Email Payload', () => {
	const input = () => items(...contacts(2, 'a.example'), { email: 'not-an-address' }, ...contacts(2, 'b.example'));
	const params = { campaignSource: 'json', campaignJson: JSON.stringify(campaign('cof-build')), step: 1, batchSize: 3, options: {} };

	it('on: the bad contact is an error item paired with its item; the batches pair with the contacts they hold', async () => {
		const out = await run(new BuildEmailPayload(), context(params, input(), true));
		const batches = out[0].filter((i) => !i.json.error);
		const errors = out[0].filter((i) => i.json.error);
		expect(batches.flatMap((b) => (b.json.recipients as Array<{ email: string }>).map((r) => r.email)).sort()).toEqual(['user0@a.example', 'user0@b.example', 'user1@a.example', 'user1@b.example']);
		for (const b of batches) {
			const want = (b.json.recipients as Array<{ email: string }>).map((r) => ['user0@a.example', 'user1@a.example', '', 'user0@b.example', 'user1@b.example'].indexOf(r.email)).sort();
			const got = ([] as IPairedItemData[]).concat(paired(b)).map((p) => p.item);
			expect(got).toEqual(want);
		}
		expect(errors.map((e) => [e.json.item, e.json.field, paired(e)])).toEqual([[2, 'email', { item: 2 }]]);
		expect(errors[0].json.error).toMatch(/Contact 3 \("not-an-address"\) is not usable/);
	});

	it('off: throws naming the item and the field', async () => {
		const e = await thrown(run(new BuildEmailPayload(), context(params, input(), false)));
		expect(e.message).toMatch(/1 input contact\(s\) are not usable; the first \(contact 3/);
		expect(e.context.itemIndex).toBe(2);
		expect(e.description).toMatch(/Field: email/);
	});
});

/** Payload items from Build Email Payload, one recipient each, with a non-payload in the middle. */
async function payloadItems(id: string): Promise<INodeExecutionData[]> {
	const built = await run(new BuildEmailPayload(), context({ campaignSource: 'json', campaignJson: JSON.stringify(campaign(id)), step: 1, batchSize: 1, options: {} }, items(...contacts(2, `${id}.example`)), false));
	return [built[0][0], { json: { campaign_id: id, recipients: 'nobody' } }, built[0][1]];
}

describe('Generate Email Copy, Send Email, Log Campaign Result, Campaign Preview', () => {
	it('Generate Email Copy — on: two payloads with copy, each paired with its item, and an error item for the middle one; off: throws naming it', async () => {
		const input = await payloadItems('cof-gen');
		const out = await run(new GenerateEmailCopy(), context({ copySource: 'template', options: {} }, input, true));
		expect(out[0].map((i) => [Boolean(i.json.copy), i.json.error === undefined, paired(i)])).toEqual([
			[true, true, { item: 0 }],
			[false, false, { item: 1 }],
			[true, true, { item: 2 }],
		]);
		expect(out[0][1].json).toMatchObject({ item: 1, field: 'run_id', error: expect.stringMatching(/^Item 1 is not an email payload/) });
		// The symbol that carried the item through the stage does not leave with the item.
		expect(Object.getOwnPropertySymbols(out[0][0].json)).toEqual([]);
		const e = await thrown(run(new GenerateEmailCopy(), context({ copySource: 'template', options: {} }, input, false)));
		expect(e.context.itemIndex).toBe(1);
		expect(e.description).toMatch(/Field: run_id/);
	});

	it('Send Email — on: batches and per-recipient results pair with their payload item; the bad item is an error item', async () => {
		const input = await payloadItems('cof-send');
		const batch = await run(new SendEmailSendGrid(), context({ dryRun: true, outputMode: 'batch', limits: {}, options: {} }, input, true));
		expect(batch[0].map((i) => [i.json.counts ?? i.json.field, paired(i)])).toEqual([
			[{ dry_run: 1 }, { item: 0 }],
			['run_id', { item: 1 }],
			[{ dry_run: 1 }, { item: 2 }],
		]);
		const perRecipient = await run(new SendEmailSendGrid(), context({ dryRun: true, outputMode: 'recipient', limits: {}, options: {} }, input, true));
		expect(perRecipient[0].map((i) => [i.json.status ?? 'error', paired(i)])).toEqual([
			['dry_run', { item: 0 }],
			['error', { item: 1 }],
			['dry_run', { item: 2 }],
		]);
		const e = await thrown(run(new SendEmailSendGrid(), context({ dryRun: true, outputMode: 'batch', limits: {}, options: {} }, input, false)));
		expect(e.context.itemIndex).toBe(1);
	});

	it('Send Email — the whole send failing (no SendGrid credential for a live send) is an error item per input item', async () => {
		const input = await payloadItems('cof-send-all');
		const good = [input[0], input[2]];
		const out = await run(new SendEmailSendGrid(), context({ dryRun: false, outputMode: 'batch', limits: {}, options: {} }, good, true));
		expect(out[0].map((i) => [Boolean(i.json.error), paired(i)])).toEqual([
			[true, { item: 0 }],
			[true, { item: 1 }],
		]);
		await thrown(run(new SendEmailSendGrid(), context({ dryRun: false, outputMode: 'batch', limits: {}, options: {} }, good, false)));
	});

	it('Log Campaign Result — on: the item that holds no delivery results fails alone; the summary pairs with the logged items, rows with theirs', async () => {
		const sent = await run(new SendEmailSendGrid(), context({ dryRun: true, outputMode: 'batch', limits: {}, options: {} }, await payloadItems('cof-log'), true));
		const input = [sent[0][0], { json: { results: [{ email: 'x@y.io' }] } }, sent[0][2]];
		const out = await run(new LogCampaignResult(), context({ operation: 'log', outputMode: 'rows', finishRun: true }, input, true));
		const [summary, ...rest] = out[0];
		expect(summary.json).toMatchObject({ campaign_id: 'cof-log', recipients: 2, dry_run: 2 });
		expect(paired(summary)).toEqual([{ item: 0 }, { item: 2 }]);
		expect(rest.map((i) => [i.json.error === undefined ? i.json.status : i.json.field, paired(i)])).toEqual([
			['dry_run', { item: 0 }],
			['dry_run', { item: 2 }],
			['results', { item: 1 }],
		]);
		const e = await thrown(run(new LogCampaignResult(), context({ operation: 'log', outputMode: 'rows', finishRun: true }, input, false)));
		expect(e.context.itemIndex).toBe(1);
		expect(e.description).toMatch(/Field: results/);
	});

	it('Campaign Preview — on: samples pair with their payload item, the bad one is an error item', async () => {
		const input = await payloadItems('cof-preview');
		const out = await run(new CampaignPreview(), context({ samples: 3, output: 'samples', live: false, sendTest: false }, input, true));
		expect(out[0].map((i) => [i.json.error === undefined ? i.json.contact : 'error', paired(i)])).toEqual([
			[(input[0].json.recipients as Array<{ email: string }>)[0].email, { item: 0 }],
			['error', { item: 1 }],
			[(input[2].json.recipients as Array<{ email: string }>)[0].email, { item: 2 }],
		]);
		const e = await thrown(run(new CampaignPreview(), context({ samples: 3, output: 'samples', live: false, sendTest: false }, input, false)));
		expect(e.context.itemIndex).toBe(1);
	});
});

describe('Campaign Agent', () => {
	const params = { campaignSource: 'json', campaignJson: JSON.stringify(campaign('cof-agent')), contactSource: 'items', contactsField: '', emailField: 'email', csvOptions: {}, copySource: 'template', copyOptions: {}, dryRun: true, limits: {}, deliveryOptions: {}, batchSize: 2, stepsToSend: 'first', runId: '', resume: false, outputRows: true };

	it('the summary pairs with every input item, each delivery row with its contact item', async () => {
		const out = await run(new CampaignAgent(), context(params, items(...contacts(3, 'agent.example')), true));
		expect(paired(out[0][0])).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);
		expect(out[0].slice(1).map((i) => [i.json.email, paired(i)])).toEqual(
			expect.arrayContaining([
				['user0@agent.example', { item: 0 }],
				['user1@agent.example', { item: 1 }],
				['user2@agent.example', { item: 2 }],
			]),
		);
	});

	it('a failed run is an error item per input item with it on; thrown naming the parameter with it off', async () => {
		const bad = { ...params, campaignJson: '{' };
		const out = await run(new CampaignAgent(), context(bad, items(...contacts(2)), true));
		expect(out[0].map((i) => [i.json.field, paired(i)])).toEqual([
			['campaignJson', { item: 0 }],
			['campaignJson', { item: 1 }],
		]);
		const e = await thrown(run(new CampaignAgent(), context(bad, items(...contacts(2)), false)));
		expect(e.message).toMatch(/^Campaign JSON is not valid JSON/);
	});
});

describe('Campaign Sequence', () => {
	beforeAll(async () => {
		await run(new CampaignSequence(), context({ operation: 'enroll', campaignSource: 'json', campaignJson: JSON.stringify(campaign('cof-seq')), contactSource: 'csvText', csvText: csvOf(contacts(2, 'seq.example')), csvOptions: {}, timezoneField: 'timezone', asOf: '' }, items({}), false));
	});
	const refs = ['cof-seq', '', 'cof-seq'];

	it('Get Status / Pause / Resume run per item: on, the item without a Campaign ID is an error item naming the field', async () => {
		for (const operation of ['status', 'pause', 'resume']) {
			const out = await run(new CampaignSequence(), context({ operation, campaignRef: (i: number) => refs[i] }, items({}, {}, {}), true));
			expect(out[0].map((i) => [i.json.campaign_id ?? i.json.field, paired(i)])).toEqual([
				['cof-seq', { item: 0 }],
				['campaignRef', { item: 1 }],
				['cof-seq', { item: 2 }],
			]);
			expect(out[0][1].json).toMatchObject({ error: 'Set Campaign ID: which sequence should this act on?', item: 1 });
		}
	});

	it('off: throws naming the item and the field', async () => {
		const e = await thrown(run(new CampaignSequence(), context({ operation: 'pause', campaignRef: (i: number) => refs[i] }, items({}, {}, {}), false)));
		expect(e.message).toBe('Set Campaign ID: which sequence should this act on?');
		expect(e.context.itemIndex).toBe(1);
		expect(e.description).toMatch(/Field: campaignRef/);
	});

	it('a summary operation (Send Due Steps) pairs with all input items; its failure is an error item per input item', async () => {
		const sendDue = { operation: 'sendDue', campaignRef: 'cof-seq', asOf: '', copySource: 'template', copyOptions: {}, dryRun: true, limits: {}, deliveryOptions: {} };
		const out = await run(new CampaignSequence(), context(sendDue, items({}, {}), true));
		expect(out[0].map(paired)).toEqual(out[0].map(() => [{ item: 0 }, { item: 1 }]));
		const failed = await run(new CampaignSequence(), context({ ...sendDue, asOf: 'soon' }, items({}, {}), true));
		expect(failed[0].map((i) => [i.json.field, paired(i)])).toEqual([
			['asOf', { item: 0 }],
			['asOf', { item: 1 }],
		]);
	});
});

describe('Campaign API Guard', () => {
	it('on: a request whose check fails (the store) is rejected with 500 and the error, paired; the others are checked', async () => {
		const body = { campaign: campaign('api-cof'), contacts: contacts(1) };
		const exp = Math.floor(Date.now() / 1000) + 600;
		const input = items({ body, jwtPayload: { sub: 'a', exp } }, { body, jwtPayload: { sub: 'b', exp } }, { body, jwtPayload: { sub: 'c', exp } });
		const out = await run(new CampaignApiGuard(), context({ perMinute: 100, security: { trustedProxies: 'nonsense' } }, input, true));
		expect(out[0]).toEqual([]);
		expect(out[1].map((i) => [i.json.status, i.json.field, paired(i)])).toEqual([
			[500, 'security.trustedProxies', { item: 0 }],
			[500, 'security.trustedProxies', { item: 1 }],
			[500, 'security.trustedProxies', { item: 2 }],
		]);
		const ok = await run(new CampaignApiGuard(), context({ perMinute: 100 }, input, true));
		expect(ok[0].map(paired)).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);
	});
});

describe('a service failure keeps its HTTP status on the error item', () => {
	it('NodeApiError for the store; http_status in json when the service answered', async () => {
		const { errorItem } = await import('../../../nodes/shared/items');
		const { SendGridApiError } = await import('../../../lib/sendgrid/client');
		const node = { id: '1', name: 'Under test', type: 'test', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };
		const item = errorItem(node, new SendGridApiError('SendGrid mail send failed (401): bad key', 401, [], {}), 4);
		expect(item.json).toMatchObject({ error: expect.stringMatching(/^SendGrid mail send failed \(401\)/), http_status: 401, item: 4 });
		expect(item.error).toBeInstanceOf(NodeApiError);
		expect(item.pairedItem).toEqual({ item: 4 });
	});
});
