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
	PendingWrite,
	WRITES_IDX_MAP,
} from '@langchain/langgraph-checkpoint';
import type { SqlDriver } from '../store/driver';

interface Row {
	thread_id: string;
	checkpoint_ns: string;
	checkpoint_id: string;
	parent_id: string | null;
	type: string;
	checkpoint: Uint8Array;
	metadata: Uint8Array;
}

const KEEP_PER_THREAD = 3;

export class StoreCheckpointSaver extends BaseCheckpointSaver {
	constructor(private readonly db: SqlDriver) {
		super();
	}

	private ids(config: RunnableConfig): { thread: string; ns: string; id?: string } {
		const c = config.configurable ?? {};
		if (typeof c.thread_id !== 'string' || !c.thread_id) throw new Error('A Campaign Agent checkpoint needs a thread_id (the run id)');
		return { thread: c.thread_id, ns: typeof c.checkpoint_ns === 'string' ? c.checkpoint_ns : '', id: typeof c.checkpoint_id === 'string' ? c.checkpoint_id : undefined };
	}

	private async tuple(row: Row): Promise<CheckpointTuple> {
		const writes = await this.db.query<{ task_id: string; channel: string; type: string; value: Uint8Array }>(
			`SELECT task_id, channel, type, value FROM eca_checkpoint_writes
			 WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = $3 ORDER BY task_path, task_id, idx`,
			[row.thread_id, row.checkpoint_ns, row.checkpoint_id],
		);
		const pendingWrites = await Promise.all(
			writes.rows.map(async (w) => [w.task_id, w.channel, await this.serde.loadsTyped(w.type, new Uint8Array(w.value))] as [string, string, unknown]),
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
		const r = id
			? await this.db.query<Row>('SELECT * FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = $3', [thread, ns, id])
			: await this.db.query<Row>('SELECT * FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 ORDER BY checkpoint_id DESC LIMIT 1', [thread, ns]);
		return r.rows[0] ? this.tuple(r.rows[0]) : undefined;
	}

	async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
		const { thread, ns } = this.ids(config);
		const before = options.before?.configurable?.checkpoint_id as string | undefined;
		const r = await this.db.query<Row>(
			`SELECT * FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 AND ($3::text IS NULL OR checkpoint_id < $3)
			 ORDER BY checkpoint_id DESC LIMIT $4`,
			[thread, ns, before ?? null, options.limit ?? 1000],
		);
		for (const row of r.rows) {
			const t = await this.tuple(row);
			if (options.filter && !Object.entries(options.filter).every(([k, v]) => (t.metadata as Record<string, unknown> | undefined)?.[k] === v)) continue;
			yield t;
		}
	}

	async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata): Promise<RunnableConfig> {
		const { thread, ns, id: parent } = this.ids(config);
		const [type, bytes] = await this.serde.dumpsTyped(checkpoint);
		const [, meta] = await this.serde.dumpsTyped(metadata);
		await this.db.transaction(async (tx) => {
			await tx.query(
				`INSERT INTO eca_checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_id, type, checkpoint, metadata)
				 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE
				 SET type = EXCLUDED.type, checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata`,
				[thread, ns, checkpoint.id, parent ?? null, type, Buffer.from(bytes), Buffer.from(meta)],
			);
			const old = await tx.query<{ checkpoint_id: string }>(
				`SELECT checkpoint_id FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 ORDER BY checkpoint_id DESC OFFSET $3`,
				[thread, ns, KEEP_PER_THREAD],
			);
			if (old.rows.length > 0) {
				const ids = old.rows.map((r) => r.checkpoint_id);
				await tx.query('DELETE FROM eca_checkpoint_writes WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = ANY($3::text[])', [thread, ns, ids]);
				await tx.query('DELETE FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = ANY($3::text[])', [thread, ns, ids]);
			}
		});
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
		// A task's writes land together or not at all: a process killed half way through them must not leave
		// a task that looks finished but lacks the write that routes to the next node (the run would end early).
		await this.db.transaction(async (tx) => {
			for (const w of rows) {
				// Special channels (errors, interrupts) have fixed negative indexes and are overwritten; others are written once.
				await tx.query(
					`INSERT INTO eca_checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value, task_path)
					 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
					 ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO ${w.idx < 0 ? 'UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, value = EXCLUDED.value' : 'NOTHING'}`,
					[thread, ns, id, taskId, w.idx, w.channel, w.type, w.bytes, taskPath],
				);
			}
		});
	}

	async deleteThread(threadId: string): Promise<void> {
		await this.db.query('DELETE FROM eca_checkpoint_writes WHERE thread_id = $1', [threadId]);
		await this.db.query('DELETE FROM eca_checkpoints WHERE thread_id = $1', [threadId]);
	}
}
