/**
 * Hands the package's log lines (lib/observability/logLines.ts: counts, durations and ids, never an
 * address or a secret) to n8n's logger, so N8N_LOG_LEVEL and n8n's log output settings apply. A
 * logger that is missing or throws never fails the node.
 */
import type { Logger } from 'n8n-workflow';
import type { LogLine } from '../../lib/observability/logLines';
import type { SendStats } from '../../lib/store/metrics';

export function log(ctx: { logger?: Logger; getExecutionId?: () => string }, line: LogLine): void {
	try {
		const executionId = ctx.getExecutionId?.();
		ctx.logger?.[line.level](line.message, executionId && !line.meta.execution_id ? { ...line.meta, execution_id: String(executionId) } : line.meta);
	} catch {
		// Logging is never the reason a run fails.
	}
}

/** Sums the send stage's 429s, retries and limiter waits per run (SendDeps.onRunStats) over the sends a node makes, for its finish lines. */
export function sendStatsCollector(): { onRunStats: (runId: string, s: SendStats) => void; of: (runId: string) => SendStats | undefined; total: () => SendStats } {
	const runs = new Map<string, SendStats>();
	const add = (a: SendStats, b: SendStats): SendStats => ({ rate_limited: a.rate_limited + b.rate_limited, retries: a.retries + b.retries, limiter_wait_ms: a.limiter_wait_ms + b.limiter_wait_ms });
	const zero: SendStats = { rate_limited: 0, retries: 0, limiter_wait_ms: 0 };
	return {
		onRunStats: (runId, s) => runs.set(runId, add(runs.get(runId) ?? zero, s)),
		of: (runId) => runs.get(runId),
		total: () => [...runs.values()].reduce(add, zero),
	};
}
