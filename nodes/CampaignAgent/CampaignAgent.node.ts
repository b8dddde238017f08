import type { IExecuteFunctions, INodeExecutionData, INodeProperties, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { type AgentConfig, type AgentProgress, type AgentRunResult, runCampaignAgent } from '../../lib/agent/graph';
import { type WorkerHooks, type WorkerJob, runAgentInWorker, workerContactSource } from '../../lib/agent/agentWorker';
import { StoreCheckpointSaver } from '../../lib/agent/checkpointer';
import { newRunId } from '../../lib/ids';
import { takeResumeRequest } from '../../lib/store/audit';
import { CREDENTIALS, campaignStore, optionalCredentials, postgresFromCredentials } from '../shared/context';
import { failItems, indexes, pairedAll } from '../shared/items';
import { campaignDatabaseConnectionTest } from '../shared/databaseCredential';
import { campaignRedisConnectionTest } from '../shared/redisCredential';
import { combinedCopyProperties, combinedDeliveryProperties, contactSourceProperties, copyNodeInputs } from '../shared/properties';
import { type Delivery, readCombinedCopyAndDelivery, readContactSource } from '../shared/readers';
import { campaignFromParameters, campaignProperties } from '../shared/campaignFields';
import { sendGridListMethods } from '../shared/sendGridLists';
import { audienceField, audienceOptionsOf } from '../shared/audienceFields';
import { runFailed, runFinished, runStarted } from '../../lib/observability/logLines';
import { log, sendStatsCollector } from '../shared/logging';
import { campaignSentryDsnTest, reportRunFailure } from '../shared/sentryReport';

const heading = (name: string, displayName: string): INodeProperties => ({ displayName, name, type: 'notice', default: '' });

export class CampaignAgent implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Campaign Agent',
		name: 'campaignAgent',
		icon: 'file:campaignAgent.svg',
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["campaignId"] || "campaign"}}',
		description:
			'Run a whole email campaign in one node: load contacts, write copy per variant, send through SendGrid in batches exactly once per recipient, log results; resumable',
		defaults: { name: 'Campaign Agent' },
		usableAsTool: true,
		inputs: copyNodeInputs,
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{ name: 'sendGridCampaignApi', required: true, displayOptions: { show: { dryRun: [false] } } },
			{ name: 'campaignLlmApi', required: false },
			{ name: 'campaignDatabaseApi', required: false, testedBy: 'campaignDatabaseConnectionTest' },
			{ name: 'campaignRedisApi', required: false, displayOptions: { show: { dryRun: [false] } }, testedBy: 'campaignRedisConnectionTest' },
			{ name: 'campaignSentryApi', required: false, testedBy: 'campaignSentryDsnTest' },
		],
		properties: [
			heading('campaignHeading', 'Campaign'),
			...campaignProperties,
			heading('contactsHeading', 'Contacts'),
			...contactSourceProperties,
			heading('copyHeading', 'Copy'),
			...combinedCopyProperties,
			heading('deliveryHeading', 'Delivery'),
			...combinedDeliveryProperties,
			{
				displayName: 'Batch Size',
				name: 'batchSize',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 1000 },
				default: 1000,
				description: 'Recipients per SendGrid request (up to 1,000)',
			},
			{
				displayName: 'Language and Local Time',
				name: 'audienceOptions',
				type: 'collection',
				placeholder: 'Add option',
				default: {},
				description: "Each contact's copy language from a contact field, and sending at a local hour in each contact's time zone",
				options: [audienceField.defaultTimeZone, audienceField.languageField, audienceField.localSendTime, audienceField.timeZoneField],
			},
			heading('sequenceHeading', 'Sequence and Run'),
			{
				displayName: 'Steps to Send',
				name: 'stepsToSend',
				type: 'options',
				options: [
					{ name: 'First Step', value: 'first' },
					{ name: 'One Step', value: 'one' },
					{ name: 'All Steps Now', value: 'all', description: 'Send every step in order in this run (for tests and one-off sequences)' },
				],
				default: 'first',
				description: 'Scheduled Day 1 / Day 3 / Day 7 sequences use the sequence scheduler template instead',
			},
			{ displayName: 'Step', name: 'step', type: 'number', default: 1, displayOptions: { show: { stepsToSend: ['one'] } } },
			{
				displayName: 'Run ID',
				name: 'runId',
				type: 'string',
				default: '',
				description: 'Leave empty for a new run. To resume a run that was interrupted, enter its run ID and turn on Resume Run.',
			},
			{
				displayName: 'Resume Run',
				name: 'resume',
				type: 'boolean',
				default: false,
				description: 'Whether to continue the run from its last checkpoint (needs the Run ID); nothing already sent is sent again',
			},
			{
				displayName: 'Resume Requested Runs',
				name: 'resumeRequested',
				type: 'boolean',
				default: false,
				description:
					"Whether an execution without a Run ID first continues this campaign's interrupted run that someone asked to resume on the Campaign Dashboard (run it from a Schedule Trigger); with no request, it starts a new run as usual",
			},
			{
				displayName: 'Run Agent In',
				name: 'runIn',
				type: 'options',
				options: [
					{ name: 'Main Thread', value: 'main', description: "In n8n's own process, like any node" },
					{
						name: 'Worker Thread (Own Memory)',
						value: 'worker',
						description:
							"In a thread with its own 64 MB heap: n8n's memory grows about 150 MB during a run instead of 250–350 MB, at about twice the CPU. Needs a Campaign Database credential (Postgres).",
					},
				],
				default: 'main',
				description: 'Where the per-contact work (reading, claiming, sending) runs. For lists of hundreds of thousands of contacts on a server short of memory, use Worker Thread.',
			},
			{
				displayName: 'Output Delivery Rows',
				name: 'outputRows',
				type: 'boolean',
				default: false,
				description: 'Whether to output one item per recipient after the summary (keep off for large campaigns)',
			},
		],
	};

	methods = { credentialTest: { campaignDatabaseConnectionTest, campaignRedisConnectionTest, campaignSentryDsnTest }, ...sendGridListMethods };

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const started = Date.now();
		// The run's ids for its log lines, once they are read.
		let facts: { node: string; campaign_id?: string; run_id?: string } = { node: 'Campaign Agent' };
		try {
			const store = await campaignStore(this);
			const { copy, delivery, deps } = await readCombinedCopyAndDelivery(this, store);
			const raw = campaignFromParameters(this, 0) as Record<string, unknown>;
			if (delivery.unsubscribeGroupId) raw.unsubscribeGroupId = delivery.unsubscribeGroupId;
			const which = this.getNodeParameter('stepsToSend', 0) as string;
			const steps = which === 'one' ? [this.getNodeParameter('step', 0) as number] : undefined;
			const allSteps = which === 'all';
			const given = (this.getNodeParameter('runId', 0, '') as string).trim();
			// A resume asked for on the dashboard comes first (taken once: another execution never takes it too).
			const requested = !given && this.getNodeParameter('resumeRequested', 0, false) && typeof raw.id === 'string' ? await takeResumeRequest(store, raw.id) : undefined;
			const runId = requested?.run_id ?? (given || newRunId());
			const resume = requested ? true : (this.getNodeParameter('resume', 0, false) as boolean);
			const manual = this.getMode() === 'manual';
			facts = { ...facts, campaign_id: typeof raw.id === 'string' ? raw.id : undefined, run_id: runId };
			log(this, runStarted({ ...facts, step: steps, dry_run: !!delivery.dryRun }));
			const sendStats = sendStatsCollector();
			// The send stage tells each run's 429s, retries and limiter wait (SendDeps.onRunStats) for the finish lines.
			Object.assign(deps.send, { onRunStats: sendStats.onRunStats });
			const config = {
				campaign: raw,
				contacts: await readContactSource(this, items, store, { stream: true }),
				steps: allSteps ? ((raw.steps as Array<{ step: number }> | undefined) ?? []).map((s) => s.step) : steps,
				batchSize: this.getNodeParameter('batchSize', 0, 1000) as number,
				copy: copy.options,
				sendOptions: delivery.options,
				keepRows: this.getNodeParameter('outputRows', 0, false) as boolean,
				audience: audienceOptionsOf(this.getNodeParameter('audienceOptions', 0, {}) as Record<string, unknown>),
			};
			const onProgress = manual
				? (p: AgentProgress) => this.sendMessageToUI(`Campaign ${p.runId} step ${p.step}: ${p.processed} processed — ${JSON.stringify(p.counts)}`)
				: undefined;
			const runIn = this.getNodeParameter('runIn', 0, 'main') === 'worker' ? 'worker' : 'main';
			const result =
				runIn === 'worker'
					? await runInWorker(this, config, { limiter: deps.send.limiter, chat: deps.generate.chat, onProgress, onRunStats: sendStats.onRunStats }, delivery, { runId, resume })
					: await runCampaignAgent(config, { store, ...deps, onProgress }, { runId, resume, checkpointer: new StoreCheckpointSaver(store) });
			const summary = {
				run_id: result.runId,
				campaign_id: result.campaignId,
				steps: result.steps,
				contacts: result.total,
				invalid: result.invalidCount,
				invalid_rows: result.invalid,
				...result.counts,
				llm_calls: result.llm.calls ?? 0,
				llm_tokens: (result.llm.prompt_tokens ?? 0) + (result.llm.completion_tokens ?? 0),
				duration_ms: result.durationMs,
				resumed: result.resumed,
				...(requested ? { resume_requested_by: requested.requested_by } : {}),
				// Stopped by a pause (reputation guard or a user): what, why, and how to resume; `paused` above counts who was not sent.
				status: result.paused ? 'paused' : 'finished',
				...(result.paused ? { pause: result.paused } : {}),
				preflight_warnings: result.warnings,
				// Recipients whose local send time is past SendGrid's 72 h limit: nobody claimed them; a later run sends them.
				left_for_later: result.audience?.left_for_later ?? 0,
				audience: result.audience,
				dry_run: delivery.dryRun,
				store: store.kind,
				run_in: runIn,
			};
			log(
				this,
				runFinished({
					...facts,
					campaign_id: result.campaignId,
					step: result.steps,
					recipients: result.total,
					counts: { ...result.counts, invalid: result.invalidCount, left_for_later: summary.left_for_later },
					llm_calls: summary.llm_calls,
					llm_tokens: summary.llm_tokens,
					...sendStats.total(),
					duration_ms: result.durationMs,
					dry_run: !!delivery.dryRun,
				}),
			);
			// The summary is made from every input item (as n8n's Aggregate pairs); each delivery row pairs with its contact's item.
			const rows = result.rows as unknown as Array<Record<string, unknown>>;
			const itemOf = rows.length ? contactItemByEmail(this, items) : undefined;
			return [[{ json: summary, pairedItem: pairedAll(items.length) }, ...rows.map((r) => ({ json: r as unknown as INodeExecutionData['json'], pairedItem: { item: itemOf?.get(String(r.email).toLowerCase()) ?? 0 } }))]];
		} catch (e) {
			log(this, runFailed({ ...facts, duration_ms: Date.now() - started }, e));
			await reportRunFailure(this, e, { campaignId: facts.campaign_id, runId: facts.run_id });
			// The run failed as a whole (campaign, contacts, SendGrid, the store): every input item gets the error with Continue On Fail.
			return [failItems(this, e, indexes(Math.max(items.length, 1)))];
		}
	}
}

/**
 * The run in a worker thread with its own heap (lib/agent/agentWorker.ts): the worker opens its own
 * pool on the Campaign Database credential and its own SendGrid transport; the rate limiter, the chat
 * model and the contacts file stay here and answer its calls. Cancelling the execution stops the worker.
 */
async function runInWorker(ctx: IExecuteFunctions, config: AgentConfig, hooks: WorkerHooks, delivery: Delivery, run: { runId: string; resume: boolean }): Promise<AgentRunResult> {
	const db = await optionalCredentials(ctx, CREDENTIALS.database);
	if (!db)
		throw new NodeOperationError(ctx.getNode(), 'Run Agent In → Worker Thread needs a Campaign Database credential (Postgres)', {
			description: 'The embedded store serves one thread. Select a Campaign Database credential, or set Run Agent In to Main Thread.',
		});
	const contacts = workerContactSource(config.contacts);
	const job: WorkerJob = {
		config: { ...config, contacts: contacts.contacts },
		postgres: postgresFromCredentials(db),
		sendgrid: delivery.dryRun ? undefined : delivery.transportConfig,
		limiter: Boolean(hooks.limiter),
		chat: hooks.chat ? { model: hooks.chat.model, maxReplyBytes: hooks.chat.maxReplyBytes } : undefined,
		runId: run.runId,
		resume: run.resume,
	};
	const signal = typeof ctx.getExecutionCancelSignal === 'function' ? ctx.getExecutionCancelSignal() : undefined;
	return await runAgentInWorker(job, { ...hooks, signal }, contacts.stream);
}

/** With contacts from input items, the item each address came from (lower case); a CSV or a query is all item 0. */
function contactItemByEmail(ctx: IExecuteFunctions, items: INodeExecutionData[]): Map<string, number> | undefined {
	if (ctx.getNodeParameter('contactSource', 0) !== 'items') return undefined;
	const listField = ctx.getNodeParameter('contactsField', 0, '') as string;
	const emailField = (ctx.getNodeParameter('emailField', 0, 'email') as string) || 'email';
	const map = new Map<string, number>();
	items.forEach((item, i) => {
		const j = item.json as Record<string, unknown>;
		const rows = listField ? (Array.isArray(j[listField]) ? (j[listField] as unknown[]) : []) : [j];
		for (const row of rows) {
			const email = row && typeof row === 'object' ? (row as Record<string, unknown>)[emailField] ?? (row as Record<string, unknown>).email : undefined;
			if (typeof email === 'string' && !map.has(email.trim().toLowerCase())) map.set(email.trim().toLowerCase(), i);
		}
	});
	return map;
}
