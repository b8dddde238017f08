/**
 * Secrets never leave the package: not in an error (message, stack, JSON), not in a stored delivery
 * or run row, not on the dashboard — whatever a server or proxy echoes back, whatever a URL carries.
 * Every secret-bearing input is an attack; every secret found afterwards is one let in.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeOperationError } from 'n8n-workflow';
import { createSendGridTransport, SendGridApiError } from '../../lib/sendgrid/client';
import { createChatModel } from '../../lib/llm/client';
import { connectPostgres, getCampaignStore, closeAllStores, CampaignStore } from '../../lib/store';
import { sendEmailWithSendgrid } from '../../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { generateEmailCopy } from '../../lib/stages/generateEmailCopy';
import { logCampaignResult } from '../../lib/stages/logCampaignResult';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { sharedRedisLimiter } from '../../lib/sendgrid/rateLimiter';
import { campaignStats } from '../../lib/stats/campaignStats';
import { renderDashboard } from '../../lib/stats/dashboardHtml';
import { redactSecrets } from '../../lib/redact';
import { nodeError } from '../../nodes/shared/context';
import { apiKeyCalls, checkKeyRequest, createApiKey, listApiKeys, parseApiKey, revokeApiKey } from '../../lib/api/apiKeys';
import type { DeliveryResult } from '../../lib/schemas';
import type { MailSendBody } from '../../lib/sendgrid/mailRequest';
import { campaignInput, contacts } from '../helpers/fixtures';
import { createTestDatabase } from '../helpers/services';
import { recordTally } from '../helpers/tally';
import { sql } from '../helpers/sql';

jest.setTimeout(120_000);

const SG_KEY = 'SG.hardening-secret-sendgrid.Zq0123456789abcdefghijKLMN';
const LLM_KEY = 'sk-hardening-secret-llm-key-0123456789ABCDEF';
const URL_PASSWORD = 'hunter2';
const DB_PASSWORD = 'pg-hardening-password-77';
const REDIS_PASSWORD = 'redis-hardening-password-88';
const SECRETS = [SG_KEY, LLM_KEY, URL_PASSWORD, DB_PASSWORD, REDIS_PASSWORD];
/** The forms a secret can take on its way out: as is, URL-encoded, base64 (Basic auth of user:password). */
const needlesOf = (s: string) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64'), Buffer.from(`user:${s}`).toString('base64').slice(0, 12)];
const NEEDLES = SECRETS.flatMap(needlesOf);
/** Secrets made while the tests run (campaign API keys): looked for like the fixed ones. */
const RUNTIME_NEEDLES: string[] = [];

let attacks = 0;
const leaks: string[] = [];
/** Where a secret got out: one entry per attacked call site (an error, a stored table, the dashboard). */
const leakedAt = new Set<string>();
afterAll(() => recordTally({ suite: 'secrets', attacks, let_in: leakedAt.size, inputs: attacks }));
let mark = 0;
beforeEach(() => (mark = leaks.length));
const leaksInThisTest = () => leaks.slice(mark);

/** Records every secret found in what a user, a log or a stored row would see. */
function scan(where: string, ...values: unknown[]): void {
	const text = values
		.map((v) => (v instanceof Error ? `${v.message}\n${v.stack}\n${JSON.stringify(v)}\n${String(v)}\n${JSON.stringify((v as { description?: unknown }).description ?? '')}` : typeof v === 'string' ? v : JSON.stringify(v)))
		.join('\n');
	for (const n of [...NEEDLES, ...RUNTIME_NEEDLES])
		if (text.includes(n)) {
			leaks.push(`${where}: ${n.slice(0, 8)}…`);
			leakedAt.add(where);
		}
}

/** A server that answers every request with `answer`, which sees the request's Authorization header. */
type Answer = { status: number; headers?: Record<string, string>; body: string };
async function echoServer(answer: (auth: string, path: string) => Answer) {
	const server = http.createServer((req, res) => {
		req.resume();
		req.on('end', () => {
			const a = answer(String(req.headers.authorization ?? ''), req.url ?? '/');
			res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
			res.end(a.body);
		});
	});
	await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
	return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** What a hostile or careless proxy/server echoes: the Authorization header and the key, in every shape. */
const echoes = (auth: string) => {
	const key = auth.replace(/^Bearer /, '');
	return [
		`Authorization header "${auth}" was refused`,
		`invalid api key ${key}`,
		`retry at https://proxy.example/v3/mail/send?api_key=${encodeURIComponent(key)}&sig=${key}`,
		`upstream http://user:${URL_PASSWORD}@upstream.example:8080 said: ${JSON.stringify({ authorization: auth, 'x-api-key': key })}`,
		`${'x'.repeat(200_000)} ${auth}`, // a huge body with the secret at the end
	];
};

const SEND_STATUSES = [400, 401, 500];

describe('SendGrid: a server that echoes the request back', () => {
	let server: Awaited<ReturnType<typeof echoServer>>;
	let store: CampaignStore;
	let db: Awaited<ReturnType<typeof createTestDatabase>>;
	let mode = { status: 400, echo: 0, shape: 'errors' as 'errors' | 'text' | 'header' };
	beforeAll(async () => {
		server = await echoServer((auth): Answer => {
			const text = echoes(auth)[mode.echo];
			if (mode.shape === 'text') return { status: mode.status, headers: { 'content-type': 'text/plain' }, body: text };
			if (mode.shape === 'header') return { status: mode.status, headers: { 'x-echo-authorization': auth, 'www-authenticate': `Bearer realm="${auth}"` }, body: JSON.stringify({ errors: [{ message: 'refused', field: null }] }) };
			return { status: mode.status, body: JSON.stringify({ errors: [{ message: text, field: auth, help: text }, { message: `personalizations.0.to: ${auth}`, field: 'personalizations.0.to' }] }) };
		});
		db = await createTestDatabase('eca_hardening_secrets');
		store = await getCampaignStore({ postgres: db.connection });
	});
	afterAll(async () => {
		await server?.close();
		await closeAllStores();
		await db?.drop();
	});

	it('never copies the key into a SendGridApiError (message, stack, JSON, errors, headers)', async () => {
		const transport = createSendGridTransport({ apiKey: SG_KEY, baseUrl: server.url, timeoutMs: 5000 });
		const body = { personalizations: [{ to: [{ email: 'a@example.org' }], custom_args: {} }], from: { email: 'f@example.org' }, subject: 's', content: [{ type: 'text/plain', value: 'x' }] } as MailSendBody;
		for (const status of SEND_STATUSES)
			for (const shape of ['errors', 'text', 'header'] as const)
				for (let echo = 0; echo < echoes('').length; echo++) {
					mode = { status, echo, shape };
					attacks++;
					const e = await transport.sendMail(body).then(
						() => undefined,
						(x: unknown) => x,
					);
					expect(e).toBeInstanceOf(SendGridApiError);
					scan(`sendMail ${status}/${shape}/${echo}`, e, (e as SendGridApiError).errors, (e as SendGridApiError).headers);
					// A server's body is copied capped, never whole.
					expect((e as Error).message.length).toBeLessThan(1200);
				}
		expect(leaksInThisTest()).toEqual([]);
	});

	it('failed sends leave no secret in the stored delivery rows, the run row, the results or the dashboard', async () => {
		const campaign = parseCampaign(campaignInput({ id: 'secrets-send' }));
		const results: DeliveryResult[] = [];
		for (const status of SEND_STATUSES)
			for (let echo = 0; echo < echoes('').length; echo++) {
				mode = { status, echo, shape: 'errors' };
				attacks++;
				const transport = createSendGridTransport({ apiKey: SG_KEY, baseUrl: server.url, timeoutMs: 5000 });
				const payloads = buildEmailPayloads(campaign, contacts(2, `s${status}-${echo}.example`), `run_secrets_${status}_${echo}`, { step: 1 });
				const out = await sendEmailWithSendgrid(payloads, { transport, store }, { backoff: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 2 } }).catch((e: unknown) => {
					scan(`send stage ${status}/${echo}`, e);
					return (e as { partial?: unknown[] }).partial ?? [];
				});
				scan(`send stage ${status}/${echo}`, out);
				for (const b of out as Array<{ results: DeliveryResult[] }>) results.push(...b.results);
			}
		// Log Campaign Result writes what it is handed (items a user may have built from raw errors).
		const handed = results.map((r, i) => ({ ...r, error: i % 2 ? `proxy said: Bearer ${SG_KEY}` : `${r.error ?? ''} via http://user:${URL_PASSWORD}@proxy.example/?token=${LLM_KEY}` }));
		attacks += handed.length;
		await logCampaignResult(handed, { store });
		attacks++;
		await store.startRun({ runId: 'run_secrets_failed', campaignId: 'secrets-send', mode: 'live' });
		await store.refreshRun('run_secrets_failed', { finished: true, error: `agent stopped: SendGrid answered 401 for "Authorization: Bearer ${SG_KEY}" at http://u:${URL_PASSWORD}@h/` });

		const deliveries = await store.deliveries({ campaignId: 'secrets-send' });
		expect(deliveries.length).toBeGreaterThan(0);
		expect(deliveries.filter((d) => d.error)).not.toHaveLength(0);
		scan('stored delivery rows', deliveries);
		const runs = (await sql(store).query("SELECT * FROM eca_runs WHERE campaign_id = 'secrets-send'")).rows;
		expect(runs.find((r) => r.run_id === 'run_secrets_failed')).toMatchObject({ status: 'failed', error: expect.stringContaining('agent stopped') });
		scan('stored run rows', runs);

		// A row written before redaction existed (or by another tool) is still never shown.
		attacks++;
		await sql(store).query("UPDATE eca_deliveries SET error = $1 WHERE id = (SELECT min(id) FROM eca_deliveries WHERE campaign_id = 'secrets-send')", [
			`legacy: Authorization: Bearer ${SG_KEY}; postgres://app:${URL_PASSWORD}@db/x; key ${LLM_KEY}`,
		]);
		const stats = await campaignStats(store, { campaignId: 'secrets-send', recent: 500 });
		scan('stats JSON', stats);
		const html = renderDashboard(stats);
		expect(html).toContain('legacy: Authorization: Bearer ***');
		scan('dashboard HTML', html);
		expect(leaksInThisTest()).toEqual([]);
	});
});

describe('LLM endpoint: a server that echoes the key back', () => {
	let server: Awaited<ReturnType<typeof echoServer>>;
	let status = 401;
	let echo = 0;
	beforeAll(async () => {
		server = await echoServer((auth): Answer => {
			const key = auth.replace(/^Bearer /, '');
			if (echo === 0) return { status, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com/account/api-keys.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }) };
			if (echo === 1) return { status, headers: { 'content-type': 'text/plain', 'x-echo': auth }, body: `upstream refused ${auth}` };
			return { status, body: JSON.stringify({ error: { message: echoes(auth)[echo % echoes(auth).length] } }) };
		});
	});
	afterAll(() => server?.close());

	it('errors from complete(), listModels() and the copy stage carry no key', async () => {
		const chat = createChatModel({ apiKey: LLM_KEY, baseUrl: `${server.url}/v1`, timeoutMs: 5000 });
		const campaign = parseCampaign(campaignInput({ id: 'secrets-llm' }));
		const payloads = buildEmailPayloads(campaign, contacts(1), 'run_llm', { step: 1 });
		for (const s of [400, 401, 500])
			for (echo = 0; echo < 2 + echoes('').length; echo++) {
				status = s;
				attacks += 3;
				scan(`complete ${s}/${echo}`, await chat.complete({ messages: [{ role: 'user', content: 'hi' }], format: 'text' }).catch((e: unknown) => e));
				scan(`listModels ${s}/${echo}`, await chat.listModels().catch((e: unknown) => e));
				const staged = await generateEmailCopy(payloads, { mode: 'llm', write: { maxAttempts: 1, backoff: { maxRetries: 0, baseDelayMs: 1, maxDelayMs: 2 } } }, { chat }).catch((e: unknown) => e);
				scan(`copy stage ${s}/${echo}`, staged);
			}
		expect(leaksInThisTest()).toEqual([]);
	});
});

describe('URLs and connection settings that carry a password', () => {
	it('a SendGrid base URL with userinfo is refused, and the message masks it', () => {
		for (const baseUrl of [`http://user:${URL_PASSWORD}@127.0.0.1:9`, `ftp://user:${URL_PASSWORD}@127.0.0.1:9`, `user:${URL_PASSWORD}@127.0.0.1:9`, `http://127.0.0.1:9/?api_key=${SG_KEY}&x=1`]) {
			attacks++;
			let thrown: unknown;
			try {
				const t = createSendGridTransport({ apiKey: SG_KEY, baseUrl });
				// A URL that is accepted must still never show up with its secret.
				void t;
			} catch (e) {
				thrown = e;
			}
			if (baseUrl.includes('@')) expect(thrown).toBeInstanceOf(SendGridApiError);
			if (thrown) {
				expect((thrown as Error).message).toMatch(/SendGrid API base URL ".*\*\*\*.*"/);
				scan(`SendGrid base URL ${baseUrl.slice(0, 12)}`, thrown);
			}
		}
		expect(leaksInThisTest()).toEqual([]);
	});

	it('an LLM base URL with userinfo or a key in the query never shows them', async () => {
		for (const baseUrl of [`http://user:${URL_PASSWORD}@127.0.0.1:9/v1`, `http://127.0.0.1:9/v1?api-key=${LLM_KEY}`]) {
			attacks++;
			const chat = createChatModel({ apiKey: LLM_KEY, baseUrl, timeoutMs: 2000 });
			const e = await chat.complete({ messages: [{ role: 'user', content: 'hi' }], format: 'text' }).catch((x: unknown) => x);
			expect(e).toBeInstanceOf(Error);
			expect((e as Error).message).toMatch(/LLM endpoint http:\/\/(\*\*\*@)?127\.0\.0\.1:9\/v1/);
			scan(`LLM base URL ${baseUrl.slice(0, 12)}`, e);
		}
		expect(leaksInThisTest()).toEqual([]);
	});

	it('a database host pasted as a connection string, and the password, never appear in store errors', async () => {
		for (const host of [`postgres://app:${URL_PASSWORD}@127.0.0.1:9/db`, '127.0.0.1']) {
			attacks++;
			const e = await connectPostgres({ host, port: 9, database: 'x', user: 'app', password: DB_PASSWORD })
				.then((d) => d.query('SELECT 1').finally(() => d.close()))
				.catch((x: unknown) => x);
			expect(e).toBeInstanceOf(Error);
			scan(`Postgres host ${host.slice(0, 10)}`, e);
		}
		expect(leaksInThisTest()).toEqual([]);
	});

	it('a Redis URL or credential with a password that cannot connect fails with a clear error, without it', async () => {
		const limits = { requestsPerSecond: 1, emailsPerSecond: 0 };
		for (const conn of [`redis://:${URL_PASSWORD}@127.0.0.1:9`, `redis://default:${REDIS_PASSWORD}@127.0.0.1:9/0`, { host: '127.0.0.1', port: 9, password: REDIS_PASSWORD }]) {
			attacks++;
			const e = await sharedRedisLimiter(conn, 'acct-secrets', limits).catch((x: unknown) => x);
			expect(e).toBeInstanceOf(Error);
			expect((e as Error).message).toMatch(/Campaign Redis at \S*127\.0\.0\.1:9\S* could not be reached: connection refused — check the Campaign Redis credential/);
			scan('Redis connection', e);
		}
		expect(leaksInThisTest()).toEqual([]);
	});

	it("n8n's node errors mask whatever an unexpected error carries", () => {
		const node = { id: '1', name: 'Send', type: 't', typeVersion: 1, position: [0, 0] as [number, number], parameters: {} };
		for (const message of [`socket hang up Bearer ${SG_KEY}`, `fetch failed for http://u:${URL_PASSWORD}@h/`, `config password=${DB_PASSWORD} host=x`, `Incorrect API key provided: ${LLM_KEY}`]) {
			attacks++;
			const e = nodeError(node, new Error(message));
			expect(e).toBeInstanceOf(NodeOperationError);
			scan('nodeError', e);
		}
		expect(leaksInThisTest()).toEqual([]);
	});
});

describe('campaign API keys: the key leaves only through Create', () => {
	let store: CampaignStore;
	let db: Awaited<ReturnType<typeof createTestDatabase>>;
	beforeAll(async () => {
		db = await createTestDatabase('eca_hardening_api_keys');
		store = await getCampaignStore({ postgres: db.connection });
	});
	afterAll(async () => {
		await closeAllStores();
		await db?.drop();
	});

	it('no answer, error, list, call log or stored row carries the key or its secret, whatever the caller sends', async () => {
		const created = await createApiKey(store, { name: 'hardening', scopes: ['start', 'stats'], campaigns: 'safe-*', perMinute: 6, createdBy: 'x' });
		const key = created.apiKey;
		const { id, secret } = parseApiKey(key)!;
		RUNTIME_NEEDLES.push(...needlesOf(key), ...needlesOf(secret));
		const body = (campaignId: string, extra: object = {}) => ({ campaign: campaignInput({ id: campaignId }), contacts: contacts(1, 'hardening.example'), ...extra });
		const now = Date.UTC(2026, 10, 25, 11, 0, 1);
		// The key as data: campaign id, name, a contact, the stats campaign; a wrong secret; then over the limit; then revoked.
		const requests: Array<Parameters<typeof checkKeyRequest>[2]> = [
			{ kind: 'start', body: body(key) },
			{ kind: 'start', body: body('safe-1', { campaign: { ...campaignInput({ id: 'safe-1' }), name: `my key is ${key}` } }) },
			{ kind: 'start', body: body('safe-1', { contacts: [{ email: 'a@hardening.example', first_name: secret }] }) },
			{ kind: 'start', body: body('other', { note: `Bearer ${key}` }) },
			{ kind: 'start', body: { campaign: { id: key }, contacts: [{ email: key }] } },
			{ kind: 'stats', campaignId: key },
			{ kind: 'start', body: body('safe-2') },
			{ kind: 'start', body: body('other-campaign') },
		];
		const answers = [];
		for (const r of requests) {
			attacks++;
			answers.push(await checkKeyRequest(store, key, r, now));
		}
		expect(answers.map((a) => a.json.status)).toEqual([400, 400, 400, 400, 400, 403, 429, 429]);
		attacks++;
		answers.push(await checkKeyRequest(store, `eca_live_${id}_${secret.slice(0, 42)}${secret[42] === 'a' ? 'b' : 'a'}`, { kind: 'start', body: body(key) }, now));
		await revokeApiKey(store, id, 'hardening');
		attacks++;
		answers.push(await checkKeyRequest(store, key, { kind: 'start', body: body(key) }, now + 60_000));
		expect(answers.slice(-2).map((a) => a.json.status)).toEqual([401, 401]);
		scan('key check answers', answers);
		scan('key list', await listApiKeys(store, { includeRevoked: true }));
		scan('key call log', await apiKeyCalls(store, id, 100));
		for (const table of ['eca_api_keys', 'eca_api_key_calls', 'eca_api_rate', 'eca_runs', 'eca_campaigns'])
			scan(`stored ${table}`, (await sql(store).query(`SELECT * FROM ${table}`)).rows);
		// An error anything throws with the key in it is masked by the node error (the listed prefix stays).
		attacks++;
		const e = nodeError({ id: '1', name: 'Guard', type: 't', typeVersion: 1, position: [0, 0], parameters: {} }, new Error(`refused ${key} (${created.key.prefix})`));
		scan('nodeError with a campaign API key', e);
		expect(e.message).toContain(created.key.prefix);
		expect(leaksInThisTest()).toEqual([]);
	});
});

describe('redaction itself', () => {
	it('masks known secrets anywhere and the common shapes, and leaves ordinary messages alone', () => {
		const known = [SG_KEY, DB_PASSWORD];
		for (const text of [`x${SG_KEY}y`, `a ${encodeURIComponent(DB_PASSWORD)} b`, JSON.stringify({ password: DB_PASSWORD }), `Authorization: Basic ${Buffer.from(`user:${URL_PASSWORD}`).toString('base64')}`]) {
			attacks++;
			scan('redactSecrets', redactSecrets(text, known));
		}
		expect(redactSecrets('Row 3: "emial" is not an email address — fix the CSV; secret: is required; Bearer authentication required')).toBe(
			'Row 3: "emial" is not an email address — fix the CSV; secret: is required; Bearer authentication required',
		);
		expect(leaksInThisTest()).toEqual([]);
	});

	it('is linear: 5 MB of crafted text is redacted well under a second', () => {
		for (const unit of ['http://a@', 'Bearer abcdefgh1 ', 'password=', '"token":"', 'SG.aaaaaaaa', 'sk-', 'authorization: ', 'x'.repeat(70)]) {
			const text = unit.repeat(Math.ceil((5 * 1024 * 1024) / unit.length));
			const t0 = performance.now();
			redactSecrets(text, [SG_KEY]);
			// A linear pass takes tens of milliseconds here; a backtracking pattern takes minutes.
			expect(performance.now() - t0).toBeLessThan(3000);
		}
	});
});
