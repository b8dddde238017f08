/** Shared by the benchmarks: peak RSS sampling, command-line options and the one-JSON-object last line. */

/** The value after `--name` on the command line, if given. */
export function arg(name: string): string | undefined {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 ? process.argv[i + 1] : undefined;
}
export class PeakRss {
	peak = process.memoryUsage().rss;
	private timer = setInterval(() => (this.peak = Math.max(this.peak, process.memoryUsage().rss)), 50);
	stop(): number {
		clearInterval(this.timer);
		this.peak = Math.max(this.peak, process.memoryUsage().rss);
		return Math.round(this.peak / 1024 / 1024);
	}
}

export const seconds = (ms: number) => Math.round(ms) / 1000;

const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
/** This process's RSS when the benchmark's modules were loaded, and its peak since (for benchmarks that measure in-process work). */
const processIdle = mb(process.memoryUsage().rss);
let processPeak = processIdle;
setInterval(() => (processPeak = Math.max(processPeak, mb(process.memoryUsage().rss))), 100).unref();

/**
 * Every benchmark ends with its figures as one JSON object on the last line. Without its own
 * peak_rss_mb / idle_rss_mb (the n8n benchmarks give n8n's), the figures get this process's.
 */
export function report(figures: Record<string, unknown>): void {
	processPeak = Math.max(processPeak, mb(process.memoryUsage().rss));
	console.log(JSON.stringify({ ...figures, peak_rss_mb: figures.peak_rss_mb ?? processPeak, idle_rss_mb: figures.idle_rss_mb ?? processIdle }));
}
