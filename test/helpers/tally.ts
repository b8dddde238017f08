/**
 * Hardening tallies: each hardening test records what it injected and what it found, and
 * scripts/hardening.js sums them into the report table (faults, inputs, rejected, duplicates, lost,
 * attacks, let_in). Every figure is counted from what the test observed, never written as a literal.
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
