/** The SendGrid simulator and a fresh Postgres store for one test file: started before its tests, stopped and dropped after. */
import { SendGridSimulator, type SendGridSimulatorOptions } from '../simulators/sendgridServer';
import { CampaignStore, closeAllStores, getCampaignStore } from '../../lib/store';
import { createTestDatabase } from './services';

export interface SimulatorAndStore {
	sim: SendGridSimulator;
	store: CampaignStore;
}

/** Call at the top of a test file; read `sim` and `store` from the returned object once the tests run. */
export function useSimulatorAndStore(options: { dbPrefix?: string; simulator?: SendGridSimulatorOptions } = {}): SimulatorAndStore {
	const env = {} as SimulatorAndStore;
	let drop: (() => Promise<void>) | undefined;
	beforeAll(async () => {
		env.sim = new SendGridSimulator(options.simulator);
		await env.sim.start();
		const db = await createTestDatabase(options.dbPrefix);
		drop = db.drop;
		env.store = await getCampaignStore({ postgres: db.connection });
	});
	afterAll(async () => {
		await env.sim?.stop();
		await closeAllStores();
		await drop?.();
	});
	return env;
}
