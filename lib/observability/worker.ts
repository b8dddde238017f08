/**
 * Who runs a run: this process as `<host>:<pid>`, written on the run row by startRun so the metrics
 * endpoint can count runs in progress per worker (queue mode runs executions on several processes).
 * EMAIL_CAMPAIGN_WORKER_ID names it instead (e.g. a container's stable name).
 */
import { hostname } from 'node:os';

const MAX = 120;

export function workerId(env: NodeJS.ProcessEnv = process.env): string {
	const named = (env.EMAIL_CAMPAIGN_WORKER_ID ?? '').trim();
	return (named || `${hostname()}:${process.pid}`).slice(0, MAX);
}
