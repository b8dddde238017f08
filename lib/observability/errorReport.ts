/**
 * What a failed campaign execution says about itself, read from n8n's Error Trigger output —
 * `{ execution: { id, url, error, lastNodeExecuted, mode }, workflow: { id, name } }`, or
 * `{ trigger: { error, mode }, workflow }` when a trigger failed before an execution existed — and
 * from this package's own errors (lib/errors.ts CampaignError).
 *
 * The failed node's error as n8n hands it over: message, description (this package writes
 * "<hint> — Field: <field>" there, nodes/shared/context.ts), httpCode, node {name, type}, stack, and
 * context, where this package puts the campaign, run and step of a failed send. Only those named
 * properties are read: never the node's parameters (they can hold a CSV of contacts) nor a response body.
 */
import { CampaignError } from '../errors';
import type { ErrorReport } from './sentry';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' ? (v as Obj) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined);

const FIELD_MARK = ' — Field: ';

/** "<hint> — Field: <field>" (nodeError's description) → its two parts; a description without the mark is all hint. */
export function splitDescription(description: string | undefined): { hint?: string; field?: string } {
	if (!description) return {};
	if (description.startsWith(FIELD_MARK.slice(3))) return { field: description.slice(FIELD_MARK.length - 3).trim() || undefined };
	const at = description.lastIndexOf(FIELD_MARK);
	if (at < 0) return { hint: description };
	return { hint: description.slice(0, at).trim() || undefined, field: description.slice(at + FIELD_MARK.length).trim() || undefined };
}

/** `campaign "spring-launch"` as this package's messages name a campaign (a hold, a cancelled run...). */
export function campaignFromMessage(message: string): string | undefined {
	const at = message.indexOf('campaign "');
	if (at < 0) return undefined;
	const end = message.indexOf('"', at + 10);
	return end > at + 10 && end - at < 220 ? message.slice(at + 10, end) : undefined;
}

/** The campaign correlation (campaign_id, run_id, step, variant) of an error's context, when it has one. */
function correlation(context: Obj | undefined): Pick<ErrorReport, 'campaignId' | 'runId' | 'step' | 'variant'> {
	if (!context) return {};
	return { campaignId: str(context.campaign_id), runId: str(context.run_id), step: str(context.step), variant: str(context.variant) };
}

/** True when `json` is what n8n's Error Trigger outputs. */
export function isErrorTriggerItem(json: unknown): boolean {
	const o = obj(json);
	return !!o && !!obj(o.workflow) && (!!obj(o.execution) || !!obj(o.trigger));
}

/**
 * The report of one Error Trigger item. Throws a CampaignError (field 'input') for an item that is
 * not one, so a wrongly connected node says so instead of sending an empty report.
 */
export function reportFromErrorTrigger(json: unknown): ErrorReport {
	if (!isErrorTriggerItem(json))
		throw new CampaignError('The input item is not the output of an Error Trigger (it has no execution or trigger and workflow)', {
			field: 'input',
			hint: 'Connect this node after n8n\'s Error Trigger, in the workflow set as "Error Workflow" in the failing workflows\' settings',
		});
	const o = json as Obj;
	const execution = obj(o.execution);
	const trigger = obj(o.trigger);
	const workflow = obj(o.workflow)!;
	const error = obj(execution?.error ?? trigger?.error) ?? {};
	const node = obj(error.node);
	const message = str(error.message) ?? 'The execution failed without an error message';
	const { hint, field } = splitDescription(str(error.description));
	const context = obj(error.context);
	const found = correlation(context);
	const httpStatus = Number(error.httpCode ?? context?.http_status);
	return {
		message,
		type: str(error.name) ?? (typeof error.constructor === 'function' && error.constructor !== Object ? error.constructor.name : undefined),
		stack: str(error.stack),
		campaignId: found.campaignId ?? campaignFromMessage(message),
		runId: found.runId,
		step: found.step,
		variant: found.variant,
		node: str(node?.name) ?? str(execution?.lastNodeExecuted),
		nodeType: str(node?.type),
		workflow: str(workflow.name),
		workflowId: str(workflow.id),
		executionId: str(execution?.id),
		executionMode: str(execution?.mode ?? trigger?.mode),
		executionUrl: str(execution?.url),
		field: field ?? str(context?.field),
		hint: hint ?? str(context?.hint),
		httpStatus: Number.isInteger(httpStatus) && httpStatus >= 100 && httpStatus < 600 ? httpStatus : undefined,
		itemIndex: typeof context?.itemIndex === 'number' ? context.itemIndex : undefined,
		source: trigger ? 'trigger' : undefined,
		kind: trigger ? 'trigger_failed' : 'execution_failed',
	};
}

/** The report of one of this package's own failures (a failed run, a circuit-breaker pause, a refused webhook batch). */
export function reportFromError(e: unknown, where: Partial<ErrorReport> = {}): ErrorReport {
	const err = e instanceof Error ? e : new Error(String(e));
	const c = e instanceof CampaignError ? e : undefined;
	return {
		...correlation(c?.context as Obj | undefined),
		message: err.message,
		type: err.name,
		stack: err.stack,
		field: c?.field,
		hint: c?.hint,
		httpStatus: c?.httpStatus,
		itemIndex: c?.itemIndex,
		source: c?.source,
		...Object.fromEntries(Object.entries(where).filter(([, v]) => v !== undefined)),
	};
}
