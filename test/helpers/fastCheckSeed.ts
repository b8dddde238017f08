/**
 * Every fast-check property in the suites draws from one fixed seed, so a run on a clean machine
 * generates the same inputs as the run before it: a failure is the same failure, replayable, and a
 * pass cannot turn into a failure on the next CI run by chance. To explore new inputs set
 * FC_SEED=<number> (or FC_SEED=random); a failure prints the seed and path that reproduce it.
 */
import fc from 'fast-check';

const seed = process.env.FC_SEED ?? '20261126';
if (seed !== 'random') {
	if (!/^-?\d+$/.test(seed)) throw new Error(`FC_SEED must be an integer or "random", got ${JSON.stringify(seed)}`);
	fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: Number(seed) });
}
