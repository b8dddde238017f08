/**
 * Each contact in their language and hour: which language a contact's copy is written in (a contact
 * field, else the campaign's language) and, with a Local Send Time, the instant their message goes
 * out (that local time in their time zone, inside the campaign's send window). What fell back, and
 * who is left for a later run, is counted, never dropped silently.
 */
import { normalizeLanguage } from '../llm/language';
import { CampaignInputError, LIMITS } from '../schemas';
import type { Campaign, Contact } from '../schemas';
import { LocalTime, canonicalTimeZone, formatLocalTime, nextLocalTime, parseLocalTime, timeInWindow } from '../sequences/schedule';
import { mergeFieldName } from './loadContacts';

export const DEFAULT_LANGUAGE_FIELD = 'language';
export const DEFAULT_TIME_ZONE_FIELD = 'timezone';

/**
 * Distinct copy languages one build may have: each costs one LLM call per step, variant and tone, so a
 * list whose language column holds hundreds of distinct tags (en-US, en-GB, en-AU…) is refused with
 * the reason rather than paid for.
 */
export const MAX_LANGUAGES = 50;

/** Distinct example values kept in a report, each cut to this many characters. */
const EXAMPLES = 10;
const EXAMPLE_CHARS = 40;

export interface AudienceOptions {
	/** Contact field holding the language; '' gives every contact the campaign's language. Default `language`. */
	languageField?: string;
	/** Contact field holding an IANA time zone (used with localSendTime). Default `timezone`. */
	timeZoneField?: string;
	/** "HH:MM": each contact's message goes out at this local time (next occurrence, inside the send window). */
	localSendTime?: string;
	/** IANA zone for contacts without a usable one; default the campaign's `timezone`. */
	defaultTimeZone?: string;
	now?: number;
}

/** What the audience looked like: per-language counts, fallbacks, send instants, who waits for a later run. */
export interface AudienceReport {
	/** Contacts in this build's payloads (the rest are left for later). */
	recipients: number;
	/** Contacts per copy language (all contacts, including those left for later). */
	languages: Record<string, number>;
	/** Contacts whose language field held something that is not a language tag: they get the campaign's language. */
	language_invalid: number;
	language_invalid_values: string[];
	/** Set with a Local Send Time. */
	local_send_time?: string;
	/** Contacts with no time zone, and with one Intl does not know: both get the campaign's time zone. */
	timezone_missing: number;
	timezone_unknown: number;
	timezone_unknown_values: string[];
	/** Recipients per send instant (ISO) in this build's payloads. */
	send_at: Record<string, number>;
	/** Contacts whose local send time is beyond SendGrid's 72 h horizon: not claimed, a later run sends them. */
	left_for_later: number;
	/** The earliest instant among those left for later (ISO). */
	left_for_later_from?: string;
}

export function emptyAudience(): AudienceReport {
	return { recipients: 0, languages: {}, language_invalid: 0, language_invalid_values: [], timezone_missing: 0, timezone_unknown: 0, timezone_unknown_values: [], send_at: {}, left_for_later: 0 };
}

const addTo = (into: Record<string, number>, from: Record<string, number>) => {
	for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};
const addExamples = (into: string[], values: Iterable<string>) => {
	for (const v of values) if (into.length < EXAMPLES && !into.includes(v)) into.push(v);
};

/** Two reports as one (the Campaign Agent builds a run in chunks). */
export function mergeAudience(a: AudienceReport | undefined, b: AudienceReport | undefined): AudienceReport {
	const out = emptyAudience();
	for (const r of [a, b]) {
		if (!r) continue;
		out.recipients += r.recipients;
		addTo(out.languages, r.languages);
		out.language_invalid += r.language_invalid;
		addExamples(out.language_invalid_values, r.language_invalid_values);
		if (r.local_send_time) out.local_send_time = r.local_send_time;
		out.timezone_missing += r.timezone_missing;
		out.timezone_unknown += r.timezone_unknown;
		addExamples(out.timezone_unknown_values, r.timezone_unknown_values);
		addTo(out.send_at, r.send_at);
		out.left_for_later += r.left_for_later;
		if (r.left_for_later_from && (!out.left_for_later_from || r.left_for_later_from < out.left_for_later_from)) out.left_for_later_from = r.left_for_later_from;
	}
	return out;
}

/** A contact's field by the name given, or by its merge-field form ("Time Zone" → time_zone): `mergeName` is mergeFieldName(field), worked out once per planner, not per contact. */
function fieldOf(c: Contact, field: string, mergeName: string): string | undefined {
	const v = c[field] ?? c[mergeName];
	return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

const example = (v: string) => (v.length > EXAMPLE_CHARS ? `${v.slice(0, EXAMPLE_CHARS)}…` : v);

/** Where one contact goes: its copy language, and its send instant (Unix seconds) with a Local Send Time. */
export interface Placement {
	language: string;
	sendAt?: number;
	/** Beyond SendGrid's horizon: not in this run's payloads. */
	later: boolean;
}

/** Places contacts one by one and keeps the report; one planner per build. */
export class AudiencePlanner {
	readonly report = emptyAudience();
	readonly campaignLanguage: string;
	private readonly languageField: string;
	private readonly timeZoneField: string;
	private readonly languageKey: string;
	private readonly timeZoneKey: string;
	private readonly local?: { time: LocalTime; zone: string; horizon: number; now: number; window: Campaign['sendWindow'] };
	private readonly zoneOf = new Map<string, string | undefined>();
	private readonly instantOf = new Map<string, number>();

	constructor(campaign: Campaign, options: AudienceOptions = {}) {
		this.campaignLanguage = normalizeLanguage(campaign.language) ?? campaign.language;
		this.languageField = (options.languageField ?? DEFAULT_LANGUAGE_FIELD).trim();
		this.timeZoneField = (options.timeZoneField ?? DEFAULT_TIME_ZONE_FIELD).trim() || DEFAULT_TIME_ZONE_FIELD;
		this.languageKey = mergeFieldName(this.languageField);
		this.timeZoneKey = mergeFieldName(this.timeZoneField);
		const localSendTime = options.localSendTime?.trim();
		if (!localSendTime) return;
		const time = parseLocalTime(localSendTime);
		if (!time) throw new CampaignInputError(`Local Send Time must be a 24-hour time such as 09:00 or 17:30, not "${example(localSendTime)}"`, 'localSendTime');
		const fallback = options.defaultTimeZone?.trim() || campaign.timezone;
		const zone = canonicalTimeZone(fallback);
		if (!zone)
			throw new CampaignInputError(
				`${options.defaultTimeZone?.trim() ? 'Default Time Zone' : "The campaign's time zone"} "${example(fallback)}" is not an IANA time zone (such as Europe/Berlin or America/New_York); Local Send Time needs one for contacts without a time zone`,
				options.defaultTimeZone?.trim() ? 'defaultTimeZone' : 'timezone',
			);
		const window = campaign.sendWindow;
		if (!timeInWindow(time, window))
			throw new CampaignInputError(
				`Local Send Time ${formatLocalTime(time)} is outside the campaign's send window (${String(window!.startHour).padStart(2, '0')}:00-${String(window!.endHour).padStart(2, '0')}:00) — pick a time inside it or widen the window`,
				'localSendTime',
			);
		const now = options.now ?? Date.now();
		this.local = { time, zone, now, window, horizon: Math.floor(now / 1000) + LIMITS.maxSendAtHours * 3600 };
		this.report.local_send_time = formatLocalTime(time);
	}

	place(c: Contact): Placement {
		const r = this.report;
		let language = this.campaignLanguage;
		const rawLanguage = this.languageField ? fieldOf(c, this.languageField, this.languageKey) : undefined;
		if (rawLanguage !== undefined) {
			const tag = normalizeLanguage(rawLanguage);
			if (tag) language = tag;
			else {
				r.language_invalid++;
				addExamples(r.language_invalid_values, [example(rawLanguage.trim())]);
			}
		}
		if (r.languages[language] === undefined && Object.keys(r.languages).length >= MAX_LANGUAGES)
			throw new CampaignInputError(
				`The contacts' ${this.languageField} field names more than ${MAX_LANGUAGES} languages (${Object.keys(r.languages).slice(0, 8).join(', ')}, …, ${language}); each one costs its own copy — map regional tags to fewer languages (en-GB → en), or clear Language Field to write everyone in the campaign's language`,
				'languageField',
			);
		r.languages[language] = (r.languages[language] ?? 0) + 1;
		if (!this.local) {
			r.recipients++;
			return { language, later: false };
		}
		const rawZone = fieldOf(c, this.timeZoneField, this.timeZoneKey);
		let zone = this.local.zone;
		if (rawZone === undefined) r.timezone_missing++;
		else {
			let known = this.zoneOf.get(rawZone);
			if (!this.zoneOf.has(rawZone)) this.zoneOf.set(rawZone, (known = canonicalTimeZone(rawZone)));
			if (known) zone = known;
			else {
				r.timezone_unknown++;
				addExamples(r.timezone_unknown_values, [example(rawZone.trim())]);
			}
		}
		let instant = this.instantOf.get(zone);
		if (instant === undefined) this.instantOf.set(zone, (instant = nextLocalTime(this.local.now, this.local.time, zone, this.local.window)));
		const sendAt = Math.floor(instant / 1000);
		const iso = new Date(sendAt * 1000).toISOString();
		if (sendAt > this.local.horizon) {
			r.left_for_later++;
			if (!r.left_for_later_from || iso < r.left_for_later_from) r.left_for_later_from = iso;
			return { language, sendAt, later: true };
		}
		r.recipients++;
		r.send_at[iso] = (r.send_at[iso] ?? 0) + 1;
		return { language, sendAt, later: false };
	}
}
