/**
 * The mixture sequential probability ratio test (mSPRT) behind the A/B rule, for one pair of
 * variants. Johari, Koomen, Pekelis and Walsh, "Always Valid Inference: Continuous Monitoring of A/B
 * Tests", Operations Research 70(3), 2022 (arXiv:1512.04922): the likelihood ratio of the data,
 * averaged over a mixing distribution of alternatives, is a martingale under the null, so by Ville's
 * inequality it exceeds 1/alpha at ANY look with probability at most alpha. Hence the always-valid
 * p-value min(1, 1 / ratio) (kept as a running minimum) and the always-valid confidence interval
 * {parameter : ratio(parameter) < 1/alpha} (kept as a running intersection).
 *
 * The observations are conversions, not recipients. Clicks (or human opens) arrive over hours after a
 * sample went out; if both variants' conversions arrive with the same delay profile, each conversion
 * of the pair (a, b) comes from b with probability
 *     pi = n_b p_b / (n_a p_a + n_b p_b),
 * whatever the hour — the conversion rates p_a, p_b are the eventual ones, and the rate ratio
 * p_b / p_a = pi n_a / ((1 - pi) n_b) is the relative lift plus one. Under "no difference" pi is the
 * known share of sends, pi0 = n_b / (n_a + n_b). So the labels of the conversions are Bernoulli(pi)
 * draws, a stream of independent observations that grows at every look whether new recipients were
 * sent or old ones clicked late. Mixing over pi with the conjugate Beta(kappa pi0, kappa (1 - pi0))
 * (Robbins 1970) gives the mixture ratio in closed form, with no normal approximation:
 *     M(pi) = B(x + kappa pi0, N - x + kappa (1 - pi0)) / B(kappa pi0, kappa (1 - pi0)) / (pi^x (1 - pi)^(N - x)).
 * (Each recipient converts at most once, so the labels are drawn from the sent recipients without
 * replacement; that only pulls the share towards pi0 and makes the test conservative, which the
 * simulation in test/unit/ab-sequential.test.ts measures at open-like rates too.)
 */

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error about 1e-15). */
export function logGamma(x: number): number {
	if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
	const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
	const z = x - 1;
	let a = c[0];
	const t = z + 7.5;
	for (let i = 1; i < 9; i++) a += c[i] / (z + i);
	return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

export function logBeta(a: number, b: number): number {
	return logGamma(a) + logGamma(b) - logGamma(a + b);
}

const xlog = (k: number, p: number) => (k === 0 ? 0 : k * Math.log(p));

/**
 * Mixing concentration: Beta(kappa pi0, kappa (1 - pi0)) has a standard deviation of about
 * 0.045 around pi0 = 0.5 when kappa = 120, the shift of pi that a 20 % relative lift makes — the
 * effect the power check is about, so the test is most sensitive around it (Johari et al. §4: match
 * the mixing spread to the effects one expects).
 */
export const DEFAULT_KAPPA = 120;

/** ln M(pi): x of N conversions came from b, the null share is pi0. Can be evaluated at a real x (for power calculations). */
export function logMixtureRatio(x: number, n: number, pi: number, pi0: number, kappa = DEFAULT_KAPPA): number {
	if (n <= 0) return 0;
	const a = kappa * pi0;
	const b = kappa * (1 - pi0);
	return logBeta(x + a, n - x + b) - logBeta(a, b) - xlog(x, pi) - xlog(n - x, 1 - pi);
}

/** Finds where a monotone f crosses level on [lo, hi] (f(lo) and f(hi) on opposite sides). */
function bisect(f: (v: number) => number, level: number, lo: number, hi: number, iterations = 56): number {
	const up = f(hi) > f(lo);
	for (let i = 0; i < iterations; i++) {
		const mid = (lo + hi) / 2;
		if (f(mid) >= level === up) hi = mid;
		else lo = mid;
	}
	return (lo + hi) / 2;
}

/** The always-valid interval for pi at this look: every pi whose mixture ratio stays below 1/alpha. */
export function shareInterval(x: number, n: number, pi0: number, alpha: number, kappa = DEFAULT_KAPPA): [number, number] {
	if (n <= 0) return [0, 1];
	// ln M(pi) = mixed - ln L(pi): only the likelihood depends on pi, so the Beta functions are evaluated once.
	const mixed = logBeta(x + kappa * pi0, n - x + kappa * (1 - pi0)) - logBeta(kappa * pi0, kappa * (1 - pi0));
	const level = Math.log(1 / alpha);
	const hat = x / n;
	const f = (pi: number) => mixed - xlog(x, pi) - xlog(n - x, 1 - pi);
	// ln M is convex in pi with its minimum (≤ 0) at pi = x / n, so the set below the level is one interval.
	const lo = x === 0 ? 0 : bisect(f, level, 1e-300, hat);
	const hi = x === n ? 1 : bisect(f, level, hat, 1 - 1e-16);
	return [lo, hi];
}

/** One look at a pair of variants: the conversions of b among the pair's, and the share of b's sends. */
export interface PairLook {
	/** p-value of this look alone (1 / mixture ratio at pi0, at most 1). */
	pValue: number;
	/** Always-valid interval for the rate ratio p_b / p_a at this look (hi may be Infinity). */
	ratio: [number, number];
}

export function pairLook(a: { sent: number; conversions: number }, b: { sent: number; conversions: number }, alpha: number, kappa = DEFAULT_KAPPA): PairLook {
	const n = a.conversions + b.conversions;
	if (a.sent === 0 || b.sent === 0 || n === 0) return { pValue: 1, ratio: [0, Infinity] };
	const pi0 = b.sent / (a.sent + b.sent);
	const pValue = Math.min(1, Math.exp(-logMixtureRatio(b.conversions, n, pi0, pi0, kappa)));
	const [lo, hi] = shareInterval(b.conversions, n, pi0, alpha, kappa);
	const toRatio = (pi: number) => (pi >= 1 ? Infinity : (pi * a.sent) / ((1 - pi) * b.sent));
	return { pValue, ratio: [toRatio(lo), toRatio(hi)] };
}

/**
 * Conversions of the pair needed before a look could reject "no difference", if the share of the
 * leader's conversions stays at the observed one; Infinity if it never could (no lift observed).
 */
export function conversionsToReject(share: number, pi0: number, alpha: number, kappa = DEFAULT_KAPPA, from = 1): number {
	if (!(share > pi0) || share >= 1) return share >= 1 ? from : Infinity;
	const level = Math.log(1 / alpha);
	const f = (n: number) => logMixtureRatio(share * n, n, pi0, pi0, kappa);
	let hi = Math.max(1, from);
	while (f(hi) < level) {
		hi *= 2;
		if (hi > 1e12) return Infinity;
	}
	if (hi <= from) return from;
	return Math.ceil(bisect(f, level, Math.max(1, hi / 2), hi, 60));
}

/** The smallest count x (real) out of n at which a look rejects in b's favour; n + 1 when none does. */
export function rejectionThreshold(n: number, pi0: number, alpha: number, kappa = DEFAULT_KAPPA): number {
	const level = Math.log(1 / alpha);
	const f = (x: number) => logMixtureRatio(x, n, pi0, pi0, kappa);
	if (f(n) < level) return n + 1;
	return bisect(f, level, n * pi0, n, 60);
}
