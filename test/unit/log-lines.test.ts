/**
 * The package's log lines (issue 24, lib/observability/logLines.ts): their exact shape, and that no
 * address or secret can get into one — from ids, counts' names, error messages or webhook errors —
 * whatever the input. nodes/shared/logging.ts hands them to n8n's logger and never fails a node.
 */
import fc from 'fast-check';
import { ADDRESS, LOG_SCOPE, cleanText, maskAddresses, runFailed, runFinished, runLogged, runStarted, sendRunFacts, webhookBatch, type LogLine } from '../../lib/observability/logLines';
import { CampaignError } from '../../lib/errors';
import { log } from '../../nodes/shared/logging';

const KEY = 'SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg';

describe('run lines', () => {
	it('start: message and metadata, exactly', () => {
		expect(runStarted({ node: 'Send Email (SendGrid)', campaign_id: 'spring', run_id: 'run-1', step: 1, recipients: 1500, batches: 2, dry_run: false })).toEqual({
			level: 'info',
			message: 'Campaign run started: Send Email (SendGrid), campaign spring, run run-1',
			meta: { scope: LOG_SCOPE, event: 'run_started', node: 'Send Email (SendGrid)', campaign_id: 'spring', run_id: 'run-1', step: 1, recipients: 1500, batches: 2, mode: 'live' },
		});
	});

	it('finish: counts per status, 429s, retries, wait and duration; the message names sent, failed and deferred', () => {
		const line = runFinished({
			node: 'Campaign Agent',
			campaign_id: 'spring',
			run_id: 'run-1',
			step: [1, 2],
			recipients: 30,
			counts: { sent: 27, failed: 1, deferred: 2, requests: 4 },
			llm_calls: 6,
			llm_tokens: 5120,
			rate_limited: 3,
			retries: 4,
			limiter_wait_ms: 812.6,
			duration_ms: 4210,
		});
		expect(line).toEqual({
			level: 'info',
			message: 'Campaign run finished: Campaign Agent, campaign spring, run run-1 (27 sent, 1 failed, 2 deferred)',
			meta: {
				scope: LOG_SCOPE,
				event: 'run_finished',
				node: 'Campaign Agent',
				campaign_id: 'spring',
				run_id: 'run-1',
				step: '1,2',
				recipients: 30,
				llm_calls: 6,
				llm_tokens: 5120,
				rate_limited: 3,
				retries: 4,
				limiter_wait_ms: 813,
				duration_ms: 4210,
				sent: 27,
				failed: 1,
				deferred: 2,
				requests: 4,
			},
		});
		expect(runLogged({ node: 'Log Campaign Result', run_id: 'r' })).toMatchObject({ level: 'info', message: 'Campaign run results logged: Log Campaign Result, run r', meta: { event: 'run_logged' } });
	});

	it('failure: the error name, status, field and its message with addresses and keys masked; never its stack', () => {
		const e = new CampaignError(`SendGrid refused jane.doe@example.com and <bob@x.org> with key ${KEY}\nsecond line`, { source: 'service', httpStatus: 401, field: 'credentials' });
		const line = runFailed({ node: 'Send Email (SendGrid)', campaign_id: 'c', run_id: 'r', duration_ms: 12 }, e);
		expect(line.level).toBe('error');
		expect(line.meta).toEqual({
			scope: LOG_SCOPE,
			event: 'run_failed',
			node: 'Send Email (SendGrid)',
			campaign_id: 'c',
			run_id: 'r',
			duration_ms: 12,
			error: `SendGrid refused ${ADDRESS} and ${ADDRESS} with key SG.*** second line`,
			error_name: 'CampaignError',
			http_status: 401,
			field: 'credentials',
		});
		expect(line.message).toBe(`Campaign run failed: Send Email (SendGrid), campaign c, run r: SendGrid refused ${ADDRESS} and ${ADDRESS} with key SG.*** second line`);
		expect(JSON.stringify(line)).not.toMatch(/@|SG\.abc|at Object|\.ts:/);
		// A thrown non-Error is said as text, cleaned the same way.
		expect(runFailed({ node: 'n' }, 'boom for a@b.co').meta).toMatchObject({ error: `boom for ${ADDRESS}`, error_name: 'Error' });
	});

	it("ids and counts' names from users are cleaned: an address as a campaign id, a key as a run id, odd count names dropped", () => {
		const line = runFinished({
			node: 'Log Campaign Result',
			campaign_id: 'news for ann@example.com',
			run_id: `run ${KEY}`,
			counts: { sent: 2, 'ann@example.com': 1, Sent: 5, 'x y': 1, ['a'.repeat(40)]: 1, failed: -1, deferred: Number.NaN, unconfirmed: 1.6 },
		});
		expect(line.meta).toEqual({ scope: LOG_SCOPE, event: 'run_finished', node: 'Log Campaign Result', campaign_id: `news for ${ADDRESS}`, run_id: 'run SG.***', sent: 2, unconfirmed: 2 });
		expect(line.message).toBe(`Campaign run finished: Log Campaign Result, campaign news for ${ADDRESS}, run run SG.*** (2 sent)`);
	});

	it('maskAddresses and cleanText: every word with @ or %40 goes, the rest stays; one line; clipped', () => {
		expect(maskAddresses('to a@b.c, from x%40y.z; ok')).toBe(`to ${ADDRESS} from ${ADDRESS} ok`);
		expect(maskAddresses('no address here')).toBe('no address here');
		expect(cleanText('a\nb\r\nc\td')).toBe('a b c d');
		expect(cleanText('x'.repeat(1000))).toHaveLength(120);
		expect(cleanText(undefined)).toBe('');
		expect(cleanText(42)).toBe('42');
	});

	it('no address or secret gets into any line, whatever the ids, counts and error say (property)', () => {
		const address = fc.tuple(fc.stringMatching(/^[a-z0-9._+-]{1,12}$/), fc.stringMatching(/^[a-z0-9-]{1,10}\.[a-z]{2,4}$/)).map(([l, d]) => `${l}@${d}`);
		const secret = fc.constantFrom(KEY, 'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl', 'sk-proj-abcdefghijklmnopqrstuvwxyz012345', 'eca_live_ab12cd34_0123456789abcdefghijklmnopqrstuv');
		const noisy = fc.tuple(fc.string({ maxLength: 30 }), fc.oneof(address, secret), fc.string({ maxLength: 30 })).map(([a, x, b]) => `${a} ${x} ${b}`);
		fc.assert(
			fc.property(noisy, noisy, noisy, noisy, fc.dictionary(fc.oneof(fc.string({ maxLength: 20 }), address), fc.integer({ min: 0, max: 1000 }), { maxKeys: 5 }), (campaign, run, message, hook, counts) => {
				const lines: LogLine[] = [
					runStarted({ node: 'n', campaign_id: campaign, run_id: run }),
					runFinished({ node: 'n', campaign_id: campaign, run_id: run, counts }),
					runFailed({ node: 'n', campaign_id: campaign, run_id: run }, new Error(message)),
					webhookBatch({ node: 'SendGrid Trigger', kind: 'events', status: 500, error: hook, by_event: counts }),
				];
				const text = JSON.stringify(lines);
				expect(text).not.toContain('@');
				expect(text).not.toMatch(/%40/i);
				for (const s of ['SG.abcdefghij', 'eyJhbGciOiJIUzI1NiJ9', 'sk-proj-abcdefghij', 'eca_live_ab12cd34_0123']) expect(text).not.toContain(s);
				for (const l of lines) for (const v of Object.values(l.meta)) expect(['string', 'number', 'boolean']).toContain(typeof v);
			}),
			{ numRuns: 300 },
		);
	});
});

describe('webhook batch lines', () => {
	it('an accepted event post: counts per type, new and duplicate, bytes and duration, exactly', () => {
		expect(
			webhookBatch({ node: 'SendGrid Trigger', kind: 'events', status: 200, received: 5, kept: 4, fresh: 3, duplicates: 1, emitted: 3, by_event: { delivered: 3, open: 1 }, campaigns: 1, paused: 0, bytes: 2048, duration_ms: 17 }),
		).toEqual({
			level: 'info',
			message: 'SendGrid event batch received: 5 in, 3 new (17 ms)',
			meta: { scope: LOG_SCOPE, event: 'webhook_batch', node: 'SendGrid Trigger', kind: 'events', status: 200, received: 5, kept: 4, fresh: 3, duplicates: 1, emitted: 3, campaigns: 1, paused: 0, bytes: 2048, duration_ms: 17, events_delivered: 3, events_open: 1 },
		});
	});

	it('a refused post is a warning with its reason (cleaned); an inbound reply says what it emitted', () => {
		expect(webhookBatch({ node: 'SendGrid Trigger', kind: 'events', status: 403, error: 'signature verification failed: signature does not match', duration_ms: 2 })).toEqual({
			level: 'warn',
			message: 'SendGrid event batch refused (403): signature verification failed: signature does not match',
			meta: { scope: LOG_SCOPE, event: 'webhook_batch', node: 'SendGrid Trigger', kind: 'events', status: 403, duration_ms: 2, error: 'signature verification failed: signature does not match' },
		});
		expect(webhookBatch({ node: 'SendGrid Trigger', kind: 'inbound', status: 200, emitted: 1, duration_ms: 9 }).message).toBe('Inbound reply received: 1 in, 1 new (9 ms)');
	});
});

describe('sendRunFacts', () => {
	const payload = (run: string, step: number, n: number) => ({ campaign_id: 'c', run_id: run, step, recipients: Array.from({ length: n }, (_, i) => ({ email: `u${i}@x.org` })) });
	it('one fact per run: recipients and batches, then counts per status, requests and the run’s send stats', () => {
		const payloads = [payload('r1', 1, 3), payload('r1', 1, 2), payload('r2', 2, 1)];
		expect(sendRunFacts('Send', payloads)).toEqual([
			{ node: 'Send', campaign_id: 'c', run_id: 'r1', recipients: 5, batches: 2, step: 1 },
			{ node: 'Send', campaign_id: 'c', run_id: 'r2', recipients: 1, batches: 1, step: 2 },
		]);
		const batches = [
			{ run_id: 'r1', requests: 2, results: [{ status: 'sent' }, { status: 'sent' }, { status: 'failed' }] },
			{ run_id: 'r1', requests: 1, results: [{ status: 'sent' }, { status: 'deferred' }] },
			{ run_id: 'r2', requests: 1, results: [{ status: 'sent' }] },
		];
		const stats = new Map([['r1', { rate_limited: 1, retries: 2, limiter_wait_ms: 300 }]]);
		const [one, two] = sendRunFacts('Send', payloads, batches, stats, { duration_ms: 5 });
		expect(one).toEqual({ node: 'Send', campaign_id: 'c', run_id: 'r1', recipients: 5, batches: 2, step: 1, requests: 3, counts: { sent: 3, failed: 1, deferred: 1 }, rate_limited: 1, retries: 2, limiter_wait_ms: 300, duration_ms: 5 });
		expect(two).toMatchObject({ run_id: 'r2', requests: 1, counts: { sent: 1 } });
		expect(JSON.stringify(runFinished(one))).not.toContain('@');
	});
});

describe("nodes/shared/logging: into n8n's logger", () => {
	it('calls the level with message and metadata plus the execution id; a missing or throwing logger fails nothing', () => {
		const calls: Array<[string, string, unknown]> = [];
		const logger = { info: (m: string, meta: unknown) => calls.push(['info', m, meta]), error: () => undefined, warn: () => undefined, debug: () => undefined };
		const line = runStarted({ node: 'n', run_id: 'r' });
		log({ logger: logger as never, getExecutionId: () => '42' }, line);
		expect(calls).toEqual([['info', line.message, { ...line.meta, execution_id: '42' }]]);
		expect(() => log({}, line)).not.toThrow();
		expect(() =>
			log(
				{
					logger: {
						info: () => {
							throw new Error('no');
						},
					} as never,
				},
				line,
			),
		).not.toThrow();
	});
});
