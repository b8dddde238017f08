import { generateKeyPairSync, createSign } from 'node:crypto';
import sample from '../fixtures/sendgrid-signature-sample.json';
import { chooseVerificationKey, verifyEventSignature } from '../../lib/events/signature';
import { normalizeEvent, parseEventBody, suppressionFor, messageIdOf } from '../../lib/events/normalize';

const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const publicKeyB64 = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

function sign(body: string, timestamp: string): string {
	const s = createSign('sha256');
	s.update(timestamp + body);
	return s.sign(privateKey).toString('base64');
}

describe('Event Webhook signature', () => {
	const body = '[{"email":"a@x.io","event":"delivered","sg_event_id":"e1","timestamp":1700000000}]';
	const now = Date.now();
	const ts = String(Math.floor(now / 1000));

	it('accepts the exact bytes SendGrid signed', () => {
		expect(verifyEventSignature({ publicKey: publicKeyB64, signature: sign(body, ts), timestamp: ts, rawBody: Buffer.from(body), now })).toEqual({ ok: true });
	});

	it('refuses tampered bodies, re-serialised JSON, missing headers and expired timestamps', () => {
		const sig = sign(body, ts);
		expect(verifyEventSignature({ publicKey: publicKeyB64, signature: sig, timestamp: ts, rawBody: Buffer.from(body.replace('delivered', 'open')), now }).ok).toBe(false);
		const reserialised = JSON.stringify(JSON.parse(body), null, 1);
		expect(verifyEventSignature({ publicKey: publicKeyB64, signature: sig, timestamp: ts, rawBody: Buffer.from(reserialised), now }).ok).toBe(false);
		expect(verifyEventSignature({ publicKey: publicKeyB64, signature: undefined, timestamp: ts, rawBody: Buffer.from(body), now })).toMatchObject({ ok: false, reason: expect.stringMatching(/missing/) });
		const old = String(Math.floor(now / 1000) - 3600);
		expect(verifyEventSignature({ publicKey: publicKeyB64, signature: sign(body, old), timestamp: old, rawBody: Buffer.from(body), now })).toMatchObject({ ok: false, reason: expect.stringMatching(/tolerance 600/) });
		expect(verifyEventSignature({ publicKey: publicKeyB64, signature: sign(body, old), timestamp: old, rawBody: Buffer.from(body), now, toleranceSeconds: 0 }).ok).toBe(true);
		expect(verifyEventSignature({ publicKey: 'not a key', signature: sig, timestamp: ts, rawBody: Buffer.from(body), now }).ok).toBe(false);
	});
});

describe("SendGrid's own published sample", () => {
	const base = { publicKey: sample.publicKey, signature: sample.signature, timestamp: sample.timestamp, toleranceSeconds: 0 };

	it('verifies, and fails for another key, payload, signature or timestamp', () => {
		expect(verifyEventSignature({ ...base, rawBody: Buffer.from(sample.payload) })).toEqual({ ok: true });
		expect(verifyEventSignature({ ...base, rawBody: Buffer.from('payload') }).ok).toBe(false);
		expect(verifyEventSignature({ ...base, timestamp: 'timestamp', rawBody: Buffer.from(sample.payload) }).ok).toBe(false);
		expect(verifyEventSignature({ ...base, signature: sample.signature.replace('H2j', 'H3j'), rawBody: Buffer.from(sample.payload) }).ok).toBe(false);
		expect(verifyEventSignature({ ...base, publicKey: publicKeyB64, rawBody: Buffer.from(sample.payload) }).ok).toBe(false);
	});
});

describe('event normalisation', () => {
	it('lifts custom args and bounce details into one shape', () => {
		const e = normalizeEvent({
			email: 'Ada@X.io',
			event: 'bounce',
			sg_event_id: 'ev1',
			sg_message_id: 'abc123.filterdrecv-1',
			timestamp: 1700000000,
			campaign_id: 'spring',
			run_id: 'run_1',
			step: '2',
			variant: 'B',
			delivery_id: 'd1',
			type: 'bounce',
			reason: '550 no such user',
			bounce_classification: 'Invalid Address',
			category: 'spring',
		});
		expect(e).toMatchObject({ email: 'ada@x.io', step: 2, variant: 'B', delivery_id: 'd1', type: 'bounce', bounce_classification: 'Invalid Address', category: ['spring'] });
		expect(e.timestamp).toBe('2023-11-14T22:13:20.000Z');
		expect(messageIdOf(e.sg_message_id)).toBe('abc123');
		expect(suppressionFor(e)).toEqual({ scope: 'global', reason: 'bounce' });
		expect(suppressionFor({ ...e, type: 'blocked' })).toBeUndefined();
		expect(suppressionFor({ ...e, event: 'group_resubscribe', asm_group_id: 4 })).toEqual({ lift: 'group:4' });
	});

	it('refuses bodies that are not a JSON array of objects', () => {
		expect(() => parseEventBody('{"a":1}')).toThrow(/array/);
		expect(() => parseEventBody('nope')).toThrow(/not JSON/);
		expect(() => parseEventBody('[1,2]')).toThrow(/object/);
		expect(parseEventBody('[]')).toEqual([]);
	});
});

describe('verification keys as users paste them', () => {
	const body = '[{"email":"a@x.io","event":"open","sg_event_id":"e9","timestamp":1700000000}]';
	const now = Date.now();
	const ts = String(Math.floor(now / 1000));
	// Signed the way SendGrid (and test/simulators/sendgridServer.ts) signs: ECDSA P-256, SHA-256 over timestamp + raw body.
	const signature = sign(body, ts);
	const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
	const verify = (key: string) => verifyEventSignature({ publicKey: key, signature, timestamp: ts, rawBody: Buffer.from(body), now });

	it.each([
		['base64 DER, as SendGrid shows it', publicKeyB64],
		['a PEM block', pem],
		['a PEM block with CRLF line ends', pem.replace(/\n/g, '\r\n')],
		['a PEM on one line, no newlines', pem.replace(/\n/g, '')],
		['a PEM whose newlines became spaces', pem.replace(/\n/g, ' ')],
		['a PEM whose newlines became the two characters \\n', pem.replace(/\n/g, '\\n')],
		['base64 DER with surrounding spaces and a line break', `  ${publicKeyB64.slice(0, 40)}\n${publicKeyB64.slice(40)}  `],
	])('accepts %s', (_form, key) => {
		expect(verify(key)).toEqual({ ok: true });
	});

	it('refuses another key in every form, and says when the key is not a key', () => {
		const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
		expect(verify(other.replace(/\n/g, ' '))).toEqual({ ok: false, reason: 'signature does not match' });
		expect(verify('-----BEGIN PUBLIC KEY-----not base64 at all-----END PUBLIC KEY-----')).toEqual({ ok: false, reason: 'the configured verification key is not a valid public key' });
		expect(verify('-----BEGIN PUBLIC KEY-----' + publicKeyB64)).toEqual({ ok: false, reason: 'the configured verification key is not a valid public key' });
	});

	it('reads a pasted key in linear time (a 5 MB paste is refused quickly, not parsed for minutes)', () => {
		const t0 = performance.now();
		expect(verify('-----BEGIN PUBLIC KEY-----' + '\\n '.repeat(1_700_000) + '-----END PUBLIC KEY-----').ok).toBe(false);
		expect(performance.now() - t0).toBeLessThan(3000);
	});

	it("the trigger's key: the node's own, else the credential's, else the one fetched at registration", () => {
		expect(chooseVerificationKey({ node: 'N', credential: 'C', registration: 'R' })).toEqual({ key: 'N', source: 'node' });
		expect(chooseVerificationKey({ node: '  ', credential: 'C', registration: 'R' })).toEqual({ key: 'C', source: 'credential' });
		expect(chooseVerificationKey({ node: undefined, credential: '', registration: ' R ' })).toEqual({ key: 'R', source: 'registration' });
		expect(chooseVerificationKey({ node: '', credential: undefined, registration: undefined })).toBeUndefined();
	});
});
