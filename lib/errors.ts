/**
 * The one base of every error this package writes. It carries what an n8n user needs to fix the
 * problem — the field (a parameter or a data field), a hint, the item it concerns — and, for answers
 * from a service (SendGrid, the LLM, the store, Redis), the HTTP status. The node layer turns it into
 * n8n's NodeOperationError or NodeApiError (nodes/shared/context.ts nodeError); lib never imports n8n.
 */

export interface CampaignErrorDetails {
	/** The parameter or data field to fix, e.g. 'campaign.steps.0.subject', 'Limits', 'results'. */
	field?: string;
	/** One sentence on what to do about it (n8n shows it as the error's description). */
	hint?: string;
	/** The input item it concerns (0-based), when it concerns one. */
	itemIndex?: number;
	/** Where it came from: the user's parameters or data ('input'), or a service that answered or failed ('service'). */
	source?: 'input' | 'service';
	/** A service's HTTP status, when it answered. */
	httpStatus?: number;
	cause?: unknown;
	/** Which campaign, run and step failed (ids only, never a contact): an error workflow reports them (lib/observability). */
	context?: CampaignErrorContext;
}

/** The campaign correlation of a failure; nodeError copies it into n8n's error context, which n8n's Error Trigger hands over. */
export interface CampaignErrorContext {
	campaign_id?: string;
	run_id?: string;
	step?: string;
	variant?: string;
}

export class CampaignError extends Error {
	field?: string;
	hint?: string;
	itemIndex?: number;
	readonly source: 'input' | 'service';
	readonly httpStatus?: number;
	context?: CampaignErrorContext;

	constructor(message: string, details: CampaignErrorDetails = {}) {
		super(message, details.cause === undefined ? undefined : { cause: details.cause });
		this.name = new.target.name;
		this.field = details.field;
		this.hint = details.hint;
		this.itemIndex = details.itemIndex;
		this.source = details.source ?? 'input';
		this.httpStatus = details.httpStatus;
		if (details.context) this.context = details.context;
	}

	/** The same error, said of a campaign run (keys it already has are kept). */
	inCampaign(context: CampaignErrorContext): this {
		const known = Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined && v !== ''));
		this.context = { ...known, ...this.context };
		return this;
	}

	/** The same error, said of one input item (the first index given wins). */
	atItem(itemIndex: number): this {
		this.itemIndex ??= itemIndex;
		return this;
	}
}

export function isCampaignError(e: unknown): e is CampaignError {
	return e instanceof CampaignError;
}

/**
 * A scheduled send (a run sent with send_at under a SendGrid batch id) cannot be paused, cancelled
 * or resumed as asked: too close to send_at, no batch, SendGrid's limit of batches paused at once...
 */
export class ScheduledSendError extends CampaignError {
	constructor(message: string, details: CampaignErrorDetails = {}) {
		super(message, { field: 'Run ID', ...details });
	}
}
