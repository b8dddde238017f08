/**
 * A/B winner selection: a two-proportion z-test on unique click (or open) rates. A winner is
 * declared only when the difference reaches the configured confidence.
 */

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 via erf; error < 1.5e-7). */
export function normalCdf(z: number): number {
	const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
	const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
	const erf = 1 - poly * Math.exp(-(z * z) / 2);
	return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

export interface ProportionTest {
	z: number;
	/** Two-sided p-value. */
	pValue: number;
}

/** Pooled two-proportion z-test of x1/n1 vs x2/n2. */
export function twoProportionTest(x1: number, n1: number, x2: number, n2: number): ProportionTest {
	if (n1 === 0 || n2 === 0) return { z: 0, pValue: 1 };
	const p1 = x1 / n1;
	const p2 = x2 / n2;
	const pooled = (x1 + x2) / (n1 + n2);
	const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
	if (se === 0) return { z: 0, pValue: 1 };
	const z = (p1 - p2) / se;
	return { z, pValue: 2 * (1 - normalCdf(Math.abs(z))) };
}

export interface VariantStats {
	variant: string;
	sent: number;
	/** Unique recipients who converted on the metric (clicked, or opened by a human). */
	conversions: number;
}

export interface WinnerDecision {
	metric: string;
	confidence: number;
	decided: boolean;
	winner?: string;
	leader: string;
	/** Why: "significant", "not significant: ...", "fallback: sent the leading variant", "manual". */
	reason: string;
	pValue: number;
	variants: Array<VariantStats & { rate: number }>;
}

/**
 * The leader against each other variant: a winner needs p < 1 - confidence against every one of
 * them (Bonferroni-corrected when there are more than two variants).
 */
export function decideWinner(stats: VariantStats[], metric: string, confidence = 0.95): WinnerDecision {
	const variants = stats.map((s) => ({ ...s, rate: s.sent ? s.conversions / s.sent : 0 })).sort((a, b) => b.rate - a.rate || (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0));
	const [leader, ...others] = variants;
	const alpha = (1 - confidence) / Math.max(1, others.length);
	let worst = 0;
	for (const o of others) worst = Math.max(worst, twoProportionTest(leader.conversions, leader.sent, o.conversions, o.sent).pValue);
	const decided = others.length > 0 && worst < alpha && leader.rate > others[0].rate;
	return {
		metric,
		confidence,
		decided,
		winner: decided ? leader.variant : undefined,
		leader: leader.variant,
		reason: decided ? 'significant' : `not significant: p = ${worst.toFixed(4)} needs < ${alpha.toFixed(4)}`,
		pValue: worst,
		variants,
	};
}
