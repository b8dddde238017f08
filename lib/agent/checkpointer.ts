/**
 * LangGraph checkpoints in the campaign store (Postgres or PGlite), so a Campaign Agent run
 * interrupted by a crash resumes from its last completed step under thread_id = run id.
 * Only the newest checkpoints of a thread are kept: a campaign run needs its latest state, not history.
 */
import type { RunnableConfig } from '@langchain/core/runnables';
import {
	BaseCheckpointSaver,
	Checkpoint,
	CheckpointListOptions,
	CheckpointMetadata,
	CheckpointTuple,
	JsonPlusSerializer,
	PendingWrite,
	WRITES_IDX_MAP,
} from '@langchain/langgraph-checkpoint';
import {
	checkpointWrites,
	deleteCheckpointThread,
	findCheckpoint,
	listCheckpoints,
	saveCheckpoint,
	saveTaskWrites,
	type CampaignStore,
	type CheckpointRow as Row,
} from '../store';

const KEEP_PER_THREAD = 3;

/**
 * Whether JSON.stringify writes `value` as LangGraph's JsonPlusSerializer does: only strings, numbers,
 * booleans, null, and plain arrays and objects of those — no Set, Map, Date, Error, RegExp, typed array
 * or class instance, no toJSON, no `lg_name: 'Send'` object, no undefined in an array or as the value
 * itself, nothing nested deeper than `depth` (cycles end there). One difference is let through: an
 * object property that is undefined (a payload's reply_to when the campaign has none) is left out, where
 * JsonPlusSerializer writes an `lc: 2` record that loads back as the same undefined.
 */
export function isPlainJson(value: unknown, depth = 200): boolean {
	switch (typeof value) {
		case 'string':
		case 'number':
		case 'boolean':
			return true;
		case 'object': {
			if (value === null) return true;
			if (depth === 0) return false;
			if (Array.isArray(value)) {
				if (Object.getPrototypeOf(value) !== Array.prototype) return false;
				for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth - 1)) return false;
				return true;
			}
			const proto = Object.getPrototypeOf(value);
			if (proto !== Object.prototype && proto !== null) return false;
			const o = value as Record<string, unknown>;
			if ('toJSON' in o || o.lg_name === 'Send') return false;
			for (const k in o) {
				const v = o[k];
				if (v !== undefined && !isPlainJson(v, depth - 1)) return false;
			}
			return true;
		}
		default:
			return false;
	}
}

/**
 * JsonPlusSerializer with a fast path: plain JSON data (the agent's payloads and results — every
 * checkpoint and task write of a 5,000-contact chunk carries about 0.6 MB of them) goes through
 * JSON.stringify without a replacer, the same bytes without the per-key callback and the cycle walk
 * (fast-safe-stringify) that took about 2 s of CPU per 100,000 contacts in the agent's CPU profile.
 * Anything else, and every load, is JsonPlusSerializer's.
 */
export class CheckpointSerializer extends JsonPlusSerializer {
	override async dumpsTyped(obj: unknown): Promise<[string, Uint8Array]> {
		if (!(obj instanceof Uint8Array) && isPlainJson(obj)) return ['json', Buffer.from(JSON.stringify(obj), 'utf8')];
		return super.dumpsTyped(obj);
	}
}

export class StoreCheckpointSaver extends BaseCheckpointSaver {
	constructor(private readonly store: CampaignStore) {
		super(new CheckpointSerializer());
	}

	private ids(config: RunnableConfig): { thread: string; ns: string; id?: string } {
		const c = config.configurable ?? {};
		if (typeof c.thread_id !== 'string' || !c.thread_id) throw new Error('A Campaign Agent checkpoint needs a thread_id (the run id)');
		return { thread: c.thread_id, ns: typeof c.checkpoint_ns === 'string' ? c.checkpoint_ns : '', id: typeof c.checkpoint_id === 'string' ? c.checkpoint_id : undefined };
	}

	private async tuple(row: Row): Promise<CheckpointTuple> {
		const writes = await checkpointWrites(this.store, row.thread_id, row.checkpoint_ns, row.checkpoint_id);
		const pendingWrites = await Promise.all(
			writes.map(async (w) => [w.task_id, w.channel, await this.serde.loadsTyped(w.type, new Uint8Array(w.value))] as [string, string, unknown]),
		);
		const config = { configurable: { thread_id: row.thread_id, checkpoint_ns: row.checkpoint_ns, checkpoint_id: row.checkpoint_id } };
		return {
			config,
			checkpoint: (await this.serde.loadsTyped(row.type, new Uint8Array(row.checkpoint))) as Checkpoint,
			metadata: (await this.serde.loadsTyped('json', new Uint8Array(row.metadata))) as CheckpointMetadata,
			parentConfig: row.parent_id ? { configurable: { thread_id: row.thread_id, checkpoint_ns: row.checkpoint_ns, checkpoint_id: row.parent_id } } : undefined,
			pendingWrites,
		};
	}

	async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
		const { thread, ns, id } = this.ids(config);
		const row = await findCheckpoint(this.store, thread, ns, id);
		return row ? this.tuple(row) : undefined;
	}

	async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
		const { thread, ns } = this.ids(config);
		const before = options.before?.configurable?.checkpoint_id as string | undefined;
		const rows = await listCheckpoints(this.store, thread, ns, before, options.limit ?? 1000);
		for (const row of rows) {
			const t = await this.tuple(row);
			if (options.filter && !Object.entries(options.filter).every(([k, v]) => (t.metadata as Record<string, unknown> | undefined)?.[k] === v)) continue;
			yield t;
		}
	}

	async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata): Promise<RunnableConfig> {
		const { thread, ns, id: parent } = this.ids(config);
		const [type, bytes] = await this.serde.dumpsTyped(checkpoint);
		const [, meta] = await this.serde.dumpsTyped(metadata);
		await saveCheckpoint(this.store, { thread, ns, id: checkpoint.id, parent, type, checkpoint: Buffer.from(bytes), metadata: Buffer.from(meta) }, KEEP_PER_THREAD);
		return { configurable: { thread_id: thread, checkpoint_ns: ns, checkpoint_id: checkpoint.id } };
	}

	async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath = ''): Promise<void> {
		const { thread, ns, id } = this.ids(config);
		if (!id) throw new Error('putWrites needs a checkpoint_id');
		if (writes.length === 0) return;
		const rows = await Promise.all(
			writes.map(async ([channel, value], i) => {
				const [type, bytes] = await this.serde.dumpsTyped(value);
				return { idx: WRITES_IDX_MAP[channel] ?? i, channel, type, bytes: Buffer.from(bytes) };
			}),
		);
		// A task's writes land together or not at all (one transaction in the store).
		await saveTaskWrites(this.store, { thread, ns, id, taskId, taskPath }, rows);
	}

	async deleteThread(threadId: string): Promise<void> {
		await deleteCheckpointThread(this.store, threadId);
	}
}
