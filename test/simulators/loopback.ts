/**
 * What both simulators share: an HTTP server on 127.0.0.1 (a free port unless one is asked for),
 * its base URL, and a stop that drops kept-alive connections so a test run ends at once.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export abstract class LoopbackServer {
	private server?: http.Server;
	private port = 0;

	/** Answers one request; the subclass's API. */
	protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;

	/** Milliseconds an idle kept-alive connection stays open (Node's default when unset). */
	protected keepAliveTimeoutMs?: number;

	get baseUrl(): string {
		return `http://127.0.0.1:${this.port}`;
	}

	start(port = 0): Promise<string> {
		const server = http.createServer((req, res) => void this.handle(req, res));
		if (this.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = this.keepAliveTimeoutMs;
		this.server = server;
		return new Promise((resolve) =>
			server.listen(port, '127.0.0.1', () => {
				this.port = (server.address() as AddressInfo).port;
				resolve(this.baseUrl);
			}),
		);
	}

	stop(): Promise<void> {
		return new Promise((resolve) => {
			const server = this.server;
			if (!server) return resolve();
			server.closeAllConnections?.();
			server.close(() => resolve());
		});
	}
}
