/**
 * Test-only: the campaign store's driver, to set up and inspect rows with plain SQL. Product code
 * never does this; it calls the named functions in lib/store/ (test/unit/layers.test.ts checks).
 */
import { driverOf } from '../../lib/store/campaignStore';
import type { CampaignStore, SqlDriver } from '../../lib/store';

export function sql(store: CampaignStore): SqlDriver {
	return driverOf(store);
}
