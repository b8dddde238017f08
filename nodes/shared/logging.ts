/**
 * Hands the package's log lines (lib/observability/logLines.ts: counts, durations and ids, never an
 * address or a secret) to n8n's logger, so N8N_LOG_LEVEL and n8n's log output settings apply. A
 * logger that is missing or throws never fails the node.
 */
import type { Logger } from 'n8n-workflow';
import type { LogLine } from '../../lib/observability/logLines';

export function log(ctx: { logger?: Logger; getExecutionId?: () => string }, line: LogLine): void {
	try {
		const executionId = ctx.getExecutionId?.();
		ctx.logger?.[line.level](line.message, executionId && !line.meta.execution_id ? { ...line.meta, execution_id: String(executionId) } : line.meta);
	} catch {
		// Logging is never the reason a run fails.
	}
}
