/** bench:pipeline — 100,000 recipients through the five stage nodes in real n8n, from a CSV file. */
import { campaignRig, runCampaign } from './n8nCampaign';
import { report } from './common';

const N = Number(process.env.BENCH_RECIPIENTS ?? 100_000);

async function main() {
	const rig = await campaignRig();
	try {
		const run = await runCampaign(rig, 'pipeline', N);
		if (run.accepted !== N) throw new Error(`only ${run.accepted} of ${N} accepted`);
		console.log(`five stage nodes: ${N} recipients in ${run.wall_s} s, ${run.requests} requests, n8n RSS peak ${run.peak_rss_mb} MB`);
		report({ bench: 'pipeline', recipients: N, wall_s: run.wall_s, requests: run.requests, peak_rss_mb: run.peak_rss_mb });
	} finally {
		await rig.close();
	}
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
