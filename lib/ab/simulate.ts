/**
 * Monte-Carlo of A/B tests monitored at every scheduler tick: each variant's sample goes out at hour
 * 0, its recipients convert with their variant's rate, and each conversion arrives after an
 * exponentially distributed delay (clicks come in over hours). At every hourly look the rule sees
 * (sent, conversions so far) per variant, as decideAbTest does with fallback keep_waiting. Seeded,
 * so a run is reproducible; used by bench/ab.ts and the A/B tests, and useful for planning.
 */
import { decideSequential, type PairState } from './sequential';
import { decideWinner } from './stats';

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function rng(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

export interface SimulationInput {
	tests: number;
	recipientsPerVariant: number;
	/** Eventual conversion rate of each variant (A first); equal rates make an A/A test. */
	rates: number[];
	/** Hourly looks (48: checked every hour for two days). */
	looks?: number;
	/** Mean delay from send to conversion, hours. */
	meanDelayHours?: number;
	confidence?: number;
	seed?: number;
	/** Mixing concentration of the sequential rule (lib/ab/mixture.ts). */
	kappa?: number;
}

export interface RuleOutcome {
	/** Tests where the rule declared a winner at some look. */
	decided: number;
	/** Tests where the declared winner was not the best variant (with equal rates: any winner). */
	wrong: number;
	/** Look (hour) at which each decided test decided. */
	hours: number[];
}

export interface SimulationResult {
	tests: number;
	seed: number;
	/** Sequential rule, looking every hour. */
	sequential: RuleOutcome;
	/** The old rule (fixed-horizon z-test) looking every hour and stopping at the first p < alpha. */
	fixedEveryLook: RuleOutcome;
	/** The fixed-horizon z-test looking once, at the last look. */
	fixedOneLook: RuleOutcome;
}

/** Conversions per variant per hour bucket for one simulated test. */
function arrivals(random: () => number, n: number, rate: number, looks: number, meanDelay: number): Int32Array {
	const perHour = new Int32Array(looks + 1);
	if (!(rate > 0)) return perHour;
	// Recipients who convert, found by geometric skips (one draw per converter, not per recipient).
	const logMiss = Math.log(1 - rate);
	for (let i = rate >= 1 ? 0 : Math.floor(Math.log(1 - random()) / logMiss); i < n; i += rate >= 1 ? 1 : 1 + Math.floor(Math.log(1 - random()) / logMiss)) {
		const delay = -Math.log(1 - random()) * meanDelay;
		const hour = Math.ceil(delay);
		if (hour <= looks) perHour[Math.max(1, hour)]++;
	}
	return perHour;
}

export function simulateMonitoredTests(input: SimulationInput): SimulationResult {
	const looks = input.looks ?? 48;
	const meanDelay = input.meanDelayHours ?? 6;
	const confidence = input.confidence ?? 0.95;
	const seed = input.seed ?? 1;
	const random = rng(seed);
	const names = input.rates.map((_, i) => String.fromCharCode(65 + i));
	const best = Math.max(...input.rates);
	const isBest = (v: string) => input.rates[names.indexOf(v)] === best && input.rates.some((r) => r !== best);
	const empty = (): RuleOutcome => ({ decided: 0, wrong: 0, hours: [] });
	const out: SimulationResult = { tests: input.tests, seed, sequential: empty(), fixedEveryLook: empty(), fixedOneLook: empty() };
	const record = (o: RuleOutcome, winner: string, hour: number) => {
		o.decided++;
		if (!isBest(winner)) o.wrong++;
		o.hours.push(hour);
	};
	for (let t = 0; t < input.tests; t++) {
		const perHour = input.rates.map((rate) => arrivals(random, input.recipientsPerVariant, rate, looks, meanDelay));
		const counts = names.map(() => 0);
		let state: { alpha: number; pairs: PairState[]; looks: number; rule: 'sequential' } | null = null;
		let seqDone = false;
		let oldDone = false;
		for (let h = 1; h <= looks; h++) {
			for (let v = 0; v < names.length; v++) counts[v] += perHour[v][h];
			const stats = names.map((variant, v) => ({ variant, sent: input.recipientsPerVariant, conversions: counts[v] }));
			if (!seqDone) {
				const d = decideSequential(stats, 'unique_click_rate', confidence, { previous: state, lean: true, kappa: input.kappa });
				state = { alpha: d.evidence.alpha, pairs: d.evidence.pairs, looks: d.evidence.looks, rule: 'sequential' };
				if (d.decided) {
					record(out.sequential, d.winner!, h);
					seqDone = true;
				}
			}
			if (!oldDone) {
				const d = decideWinner(stats, 'unique_click_rate', confidence);
				if (d.decided) {
					record(out.fixedEveryLook, d.winner!, h);
					oldDone = true;
				}
			}
			if (h === looks) {
				const d = decideWinner(stats, 'unique_click_rate', confidence);
				if (d.decided) record(out.fixedOneLook, d.winner!, h);
			}
		}
	}
	return out;
}

export function median(xs: number[]): number | null {
	if (xs.length === 0) return null;
	const s = [...xs].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
