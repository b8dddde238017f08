/**
 * The Campaign Agent's LangGraph checkpoints (eca_checkpoints) and pending task writes
 * (eca_checkpoint_writes), keyed by thread (the run id), namespace and checkpoint id.
 */
import { driverOf, type CampaignStore } from './campaignStore';

export interface CheckpointRow {
	thread_id: string;
	checkpoint_ns: string;
	checkpoint_id: string;
	parent_id: string | null;
	type: string;
	checkpoint: Uint8Array;
	metadata: Uint8Array;
}

export interface CheckpointWriteRow {
	task_id: string;
	channel: string;
	type: string;
	value: Uint8Array;
}

/** One serialized write of a task: special channels have fixed negative indexes. */
export interface TaskWrite {
	idx: number;
	channel: string;
	type: string;
	bytes: Buffer;
}

/** A checkpoint's pending writes, in task order. */
export async function checkpointWrites(store: CampaignStore, thread: string, ns: string, checkpointId: string): Promise<CheckpointWriteRow[]> {
	const r = await driverOf(store).query<CheckpointWriteRow>(
		`SELECT task_id, channel, type, value FROM eca_checkpoint_writes
			 WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = $3 ORDER BY task_path, task_id, idx`,
		[thread, ns, checkpointId],
	);
	return r.rows;
}

/** The checkpoint asked for, or the thread's newest one when no id is given. */
export async function findCheckpoint(store: CampaignStore, thread: string, ns: string, checkpointId?: string): Promise<CheckpointRow | undefined> {
	const db = driverOf(store);
	const r = checkpointId
		? await db.query<CheckpointRow>('SELECT * FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = $3', [thread, ns, checkpointId])
		: await db.query<CheckpointRow>('SELECT * FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 ORDER BY checkpoint_id DESC LIMIT 1', [thread, ns]);
	return r.rows[0];
}

/** A thread's checkpoints, newest first, optionally only those before a checkpoint id. */
export async function listCheckpoints(store: CampaignStore, thread: string, ns: string, before: string | undefined, limit: number): Promise<CheckpointRow[]> {
	const r = await driverOf(store).query<CheckpointRow>(
		`SELECT * FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 AND ($3::text IS NULL OR checkpoint_id < $3)
			 ORDER BY checkpoint_id DESC LIMIT $4`,
		[thread, ns, before ?? null, limit],
	);
	return r.rows;
}

/** Saves a checkpoint and, in the same transaction, drops the thread's checkpoints (and their writes) older than the newest keepPerThread. */
export async function saveCheckpoint(
	store: CampaignStore,
	c: { thread: string; ns: string; id: string; parent: string | undefined; type: string; checkpoint: Buffer; metadata: Buffer },
	keepPerThread: number,
): Promise<void> {
	await driverOf(store).transaction(async (tx) => {
		await tx.query(
			`INSERT INTO eca_checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_id, type, checkpoint, metadata)
				 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE
				 SET type = EXCLUDED.type, checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata`,
			[c.thread, c.ns, c.id, c.parent ?? null, c.type, c.checkpoint, c.metadata],
		);
		const old = await tx.query<{ checkpoint_id: string }>(
			`SELECT checkpoint_id FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 ORDER BY checkpoint_id DESC OFFSET $3`,
			[c.thread, c.ns, keepPerThread],
		);
		if (old.rows.length > 0) {
			const ids = old.rows.map((r) => r.checkpoint_id);
			await tx.query('DELETE FROM eca_checkpoint_writes WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = ANY($3::text[])', [c.thread, c.ns, ids]);
			await tx.query('DELETE FROM eca_checkpoints WHERE thread_id = $1 AND checkpoint_ns = $2 AND checkpoint_id = ANY($3::text[])', [c.thread, c.ns, ids]);
		}
	});
}

/**
 * Saves a task's writes in one transaction: a process killed half way through them must not leave a
 * task that looks finished but lacks the write that routes to the next node (the run would end early).
 */
export async function saveTaskWrites(store: CampaignStore, at: { thread: string; ns: string; id: string; taskId: string; taskPath: string }, writes: TaskWrite[]): Promise<void> {
	await driverOf(store).transaction(async (tx) => {
		for (const w of writes) {
			// Special channels (errors, interrupts) have fixed negative indexes and are overwritten; others are written once.
			await tx.query(
				`INSERT INTO eca_checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value, task_path)
					 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
					 ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO ${w.idx < 0 ? 'UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, value = EXCLUDED.value' : 'NOTHING'}`,
				[at.thread, at.ns, at.id, at.taskId, w.idx, w.channel, w.type, w.bytes, at.taskPath],
			);
		}
	});
}

/** Forgets a thread: its writes, then its checkpoints. */
export async function deleteCheckpointThread(store: CampaignStore, threadId: string): Promise<void> {
	const db = driverOf(store);
	await db.query('DELETE FROM eca_checkpoint_writes WHERE thread_id = $1', [threadId]);
	await db.query('DELETE FROM eca_checkpoints WHERE thread_id = $1', [threadId]);
}
