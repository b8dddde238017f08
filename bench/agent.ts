/** bench:agent — 100,000 contacts through the Campaign Agent in real n8n, next to the five stage nodes in the same run. */
import { campaignRig, runCampaign } from './n8nCampaign';
import { report } from './common';

const N = Number(process.env.BENCH_CONTACTS ?? 100_000);

async function main() {
	const rig = await campaignRig();
	try {
		const agent = await runCampaign(rig, 'agent', N);
		const pipeline = await runCampaign(rig, 'pipeline', N);
		if (agent.accepted !== N || pipeline.accepted !== N) throw new Error(`not all accepted: agent ${agent.accepted}, pipeline ${pipeline.accepted}`);
		console.log(`Campaign Agent: ${N} contacts in ${agent.wall_s} s, ${agent.requests} requests, n8n RSS ${agent.idle_rss_mb} → ${agent.peak_rss_mb} MB`);
		console.log(`five stage nodes: ${pipeline.wall_s} s, ${pipeline.requests} requests, n8n RSS peak ${pipeline.peak_rss_mb} MB`);
		report({
			bench: 'agent',
			contacts: N,
			wall_s: agent.wall_s,
			requests: agent.requests,
			peak_rss_mb: agent.peak_rss_mb,
			rss_growth_mb: agent.peak_rss_mb - agent.idle_rss_mb,
			baseline_wall_s: pipeline.wall_s,
			baseline_peak_rss_mb: pipeline.peak_rss_mb,
			ratio: Math.round((pipeline.wall_s / agent.wall_s) * 10) / 10,
		});
	} finally {
		await rig.close();
	}
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
