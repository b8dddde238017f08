/**
 * Hardening tallies: each hardening test records what it injected and what it found, and
 * scripts/hardening.js sums them into the report table (faults, inputs, rejected, duplicates, lost).
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
}

export function recordTally(t: Tally): void {
	const dir = process.env.HARDENING_TALLY_DIR ?? join(__dirname, '..', '..', 'test-artifacts', 'hardening');
	mkdirSync(dir, { recursive: true });
	appendFileSync(join(dir, 'tallies.jsonl'), JSON.stringify(t) + '\n');
}
