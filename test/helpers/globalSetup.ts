/**
 * jest global set-up (integration, e2e and hardening projects): choose this run's Postgres once, before
 * any test worker starts (see ensurePostgres in services.ts for the order). When it is the embedded
 * server, PGHOST/PGPORT/PGUSER go to the workers through the environment, and globalTeardown.ts
 * stops it. When there is none, the reason is handed to the workers: the tests that need Postgres
 * fail with it, the others still run.
 */
import { PG_ENV, preparePostgres } from './services';

export default async function globalSetup(): Promise<void> {
	if (process.env[PG_ENV.source] || process.env[PG_ENV.error]) return; // already chosen (several projects in one run)
	try {
		const { source } = await preparePostgres((line) => process.stdout.write(`\n${line}\n`));
		process.env[PG_ENV.source] = source;
	} catch (e) {
		process.env[PG_ENV.error] = (e as Error).message;
		process.stdout.write(`\n${(e as Error).message}\n`);
	}
}
