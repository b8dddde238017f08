/** Each contact in their language and hour: the options Build Email Payload and the Campaign Agent share. */
import type { INodeProperties } from 'n8n-workflow';
import { DEFAULT_LANGUAGE_FIELD, DEFAULT_TIME_ZONE_FIELD, type AudienceOptions } from '../../lib/contacts/audience';

/** Options of a collection, by name; a node places each in the alphabetical order n8n's lint asks for. */
const fields: INodeProperties[] = [
	{
		displayName: 'Default Time Zone',
		name: 'defaultTimeZone',
		type: 'string',
		default: '',
		placeholder: 'Europe/Berlin',
		description:
			"IANA time zone for contacts whose time zone is missing or unknown, used with Local Send Time. Empty: the campaign's time zone (its JSON's timezone, else UTC).",
	},
	{
		displayName: 'Language Field',
		name: 'languageField',
		type: 'string',
		default: DEFAULT_LANGUAGE_FIELD,
		description:
			"Contact field with each contact's language (en, de, pt-BR; case and pt_BR are normalised). Copy is written once per language and each request holds one language. Invalid values get the campaign's language and are counted in the output. Empty: the campaign's language for everyone. Without this option the field \"language\" is read.",
	},
	{
		displayName: 'Local Send Time',
		name: 'localSendTime',
		type: 'string',
		default: '',
		placeholder: '09:00',
		description:
			"Send each contact at this local time (24-hour HH:MM) in their own time zone, the next time it comes, on a day of the campaign's send window (the time must be inside its hours). Recipients past SendGrid's 72-hour scheduling limit are not claimed: they are counted as left for later and go out on a later run. Not together with Send At.",
	},
	{
		displayName: 'Time Zone Field',
		name: 'timeZoneField',
		type: 'string',
		default: DEFAULT_TIME_ZONE_FIELD,
		description:
			"Contact field with each contact's IANA time zone (Europe/Berlin, America/New_York), used with Local Send Time. Missing or unknown zones get the default time zone and are counted in the output.",
	},
];

export const audienceField = Object.fromEntries(fields.map((f) => [f.name, f])) as Record<'defaultTimeZone' | 'languageField' | 'localSendTime' | 'timeZoneField', INodeProperties>;

/** The audience options out of a node's options collection (unset ones stay unset: the lib's defaults apply). */
export function audienceOptionsOf(options: Record<string, unknown>): Pick<AudienceOptions, 'languageField' | 'timeZoneField' | 'localSendTime' | 'defaultTimeZone'> {
	const text = (name: string) => (typeof options[name] === 'string' ? (options[name] as string) : undefined);
	return { languageField: text('languageField'), timeZoneField: text('timeZoneField'), localSendTime: text('localSendTime'), defaultTimeZone: text('defaultTimeZone') };
}
