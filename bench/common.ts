/** Shared by the benchmarks: peak RSS sampling and the one-JSON-object last line. */
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

/** Every benchmark ends with its figures as one JSON object on the last line. */
export function report(figures: Record<string, unknown>): void {
	console.log(JSON.stringify(figures));
}
