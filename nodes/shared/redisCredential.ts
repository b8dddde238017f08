/** The optional Campaign Redis credential's connection test (the nodes that send offer it). */
import type { ICredentialTestFunctions, ICredentialsDecrypted, INodeCredentialTestResult } from 'n8n-workflow';
import { pingRedis } from '../../lib/sendgrid/rateLimiter';
import { redisFromCredentials } from './context';

export async function campaignRedisConnectionTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
	try {
		await pingRedis(redisFromCredentials(credential.data ?? {}));
		return { status: 'OK', message: 'Connected to Redis: the SendGrid rate limit is shared by every worker using this credential' };
	} catch (e) {
		return { status: 'Error', message: (e as Error).message };
	}
}
