/** jest global teardown: stops the embedded Postgres the global set-up started (the machine's own is left running). */
import { stopEmbeddedPostgres } from './services';

export default async function globalTeardown(): Promise<void> {
	await stopEmbeddedPostgres();
}
