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
import type { ICredentialTestFunctions, ICredentialsDecrypted, IExecuteFunctions, INodeCredentialTestResult } from 'n8n-workflow';
import { reportFromError } from '../../lib/observability/errorReport';
import { parseDsn, reportSafely, type ErrorReport } from '../../lib/observability/sentry';

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

/**
 * Sends one event for a run that failed, when the node has a Campaign Sentry API credential; answers
 * whether Sentry took it (false without a credential). Never throws.
 */
export async function reportRunFailure(ctx: IExecuteFunctions, e: unknown, where: Partial<ErrorReport> = {}, fetchImpl?: typeof fetch): Promise<boolean> {
	try {
		const node = ctx.getNode();
		if (!node.credentials?.[SENTRY_CREDENTIAL]) return false;
		const credential = (await ctx.getCredentials(SENTRY_CREDENTIAL)) as Record<string, unknown>;
		const dsn = parseDsn(credential.dsn);
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
		return await reportSafely(dsn, report, { environment: String(credential.environment ?? ''), release: String(credential.release ?? ''), timeoutMs: REPORT_TIMEOUT_MS, fetch: fetchImpl });
	} catch {
		// Reporting is never the reason a run fails differently.
		return false;
	}
}
