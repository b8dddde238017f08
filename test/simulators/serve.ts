/**
 * Runs a simulator in its own process (benchmarks and real-n8n tests), so its work never competes
 * with the code being measured. Control over IPC: {cmd:'stats'|'reset'|'faults'|'events'|...}.
 */
import { fork } from 'node:child_process';
import { SendGridSimulator, SendGridSimulatorOptions, SendGridFaults, EventPlan } from './sendgridServer';
import { countBy } from '../helpers/tally';

type Command =
	| { cmd: 'stats' }
	| { cmd: 'reset' }
	| { cmd: 'faults'; faults?: SendGridFaults }
	| { cmd: 'latency'; ms: number }
	| { cmd: 'accepted' }
	| { cmd: 'postEvents'; url: string; plan?: EventPlan; batchSize?: number; concurrency?: number; filter?: EventFilter }
	/** The events SendGrid would post for the accepted messages, unsigned (another simulator, holding the trigger's key, posts them). */
	| { cmd: 'events'; plan?: EventPlan; filter?: EventFilter }
	| { cmd: 'publicKey' };

/** Which accepted messages' events: a campaign's; of the last N mail sends (e.g. those in flight when a sender was killed); only these event types. */
export interface EventFilter {
	campaignId?: string;
	lastRequests?: number;
	only?: string[];
}

function eventsOf(sim: SendGridSimulator, plan: EventPlan | undefined, filter: EventFilter = {}) {
	let top = -1;
	for (const a of sim.accepted) top = Math.max(top, a.requestIndex);
	const first = top + 1 - (filter.lastRequests ?? Infinity);
	const msgs = sim.accepted.filter((a) => (!filter.campaignId || a.customArgs.campaign_id === filter.campaignId) && a.requestIndex >= first);
	return sim.eventsFor(msgs, plan).filter((e) => !filter.only || filter.only.includes(e.event));
}

export interface SimStats {
	accepted: number;
	requests: number;
	byStatus: Record<string, number>;
	duplicates: string[];
	distinctRecipients: number;
}

if (require.main === module) {
	const options = JSON.parse(process.env.SIM_OPTIONS ?? '{}') as SendGridSimulatorOptions;
	const sim = new SendGridSimulator(options);
	void sim.start(Number(process.env.SIM_PORT ?? 0)).then((url) => process.send?.({ ready: url, publicKey: sim.publicKey }));
	process.on('message', async (m: Command & { id: number }) => {
		const reply = (data: unknown) => process.send?.({ id: m.id, data });
		if (m.cmd === 'stats') {
			reply({ accepted: sim.accepted.length, requests: sim.requests.filter((r) => r.path === '/v3/mail/send').length, byStatus: countBy(sim.requests, (r) => r.status), duplicates: sim.duplicateRecipients(), distinctRecipients: new Set(sim.accepted.map((a) => `${a.customArgs.campaign_id}|${a.customArgs.step}|${a.to}`)).size } satisfies SimStats);
		} else if (m.cmd === 'reset') reply(sim.reset());
		else if (m.cmd === 'faults') reply(sim.setFaults(m.faults));
		else if (m.cmd === 'latency') reply(sim.setLatency(m.ms));
		else if (m.cmd === 'accepted') reply(sim.accepted.map((a) => ({ to: a.to, subject: a.subject, customArgs: a.customArgs, messageId: a.messageId })));
		else if (m.cmd === 'publicKey') reply(sim.publicKey);
		else if (m.cmd === 'events') reply(eventsOf(sim, m.plan, m.filter));
		else if (m.cmd === 'postEvents') {
			const events = eventsOf(sim, m.plan, m.filter);
			const answers = await sim.postEvents(m.url, events, { batchSize: m.batchSize, concurrency: m.concurrency });
			reply({ events: events.length, answers });
		}
	});
}

/** Starts the SendGrid simulator in a child process (tsx loads the TypeScript). */
export async function startSimulatorProcess(options: SendGridSimulatorOptions = {}) {
	// A million accepted messages (bench:agent, the resume e2e) take a few GB: room beyond Node's default heap limit.
	const child = fork(__filename, [], { execArgv: ['--max-old-space-size=12288', '--import', 'tsx'], env: { ...process.env, SIM_OPTIONS: JSON.stringify(options) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
	const ready = await new Promise<{ ready: string; publicKey: string }>((resolve, reject) => {
		child.once('message', (m) => resolve(m as { ready: string; publicKey: string }));
		child.once('exit', (c) => reject(new Error(`simulator exited (${c})`)));
	});
	let next = 0;
	const call = <T>(command: Command): Promise<T> =>
		new Promise((resolve) => {
			const id = ++next;
			const on = (m: { id?: number; data?: T }) => {
				if (m.id !== id) return;
				child.off('message', on);
				resolve(m.data as T);
			};
			child.on('message', on);
			child.send({ ...command, id });
		});
	return {
		baseUrl: ready.ready,
		publicKey: ready.publicKey,
		pid: child.pid,
		call,
		stats: () => call<SimStats>({ cmd: 'stats' }),
		stop: () =>
			new Promise<void>((resolve) => {
				child.once('exit', () => resolve());
				child.kill('SIGTERM');
			}),
	};
}
export type SimulatorProcess = Awaited<ReturnType<typeof startSimulatorProcess>>;
