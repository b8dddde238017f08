/**
 * Counting what a test saw, in one place: `countBy` for anything counted per key (statuses first),
 * `deliveryStatuses` for a campaign's rows in the store, and the hardening tallies: each hardening
 * test records what it injected and what it found, and scripts/hardening.js sums them into the report
 * table (faults, inputs, rejected, duplicates, lost, attacks, let_in). Every figure is counted from
 * what the test observed, never written as a literal.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Tally {
	suite: string;
	faults?: number;
	inputs?: number;
	rejected?: number;
	duplicates?: number;
	lost?: number;
	/** Hostile requests or inputs tried (forged, oversized, injected, spoofed...). */
	attacks?: number;
	/** Hostile requests or inputs that got through: changed stored state, leaked a secret, ran past a limit. Must be 0. */
	let_in?: number;
}

export function recordTally(t: Tally): void {
	const dir = process.env.HARDENING_TALLY_DIR ?? join(__dirname, '..', '..', 'test-artifacts', 'hardening');
	mkdirSync(dir, { recursive: true });
	appendFileSync(join(dir, 'tallies.jsonl'), JSON.stringify(t) + '\n');
}

/** How many of each: `countBy(results, (r) => r.status)` → `{ sent: 3, failed: 1 }`. */
export function countBy<T>(items: Iterable<T>, key: (item: T) => string | number): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const item of items) {
		const k = String(key(item));
		counts[k] = (counts[k] ?? 0) + 1;
	}
	return counts;
}

/** Runs one SQL query and returns its rows (an e2e fixture's `q`, or a store driver's query with `.rows`). */
export type RowsQuery = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

/**
 * A campaign's delivery rows per status, as the store holds them: `{ sent: 245 }`. Narrowed to one
 * mode (live or dry_run) or one run when asked; a status with no rows is absent.
 */
export async function deliveryStatuses(query: RowsQuery, campaignId: string, where: { mode?: string; runId?: string } = {}): Promise<Record<string, number>> {
	const rows = await query(
		`SELECT status, count(*)::int AS n FROM eca_deliveries
		  WHERE campaign_id = $1 AND ($2::text IS NULL OR mode = $2) AND ($3::text IS NULL OR run_id = $3)
		  GROUP BY status`,
		[campaignId, where.mode ?? null, where.runId ?? null],
	);
	return Object.fromEntries(rows.map((r) => [String(r.status), Number(r.n)]));
}
