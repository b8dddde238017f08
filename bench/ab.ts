/**
 * bench:ab — A/B tests checked at every hourly scheduler tick for 48 hours (clicks arriving over
 * time, mean delay 6 h), seeded. A/A tests: how often each rule declares a (false) winner — the
 * sequential rule (lib/ab, the default) against the old rule (the fixed-horizon z-test re-checked
 * every hour, stopping at the first p < 0.05) in the same run, and one planned look at 48 h.
 * A/B tests with a true 20 % relative lift: the share decided and the median hours to decide,
 * next to one look at the end.
 */
import { abPowerCheck } from '../lib/ab/power';
import { median, simulateMonitoredTests } from '../lib/ab/simulate';
import { report } from './common';

const SEED = Number(process.env.BENCH_AB_SEED ?? 2021);
const AA_TESTS = Number(process.env.BENCH_AB_AA_TESTS ?? 2000);
const AB_TESTS = Number(process.env.BENCH_AB_AB_TESTS ?? 1000);
const AA_N = Number(process.env.BENCH_AB_AA_N ?? 5000);
const AB_N = Number(process.env.BENCH_AB_AB_N ?? 20000);
const RATE = Number(process.env.BENCH_AB_RATE ?? 0.03);
const LOOKS = 48;
const CONFIDENCE = 0.95;

const r3 = (x: number) => Math.round(x * 1000) / 1000;
/** Half-width of a 95 % interval for a share estimated from n tests. */
const pm = (p: number, n: number) => r3(1.96 * Math.sqrt((p * (1 - p)) / n));

function main() {
	const started = Date.now();
	const aa = simulateMonitoredTests({ tests: AA_TESTS, recipientsPerVariant: AA_N, rates: [RATE, RATE], looks: LOOKS, confidence: CONFIDENCE, seed: SEED });
	const ab = simulateMonitoredTests({ tests: AB_TESTS, recipientsPerVariant: AB_N, rates: [RATE, RATE * 1.2], looks: LOOKS, confidence: CONFIDENCE, seed: SEED + 1 });
	const fw = aa.sequential.decided / AA_TESTS;
	const oldFw = aa.fixedEveryLook.decided / AA_TESTS;
	const oneFw = aa.fixedOneLook.decided / AA_TESTS;
	const power = ab.sequential.decided / AB_TESTS;
	const onePower = ab.fixedOneLook.decided / AB_TESTS;
	const oldPower = ab.fixedEveryLook.decided / AB_TESTS;
	const hours = median(ab.sequential.hours);
	const check = abPowerCheck({ recipientsPerVariant: AB_N, baseRate: RATE, confidence: CONFIDENCE });
	const checkFixed = abPowerCheck({ recipientsPerVariant: AB_N, baseRate: RATE, confidence: CONFIDENCE, rule: 'fixed_horizon' });
	console.log(`A/A: ${AA_TESTS} tests, ${AA_N} recipients per variant, ${RATE * 100}% clicks, checked every hour for ${LOOKS} h (promise: ≤ ${r3(1 - CONFIDENCE)})`);
	console.log(`  sequential (default), every hour:   false winners ${r3(fw)} ± ${pm(fw, AA_TESTS)}`);
	console.log(`  old rule (z-test), every hour:      false winners ${r3(oldFw)} ± ${pm(oldFw, AA_TESTS)}`);
	console.log(`  z-test, one planned look at ${LOOKS} h:   false winners ${r3(oneFw)} ± ${pm(oneFw, AA_TESTS)}`);
	console.log(`A/B: ${AB_TESTS} tests, ${AB_N} recipients per variant, ${RATE * 100}% vs ${r3(RATE * 120)}% clicks (+20%)`);
	console.log(`  sequential (default), every hour:   decided ${r3(power)} ± ${pm(power, AB_TESTS)}, median ${hours} h to decide, wrong winners ${ab.sequential.wrong}`);
	console.log(`  z-test, one planned look at ${LOOKS} h:   decided ${r3(onePower)} ± ${pm(onePower, AB_TESTS)} (at ${LOOKS} h)`);
	console.log(`  old rule, every hour (not valid):   decided ${r3(oldPower)}, median ${median(ab.fixedEveryLook.hours)} h`);
	console.log(`power check before the test: sequential ≥ ${check.power} (needs ${check.needed_per_variant} per variant for 80%), one look ${checkFixed.power} (needs ${checkFixed.needed_per_variant})`);
	report({
		bench: 'ab',
		seed: SEED,
		looks: LOOKS,
		confidence: CONFIDENCE,
		aa_tests: AA_TESTS,
		aa_recipients_per_variant: AA_N,
		false_winners: aa.sequential.decided,
		false_winner_rate: r3(fw),
		old_false_winners: aa.fixedEveryLook.decided,
		old_false_winner_rate: r3(oldFw),
		one_look_false_winner_rate: r3(oneFw),
		ab_tests: AB_TESTS,
		ab_recipients_per_variant: AB_N,
		base_rate: RATE,
		lift: 0.2,
		decided: ab.sequential.decided,
		power: r3(power),
		median_hours_to_decide: hours,
		wrong_winners: ab.sequential.wrong,
		one_look_power: r3(onePower),
		power_check_sequential: check.power,
		power_check_one_look: checkFixed.power,
		seconds: (Date.now() - started) / 1000,
	});
}

main();
