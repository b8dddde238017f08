/**
 * Verified senders and IP pools (issue 16): the lists the delivery options pick from (through a
 * stand-in for n8n's load-options context against the SendGrid simulator), the From / IP pool / group
 * overrides on the send, ip_pool_name in the request body and the simulator's check of it, and a
 * warm-up kept per account and IP pool.
 */
import type { IExecuteFunctions, ILoadOptionsFunctions, INodeProperties, INodeType } from 'n8n-workflow';
import { SendGridSimulator } from '../simulators/sendgridServer';
import { createSendGridTransport } from '../../lib/sendgrid/client';
import { buildMailRequests } from '../../lib/sendgrid/mailRequest';
import { parseFrom, parseIpPoolName, withOverrides } from '../../lib/sendgrid/senders';
import { sendEmailWithSendgrid, type SendOptions } from '../../lib/stages/sendEmailWithSendgrid';
import { buildEmailPayloads } from '../../lib/stages/buildEmailPayload';
import { parseCampaign } from '../../lib/stages/loadCampaignContent';
import { emailPayload } from '../../lib/schemas';
import { accountOfQuotaKey, quotaKey } from '../../lib/guard/warmup';
import { closeAllStores, getCampaignStore, warmupHistory } from '../../lib/store';
import { getUnsubscribeGroups, searchIpPools, searchVerifiedSenders } from '../../nodes/shared/sendGridLists';
import { readDelivery } from '../../nodes/shared/readers';
import { SendEmailSendGrid } from '../../nodes/SendEmailSendGrid/SendEmailSendGrid.node';
import { CampaignAgent } from '../../nodes/CampaignAgent/CampaignAgent.node';
import { CampaignSequence } from '../../nodes/CampaignSequence/CampaignSequence.node';
import { LoadCampaignContent } from '../../nodes/LoadCampaignContent/LoadCampaignContent.node';
import { BuildEmailPayload } from '../../nodes/BuildEmailPayload/BuildEmailPayload.node';
import { GenerateEmailCopy } from '../../nodes/GenerateEmailCopy/GenerateEmailCopy.node';
import { LogCampaignResult } from '../../nodes/LogCampaignResult/LogCampaignResult.node';
import { SendGridTrigger } from '../../nodes/SendGridTrigger/SendGridTrigger.node';
import { CampaignApiGuard } from '../../nodes/CampaignApiGuard/CampaignApiGuard.node';
import { CampaignUnsubscribeTrigger } from '../../nodes/CampaignUnsubscribeTrigger/CampaignUnsubscribeTrigger.node';
import { CampaignPreview } from '../../nodes/CampaignPreview/CampaignPreview.node';
import { campaignInput, contacts } from '../helpers/fixtures';

jest.setTimeout(60_000);

let sim: SendGridSimulator;
beforeAll(async () => {
	sim = new SendGridSimulator();
	await sim.start();
});
afterAll(async () => {
	await sim.stop();
	await closeAllStores();
});
beforeEach(() => {
	sim.reset();
	sim.setVerifiedSenders(undefined);
	sim.setSenderIdentities(undefined);
	sim.setIpPools(undefined);
});

const transport = () => createSendGridTransport({ apiKey: 'SG.test-key', baseUrl: sim.baseUrl, timeoutMs: 5000 });
const fast: SendOptions['backoff'] = { sleep: async () => undefined };
const payloadsFor = (id: string, n: number, runId = `run-${id}`, batchSize = 100) =>
	buildEmailPayloads(parseCampaign(campaignInput({ id })), contacts(n, `${id}.example`), runId, { step: 1, batchSize });

/** n8n's load-options context as far as these methods use it: the node's SendGrid credential. */
const loadOptionsContext = (apiKey = 'SG.test-key') =>
	({
		getCredentials: async (name: string) => {
			if (name !== 'sendGridCampaignApi') throw new Error(`no ${name} credential in this test`);
			return sim.credential(apiKey);
		},
		getNode: () => ({ id: '1', name: 'Send', type: 'test', typeVersion: 1, position: [0, 0], parameters: {} }),
	}) as unknown as ILoadOptionsFunctions;

describe('the lists (load options and resource locators) against the simulator', () => {
	it('verified senders: only verified ones, every page of GET /v3/verified_senders, "Name <address>" values, filtered', async () => {
		// 150 identities: two pages of SendGrid's limit=100 paging (lastSeenID); one not verified yet.
		sim.setSenderIdentities(
			Array.from({ length: 150 }, (_, i) => ({ from_email: `sender${i}@acme.example`, from_name: i === 0 ? 'Acme Orders' : '', nickname: `s${i}`, verified: i !== 7 })),
		);
		const all = await searchVerifiedSenders.call(loadOptionsContext());
		expect(all.results).toHaveLength(149);
		expect(all.results[0]).toEqual({ name: 's0: Acme Orders <sender0@acme.example>', value: 'Acme Orders <sender0@acme.example>' });
		expect(all.results.map((r) => r.value)).not.toContain('sender7@acme.example');
		expect(all.results.at(-1)!.value).toBe('sender149@acme.example');
		const pages = sim.requests.filter((r) => r.path === '/v3/verified_senders');
		expect(pages).toHaveLength(2);
		const filtered = await searchVerifiedSenders.call(loadOptionsContext(), 'SENDER14');
		expect(filtered.results.map((r) => r.value)).toEqual(['sender14@acme.example', ...Array.from({ length: 10 }, (_, i) => `sender${140 + i}@acme.example`)]);
	});

	it("the simulator's GET /v3/verified_senders: SendGrid's shape, limit / lastSeenID / id", async () => {
		sim.setVerifiedSenders(['news@example.com', '@acme.example', 'ops@example.com']);
		const t = transport();
		const res = await t.request('GET', '/v3/verified_senders');
		expect(res.body).toEqual({
			results: [
				expect.objectContaining({ id: 1, from_email: 'news@example.com', verified: true, locked: false, nickname: 'news', reply_to: 'news@example.com' }),
				expect.objectContaining({ id: 2, from_email: 'ops@example.com', verified: true }),
			],
		});
		expect(Object.keys((res.body as { results: object[] }).results[0]).sort()).toEqual(
			['address', 'address2', 'city', 'country', 'from_email', 'from_name', 'id', 'locked', 'nickname', 'reply_to', 'reply_to_name', 'state', 'verified', 'zip'].sort(),
		);
		expect(((await t.request('GET', '/v3/verified_senders?limit=1&lastSeenID=1')).body as { results: Array<{ id: number }> }).results.map((s) => s.id)).toEqual([2]);
		expect(((await t.request('GET', '/v3/verified_senders?id=2')).body as { results: Array<{ id: number }> }).results.map((s) => s.id)).toEqual([2]);
		await expect(t.request('GET', '/v3/verified_senders?limit=ten')).rejects.toMatchObject({ status: 400 });
	});

	it('IP pools and unsubscribe groups', async () => {
		sim.setIpPools(['marketing', 'transactional', 'warmup-2']);
		expect(await transport().request('GET', '/v3/ips/pools')).toMatchObject({ status: 200, body: [{ name: 'marketing' }, { name: 'transactional' }, { name: 'warmup-2' }] });
		expect((await searchIpPools.call(loadOptionsContext())).results).toEqual([
			{ name: 'marketing', value: 'marketing' },
			{ name: 'transactional', value: 'transactional' },
			{ name: 'warmup-2', value: 'warmup-2' },
		]);
		expect((await searchIpPools.call(loadOptionsContext(), 'TRANS')).results.map((r) => r.value)).toEqual(['transactional']);
		const groups = await getUnsubscribeGroups.call(loadOptionsContext());
		expect(groups.map((g) => g.value)).toEqual(['', '101', '102']);
	});

	it('a refused key reaches the editor as an error, not an empty list', async () => {
		await expect(searchVerifiedSenders.call(loadOptionsContext('SG.wrong'))).rejects.toMatchObject({ status: 401 });
	});

	it('every node that shows a list option registers its method', () => {
		const nodes: INodeType[] = [
			new LoadCampaignContent(),
			new BuildEmailPayload(),
			new GenerateEmailCopy(),
			new SendEmailSendGrid(),
			new LogCampaignResult(),
			new CampaignAgent(),
			new SendGridTrigger(),
			new CampaignSequence(),
			new CampaignApiGuard(),
			new CampaignUnsubscribeTrigger(),
			new CampaignPreview(),
		];
		const wanted = (props: INodeProperties[]): Array<['loadOptions' | 'listSearch', string]> =>
			props.flatMap((p) => [
				...(p.typeOptions?.loadOptionsMethod ? [['loadOptions', p.typeOptions.loadOptionsMethod] as ['loadOptions', string]] : []),
				...(p.modes ?? []).flatMap((m) => (m.typeOptions?.searchListMethod ? [['listSearch', m.typeOptions.searchListMethod] as ['listSearch', string]] : [])),
				...(Array.isArray(p.options) ? wanted((p.options as INodeProperties[]).filter((o) => 'type' in o)) : []),
			]);
		const missing: string[] = [];
		let shown = 0;
		for (const node of nodes) {
			for (const [kind, method] of wanted(node.description.properties)) {
				shown++;
				const methods = node.methods as Record<string, Record<string, unknown> | undefined> | undefined;
				if (typeof methods?.[kind]?.[method] !== 'function') missing.push(`${node.description.name}: ${kind}.${method}`);
			}
		}
		expect(missing).toEqual([]);
		// Send Email, the Campaign Agent and Send Due Steps each show the three.
		expect(shown).toBeGreaterThanOrEqual(9);
	});
});

describe('the overrides and ip_pool_name on the send', () => {
	it('parses a From as "Name <address>" or an address, and an IP pool name of 2-64 characters, naming the option', () => {
		expect(parseFrom('Acme Orders <orders@acme.example>', 'F')).toEqual({ email: 'orders@acme.example', name: 'Acme Orders' });
		expect(parseFrom(' orders@acme.example ', 'F')).toEqual({ email: 'orders@acme.example' });
		expect(() => parseFrom('orders at acme', 'Options → From (Verified Sender)')).toThrow(/^Options → From \(Verified Sender\) must be an address/);
		expect(parseIpPoolName(' marketing ', 'P')).toBe('marketing');
		expect(() => parseIpPoolName('m', 'Options → IP Pool Name')).toThrow(/^Options → IP Pool Name must be 2-64 characters/);
		expect(() => parseIpPoolName('m'.repeat(65), 'P')).toThrow(/2-64/);
		expect(emailPayload.safeParse({ ...payloadsFor('schema', 1)[0], ip_pool_name: 'x' }).success).toBe(false);
	});

	it('puts ip_pool_name in the /v3/mail/send body only when set', () => {
		const [p] = payloadsFor('body', 2);
		expect(buildMailRequests(p)[0].body).not.toHaveProperty('ip_pool_name');
		const [withPool] = withOverrides([p], { ip_pool_name: 'marketing' });
		expect(buildMailRequests(withPool)[0].body.ip_pool_name).toBe('marketing');
	});

	it("the simulator refuses an ip_pool_name SendGrid's schema refuses, accepts 2 and 64 characters", async () => {
		const [p] = payloadsFor('sim-pool', 1);
		const body = buildMailRequests(p)[0].body;
		const t = transport();
		for (const bad of ['x', 'x'.repeat(65), 42]) {
			const e = await t.sendMail({ ...body, ip_pool_name: bad as string }).catch((x: unknown) => x);
			expect(e).toMatchObject({ status: 400 });
			expect(JSON.stringify((e as { body?: unknown }).body ?? (e as Error).message)).toMatch(/ip_pool_name/);
		}
		for (const ok of ['xy', 'p'.repeat(64)]) expect((await t.sendMail({ ...body, ip_pool_name: ok })).status).toBe(202);
		expect(sim.accepted.map((m) => m.ipPoolName)).toEqual(['xy', 'p'.repeat(64)]);
	});

	it('the node options reach every request: From (verified sender), IP pool, unsubscribe group', async () => {
		sim.setSenderIdentities([{ from_email: 'orders@acme.example', from_name: 'Acme Orders' }, { from_email: 'pending@acme.example', verified: false }]);
		const params: Record<string, unknown> = {
			dryRun: false,
			limits: {},
			options: { fromSender: { __rl: true, mode: 'address', value: 'orders@acme.example' }, ipPoolName: { __rl: true, mode: 'list', value: 'marketing' }, unsubscribeGroupId: '102' },
		};
		const ctx = {
			getNodeParameter: (name: string, _i: number, fallback?: unknown) => params[name] ?? fallback,
			getCredentials: async () => sim.credential(),
			getNode: () => ({ id: '1', name: 'Send', type: 'test', typeVersion: 1, position: [0, 0], parameters: {}, credentials: { sendGridCampaignApi: { id: '1', name: 'sg' } } }),
		} as unknown as IExecuteFunctions;
		const delivery = await readDelivery(ctx);
		expect(delivery.options.overrides).toEqual({ from: { email: 'orders@acme.example' }, ip_pool_name: 'marketing', asm_group_id: 102 });
		const out = await sendEmailWithSendgrid(payloadsFor('overrides', 150), { transport: delivery.transport }, { ...delivery.options, backoff: fast });
		expect(out.flatMap((b) => b.results).every((r) => r.status === 'sent')).toBe(true);
		expect(sim.accepted).toHaveLength(150);
		// The address alone keeps the campaign's sender name; the pool and group are on every message.
		expect(new Set(sim.accepted.map((m) => `${m.from}|${m.ipPoolName}|${m.asmGroupId}`))).toEqual(new Set(['orders@acme.example|marketing|102']));
		expect(buildMailRequests(withOverrides(payloadsFor('name', 1), delivery.options.overrides)[0])[0].body.from).toEqual({ email: 'orders@acme.example', name: 'Example News' });
		// An identity SendGrid has not verified is refused as the real API does (403), and the list never offers it.
		const refused = await sendEmailWithSendgrid(payloadsFor('pending', 1), { transport: transport() }, { overrides: { from: { email: 'pending@acme.example' } }, backoff: fast }).catch((e: unknown) => e);
		expect((refused as Error).message).toMatch(/^SendGrid refused the request \(403\).*verified Sender Identity.*nobody was sent$/);
	});

	it('a malformed option fails before anything is sent, naming the option', async () => {
		const params: Record<string, unknown> = { dryRun: false, limits: {}, deliveryOptions: { ipPoolName: { __rl: true, mode: 'name', value: 'm' } } };
		const ctx = {
			getNodeParameter: (name: string, _i: number, fallback?: unknown) => params[name] ?? fallback,
			getCredentials: async () => sim.credential(),
			getNode: () => ({ id: '1', name: 'Agent', type: 'test', typeVersion: 1, position: [0, 0], parameters: {} }),
		} as unknown as IExecuteFunctions;
		await expect(readDelivery(ctx, { deliveryOptions: 'deliveryOptions' })).rejects.toThrow(/^Delivery Options → IP Pool Name must be 2-64 characters/);
	});
});

describe('warm-up per account and IP pool', () => {
	const DAY = 86_400_000;
	const T0 = Date.parse('2026-12-01T09:00:00Z');

	it('keys: the account, or the account and pool', () => {
		expect(quotaKey('acct')).toBe('acct');
		expect(quotaKey('acct', 'marketing')).toBe('acct|pool:marketing');
		expect(accountOfQuotaKey('acct|pool:marketing')).toBe('acct');
		expect(accountOfQuotaKey('acct')).toBe('acct');
	});

	it('two pools on one account keep separate allowances, and the account without a pool its own', async () => {
		const store = await getCampaignStore({ inMemory: true });
		const account = 'acct-pools';
		const warmup = { start: 20, growth: 2 };
		const perDay: Array<Record<string, number>> = [];
		for (let d = 0; d < 2; d++) {
			sim.reset();
			for (const pool of ['marketing', 'transactional', undefined]) {
				const id = `pool-${pool ?? 'none'}`;
				await sendEmailWithSendgrid(payloadsFor(id, 100, `run-${id}-${d}`), { transport: transport(), store }, { account, warmup, overrides: pool ? { ip_pool_name: pool } : undefined, now: () => T0 + d * DAY, backoff: fast });
			}
			const counts: Record<string, number> = {};
			for (const m of sim.accepted) counts[m.ipPoolName ?? 'none'] = (counts[m.ipPoolName ?? 'none'] ?? 0) + 1;
			perDay.push(counts);
		}
		// Each pool (and the account's unpooled sends) warmed up on its own: 20 on day 1, 40 on day 2.
		expect(perDay).toEqual([
			{ marketing: 20, transactional: 20, none: 20 },
			{ marketing: 40, transactional: 40, none: 40 },
		]);
		expect((await warmupHistory(store, quotaKey(account, 'marketing'))).map((w) => w.allowance)).toEqual([20, 40]);
		expect((await warmupHistory(store, quotaKey(account, 'transactional'))).map((w) => w.allowance)).toEqual([20, 40]);
		expect((await warmupHistory(store, account)).map((w) => w.allowance)).toEqual([20, 40]);
		expect(await store.dailyQuotaUsed(quotaKey(account, 'marketing'), '2026-12-02')).toBe(40);
	});

	it('a daily cap holds per pool too', async () => {
		const store = await getCampaignStore({ inMemory: true });
		for (const pool of ['a-pool', 'b-pool']) {
			const out = await sendEmailWithSendgrid(payloadsFor(`cap-${pool}`, 40), { transport: transport(), store }, { account: 'acct-cap', dailyCap: 25, overrides: { ip_pool_name: pool }, now: () => T0, backoff: fast });
			const sent = out.flatMap((b) => b.results).filter((r) => r.status === 'sent').length;
			expect(sent).toBe(25);
		}
	});
});
