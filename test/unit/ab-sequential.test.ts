/**
 * Issue 21: A/B tests checked at every scheduler tick. Seeded simulations of the sequential rule
 * against the old one (the fixed-horizon z-test re-checked every hour, stopping at the first
 * p < 0.05) and a single planned look at the end. No timings are asserted.
 */
import { median, simulateMonitoredTests } from '../../lib/ab/simulate';
import { sequentialPower } from '../../lib/ab/power';

const ALPHA = 0.05;
/** Three binomial standard errors of a rate near alpha over this many simulated tests. */
const tolerance = (tests: number) => 3 * Math.sqrt((ALPHA * (1 - ALPHA)) / tests);
const share = (n: number, tests: number) => Math.round((n / tests) * 1000) / 1000;

describe('A/B tests checked every hour for 48 hours', () => {
	it('A/A, clicks at 3 %: the sequential rule keeps false winners at or below 5 %; the old rule does not', () => {
		const tests = 500;
		const r = simulateMonitoredTests({ tests, recipientsPerVariant: 5000, rates: [0.03, 0.03], looks: 48, seed: 21 });
		const seq = r.sequential.decided / tests;
		const old = r.fixedEveryLook.decided / tests;
		const one = r.fixedOneLook.decided / tests;
		console.info(`A/A clicks, ${tests} tests × 48 hourly looks: sequential false winners ${share(r.sequential.decided, tests)}, old rule ${share(r.fixedEveryLook.decided, tests)}, one look at 48 h ${share(r.fixedOneLook.decided, tests)}`);
		expect(seq).toBeLessThanOrEqual(ALPHA + tolerance(tests));
		// The old rule, in the same run: well above its promised 5 %.
		expect(old).toBeGreaterThan(ALPHA + tolerance(tests));
		expect(old).toBeGreaterThan(seq);
		// A single planned look is what the z-test is for: about 5 %.
		expect(Math.abs(one - ALPHA)).toBeLessThanOrEqual(tolerance(tests));
	});

	it('A/A at an open-like rate (25 %, most recipients converting fast) and A/A/A with three variants stay at or below 5 %', () => {
		const tests = 300;
		const opens = simulateMonitoredTests({ tests, recipientsPerVariant: 2000, rates: [0.25, 0.25], meanDelayHours: 2, seed: 22 });
		const three = simulateMonitoredTests({ tests, recipientsPerVariant: 3000, rates: [0.03, 0.03, 0.03], seed: 23 });
		console.info(`A/A opens: sequential ${share(opens.sequential.decided, tests)}, old ${share(opens.fixedEveryLook.decided, tests)}; A/A/A: sequential ${share(three.sequential.decided, tests)}, old ${share(three.fixedEveryLook.decided, tests)}`);
		expect(opens.sequential.decided / tests).toBeLessThanOrEqual(ALPHA + tolerance(tests));
		expect(opens.fixedEveryLook.decided).toBeGreaterThan(opens.sequential.decided);
		expect(three.sequential.decided / tests).toBeLessThanOrEqual(ALPHA + tolerance(tests));
	});

	it('A/B with a true 20 % relative lift: share decided and median hours to decide, next to one look at the end', () => {
		const tests = 300;
		const n = 20000;
		const r = simulateMonitoredTests({ tests, recipientsPerVariant: n, rates: [0.03, 0.036], seed: 24 });
		const seq = r.sequential.decided / tests;
		const hours = median(r.sequential.hours);
		const one = r.fixedOneLook.decided / tests;
		console.info(`A/B +20 %, ${n} per variant: sequential decided ${share(r.sequential.decided, tests)} (median ${hours} h, wrong ${r.sequential.wrong}); one look at 48 h: ${share(r.fixedOneLook.decided, tests)}`);
		expect(r.sequential.wrong).toBe(0);
		expect(seq).toBeGreaterThan(0.6);
		// The price of looking every hour: one planned look has more power at 48 h…
		expect(one).toBeGreaterThan(seq);
		// …but the sequential rule decides hours earlier when it decides.
		expect(hours!).toBeLessThan(24);
		// The power check's estimate for the sequential rule is a lower bound of what it achieves.
		expect(seq).toBeGreaterThanOrEqual(sequentialPower(n, 0.03 * (1 - Math.exp(-8)), 0.2, ALPHA) - 3 * Math.sqrt(0.25 / tests));
	});
});
