/** The connection test of the optional Campaign Database credential every store-using node offers, and the notice shown without it. */
import type { ICredentialTestFunctions, ICredentialsDecrypted, INodeCredentialTestResult } from 'n8n-workflow';
import { checkCampaignDatabase } from '../../lib/store';
import { postgresFromCredentials } from './context';

export async function campaignDatabaseConnectionTest(
	this: ICredentialTestFunctions,
	credential: ICredentialsDecrypted,
): Promise<INodeCredentialTestResult> {
	try {
		await checkCampaignDatabase(postgresFromCredentials(credential.data ?? {}));
		return { status: 'OK', message: 'Connected to the campaign database' };
	} catch (e) {
		return { status: 'Error', message: (e as Error).message };
	}
}

export const STORE_NOTICE =
	'Without a Campaign Database credential the campaign store is an embedded database under the n8n user folder (one n8n process only; use Postgres for queue mode)';
