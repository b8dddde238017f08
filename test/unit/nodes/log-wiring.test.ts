/**
 * The nodes hand their run lines to n8n's logger (issue 24): Send Email, Log Campaign Result, the
 * Campaign Agent and Send Due Steps, through a stand-in context whose logger records every call.
 * Each line: the level, the message and the metadata object; none carries a contact's address.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { LoadCampaignContent } from '../../../nodes/LoadCampaignContent/LoadCampaignContent.node';
import { BuildEmailPayload } from '../../../nodes/BuildEmailPayload/BuildEmailPayload.node';
import { GenerateEmailCopy } from '../../../nodes/GenerateEmailCopy/GenerateEmailCopy.node';
import { SendEmailSendGrid } from '../../../nodes/SendEmailSendGrid/SendEmailSendGrid.node';
import { LogCampaignResult } from '../../../nodes/LogCampaignResult/LogCampaignResult.node';
import { CampaignAgent } from '../../../nodes/CampaignAgent/CampaignAgent.node';
import { CampaignSequence } from '../../../nodes/CampaignSequence/CampaignSequence.node';
import { closeAllStores } from '../../../lib/store';
import { LOG_SCOPE } from '../../../lib/observability/logLines';
import { fakeExecuteContext, type Params } from './fakeContext';
import { SendGridSimulator } from '../../simulators/sendgridServer';
import { campaignInput, contacts, csvOf } from '../../helpers/fixtures';

jest.setTimeout(60_000);

process.env.EMAIL_CAMPAIGN_STORE_DIR = mkdtempSync(join(tmpdir(), 'eca-log-wiring-'));
afterAll(() => closeAllStores());

type Call = { level: string; message: string; meta: Record<string, unknown> };
let calls: Call[] = [];
const logger = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((level) => [level, (message: string, meta: Record<string, unknown>) => calls.push({ level, message, meta })]));

function context(params: Params, items: INodeExecutionData[] = [{ json: {} }]): IExecuteFunctions {
	return fakeExecuteContext(params, items, { more: { logger } as unknown as Partial<IExecuteFunctions> });
}
const ours = () => calls.filter((c) => c.meta.scope === LOG_SCOPE);
beforeEach(() => (calls = []));
afterEach(() => {
	// Whatever a test ran: no address in any line.
	expect(JSON.stringify(calls)).not.toContain('@');
});

describe('run lines from the nodes', () => {
	it('Send Email (dry run): a start and a finish line per run, with recipients, batches and counts; Log Campaign Result: a finish line', async () => {
		const loaded = await new LoadCampaignContent().execute.call(
			context({ campaignSource: 'json', campaignJson: JSON.stringify(campaignInput({ id: 'wiring' })), contactSource: 'csvText', csvText: csvOf(contacts(4, 'wiring.example')), csvOptions: {}, outputMode: 'perContact', runId: 'run-wiring' }),
		);
		const built = await new BuildEmailPayload().execute.call(context({ campaignSource: 'input', step: 1, batchSize: 3, options: {} }, loaded[0]));
		const copied = await new GenerateEmailCopy().execute.call(context({ copySource: 'auto', options: {} }, built[0]));
		calls = [];
		const sent = await new SendEmailSendGrid().execute.call(context({ dryRun: true, outputMode: 'batch', limits: {}, options: {} }, copied[0]));
		expect(ours()).toEqual([
			{
				level: 'info',
				message: 'Campaign run started: Send Email (SendGrid), campaign wiring, run run-wiring',
				meta: { scope: LOG_SCOPE, event: 'run_started', node: 'Send Email (SendGrid)', campaign_id: 'wiring', run_id: 'run-wiring', step: 1, recipients: 4, batches: 2, mode: 'dry_run', execution_id: 'exec-1' },
			},
			{
				level: 'info',
				message: 'Campaign run finished: Send Email (SendGrid), campaign wiring, run run-wiring',
				meta: expect.objectContaining({ event: 'run_finished', campaign_id: 'wiring', run_id: 'run-wiring', step: 1, recipients: 4, batches: 2, requests: 0, dry_run: 4, mode: 'dry_run', rate_limited: 0, retries: 0, limiter_wait_ms: 0, duration_ms: expect.any(Number), execution_id: 'exec-1' }),
			},
		]);
		calls = [];
		await new LogCampaignResult().execute.call(context({ operation: 'log', outputMode: 'summary', finishRun: true }, sent[0]));
		expect(ours()).toEqual([
			{
				level: 'info',
				message: 'Campaign run finished: Log Campaign Result, campaign wiring, run run-wiring',
				meta: expect.objectContaining({ event: 'run_finished', node: 'Log Campaign Result', campaign_id: 'wiring', run_id: 'run-wiring', step: '1', recipients: 4, dry_run: 4 }),
			},
		]);
	});

	const agentParams = {
		campaignSource: 'json',
		campaignJson: JSON.stringify(campaignInput({ id: 'wiring-agent' })),
		contactSource: 'csvText',
		csvText: csvOf(contacts(5, 'agent-wiring.example')),
		csvOptions: {},
		copySource: 'template',
		copyOptions: {},
		dryRun: true,
		limits: {},
		deliveryOptions: {},
		batchSize: 3,
		stepsToSend: 'first',
		runId: 'run-agent-wiring',
		resume: false,
		outputRows: false,
	};

	it('Campaign Agent: start and finish; a run that fails says so at error level with the error (its address masked)', async () => {
		await new CampaignAgent().execute.call(context(agentParams));
		expect(ours().map((c) => [c.level, c.meta.event, c.meta.run_id])).toEqual([
			['info', 'run_started', 'run-agent-wiring'],
			['info', 'run_finished', 'run-agent-wiring'],
		]);
		expect(ours()[1].meta).toMatchObject({ campaign_id: 'wiring-agent', recipients: 5, mode: 'dry_run', step: '1' });
		calls = [];
		// A sender address SendGrid would refuse: the run fails before anything is sent.
		const bad = { ...agentParams, runId: 'run-agent-bad', campaignJson: JSON.stringify(campaignInput({ id: 'wiring-agent', from: { email: 'not-an-address@', name: 'x' } })) };
		await expect(new CampaignAgent().execute.call(context(bad))).rejects.toThrow();
		const failed = ours().filter((c) => c.meta.event === 'run_failed');
		expect(failed).toHaveLength(1);
		expect(failed[0]).toMatchObject({ level: 'error', meta: { node: 'Campaign Agent', error: expect.any(String), error_name: expect.any(String) } });
	});

	it("Campaign Agent sending live through the simulator answering 429: the finish line counts SendGrid's 429s and the retries", async () => {
		const sim = new SendGridSimulator();
		await sim.start();
		try {
			sim.setFaults({ rate429: 0.5, omitResetHeader: true, seed: 4 });
			const credentials: Record<string, Record<string, unknown>> = { sendGridCampaignApi: sim.credential() };
			const live = Object.assign(context({ ...agentParams, runId: 'run-agent-live', dryRun: false, batchSize: 2, limits: {}, deliveryOptions: {} }), {
				getNode: () => ({ id: '1', name: 'Agent', type: 'test', typeVersion: 1, position: [0, 0], parameters: {}, credentials: { sendGridCampaignApi: { id: 'sg', name: 'sg' } } }),
				getCredentials: async (name: string) => {
					if (!credentials[name]) throw new Error(`no ${name} credential in this test`);
					return credentials[name];
				},
			}) as IExecuteFunctions;
			await new CampaignAgent().execute.call(live);
			const answered429 = sim.requests.filter((r) => r.path === '/v3/mail/send' && r.status === 429).length;
			expect(answered429).toBeGreaterThan(0);
			expect(sim.accepted).toHaveLength(5);
			const finished = ours().find((c) => c.meta.event === 'run_finished' && c.meta.run_id === 'run-agent-live');
			expect(finished?.meta).toMatchObject({ mode: 'live', sent: 5, rate_limited: answered429, retries: answered429, limiter_wait_ms: expect.any(Number) });
		} finally {
			await sim.stop();
		}
	});

	it('Send Due Steps with nothing due: the tick at debug only', async () => {
		await new CampaignSequence().execute.call(context({ operation: 'sendDue', campaignRef: '', asOf: '', maxContacts: 100, batchSize: 1000, copySource: 'template', copyOptions: {}, dryRun: true, limits: {}, deliveryOptions: {} }));
		expect(ours().map((c) => [c.level, c.meta.event, c.meta.runs])).toEqual([
			['debug', 'run_started', undefined],
			['debug', 'run_finished', 0],
		]);
	});
});
