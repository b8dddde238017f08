/** Delivery ids are idempotency keys kept in stores: the same inputs must give the same id in every version. */
import { createHash } from 'node:crypto';
import { deliveryId } from '../../lib/ids';

describe('deliveryId', () => {
	it('is the first 22 base64url characters of SHA-256 over campaign, step and the lower-cased address', () => {
		const reference = (c: string, s: number, e: string) => createHash('sha256').update(`${c}\n${s}\n${e.toLowerCase()}`).digest('base64url').slice(0, 22);
		for (const [c, s, e] of [['spring', 1, 'Ann@Example.org'], ['bench-agent', 3, 'user7@agent.bench'], ['ünï', 2, 'ÄB@x.de']] as const) expect(deliveryId(c, s, e)).toBe(reference(c, s, e));
		expect(deliveryId('spring', 1, 'ann@example.org')).toBe(deliveryId('spring', 1, 'ANN@EXAMPLE.ORG'));
		// Pinned: ids already stored must keep matching.
		expect(deliveryId('spring', 1, 'ann@example.org')).toBe('VnSX2k5aNRCTf0EGTGZRSd');
	});
});
