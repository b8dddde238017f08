/**
 * Power before an A/B test starts: can this many recipients per variant detect a plausible lift
 * (20 % relative) at the expected conversion rate? Pure functions, no store.
 */
import { DEFAULT_KAPPA, rejectionThreshold } from './mixture';
import { normalCdf } from './stats';
import type { Campaign } from '../schemas';

export type DecisionRule = 'sequential' | 'fixed_horizon';

/** Expected conversion rates when the campaign does not say (abTest.expectedRate). */
export const DEFAULT_BASE_RATE: Record<string, number> = { unique_click_rate: 0.03, unique_open_rate: 0.2 };
export const DEFAULT_LIFT = 0.2;
export const TARGET_POWER = 0.8;

export const OPENS_CAVEAT =
	'open-rate tests are unreliable: Apple Mail Privacy Protection (and other mail privacy proxies) fetch images for the recipient, so many opens that look human are not reads (machine opens are not counted, but these cannot all be told apart) — prefer unique_click_rate';

export function baseRateFor(metric: string, expectedRate?: number): number {
	return expectedRate ?? DEFAULT_BASE_RATE[metric] ?? DEFAULT_BASE_RATE.unique_click_rate;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation; relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
	if (p <= 0) return -Infinity;
	if (p >= 1) return Infinity;
	const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
	const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
	const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
	const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
	const lowP = 0.02425;
	if (p < lowP) {
		const q = Math.sqrt(-2 * Math.log(p));
		return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
	}
	if (p > 1 - lowP) return -normalQuantile(1 - p);
	const q = p - 0.5;
	const r = q * q;
	return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Per-comparison alpha: Bonferroni over the leader's comparisons with the other variants. */
export function comparisonAlpha(confidence: number, variants: number): number {
	return (1 - confidence) / Math.max(1, variants - 1);
}

/**
 * Power of one planned look (the fixed-horizon two-proportion z-test, two-sided at alpha) to detect
 * base rate p0 against p1 = p0 (1 + lift) with n recipients per variant — the standard formula
 * (e.g. Fleiss, Levin and Paik, Statistical Methods for Rates and Proportions, §4.2, without continuity correction).
 */
export function fixedHorizonPower(n: number, p0: number, lift: number, alpha: number): number {
	const p1 = Math.min(1, p0 * (1 + lift));
	if (n <= 0 || p1 === p0) return alpha;
	const pbar = (p0 + p1) / 2;
	const z = normalQuantile(1 - alpha / 2);
	return normalCdf((Math.abs(p1 - p0) * Math.sqrt(n) - z * Math.sqrt(2 * pbar * (1 - pbar))) / Math.sqrt(p0 * (1 - p0) + p1 * (1 - p1)));
}

/** Recipients per variant for the fixed-horizon test to reach a power (the standard sample-size formula). */
export function fixedHorizonSampleSize(p0: number, lift: number, alpha: number, power = TARGET_POWER): number {
	const p1 = Math.min(1, p0 * (1 + lift));
	const pbar = (p0 + p1) / 2;
	const num = normalQuantile(1 - alpha / 2) * Math.sqrt(2 * pbar * (1 - pbar)) + normalQuantile(power) * Math.sqrt(p0 * (1 - p0) + p1 * (1 - p1));
	return Math.ceil((num * num) / ((p1 - p0) * (p1 - p0)));
}

/**
 * Power of the sequential rule judged at one look when all conversions are in (n recipients per
 * variant): the chance the mixture ratio of the pair's expected conversions exceeds 1/alpha in the
 * leader's favour (normal approximation of the binomial count). The rule also looks earlier and keeps
 * what it found, so its real power is at least this.
 */
export function sequentialPower(n: number, p0: number, lift: number, alpha: number, kappa = DEFAULT_KAPPA): number {
	const p1 = Math.min(1, p0 * (1 + lift));
	const total = n * (p0 + p1);
	if (n <= 0 || total <= 0) return 0;
	const pi1 = p1 / (p0 + p1);
	const x = rejectionThreshold(total, 0.5, alpha, kappa);
	if (x > total) return 0;
	return 1 - normalCdf((x - total * pi1) / Math.sqrt(total * pi1 * (1 - pi1)));
}

export function rulePower(rule: DecisionRule, n: number, p0: number, lift: number, alpha: number): number {
	return rule === 'fixed_horizon' ? fixedHorizonPower(n, p0, lift, alpha) : sequentialPower(n, p0, lift, alpha);
}

/** Smallest recipients per variant reaching the power under a rule (search over n; Infinity above 1e9). */
export function requiredPerVariant(rule: DecisionRule, p0: number, lift: number, alpha: number, power = TARGET_POWER): number {
	if (rule === 'fixed_horizon') return fixedHorizonSampleSize(p0, lift, alpha, power);
	let hi = 16;
	while (sequentialPower(hi, p0, lift, alpha) < power) {
		hi *= 2;
		if (hi > 1e9) return Infinity;
	}
	let lo = hi / 2;
	while (hi - lo > 1) {
		const mid = Math.floor((lo + hi) / 2);
		if (sequentialPower(mid, p0, lift, alpha) >= power) hi = mid;
		else lo = mid;
	}
	return hi;
}

/** Smallest relative lift the rule detects with the target power at n per variant and base rate p0 (Infinity if none up to +1000 %). */
export function minimumDetectableLift(rule: DecisionRule, n: number, p0: number, alpha: number, power = TARGET_POWER): number {
	if (n <= 0 || p0 <= 0) return Infinity;
	const maxLift = Math.min(10, 1 / p0 - 1);
	if (rulePower(rule, n, p0, maxLift, alpha) < power) return Infinity;
	let lo = 0;
	let hi = maxLift;
	for (let i = 0; i < 50; i++) {
		const mid = (lo + hi) / 2;
		if (rulePower(rule, n, p0, mid, alpha) >= power) hi = mid;
		else lo = mid;
	}
	return hi;
}

export interface PowerCheckInput {
	recipientsPerVariant: number;
	metric?: string;
	/** Expected conversion rate of the control; default per metric (3 % clicks, 20 % human opens). */
	baseRate?: number;
	confidence?: number;
	variants?: number;
	rule?: DecisionRule;
	/** The relative lift the test should be able to see; default 0.2 (20 %). */
	lift?: number;
}

export interface PowerCheck {
	rule: DecisionRule;
	metric: string;
	recipients_per_variant: number;
	base_rate: number;
	lift: number;
	/** Per comparison, after the Bonferroni split. */
	alpha: number;
	power: number;
	/** Recipients per variant for 80 % power. */
	needed_per_variant: number;
	ok: boolean;
	warning?: string;
	/** Set when the metric is opens (Apple Mail Privacy Protection). */
	caveat?: string;
}

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;

/** Power for a 20 % relative lift before the test; a warning with the recipients needed when below 80 %. */
export function abPowerCheck(input: PowerCheckInput): PowerCheck {
	const metric = input.metric ?? 'unique_click_rate';
	const rule = input.rule ?? 'sequential';
	const lift = input.lift ?? DEFAULT_LIFT;
	const p0 = baseRateFor(metric, input.baseRate);
	const variants = Math.max(2, input.variants ?? 2);
	const alpha = comparisonAlpha(input.confidence ?? 0.95, variants);
	const n = Math.max(0, Math.floor(input.recipientsPerVariant));
	const power = rulePower(rule, n, p0, lift, alpha);
	const needed = requiredPerVariant(rule, p0, lift, alpha);
	const ok = power >= TARGET_POWER;
	const out: PowerCheck = { rule, metric, recipients_per_variant: n, base_rate: p0, lift, alpha, power: Math.round(power * 1000) / 1000, needed_per_variant: needed, ok };
	if (!ok)
		out.warning =
			`underpowered A/B test: ${n} recipients per variant give ${pct(power)} power (target ${pct(TARGET_POWER)}) to detect a ${pct(lift)} relative lift ` +
			`on a ${pct(p0)} ${metric === 'unique_open_rate' ? 'open' : 'click'} rate with ${variants} variants (${rule}); about ${needed} recipients per variant are needed`;
	if (metric === 'unique_open_rate') out.caveat = OPENS_CAVEAT;
	return out;
}

/**
 * The power check of a campaign's A/B test for the recipients each variant has (the smallest counts),
 * or undefined when the campaign tests nothing (one variant, no abTest, a manual pick).
 */
export function campaignPowerCheck(campaign: Pick<Campaign, 'abTest' | 'variants'>, perVariant: number[]): PowerCheck | undefined {
	const ab = campaign.abTest;
	if (!ab || ab.metric === 'manual' || campaign.variants <= 1) return undefined;
	return abPowerCheck({
		recipientsPerVariant: perVariant.length >= campaign.variants ? Math.min(...perVariant) : 0,
		metric: ab.metric,
		baseRate: ab.expectedRate,
		confidence: ab.confidence,
		variants: campaign.variants,
		rule: ab.decisionRule ?? 'sequential',
	});
}
