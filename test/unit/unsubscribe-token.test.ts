/** Unsubscribe tokens and the page (issue 15): keyed, bound to the delivery, checked in constant time; the page escapes. */
import { createHmac, randomBytes } from 'node:crypto';
import { unsubscribeToken, unsubscribeUrl, verifyUnsubscribeQuery } from '../../lib/unsubscribe/token';
import { postedAction } from '../../lib/unsubscribe/flow';
import { unsubscribePage, wordsFor } from '../../lib/unsubscribe/page';

const secret = randomBytes(32);
const ref = { campaignId: 'spring', step: 2, deliveryId: 'AbCdEfGhIjKlMnOpQrStUv' };
const query = (u: string) => Object.fromEntries(new URL(u).searchParams);

describe('unsubscribe tokens', () => {
	it('verify for the delivery they were made for, under the secret they were made with', () => {
		const url = unsubscribeUrl('https://n8n.example/webhook/x/unsubscribe?keep=1', secret, ref);
		expect(new URL(url).searchParams.get('keep')).toBe('1');
		expect(verifyUnsubscribeQuery(secret, query(url))).toEqual({ ok: true, ref });
		expect(verifyUnsubscribeQuery(randomBytes(32), query(url))).toMatchObject({ ok: false, status: 403 });
		expect(verifyUnsubscribeQuery(undefined, query(url))).toMatchObject({ ok: false, status: 403 });
	});
	it('links equal what URL and URLSearchParams build, for any endpoint, campaign, step and delivery id', () => {
		const reference = (endpoint: string, r: typeof ref, key: Buffer | undefined) => {
			const url = new URL(endpoint);
			url.searchParams.set('c', r.campaignId);
			url.searchParams.set('s', String(r.step));
			url.searchParams.set('d', r.deliveryId);
			if (key) url.searchParams.set('t', unsubscribeToken(key, r));
			return url.toString();
		};
		const endpoints = [
			'https://n8n.example/webhook/x/unsubscribe',
			'https://n8n.example/webhook/x/unsubscribe?',
			'https://n8n.example/webhook/x/unsubscribe?keep=1&c=old&d=old&t=old&d=again#frag',
			'https://n8n.example/webhook/ünï/unsub?x=a%20b+c&y=%E2%9C%93#top?d=1',
			'http://user@host.example:8080/p/ath;p?q=1&&s=9',
			'https://n8n.example/u?d=ecaDeliveryId0f3c9e1b7a5d',
		];
		const ids = ['AbCdEfGhIjKlMnOpQrStUv', 'run:1.b-2_c', 'a b+c&d=e#f', 'ünï~!*\'()'];
		for (const endpoint of endpoints)
			for (const campaignId of ['spring', 'spring sale/ü'])
				for (const step of [1, 7])
					for (const deliveryId of ids)
						for (const key of [secret, undefined]) {
							const r = { campaignId, step, deliveryId };
							expect(unsubscribeUrl(endpoint, key, r)).toBe(reference(endpoint, r, key));
						}
	});
	it('are HMAC-SHA256 of the versioned fields under the secret, also when the secret buffer is reused with new bytes', () => {
		const reference = (key: Buffer) => createHmac('sha256', key).update(`u1\n${ref.campaignId}\n${ref.step}\n${ref.deliveryId}`).digest('base64url').slice(0, 22);
		const key = Buffer.from(secret);
		expect(unsubscribeToken(key, ref)).toBe(reference(secret));
		expect(unsubscribeToken(key, ref)).toBe(reference(secret));
		// The signing key made from a buffer is kept; writing other bytes into that buffer makes a new one.
		randomBytes(32).copy(key);
		expect(unsubscribeToken(key, ref)).toBe(reference(key));
		expect(unsubscribeToken(key, ref)).not.toBe(reference(secret));
	});
	it('differ for every part of the delivery they name, and for every secret', () => {
		const t = unsubscribeToken(secret, ref);
		const others = [
			unsubscribeToken(secret, { ...ref, campaignId: 'spring2' }),
			unsubscribeToken(secret, { ...ref, step: 3 }),
			unsubscribeToken(secret, { ...ref, deliveryId: 'AbCdEfGhIjKlMnOpQrStUw' }),
			unsubscribeToken(randomBytes(32), ref),
		];
		expect(new Set([t, ...others]).size).toBe(5);
		// Field boundaries cannot be shifted: "a" + step 12 is not "a1" + step 2.
		expect(unsubscribeToken(secret, { campaignId: 'a', step: 12, deliveryId: 'd' })).not.toBe(unsubscribeToken(secret, { campaignId: 'a1', step: 2, deliveryId: 'd' }));
	});
	it('refuse a short secret, and links that are incomplete, repeated or malformed (400) before any check', () => {
		expect(() => unsubscribeToken(Buffer.alloc(8), ref)).toThrow(/16 bytes/);
		const good = query(unsubscribeUrl('https://x.example/u', secret, ref));
		for (const bad of [{ ...good, t: undefined }, { ...good, d: [good.d, good.d] }, { ...good, s: '0' }, { ...good, s: '1e3' }, { ...good, c: 'a b' }, { ...good, t: good.t + 'x' }, {}])
			expect(verifyUnsubscribeQuery(secret, bad as Record<string, unknown>)).toMatchObject({ ok: false, status: 400 });
	});
});

describe('RFC 8058 bodies', () => {
	it('accept List-Unsubscribe=One-Click parsed or raw, and the page undo; nothing else', () => {
		expect(postedAction({ 'List-Unsubscribe': 'One-Click' })).toEqual({ action: 'unsubscribe', fromPage: false });
		expect(postedAction('List-Unsubscribe=One-Click')).toEqual({ action: 'unsubscribe', fromPage: false });
		expect(postedAction(Buffer.from('List-Unsubscribe=One-Click'))).toEqual({ action: 'unsubscribe', fromPage: false });
		expect(postedAction({ 'List-Unsubscribe': 'Resubscribe', page: '1' })).toEqual({ action: 'resubscribe', fromPage: true });
		for (const b of [undefined, '', 'List-Unsubscribe=one-click', { 'List-Unsubscribe': ['One-Click'] }, [], 42]) expect(postedAction(b).action).toBeUndefined();
	});
});

describe('the unsubscribe page', () => {
	it('speaks the campaign language where it can, else English, and escapes what it shows', () => {
		expect(wordsFor('pt-BR').lang).toBe('pt');
		expect(wordsFor('xx').lang).toBe('en');
		const html = unsubscribePage('ask', { campaignName: '<script>alert(1)</script>', language: 'fr', action: 'https://x.example/u?c=a&t="x' });
		expect(html).toContain('lang="fr"');
		expect(html).not.toContain('<script>');
		expect(html).toContain('&lt;script&gt;');
		expect(html).toContain('action="https://x.example/u?c=a&amp;t=&quot;x"');
		expect(html).toContain('method="post"');
	});
});
