/** lib/sendgrid/scheduled.ts on its own: SendGrid's scheduled-send calls retry like the rest (429 waits, 5xx backs off, other 4xx do not), and which call changes a batch's status. */
import { SendGridApiError, type SendGridResponse, type SendGridTransport } from '../../lib/sendgrid/client';
import { createBatchId, deleteScheduledSendStatus, setScheduledSendStatus } from '../../lib/sendgrid/scheduled';

type Answer = SendGridResponse | SendGridApiError;

/** A transport answering each request from a script, recording method and path. */
function scripted(answers: Answer[]): SendGridTransport & { calls: string[] } {
	const calls: string[] = [];
	return {
		calls,
		sendMail: async () => {
			throw new Error('no mail in this test');
		},
		request: async (method, path, body) => {
			calls.push(`${method} ${path}${body ? ` ${JSON.stringify(body)}` : ''}`);
			const next = answers.shift();
			if (!next) throw new Error(`unexpected ${method} ${path}`);
			if (next instanceof SendGridApiError) throw next;
			return next;
		},
	};
}
const ok = (status: number, body: unknown = ''): SendGridResponse => ({ status, headers: {}, body });
const refused = (status: number, message = 'no', headers: Record<string, string> = {}) => new SendGridApiError(`SendGrid failed (${status}): ${message}`, status, [{ message, field: null }], headers);
const waits: number[] = [];
const backoff = { sleep: async (ms: number) => void waits.push(ms), random: () => 0.5, now: () => 1_000_000 };
beforeEach(() => (waits.length = 0));

describe('scheduled-send calls', () => {
	it('creating a batch id retries a 503 with backoff and a 429 until X-RateLimit-Reset', async () => {
		const sg = scripted([refused(503), refused(429, 'too many requests', { 'x-ratelimit-reset': '1002' }), ok(201, { batch_id: 'B1' })]);
		expect(await createBatchId(sg, backoff)).toBe('B1');
		expect(sg.calls).toEqual(['POST /v3/mail/batch', 'POST /v3/mail/batch', 'POST /v3/mail/batch']);
		// Full jitter of the first backoff (500 ms · 0.5), then the 2 s until the reset second (+50 ms).
		expect(waits).toEqual([250, 2050]);
	});

	it('a 400 is not retried, and an answer without a batch id is an error', async () => {
		await expect(createBatchId(scripted([refused(400, 'bad')]), backoff)).rejects.toMatchObject({ status: 400 });
		await expect(createBatchId(scripted([ok(201, {})]), backoff)).rejects.toThrow(/no batch id/);
		expect(waits).toEqual([]);
	});

	it('POST sets a first status, PATCH changes one, nothing is sent when it is already set; DELETE of nothing is false', async () => {
		const fresh = scripted([ok(200, []), ok(201, { batch_id: 'B', status: 'pause' })]);
		await setScheduledSendStatus(fresh, 'B', 'pause', backoff);
		expect(fresh.calls).toEqual(['GET /v3/user/scheduled_sends/B', 'POST /v3/user/scheduled_sends {"batch_id":"B","status":"pause"}']);
		const paused = scripted([ok(200, [{ batch_id: 'B', status: 'pause' }]), ok(204)]);
		await setScheduledSendStatus(paused, 'B', 'cancel', backoff);
		expect(paused.calls).toEqual(['GET /v3/user/scheduled_sends/B', 'PATCH /v3/user/scheduled_sends/B {"status":"cancel"}']);
		const same = scripted([ok(200, [{ batch_id: 'B', status: 'cancel' }])]);
		await setScheduledSendStatus(same, 'B', 'cancel', backoff);
		expect(same.calls).toEqual(['GET /v3/user/scheduled_sends/B']);
		expect(await deleteScheduledSendStatus(scripted([refused(404, 'batch id not found')]), 'B', backoff)).toBe(false);
		expect(await deleteScheduledSendStatus(scripted([ok(204)]), 'B', backoff)).toBe(true);
	});
});
