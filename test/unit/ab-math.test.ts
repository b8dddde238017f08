/** The A/B math: mixture ratio, always-valid p-value and interval, power against the standard formula, the report. */
import { logGamma, logMixtureRatio, pairLook, shareInterval, DEFAULT_KAPPA } from '../../lib/ab/mixture';
import { abPowerCheck, fixedHorizonPower, fixedHorizonSampleSize, minimumDetectableLift, normalQuantile, requiredPerVariant, sequentialPower, OPENS_CAVEAT } from '../../lib/ab/power';
import { decide, decideSequential, describeEvidence, type AbEvidence } from '../../lib/ab/sequential';
import { rng } from '../../lib/ab/simulate';
import { decideWinner, normalCdf } from '../../lib/ab/stats';
import { renderDashboard } from '../../lib/stats/dashboardHtml';

const logChoose = (n: number, k: number) => logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
const stats = (a: number, b: number, sentA = 1000, sentB = 1000) => [
	{ variant: 'A', sent: sentA, conversions: a },
	{ variant: 'B', sent: sentB, conversions: b },
];

describe('mixture SPRT', () => {
	it('logGamma and normalQuantile match known values', () => {
		expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 12);
		expect(logGamma(10)).toBeCloseTo(Math.log(362880), 10);
		expect(logGamma(1000.5) - logGamma(1000)).toBeCloseTo(0.5 * Math.log(1000) - 1 / (8 * 1000), 6);
		expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
		expect(normalQuantile(0.8)).toBeCloseTo(0.841621, 5);
		for (const p of [0.001, 0.02, 0.3, 0.5, 0.9, 0.999]) expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 6);
	});

	it('the mixture ratio has expectation exactly 1 under the null at any number of conversions (a martingale)', () => {
		for (const [n, pi0] of [
			[10, 0.5],
			[200, 0.5],
			[150, 0.3],
		]) {
			let sum = 0;
			for (let x = 0; x <= n; x++) sum += Math.exp(logChoose(n, x) + x * Math.log(pi0) + (n - x) * Math.log(1 - pi0) + logMixtureRatio(x, n, pi0, pi0));
			expect(sum).toBeCloseTo(1, 8);
		}
	});

	it('the interval is exactly the shares the test would not reject, and excludes the null exactly when p < alpha', () => {
		const [lo, hi] = shareInterval(130, 200, 0.5, 0.05);
		expect(logMixtureRatio(130, 200, lo, 0.5)).toBeCloseTo(Math.log(20), 6);
		expect(logMixtureRatio(130, 200, hi, 0.5)).toBeCloseTo(Math.log(20), 6);
		expect(lo).toBeLessThan(0.65);
		expect(hi).toBeGreaterThan(0.65);
		for (const [a, b] of [
			[40, 80],
			[60, 72],
			[100, 140],
			[100, 100],
			[0, 12],
		]) {
			const look = pairLook({ sent: 1000, conversions: a }, { sent: 1000, conversions: b }, 0.05);
			expect(look.ratio[0] > 1 || look.ratio[1] < 1).toBe(look.pValue < 0.05);
		}
	});

	it('the p-value never rises and the interval never widens from look to look; the state carries over', () => {
		let prev: AbEvidence | undefined;
		const ps: number[] = [];
		const widths: number[] = [];
		// B leads strongly early, then the gap closes: a look on its own would give a larger p later.
		for (const [a, b] of [
			[10, 30],
			[30, 45],
			[60, 70],
			[90, 95],
		]) {
			const d = decideSequential(stats(a, b), 'unique_click_rate', 0.95, { previous: prev });
			prev = d.evidence;
			ps.push(d.evidence.p_value);
			widths.push((d.evidence.lift_ci![1] ?? Infinity) - d.evidence.lift_ci![0]);
		}
		for (let i = 1; i < ps.length; i++) {
			expect(ps[i]).toBeLessThanOrEqual(ps[i - 1]);
			expect(widths[i]).toBeLessThanOrEqual(widths[i - 1]);
		}
		expect(prev!.looks).toBe(4);
		expect(pairLook({ sent: 1000, conversions: 90 }, { sent: 1000, conversions: 95 }, 0.05).pValue).toBeGreaterThan(ps[3]);
	});

	it('a lead established in one direction does not crown the other variant later', () => {
		const first = decideSequential(stats(10, 60), 'unique_click_rate', 0.95);
		expect(first).toMatchObject({ decided: true, winner: 'B' });
		// Had the test kept going, A overtaking B would not make A the winner on B's old evidence.
		const later = decideSequential(stats(200, 180), 'unique_click_rate', 0.95, { previous: first.evidence });
		expect(later.leader).toBe('A');
		expect(later.winner).not.toBe('A');
	});

	it('the always-valid interval for the lift covers the true lift at every hourly look in at least 95 % of tests', () => {
		const random = rng(5);
		const tests = 200;
		const trueLift = 0.25;
		const [pA, pB] = [0.04, 0.05];
		let missed = 0;
		for (let t = 0; t < tests; t++) {
			const delays = [pA, pB].map((p) => {
				const d: number[] = [];
				for (let i = 0; i < 4000; i++) if (random() < p) d.push(-Math.log(1 - random()) * 6);
				return d;
			});
			let prev: AbEvidence | undefined;
			let covered = true;
			for (let h = 1; h <= 48; h++) {
				const [a, b] = delays.map((d) => d.filter((x) => x <= h).length);
				const d = decideSequential(stats(a, b, 4000, 4000), 'unique_click_rate', 0.95, { previous: prev, lean: true });
				prev = d.evidence;
				const ev = d.evidence;
				// The interval is for the leader over the runner-up; turn it into B over A.
				const ci = ev.lift_ci;
				if (!ci) continue;
				const [lo, hi] = ev.leader === 'B' ? [ci[0], ci[1] ?? Infinity] : [1 / (1 + (ci[1] ?? Infinity)) - 1, 1 / (1 + ci[0]) - 1];
				if (trueLift < lo || trueLift > hi) covered = false;
			}
			if (!covered) missed++;
		}
		expect(missed / tests).toBeLessThanOrEqual(0.05);
	});
});

describe('power before the test', () => {
	it('matches the standard sample-size formula for one planned look', () => {
		// 10 % vs 15 %, two-sided 5 %, 80 % power: 686 per group (Fleiss et al., no continuity correction).
		expect(fixedHorizonSampleSize(0.1, 0.5, 0.05)).toBe(686);
		expect(fixedHorizonPower(686, 0.1, 0.5, 0.05)).toBeCloseTo(0.8, 3);
		// 3 % vs 3.6 %: 13,914 per group.
		expect(fixedHorizonSampleSize(0.03, 0.2, 0.05)).toBe(13914);
		expect(requiredPerVariant('fixed_horizon', 0.03, 0.2, 0.05)).toBe(13914);
		expect(fixedHorizonPower(13914, 0.03, 0.2, 0.05)).toBeGreaterThanOrEqual(0.8);
		expect(fixedHorizonPower(13800, 0.03, 0.2, 0.05)).toBeLessThan(0.8);
	});

	it('the sequential rule needs more recipients than one planned look, and its required sample reaches the power', () => {
		const seq = requiredPerVariant('sequential', 0.03, 0.2, 0.05);
		expect(seq).toBeGreaterThan(13914);
		expect(sequentialPower(seq, 0.03, 0.2, 0.05)).toBeGreaterThanOrEqual(0.8);
		expect(sequentialPower(seq - 1, 0.03, 0.2, 0.05)).toBeLessThan(0.8);
		expect(sequentialPower(seq * 4, 0.03, 0.2, 0.05)).toBeGreaterThan(0.99);
		// Minimum detectable lift: at the required sample, 20 %.
		expect(minimumDetectableLift('sequential', seq, 0.03, 0.05)).toBeCloseTo(0.2, 2);
		expect(minimumDetectableLift('fixed_horizon', 13914, 0.03, 0.05)).toBeCloseTo(0.2, 2);
	});

	it('warns below 80 % with the recipients needed; Bonferroni for more variants; the opens caveat', () => {
		const low = abPowerCheck({ recipientsPerVariant: 2000, metric: 'unique_click_rate', rule: 'fixed_horizon' });
		expect(low.ok).toBe(false);
		expect(low.base_rate).toBe(0.03);
		expect(low.needed_per_variant).toBe(13914);
		expect(low.warning).toMatch(/underpowered A\/B test: 2000 recipients per variant .* about 13914 recipients per variant are needed/);
		const three = abPowerCheck({ recipientsPerVariant: 2000, variants: 3, rule: 'fixed_horizon' });
		expect(three.alpha).toBeCloseTo(0.025, 10);
		expect(three.needed_per_variant).toBe(fixedHorizonSampleSize(0.03, 0.2, 0.025));
		const fine = abPowerCheck({ recipientsPerVariant: 60000 });
		expect(fine).toMatchObject({ ok: true, rule: 'sequential' });
		expect(fine.warning).toBeUndefined();
		const opens = abPowerCheck({ recipientsPerVariant: 500, metric: 'unique_open_rate' });
		expect(opens.base_rate).toBe(0.2);
		expect(opens.caveat).toBe(OPENS_CAVEAT);
		expect(opens.caveat).toMatch(/Apple Mail Privacy Protection/);
		expect(abPowerCheck({ recipientsPerVariant: 500, baseRate: 0.08 }).base_rate).toBe(0.08);
	});
});

describe('the decision and its report', () => {
	it('fixed_horizon decides as the old z-test did', () => {
		for (const [a, b] of [
			[150, 200],
			[10, 12],
			[150, 185],
		]) {
			const s = stats(a, b);
			const d = decide(s, 'unique_click_rate', 0.95, { rule: 'fixed_horizon' });
			const old = decideWinner(s, 'unique_click_rate', 0.95);
			expect({ decided: d.decided, winner: d.winner, pValue: d.pValue }).toEqual({ decided: old.decided, winner: old.winner, pValue: old.pValue });
			expect(d.evidence.rule).toBe('fixed_horizon');
		}
	});

	it('reports lift, interval, evidence, detectable lift and when the test can decide', () => {
		const d = decide(stats(60, 72, 3000, 3000), 'unique_click_rate', 0.95, { hoursElapsed: 6, maxWaitHours: 48 });
		const ev = d.evidence;
		expect(d.decided).toBe(false);
		expect(ev).toMatchObject({ rule: 'sequential', leader: 'B', runner_up: 'A' });
		expect(ev.lift).toBeCloseTo(0.2, 10);
		expect(ev.lift_ci![0]).toBeLessThan(0);
		expect(ev.lift_ci![1]).toBeGreaterThan(0.2);
		expect(ev.mde!).toBeGreaterThan(0.2);
		expect(ev.expected.conversions_needed!).toBeGreaterThan(132);
		expect(ev.expected.more_conversions).toBe(ev.expected.conversions_needed! - 132);
		expect(ev.expected.hours!).toBeGreaterThan(0);
		expect(ev.expected.within_max_wait).toBe(false);
		expect(ev.expected.message).toMatch(/cannot decide within maxWaitHours \(48 h\)/);
		// The same data at the same look: the fixed-horizon test's p-value is smaller (it is valid for one look only).
		expect(decide(stats(60, 72, 3000, 3000), 'unique_click_rate', 0.95, { rule: 'fixed_horizon' }).evidence.p_value).toBeLessThan(ev.p_value);
		expect(describeEvidence(ev)).toMatch(/B vs A: lift \+20% \(95% CI .* always-valid p = .* detectable lift at this sample: \+\d/);
		expect(describeEvidence(ev, 'unique_open_rate')).toMatch(/Apple Mail Privacy Protection/);
		// No difference: says it cannot estimate.
		expect(decide(stats(50, 50), 'unique_click_rate').evidence.expected.message).toMatch(/no difference/);
		expect(JSON.parse(JSON.stringify(ev))).toMatchObject({ leader: 'B' });
		expect(DEFAULT_KAPPA).toBeGreaterThan(0);
	});
});

describe('the dashboard A/B table', () => {
	const page = (ab: Array<Record<string, unknown>>) =>
		renderDashboard({ generated_at: 'now', campaigns: [], runs: [], steps: [], ab, recent: [], suppressions: [] });
	it('shows lift with its interval, evidence, detectable lift, expected time and warnings, escaped; older rows keep their p-value', () => {
		const d = decide(stats(60, 72, 3000, 3000), 'unique_open_rate', 0.95, { hoursElapsed: 6, maxWaitHours: 48 });
		const evidence = { ...d.evidence, leader: '<b>B</b>', caveat: OPENS_CAVEAT, power: abPowerCheck({ recipientsPerVariant: 3000, metric: 'unique_open_rate' }) };
		const html = page([
			{ campaign_id: 'c1', step: 1, metric: 'unique_open_rate', winner: null, send_variant: null, p_value: d.pValue, reason: d.reason, evidence: JSON.parse(JSON.stringify(evidence)) },
			{ campaign_id: 'c0', step: 1, metric: 'unique_click_rate', winner: 'A', send_variant: 'A', p_value: 0.0123, reason: 'significant' },
		]);
		expect(html).toContain('&lt;b&gt;B&lt;/b&gt; vs A: +20.0%');
		expect(html).not.toContain('<b>B</b>');
		expect(html).toMatch(/95\.0% CI -\d+\.\d% to \+\d+\.\d%/);
		expect(html).toContain('always-valid (sequential)');
		expect(html).toContain('cannot decide within maxWaitHours (48 h)');
		expect(html).toContain('Apple Mail Privacy Protection');
		expect(html).toContain('<td>0.0123</td>');
	});
});
