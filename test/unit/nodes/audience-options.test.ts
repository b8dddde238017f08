/** Build Email Payload's Language Field, Time Zone Field, Local Send Time and Default Time Zone options, and its Audience output. */
import type { INodeExecutionData } from 'n8n-workflow';
import { BuildEmailPayload } from '../../../nodes/BuildEmailPayload/BuildEmailPayload.node';
import { CampaignAgent } from '../../../nodes/CampaignAgent/CampaignAgent.node';
import { wallClock } from '../../../lib/sequences/schedule';
import { campaignInput } from '../../helpers/fixtures';
import { fakeExecuteContext } from './fakeContext';

const items = (rows: Array<Record<string, string>>): INodeExecutionData[] => rows.map((json) => ({ json }));
const rows: Array<Record<string, string>> = [
	{ email: 'a@aud.example', lang: 'DE', zone: 'Asia/Tokyo' },
	{ email: 'b@aud.example', lang: 'es_MX', zone: 'America/Mexico_City' },
	{ email: 'c@aud.example', lang: '??', zone: 'Atlantis/Capital' },
	{ email: 'd@aud.example' },
];
const params = (options: Record<string, unknown>) => ({ campaignSource: 'json', campaignJson: JSON.stringify(campaignInput({ id: 'aud-node', timezone: 'Europe/Paris' })), step: 1, batchSize: 1000, options });

it('reads the options, builds one request per language and send instant, and reports the audience on its second output', async () => {
	const out = await new BuildEmailPayload().execute.call(
		fakeExecuteContext(params({ languageField: 'lang', timeZoneField: 'zone', localSendTime: '09:30', defaultTimeZone: 'America/New_York' }), items(rows)),
	);
	expect(out).toHaveLength(2);
	const requests = out[0].map((i) => i.json as { language: string; send_at: number; recipients: Array<{ email: string }> });
	const zoneOf: Record<string, string> = { 'a@aud.example': 'Asia/Tokyo', 'b@aud.example': 'America/Mexico_City', 'c@aud.example': 'America/New_York', 'd@aud.example': 'America/New_York' };
	for (const r of requests) for (const { email } of r.recipients) expect(wallClock(r.send_at * 1000, zoneOf[email])).toMatchObject({ hour: 9, minute: 30, second: 0 });
	expect(requests.map((r) => [r.language, r.recipients.map((x) => x.email)])).toEqual([
		['de', ['a@aud.example']],
		['en', ['c@aud.example', 'd@aud.example']],
		['es-MX', ['b@aud.example']],
	]);
	expect(out[1]).toHaveLength(1);
	expect(out[1][0].json).toMatchObject({
		campaign_id: 'aud-node',
		step: 1,
		requests: 3,
		recipients: 4,
		languages: { de: 1, 'es-MX': 1, en: 2 },
		language_invalid: 1,
		language_invalid_values: ['??'],
		local_send_time: '09:30',
		timezone_missing: 1,
		timezone_unknown: 1,
		timezone_unknown_values: ['Atlantis/Capital'],
		left_for_later: 0,
	});
});

it('without the options: the "language" field, no send_at; a bad Local Send Time is an error naming the option', async () => {
	const plain = await new BuildEmailPayload().execute.call(fakeExecuteContext(params({}), items([{ email: 'x@aud.example', language: 'fr' }, { email: 'y@aud.example' }])));
	expect(plain[0].map((i) => [i.json.language, i.json.send_at])).toEqual([
		['en', undefined],
		['fr', undefined],
	]);
	await expect(new BuildEmailPayload().execute.call(fakeExecuteContext(params({ localSendTime: 'nine' }), items(rows)))).rejects.toThrow(/Local Send Time must be a 24-hour time/);
	const failed = await new BuildEmailPayload().execute.call(fakeExecuteContext(params({ localSendTime: '9h' }), items(rows), { continueOnFail: true }));
	expect(failed[0][0].json).toMatchObject({ error: expect.stringMatching(/24-hour time/), field: 'localSendTime' });
	expect(failed[1]).toEqual([]);
});

it('the Campaign Agent offers the same options, in n8n\'s alphabetical order', () => {
	const collection = new CampaignAgent().description.properties.find((p) => p.name === 'audienceOptions')!;
	expect((collection.options as Array<{ name: string }>).map((o) => o.name)).toEqual(['defaultTimeZone', 'languageField', 'localSendTime', 'timeZoneField']);
	const build = new BuildEmailPayload().description.properties.find((p) => p.name === 'options')!;
	const names = (build.options as Array<{ displayName: string }>).map((o) => o.displayName);
	expect(names).toEqual([...names].sort());
	expect(names).toEqual(expect.arrayContaining(['Language Field', 'Local Send Time', 'Time Zone Field', 'Default Time Zone']));
});
