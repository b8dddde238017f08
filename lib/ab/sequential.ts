/**
 * The A/B decision under continuous monitoring, and what a marketer needs to read it: the lift of the
 * leader over the runner-up with its confidence interval, the evidence (p-value), the minimum
 * detectable lift at the current sample, and when the test can be expected to decide.
 *
 * sequential (default): every pair of variants carries a mixture SPRT (lib/ab/mixture.ts); a winner
 * is declared when its always-valid interval for the rate ratio lies above 1 against every other
 * variant, at alpha / (variants - 1) each. Looking every hour (or every minute) does not inflate the
 * false-winner rate: the chance that a look ever shows a false winner is at most 1 - confidence. (A
 * false winner i needs pair (i, j) to reject for every j; pairing the variants up, ceil(k / 2) pairs
 * cover every i, and ceil(k / 2) alpha / (k - 1) <= alpha for k >= 2.) The p-value is the running
 * minimum and the interval the running intersection over looks, kept in the stored decision.
 *
 * fixed_horizon: the pooled two-proportion z-test (lib/ab/stats.ts), valid for ONE planned look —
 * e.g. fallback send_leader, or a single Pick A/B Winner after the wait.
 */
import { DEFAULT_KAPPA, conversionsToReject, pairLook } from './mixture';
import { DecisionRule, OPENS_CAVEAT, PowerCheck, TARGET_POWER, comparisonAlpha, fixedHorizonSampleSize, minimumDetectableLift, normalQuantile } from './power';
import { VariantStats, WinnerDecision, decideWinner, twoProportionTest } from './stats';

/** The running state of one pair (a < b by name): the ratio is p_b / p_a; hi null means unbounded. */
export interface PairState {
	a: string;
	b: string;
	p: number;
	lo: number;
	hi: number | null;
	looks: number;
}

export interface ExpectedDecision {
	/** Conversions of leader + runner-up the rule would need at the observed lift (null: no lift observed). */
	conversions_needed: number | null;
	more_conversions: number | null;
	/** Recipients per variant that would bring those conversions at the observed rates. */
	recipients_per_variant: number | null;
	/** Further hours at the rate conversions arrived so far (optimistic: clicks slow down after the first hours). */
	hours: number | null;
	/** Whether that is within abTest.maxWaitHours (null when unknown). */
	within_max_wait: boolean | null;
	message: string;
}

export interface AbEvidence {
	rule: DecisionRule;
	/** Per comparison (Bonferroni split). */
	alpha: number;
	leader: string;
	runner_up: string | null;
	/** Relative lift of the leader over the runner-up (0.12 = +12 %); null when the runner-up has no conversions. */
	lift: number | null;
	/** Its confidence interval at 1 - alpha (always-valid for sequential); the upper end null when unbounded. */
	lift_ci: [number, number | null] | null;
	/** Leader vs runner-up (always-valid for sequential). */
	p_value: number;
	/** Smallest relative lift the rule would detect with 80 % power at the current sample (null: none). */
	mde: number | null;
	expected: ExpectedDecision;
	power?: PowerCheck;
	caveat?: string;
	looks: number;
	pairs: PairState[];
}

export interface Decision extends WinnerDecision {
	evidence: AbEvidence;
}

export interface DecideOptions {
	rule?: DecisionRule;
	/** The running state stored with the previous look. */
	previous?: Pick<AbEvidence, 'alpha' | 'pairs' | 'looks' | 'rule'> | null;
	/** Hours since the test's sample went out (for the time estimate). */
	hoursElapsed?: number;
	maxWaitHours?: number;
	kappa?: number;
	/** Skip the minimum detectable lift and the time estimate (simulations). */
	lean?: boolean;
}

export function sortVariants(stats: VariantStats[]): Array<VariantStats & { rate: number }> {
	return stats.map((s) => ({ ...s, rate: s.sent ? s.conversions / s.sent : 0 })).sort((a, b) => b.rate - a.rate || (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0));
}

const fmtPct = (x: number) => `${x >= 0 ? '+' : ''}${Math.round(x * 1000) / 10}%`;
const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

function ratioOf(pairs: PairState[], i: string, j: string): [number, number] {
	const p = pairs.find((s) => (s.a === i && s.b === j) || (s.a === j && s.b === i))!;
	const hi = p.hi ?? Infinity;
	return p.b === i ? [p.lo, hi] : [hi === Infinity ? 0 : 1 / hi, p.lo === 0 ? Infinity : 1 / p.lo];
}

/** The sequential rule at one look, continuing from the previous look's state. */
export function decideSequential(stats: VariantStats[], metric: string, confidence = 0.95, options: DecideOptions = {}): Decision {
	const variants = sortVariants(stats);
	const alpha = comparisonAlpha(confidence, variants.length);
	const prevUsable = options.previous && options.previous.rule === 'sequential' && Math.abs(options.previous.alpha - alpha) < 1e-12;
	const prev = new Map((prevUsable ? options.previous!.pairs : []).map((p) => [`${p.a}\n${p.b}`, p]));
	const names = variants.map((v) => v.variant).sort();
	const byName = new Map(variants.map((v) => [v.variant, v]));
	const pairs: PairState[] = [];
	for (let x = 0; x < names.length; x++)
		for (let y = x + 1; y < names.length; y++) {
			const [a, b] = [names[x], names[y]];
			const look = pairLook(byName.get(a)!, byName.get(b)!, alpha, options.kappa ?? DEFAULT_KAPPA);
			const old = prev.get(`${a}\n${b}`);
			let lo = Math.max(old?.lo ?? 0, look.ratio[0]);
			let hi = Math.min(old?.hi ?? Infinity, look.ratio[1]);
			// An empty intersection happens only on the rare paths the guarantee allows for: start over from this look.
			if (lo > hi) [lo, hi] = look.ratio;
			pairs.push({ a, b, p: Math.min(old?.p ?? 1, look.pValue), lo, hi: finite(hi), looks: (old?.looks ?? 0) + 1 });
		}
	const pOf = (i: string, j: string) => pairs.find((s) => (s.a === i && s.b === j) || (s.a === j && s.b === i))!.p;
	const winner = variants.length > 1 ? variants.find((v) => variants.every((o) => o === v || ratioOf(pairs, v.variant, o.variant)[0] > 1)) : undefined;
	const [leader] = variants;
	const judged = winner ?? leader;
	const worst = variants.length > 1 ? Math.max(...variants.filter((o) => o !== judged).map((o) => pOf(judged.variant, o.variant))) : 1;
	const decided = winner !== undefined;
	const base: WinnerDecision = {
		metric,
		confidence,
		decided,
		winner: winner?.variant,
		leader: leader.variant,
		reason: decided
			? `significant: always-valid p = ${worst.toFixed(4)} < ${alpha.toFixed(4)} (sequential test, valid at every look)`
			: `not significant yet: always-valid p = ${worst.toFixed(4)} needs < ${alpha.toFixed(4)} (sequential test, valid at every look)`,
		pValue: worst,
		variants,
	};
	const runner = variants[1];
	const ci = runner ? ratioOf(pairs, leader.variant, runner.variant) : undefined;
	const evidence = report('sequential', variants, alpha, decided, {
		p: runner ? pOf(leader.variant, runner.variant) : 1,
		ci: ci ? [ci[0] - 1, finite(ci[1] - 1)] : null,
		looks: (prevUsable ? options.previous!.looks : 0) + 1,
		pairs,
		options,
	});
	return { ...base, evidence };
}

/** The fixed-horizon z-test with the same report (its interval and p-value hold for one planned look only). */
export function decideFixedHorizon(stats: VariantStats[], metric: string, confidence = 0.95, options: DecideOptions = {}): Decision {
	const base = decideWinner(stats, metric, confidence);
	const variants = base.variants;
	const alpha = comparisonAlpha(confidence, variants.length);
	const [leader, runner] = variants;
	let ci: [number, number | null] | null = null;
	if (runner && leader.conversions > 0 && runner.conversions > 0) {
		// Katz log interval for the rate ratio.
		const se = Math.sqrt(1 / leader.conversions - 1 / leader.sent + 1 / runner.conversions - 1 / runner.sent);
		const z = normalQuantile(1 - alpha / 2);
		const log = Math.log(leader.rate / runner.rate);
		ci = [Math.exp(log - z * se) - 1, Math.exp(log + z * se) - 1];
	}
	const evidence = report('fixed_horizon', variants, alpha, base.decided, {
		p: runner ? twoProportionTest(leader.conversions, leader.sent, runner.conversions, runner.sent).pValue : 1,
		ci,
		looks: (options.previous?.looks ?? 0) + 1,
		pairs: [],
		options,
	});
	return { ...base, evidence };
}

export function decide(stats: VariantStats[], metric: string, confidence = 0.95, options: DecideOptions = {}): Decision {
	return (options.rule ?? 'sequential') === 'fixed_horizon' ? decideFixedHorizon(stats, metric, confidence, options) : decideSequential(stats, metric, confidence, options);
}

function report(
	rule: DecisionRule,
	variants: Array<VariantStats & { rate: number }>,
	alpha: number,
	decided: boolean,
	r: { p: number; ci: [number, number | null] | null; looks: number; pairs: PairState[]; options: DecideOptions },
): AbEvidence {
	const [leader, runner] = variants;
	const lift = runner && runner.rate > 0 ? leader.rate / runner.rate - 1 : null;
	const n = runner ? Math.min(leader.sent, runner.sent) : leader.sent;
	const base = runner && runner.rate > 0 ? runner.rate : runner ? (leader.conversions + runner.conversions) / Math.max(1, leader.sent + runner.sent) : 0;
	const mde = runner && !r.options.lean ? finite(minimumDetectableLift(rule, n, base, alpha)) : null;
	return {
		rule,
		alpha,
		leader: leader.variant,
		runner_up: runner?.variant ?? null,
		lift,
		lift_ci: r.ci,
		p_value: r.p,
		mde,
		expected: expectedDecision(rule, leader, runner, alpha, decided, r.options),
		looks: r.looks,
		pairs: r.pairs,
	};
}

function expectedDecision(
	rule: DecisionRule,
	leader: VariantStats & { rate: number },
	runner: (VariantStats & { rate: number }) | undefined,
	alpha: number,
	decided: boolean,
	options: DecideOptions,
): ExpectedDecision {
	const none = (message: string): ExpectedDecision => ({ conversions_needed: null, more_conversions: null, recipients_per_variant: null, hours: null, within_max_wait: null, message });
	if (decided) return none('decided');
	if (options.lean) return none('not estimated');
	if (!runner) return none('only one variant: nothing to compare');
	const total = leader.conversions + runner.conversions;
	if (total === 0) return none('no conversions yet: nothing to estimate from');
	if (!(leader.rate > runner.rate)) return none('no difference between the leading variants so far: cannot estimate when the test could decide');
	const rates = leader.rate + runner.rate;
	if (rule === 'fixed_horizon') {
		// One planned look: more data means a new test, so only the sample it would need is meaningful.
		const perVariant = runner.rate > 0 ? fixedHorizonSampleSize(runner.rate, leader.rate / runner.rate - 1, alpha, TARGET_POWER) : null;
		return {
			conversions_needed: null,
			more_conversions: null,
			recipients_per_variant: perVariant,
			hours: null,
			within_max_wait: null,
			message: `fixed-horizon test: one planned look; a lift like the observed ${runner.rate > 0 ? fmtPct(leader.rate / runner.rate - 1) : ''} needs about ${perVariant ?? '?'} recipients per variant for 80% power`,
		};
	}
	const pi0 = leader.sent / (leader.sent + runner.sent);
	const needed = conversionsToReject(leader.conversions / total, pi0, alpha, options.kappa ?? DEFAULT_KAPPA, total);
	if (!Number.isFinite(needed)) return none('the observed lift is too small to ever decide: cannot estimate');
	const more = Math.max(0, needed - total);
	// At the observed conversion rates, with sends split like this test's.
	const perVariant = Math.ceil(needed / rates);
	const elapsed = options.hoursElapsed;
	const hours = elapsed !== undefined && Number.isFinite(elapsed) && elapsed > 0 ? Math.ceil((more / (total / elapsed)) * 10) / 10 : null;
	const maxWait = options.maxWaitHours;
	const within = hours !== null && maxWait !== undefined && elapsed !== undefined ? elapsed + hours <= maxWait : null;
	const what = `at the observed lift (${fmtPct(leader.rate / Math.max(runner.rate, 1e-12) - 1)}) about ${more} more conversions are needed (${needed} in all, about ${perVariant} recipients per variant at the observed rates)`;
	const when =
		hours === null
			? ''
			: within === false
				? `; cannot decide within maxWaitHours (${maxWait} h): at the rate conversions arrived so far that takes about ${hours} h more (and clicks slow down after the first hours), so send more recipients or accept the fallback`
				: `; about ${hours} h more at the rate conversions arrived so far (optimistic: clicks slow down after the first hours)`;
	return { conversions_needed: needed, more_conversions: more, recipients_per_variant: perVariant, hours, within_max_wait: within, message: what + when };
}

/** One line for a person: lift with interval, evidence, MDE, what's next. */
export function describeEvidence(ev: AbEvidence, metric?: string): string {
	const parts: string[] = [];
	if (ev.lift !== null)
		parts.push(
			`${ev.leader} vs ${ev.runner_up}: lift ${fmtPct(ev.lift)}${ev.lift_ci ? ` (${Math.round((1 - ev.alpha) * 1000) / 10}% CI ${fmtPct(ev.lift_ci[0])} to ${ev.lift_ci[1] === null ? '+∞' : fmtPct(ev.lift_ci[1])})` : ''}`,
		);
	parts.push(`${ev.rule === 'sequential' ? 'always-valid ' : ''}p = ${ev.p_value.toFixed(4)}`);
	parts.push(ev.mde === null ? 'no lift detectable with 80% power at this sample' : `detectable lift at this sample: ${fmtPct(ev.mde)}`);
	if (ev.expected.message !== 'decided') parts.push(ev.expected.message);
	if (ev.caveat ?? (metric === 'unique_open_rate' ? OPENS_CAVEAT : undefined)) parts.push(ev.caveat ?? OPENS_CAVEAT);
	return parts.join('; ');
}
