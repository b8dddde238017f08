/** Reading the shared parameter groups into the domain's options (used by stage nodes and the agent). */
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import type { ContactSource } from '../../lib/stages/loadCampaignContent';
import type { GenerateOptions } from '../../lib/stages/generateEmailCopy';
import type { SendOptions } from '../../lib/stages/sendEmailWithSendgrid';
import type { ChatModel } from '../../lib/llm/client';
import type { SendGridConfig, SendGridTransport } from '../../lib/sendgrid/client';
import { type SendOverrides, parseFrom, parseIpPoolName } from '../../lib/sendgrid/senders';
import { RateLimiter, sharedLimiter, sharedRedisLimiter } from '../../lib/sendgrid/rateLimiter';
import { CsvOptions, checkCsvSize, parseColumnMap, parseFieldList } from '../../lib/contacts/loadContacts';
import { LIMITS } from '../../lib/schemas';
import { type WarmupPlan, warmupPlan } from '../../lib/guard/warmup';
import { contactPagesFromQuery, contactsFromQuery, parseQueryParameters } from '../../lib/store';
import type { CampaignStore } from '../../lib/store';
import { CREDENTIALS, chatModel, connectedChatModel, redisConnection, sendGrid } from './context';
import { hasContactFiles, withContactFiles } from './batchFiles';

/** Parameter names differ where a node shows several groups at once (the agent). */
export interface GroupNames {
	copyOptions?: string;
	deliveryOptions?: string;
	/** Whether the node offers its own tone/language override. */
	toneOverride?: boolean;
}

/**
 * The copy settings and the model that writes: a Chat Model sub-node connected to the node comes
 * first, else the OpenAI-Compatible LLM API credential; "Auto" writes with whichever is there.
 */
export async function readCopy(ctx: IExecuteFunctions, names: GroupNames = {}): Promise<{ options: GenerateOptions; chat?: ChatModel }> {
	const node = ctx.getNode();
	const source = ctx.getNodeParameter('copySource', 0) as string;
	const connected = source === 'template' ? undefined : await connectedChatModel(ctx);
	const hasCredential = Boolean(node.credentials?.[CREDENTIALS.llm]);
	const mode = source === 'template' || (source === 'auto' && !connected && !hasCredential) ? 'template' : 'llm';
	if (mode === 'llm' && !connected && !hasCredential)
		throw new NodeOperationError(node, 'AI copy needs a Chat Model or an LLM credential', {
			description: 'Connect a Chat Model sub-node to the Chat Model input, or select an OpenAI-Compatible LLM API credential, or set Copy Source to "Campaign Template".',
		});
	const o = ctx.getNodeParameter(names.copyOptions ?? 'options', 0, {}) as Record<string, unknown>;
	const pick = (name: string, custom: string) => {
		const v = ctx.getNodeParameter(name, 0, 'campaign') as string;
		return v === 'campaign' ? undefined : v === 'custom' ? (ctx.getNodeParameter(custom, 0) as string) : v;
	};
	const override = mode === 'llm' && names.toneOverride !== false;
	return {
		chat: mode === 'llm' ? (connected ?? (await chatModel(ctx, o.model as string | undefined))) : undefined,
		options: {
			mode,
			onLlmFailure: (o.onLlmFailure as 'error' | 'template') ?? 'error',
			tone: override ? pick('tone', 'customTone') : undefined,
			language: override ? pick('language', 'customLanguage') : undefined,
			maxWords: o.maxWords as number | undefined,
			maxSubjectChars: o.maxSubjectChars as number | undefined,
			mergeTags: typeof o.mergeTags === 'string' ? parseFieldList(o.mergeTags, 'Merge Tags Allowed', LIMITS.maxMergeTags) : undefined,
			write: { maxAttempts: (o.maxAttempts as number | undefined) ?? 3 },
			personalize:
				typeof o.personalizeFields === 'string' && o.personalizeFields.trim()
					? {
							fields: parseFieldList(o.personalizeFields, 'Personalize per Recipient (Fields)', LIMITS.maxPersonalizeFields),
							concurrency: Number(o.personalizeConcurrency ?? 4),
							requestsPerMinute: Number(o.personalizeRpm ?? 60),
						}
					: undefined,
		},
	};
}

export interface Delivery {
	dryRun: boolean;
	transport?: SendGridTransport;
	/** What the transport was made from (a worker thread makes its own); holds the API key, never output. */
	transportConfig?: SendGridConfig;
	limiter?: RateLimiter;
	options: SendOptions;
	unsubscribeGroupId?: number;
}

export async function readDelivery(ctx: IExecuteFunctions, names: GroupNames = {}): Promise<Delivery> {
	const dryRun = ctx.getNodeParameter('dryRun', 0) as boolean;
	const limits = ctx.getNodeParameter('limits', 0, {}) as Record<string, unknown>;
	const o = ctx.getNodeParameter(names.deliveryOptions ?? 'options', 0, {}) as Record<string, unknown>;
	let warmup: WarmupPlan | undefined;
	try {
		warmup = dryRun ? undefined : warmupPlan({ start: limits.warmupStart as number, growth: limits.warmupGrowth as number, target: limits.warmupTarget as number });
	} catch (e) {
		throw new NodeOperationError(ctx.getNode(), `Limits: ${(e as Error).message}`);
	}
	const delivery: Delivery = {
		dryRun,
		options: {
			dryRun,
			dailyCap: Number(limits.dailyCap ?? 0),
			warmup,
			concurrency: Number(limits.concurrency ?? 4),
			onAmbiguousFailure: (o.onAmbiguousFailure as 'retry' | 'unconfirmed') ?? 'unconfirmed',
			resendUnconfirmedAfterSeconds: Number(o.resendUnconfirmedAfterMinutes) > 0 ? Number(o.resendUnconfirmedAfterMinutes) * 60 : undefined,
			backoff: { maxRetries: Number(limits.maxRetries ?? 5) },
			overrides: dryRun ? undefined : readOverrides(o, names.deliveryOptions ?? 'options'),
		},
		unsubscribeGroupId: Number(o.unsubscribeGroupId) > 0 ? Number(o.unsubscribeGroupId) : undefined,
	};
	if (!dryRun) {
		const sg = await sendGrid(ctx, Number(limits.timeoutMs ?? 30000));
		delivery.transport = sg.transport;
		delivery.transportConfig = sg.config;
		delivery.options.account = sg.account;
		const rates = { requestsPerSecond: Number(limits.requestsPerSecond ?? 20), emailsPerSecond: Number(limits.emailsPerSecond ?? 0) };
		// With a Campaign Redis credential the limit holds across queue-mode workers; else per process.
		const redis = await redisConnection(ctx);
		delivery.limiter = redis ? await sharedRedisLimiter(redis, sg.account, rates) : sharedLimiter(sg.account, rates);
	}
	return delivery;
}

/** A resource locator's value (n8n keeps `{ __rl, mode, value }` inside a collection) or a plain string. */
const locatorValue = (v: unknown): string => String((v && typeof v === 'object' ? (v as { value?: unknown }).value : v) ?? '').trim();

/** Delivery options that go over each payload's: From (Verified Sender), IP Pool Name, Unsubscribe Group. */
function readOverrides(o: Record<string, unknown>, group: string): SendOverrides | undefined {
	const label = group === 'options' ? 'Options' : 'Delivery Options';
	const from = locatorValue(o.fromSender);
	const pool = locatorValue(o.ipPoolName);
	const groupId = Number(o.unsubscribeGroupId) > 0 ? Number(o.unsubscribeGroupId) : undefined;
	if (!from && !pool && !groupId) return undefined;
	return {
		...(from ? { from: parseFrom(from, `${label} → From (Verified Sender)`) } : {}),
		...(pool ? { ip_pool_name: parseIpPoolName(pool, `${label} → IP Pool Name`) } : {}),
		...(groupId ? { asm_group_id: groupId } : {}),
	};
}

/** The copy and delivery groups shown beside a campaign (combinedCopyProperties, combinedDeliveryProperties), with the stage dependencies they make. */
export async function readCombinedCopyAndDelivery(ctx: IExecuteFunctions, store: CampaignStore) {
	const copy = await readCopy(ctx, { copyOptions: 'copyOptions', toneOverride: false });
	const delivery = await readDelivery(ctx, { deliveryOptions: 'deliveryOptions' });
	return { copy, delivery, deps: { send: { transport: delivery.transport, store, limiter: delivery.limiter }, generate: { chat: copy.chat, store } } };
}

/** Limits of a streamed contacts source (the Campaign Agent) when CSV Options leave them unset: memory does not grow with them. */
export const STREAM_LIMITS = { maxRows: 10_000_000, maxBytes: 2048 * 1024 * 1024 } as const;

/** CSV Options → the loader's options (the file size is set in MB). */
function readCsvOptions(o: Record<string, unknown>): CsvOptions {
	const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
	const number = (v: unknown) => (v === undefined || v === null || v === '' ? undefined : (v as number));
	const mb = number(o.maxFileSizeMb);
	return {
		delimiter: text(o.delimiter),
		encoding: text(o.encoding),
		emailColumn: text(o.emailColumn),
		columnMap: parseColumnMap(text(o.columnMap)),
		maxRows: number(o.maxRows),
		maxBytes: mb === undefined ? undefined : Number(mb) * 1024 * 1024,
		maxColumns: number(o.maxColumns),
		maxFieldChars: number(o.maxFieldLength),
	};
}

/**
 * The node's Contacts Source. With `stream` (the Campaign Agent, which reads contacts a chunk at a
 * time in flat memory), a query is read through a cursor and the row and size limits a user did not
 * set are STREAM_LIMITS instead of the loader's in-memory defaults.
 */
export async function readContactSource(ctx: IExecuteFunctions, items: INodeExecutionData[], store?: CampaignStore, mode: { stream?: boolean } = {}): Promise<ContactSource> {
	const node = ctx.getNode();
	const source = ctx.getNodeParameter('contactSource', 0) as string;
	const csv = readCsvOptions(ctx.getNodeParameter('csvOptions', 0, {}) as Record<string, unknown>);
	if (mode.stream) {
		csv.maxRows ??= STREAM_LIMITS.maxRows;
		csv.maxBytes ??= STREAM_LIMITS.maxBytes;
	}
	if (source === 'csvText') return { kind: 'csv', data: ctx.getNodeParameter('csvText', 0) as string, options: csv };
	if (source === 'csvBinary') {
		// Empty: the item's first file, whatever the uploading node called it (Form Trigger names it after the field label).
		const field = (ctx.getNodeParameter('binaryPropertyName', 0) as string).trim() || Object.keys(items[0]?.binary ?? {})[0] || 'data';
		const binary = items[0]?.binary?.[field];
		const { getBinaryMetadata, getBinaryStream } = ctx.helpers;
		if (binary?.id && getBinaryMetadata && getBinaryStream) {
			// Stored outside memory (filesystem, S3): refuse by size first, then stream it, opened only when read.
			const id = binary.id;
			const { fileSize } = await getBinaryMetadata(id);
			checkCsvSize(fileSize, csv);
			const data: AsyncIterable<Uint8Array> = {
				async *[Symbol.asyncIterator]() {
					yield* await getBinaryStream(id, 64 * 1024);
				},
			};
			return { kind: 'csv', data, options: { ...csv, sizeBytes: fileSize } };
		}
		// In memory as base64: its size is known before decoding it into a buffer.
		if (typeof binary?.data === 'string' && !binary.id) checkCsvSize(Math.floor((binary.data.length * 3) / 4), csv);
		const data = await ctx.helpers.getBinaryDataBuffer(0, field).catch(() => {
			throw new NodeOperationError(node, `The input item has no binary field "${field}" — set Input Binary Field to the field holding the CSV file`, { itemIndex: 0 });
		});
		return { kind: 'csv', data, options: csv };
	}
	const emailField = ctx.getNodeParameter('emailField', 0, 'email') as string;
	if (source === 'postgres') {
		if (!store || store.kind !== 'postgres')
			throw new NodeOperationError(node, 'Contacts from a Postgres query need a Campaign Database credential (Postgres)');
		const sql = ctx.getNodeParameter('contactsQuery', 0) as string;
		const query = {
			params: parseQueryParameters(ctx.getNodeParameter('contactsQueryParameters', 0, '')),
			statementTimeoutMs: Number(ctx.getNodeParameter('contactsQueryTimeout', 0, 60)) * 1000,
		};
		if (mode.stream) {
			const limits = { maxRows: STREAM_LIMITS.maxRows };
			return { kind: 'pages', pages: () => contactPagesFromQuery(store, sql, { ...query, ...limits }), options: { emailField, ...limits }, query: { sql, options: { ...query, ...limits } } };
		}
		const rows = await contactsFromQuery(store, sql, query);
		return { kind: 'rows', rows, options: { emailField } };
	}
	const listField = ctx.getNodeParameter('contactsField', 0, '') as string;
	// Load Campaign Content's batches of a large list carry their contacts in a binary file each (its Contacts option).
	if (hasContactFiles(listField, items)) {
		const read = await withContactFiles(ctx, items);
		const bad = read.bad[0];
		if (bad) throw new NodeOperationError(node, bad.error.message, { itemIndex: bad.item });
		items = read.items;
	}
	const rows = listField
		? items.flatMap((it, i) => {
				const list = (it.json as Record<string, unknown>)[listField];
				if (!Array.isArray(list)) throw new NodeOperationError(node, `Item ${i} has no array in "${listField}"`, { itemIndex: i });
				return list as Array<Record<string, unknown>>;
			})
		: items.map((it) => it.json as Record<string, unknown>);
	return { kind: 'rows', rows, options: { emailField } };
}
