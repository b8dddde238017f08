/**
 * The package reporting its own failures to Sentry (issue 24, optional): when a node that runs
 * campaigns (Send Email, Campaign Agent, Campaign Sequence → Send Due Steps) has a Campaign Sentry API
 * credential selected, a run that fails is sent as one event at the moment it fails — also for runs
 * started in the editor, which call no error workflow. Without the credential nothing happens.
 *
 * A report never changes the run's outcome: it is awaited (so a process that ends with the execution
 * does not cut it off) but time-boxed, and nothing it does throws — no credential, a bad DSN, Sentry
 * down or refusing are all swallowed (reportSafely).
 */
import type { ICredentialTestFunctions, ICredentialsDecrypted, IExecuteFunctions, INodeCredentialTestResult, IWebhookFunctions } from 'n8n-workflow';
import { reportFromError } from '../../lib/observability/errorReport';
import { parseDsn, reportSafely, type ErrorReport, type SentryDsn } from '../../lib/observability/sentry';

/** The optional credential the nodes that report their own failed runs declare (`{ name: 'campaignSentryApi', required: false }`). */
export const SENTRY_CREDENTIAL = 'campaignSentryApi';

/** The Campaign Sentry API credential's test: the DSN's form, checked without sending anything (a test event would open an issue in the project). */
export async function campaignSentryDsnTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
	try {
		const dsn = parseDsn(credential.data?.dsn);
		return { status: 'OK', message: `A DSN of project ${dsn.projectId}; reports go to ${new URL(dsn.envelopeUrl).host}` };
	} catch (e) {
		return { status: 'Error', message: (e as Error).message };
	}
}

/** How long a failed run waits at most for Sentry's answer before it ends with its own error. */
const REPORT_TIMEOUT_MS = 5_000;

/** Where a node with a Campaign Sentry API credential reports to, and how; undefined without one (a bad DSN throws). */
async function sentryTarget(ctx: IExecuteFunctions | IWebhookFunctions, fetchImpl?: typeof fetch): Promise<{ dsn: SentryDsn; options: Parameters<typeof reportSafely>[2] } | undefined> {
	if (!ctx.getNode().credentials?.[SENTRY_CREDENTIAL]) return undefined;
	const credential = (await ctx.getCredentials(SENTRY_CREDENTIAL)) as Record<string, unknown>;
	return {
		dsn: parseDsn(credential.dsn),
		options: { environment: String(credential.environment ?? ''), release: String(credential.release ?? ''), timeoutMs: REPORT_TIMEOUT_MS, fetch: fetchImpl },
	};
}

/**
 * Sends one event for a run that failed, when the node has a Campaign Sentry API credential; answers
 * whether Sentry took it (false without a credential). Never throws.
 */
export async function reportRunFailure(ctx: IExecuteFunctions, e: unknown, where: Partial<ErrorReport> = {}, fetchImpl?: typeof fetch): Promise<boolean> {
	try {
		const node = ctx.getNode();
		const target = await sentryTarget(ctx, fetchImpl);
		if (!target) return false;
		const workflow = ctx.getWorkflow();
		const report = reportFromError(e, {
			node: node.name,
			nodeType: node.type,
			workflow: workflow.name,
			workflowId: workflow.id,
			executionId: String(ctx.getExecutionId() ?? ''),
			executionMode: ctx.getMode(),
			kind: 'run_failed',
			...where,
		});
		return await reportSafely(target.dsn, report, target.options);
	} catch {
		// Reporting is never the reason a run fails differently.
		return false;
	}
}

/** Refused posts are reported at most once per this long per trigger: anyone can post garbage, Sentry should not pay for it. */
export const REFUSED_REPORT_EVERY_MS = 10 * 60_000;
const lastRefusedReport = new Map<string, number>();

/**
 * What the SendGrid Trigger reports itself, when it has a Campaign Sentry API credential: each pause
 * the circuit breaker placed (a warning naming the campaign or account and the measured rate), and a
 * refused post (bad signature, too old, too large, the store down) at most once every 10 minutes per
 * trigger. Sent without holding up SendGrid's answer; never throws.
 */
export async function reportTriggerProblem(ctx: IWebhookFunctions, report: { kind: 'circuit_breaker' | 'webhook_refused'; message: string; campaignId?: string; httpStatus?: number }, fetchImpl?: typeof fetch, now = Date.now()): Promise<boolean> {
	try {
		const node = ctx.getNode();
		if (!node.credentials?.[SENTRY_CREDENTIAL]) return false;
		const workflow = ctx.getWorkflow();
		if (report.kind === 'webhook_refused') {
			const key = `${workflow.id}\n${node.id}`;
			if (now - (lastRefusedReport.get(key) ?? -Infinity) < REFUSED_REPORT_EVERY_MS) return false;
			lastRefusedReport.set(key, now);
		}
		const target = await sentryTarget(ctx, fetchImpl);
		if (!target) return false;
		return await reportSafely(
			target.dsn,
			{ ...report, level: 'warning', node: node.name, nodeType: node.type, workflow: workflow.name, workflowId: workflow.id, executionMode: 'webhook' },
			target.options,
		);
	} catch {
		return false;
	}
}
