/** Campaigns and contacts used across tests. */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { CampaignInput, Contact } from '../../lib/schemas';

export function campaignInput(overrides: Partial<CampaignInput> = {}): CampaignInput {
	return {
		id: 'spring-launch',
		name: 'Spring launch',
		from: { email: 'news@example.com', name: 'Example News' },
		// Live marketing sends need an unsubscribe mechanism (lib/unsubscribe/mechanism.ts).
		unsubscribeUrl: 'https://unsubscribe.example/u',
		brief: {
			product: 'Acme Rocket Skates',
			audience: 'weekend skaters',
			offer: '20% off until Sunday',
			callToAction: 'Shop the sale',
			links: ['https://acme.example/sale'],
		},
		steps: [
			{
				step: 1,
				delayHours: 0,
				subject: 'Hi {{first_name|there}}, spring deals inside',
				html: '<p>Hello {{first_name|there}},</p><p>Our spring sale is on. <a href="https://acme.example/sale">Shop now</a></p>',
			},
		],
		...overrides,
	};
}

export function contacts(n: number, domain = 'example.org'): Contact[] {
	return Array.from({ length: n }, (_, i) => ({ email: `user${i}@${domain}`, first_name: `User${i}` }));
}

export function csvOf(rows: Contact[], header = 'email,first_name'): string {
	return [header, ...rows.map((r) => `${r.email},${r.first_name ?? ''}`)].join('\n');
}

/** csvOf(contacts(n, domain)) written to a file as a stream: a million rows never sit in memory at once. */
export async function writeContactsCsv(path: string, n: number, domain: string): Promise<void> {
	const out = createWriteStream(path);
	out.write('email,first_name\n');
	for (let i = 0; i < n; i += 10_000) {
		let part = '';
		for (let j = i; j < Math.min(n, i + 10_000); j++) part += `user${j}@${domain},User${j}\n`;
		if (!out.write(part)) await once(out, 'drain');
	}
	out.end();
	await once(out, 'finish');
}

/** The CSV the foundation issue asks for: 250 rows, 5 of them not email addresses. */
export function csv250(domain: string): string {
	const rows = ['email,first_name,company'];
	for (let i = 0; i < 250; i++) rows.push(i % 50 === 7 ? `broken-${i}.${domain},Bad${i},X` : `Person${i}@${domain},P${i},Co${i}`);
	return rows.join('\n');
}
