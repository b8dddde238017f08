/**
 * What every node of this package needs from n8n: the campaign store (Campaign Database credential
 * or the embedded default), the SendGrid transport, the LLM client, the shared rate limit's Redis,
 * and readable errors that never carry a secret.
 */
import type { IExecuteFunctions, IHookFunctions, ILoadOptionsFunctions, INode, IWebhookFunctions } from 'n8n-workflow';
import { NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { CampaignStore, PostgresConnection, getCampaignStore, defaultEmbeddedDir } from '../../lib/store';
import { SendGridConfig, SendGridTransport, createSendGridTransport, sendGridBaseUrl } from '../../lib/sendgrid/client';
import { ChatModel, createChatModel } from '../../lib/llm/client';
import { chatModelFromLangChain, isLangChainChatModel } from '../../lib/llm/langchain';
import { CampaignError } from '../../lib/errors';
import { RedisConnection, accountKey } from '../../lib/sendgrid/rateLimiter';
import { redactSecrets } from '../../lib/redact';

type Ctx = IExecuteFunctions | ILoadOptionsFunctions | IWebhookFunctions | IHookFunctions;

export const CREDENTIALS = {
	sendGrid: 'sendGridCampaignApi',
	llm: 'campaignLlmApi',
	database: 'campaignDatabaseApi',
	redis: 'campaignRedisApi',
} as const;

/** An optional credential: undefined when the node has none selected. */
export async function optionalCredentials(ctx: Ctx, name: string): Promise<Record<string, unknown> | undefined> {
	const node = ctx.getNode();
	if (!node.credentials?.[name]) return undefined;
	return (await ctx.getCredentials(name)) as Record<string, unknown>;
}

export function postgresFromCredentials(c: Record<string, unknown>): PostgresConnection {
	return {
		host: String(c.host ?? 'localhost'),
		port: Number(c.port ?? 5432),
		database: String(c.database ?? 'postgres'),
		user: String(c.user ?? 'postgres'),
		password: c.password ? String(c.password) : undefined,
		ssl: (c.ssl as PostgresConnection['ssl']) ?? 'disable',
		sslRejectUnauthorized: c.allowUnauthorizedCerts ? false : true,
		schema: c.schema ? String(c.schema) : undefined,
	};
}

export async function campaignStore(ctx: Ctx): Promise<CampaignStore> {
	const creds = await optionalCredentials(ctx, CREDENTIALS.database);
	try {
		return await getCampaignStore(creds ? { postgres: postgresFromCredentials(creds) } : { embeddedDir: defaultEmbeddedDir() });
	} catch (e) {
		throw new NodeOperationError(ctx.getNode(), n8nSafeMessage(`The campaign store could not be opened: ${redactSecrets((e as Error).message, [creds?.password as string | undefined])}`), {
			description: creds
				? 'Check the Campaign Database credential (host, port, database, user, password, SSL) and that the server is running.'
				: 'The embedded store lives under the n8n user folder and serves one n8n process; in queue mode add a Campaign Database credential.',
		});
	}
}

export async function sendGrid(ctx: Ctx, timeoutMs?: number): Promise<{ transport: SendGridTransport; account: string; webhookPublicKey?: string; config: SendGridConfig }> {
	const c = (await ctx.getCredentials(CREDENTIALS.sendGrid)) as Record<string, unknown>;
	const apiKey = String(c.apiKey ?? '');
	const baseUrl = sendGridBaseUrl(c.region, c.baseUrl);
	return {
		// The settings the transport was made from: the Campaign Agent's worker thread makes its own (lib/agent/agentWorker.ts).
		config: { apiKey, baseUrl, timeoutMs },
		transport: createSendGridTransport({ apiKey, baseUrl, timeoutMs }),
		account: accountKey(apiKey, baseUrl),
		webhookPublicKey: c.webhookPublicKey ? String(c.webhookPublicKey) : undefined,
	};
}

/** The Campaign Redis credential as connection options (no URL, so the password is never part of one); undefined when none is selected. */
export async function redisConnection(ctx: Ctx): Promise<RedisConnection | undefined> {
	const c = await optionalCredentials(ctx, CREDENTIALS.redis);
	return c ? redisFromCredentials(c) : undefined;
}

export function redisFromCredentials(c: Record<string, unknown>): RedisConnection {
	return {
		host: String(c.host || 'localhost'),
		port: Number(c.port) || 6379,
		db: Number(c.database) || 0,
		username: c.user ? String(c.user) : undefined,
		password: c.password ? String(c.password) : undefined,
		tls: c.ssl === true,
		tlsRejectUnauthorized: c.disableTlsVerification !== true,
	};
}

export async function chatModel(ctx: Ctx, modelOverride?: string): Promise<ChatModel> {
	const c = (await ctx.getCredentials(CREDENTIALS.llm)) as Record<string, unknown>;
	return createChatModel({
		apiKey: String(c.apiKey ?? ''),
		baseUrl: c.baseUrl ? String(c.baseUrl) : undefined,
		model: modelOverride || (c.model ? String(c.model) : undefined),
	});
}

/**
 * The Chat Model sub-node connected to the node's `ai_languageModel` input (OpenAI, Anthropic, Gemini,
 * Ollama... as n8n built it), as the package's ChatModel; undefined when the node has no such input
 * or nothing is connected to it.
 */
export async function connectedChatModel(ctx: IExecuteFunctions): Promise<ChatModel | undefined> {
	const inputs = typeof ctx.getNodeInputs === 'function' ? ctx.getNodeInputs() : [];
	if (!inputs.some((i) => (typeof i === 'string' ? i : i.type) === NodeConnectionTypes.AiLanguageModel)) return undefined;
	const model = await ctx.getInputConnectionData(NodeConnectionTypes.AiLanguageModel, 0);
	if (model === undefined || model === null) return undefined;
	if (!isLangChainChatModel(model))
		throw new NodeOperationError(ctx.getNode(), 'The node connected as Chat Model did not supply a chat model', {
			description: 'Connect a Chat Model sub-node (OpenAI, Anthropic, Gemini, Ollama, Mistral, Groq, Azure OpenAI, AWS Bedrock...) to the Chat Model input.',
		});
	return chatModelFromLangChain(model, { signal: typeof ctx.getExecutionCancelSignal === 'function' ? ctx.getExecutionCancelSignal() : undefined });
}

/**
 * n8n swaps any error message containing a Node network code (ECONNREFUSED, ETIMEDOUT, ...) for a
 * generic sentence of its own, losing ours (which database, which credential, what to do): the codes
 * are put into words first.
 */
const CODE_WORDS: Record<string, string> = {
	ECONNREFUSED: 'connection refused',
	ECONNRESET: 'connection reset',
	ECONNABORTED: 'connection aborted',
	ENOTFOUND: 'host not found',
	EAI_AGAIN: 'host name lookup failed',
	GETADDRINFO: 'host name lookup',
	ETIMEDOUT: 'timed out',
	EHOSTUNREACH: 'host unreachable',
	EADDRNOTAVAIL: 'address not available',
	ERRADDRINUSE: 'address in use',
	ENOENT: 'no such file',
	EISDIR: 'is a directory',
	ENOTDIR: 'not a directory',
	EACCES: 'permission denied',
	EEXIST: 'already exists',
	EPERM: 'operation not permitted',
};
const CODES = /ECONNREFUSED|ECONNRESET|ECONNABORTED|ENOTFOUND|EAI_AGAIN|GETADDRINFO|ETIMEDOUT|EHOSTUNREACH|EADDRNOTAVAIL|ERRADDRINUSE|ENOENT|EISDIR|ENOTDIR|EACCES|EEXIST|EPERM/gi;

function n8nSafeMessage(message: string): string {
	return message.replace(CODES, (code) => CODE_WORDS[code.toUpperCase()] ?? code);
}

/**
 * Turns the domain's errors into n8n errors that name the item and say what to fix: every error the
 * package writes is a CampaignError (lib/errors.ts). A service's failure (SendGrid, the LLM, the
 * store, Redis) becomes a NodeApiError with its HTTP status; anything else a NodeOperationError. The
 * field and the hint become the description; the item index comes from the error or the caller.
 * Only an error the package did not write is called unexpected.
 */
export function nodeError(node: INode, e: unknown, itemIndex?: number): Error {
	if (e instanceof NodeOperationError || e instanceof NodeApiError) return e;
	// n8n's own errors (an expression that failed, an API error) already say what happened.
	if (e instanceof Error && ['ExpressionError', 'NodeApiError', 'NodeOperationError', 'WorkflowOperationError'].includes(e.constructor?.name)) return e;
	// Domain errors are redacted where they are made; this also covers anything unexpected.
	const message = n8nSafeMessage(redactSecrets(e instanceof Error ? e.message : String(e)));
	if (!(e instanceof CampaignError)) return new NodeOperationError(node, `Unexpected error: ${message}`, itemIndex === undefined ? {} : { itemIndex });
	const index = e.itemIndex ?? itemIndex;
	const description = [e.hint, e.field ? `Field: ${e.field}` : undefined].filter(Boolean).join(' — ') || undefined;
	let error: NodeApiError | NodeOperationError;
	if (e.source === 'service') {
		const httpCode = e.httpStatus === undefined ? undefined : String(e.httpStatus);
		error = new NodeApiError(node, { message, ...(httpCode ? { httpCode } : {}) }, { message, description, httpCode, itemIndex: index });
	} else error = new NodeOperationError(node, message, { ...(index === undefined ? {} : { itemIndex: index }), ...(description ? { description } : {}) });
	// The failed campaign, run and step (ids only) travel in n8n's error context: an error workflow's Campaign Error Report reads them.
	if (e.context) error.context = { ...error.context, ...e.context };
	return error;
}
