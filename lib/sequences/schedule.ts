/**
 * When a sequence step is due: enrolment time + the step's delay, in the contact's time zone,
 * moved into the send window (e.g. weekdays 09:00-17:00). Wall-clock maths goes through Intl, so
 * daylight-saving changes land on the right local hour.
 */

export interface SendWindow {
	/** Days allowed, 0 = Sunday ... 6 = Saturday. */
	days: number[];
	/** Local hours [start, end), e.g. 9 and 17. */
	startHour: number;
	endHour: number;
}

export const WEEKDAYS_9_TO_5: SendWindow = { days: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 };

interface Wall {
	year: number;
	month: number;
	day: number;
	hour: number;
	minute: number;
	second: number;
	weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
	let f = formatters.get(timeZone);
	if (!f) {
		f = new Intl.DateTimeFormat('en-US', {
			timeZone,
			hourCycle: 'h23',
			year: 'numeric',
			month: 'numeric',
			day: 'numeric',
			hour: 'numeric',
			minute: 'numeric',
			second: 'numeric',
			weekday: 'short',
		});
		formatters.set(timeZone, f);
	}
	return f;
}

export function isValidTimeZone(tz: string | undefined): tz is string {
	if (!tz) return false;
	try {
		formatter(tz);
		return true;
	} catch {
		return false;
	}
}

const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

export function wallClock(ms: number, timeZone: string): Wall {
	const parts = Object.fromEntries(formatter(timeZone).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
	return {
		year: Number(parts.year),
		month: Number(parts.month),
		day: Number(parts.day),
		hour: Number(parts.hour),
		minute: Number(parts.minute),
		second: Number(parts.second),
		weekday: WEEKDAY[parts.weekday],
	};
}

/** The instant when the clock in timeZone shows this wall time (the later one if it occurs twice, the next valid one in a gap). */
export function fromWallClock(w: Omit<Wall, 'weekday'>, timeZone: string): number {
	const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
	let guess = asUtc;
	for (let i = 0; i < 3; i++) {
		const seen = wallClock(guess, timeZone);
		const seenUtc = Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute, seen.second);
		const diff = asUtc - seenUtc;
		if (diff === 0) return guess;
		guess += diff;
	}
	return guess;
}

/** Moves an instant forward into the send window (unchanged when already inside it). */
export function intoWindow(ms: number, window: SendWindow | undefined, timeZone = 'UTC'): number {
	if (!window || window.days.length === 0) return ms;
	let t = ms;
	for (let i = 0; i < 8 * 24; i++) {
		const w = wallClock(t, timeZone);
		if (window.days.includes(w.weekday) && w.hour >= window.startHour && w.hour < window.endHour) return t;
		// Next candidate: today's window start if it is still ahead, else tomorrow's.
		const startToday = fromWallClock({ year: w.year, month: w.month, day: w.day, hour: window.startHour, minute: 0, second: 0 }, timeZone);
		if (startToday > t && window.days.includes(w.weekday)) return startToday;
		const tomorrow = new Date(Date.UTC(w.year, w.month - 1, w.day + 1));
		t = fromWallClock({ year: tomorrow.getUTCFullYear(), month: tomorrow.getUTCMonth() + 1, day: tomorrow.getUTCDate(), hour: window.startHour, minute: 0, second: 0 }, timeZone);
		if (window.days.includes(wallClock(t, timeZone).weekday)) return t;
	}
	return t;
}

/**
 * Due time of a step: enrolled + delay. Whole-day delays keep the local time of day across DST
 * changes (Day 3 at 10:00 stays 10:00 local); hour delays are exact durations.
 */
export function stepDueAt(enrolledAt: number, delayHours: number, timeZone: string | undefined, window?: SendWindow): number {
	const tz = isValidTimeZone(timeZone) ? timeZone : 'UTC';
	let due: number;
	if (delayHours > 0 && delayHours % 24 === 0) {
		const w = wallClock(enrolledAt, tz);
		const d = new Date(Date.UTC(w.year, w.month - 1, w.day + delayHours / 24));
		due = fromWallClock({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: w.hour, minute: w.minute, second: w.second }, tz);
	} else due = enrolledAt + delayHours * 3_600_000;
	return intoWindow(due, window, tz);
}

/**
 * The IANA name Intl resolves a zone to ("europe/berlin" → "Europe/Berlin", "US/Pacific" →
 * "America/Los_Angeles"), or undefined when Intl does not know it or the name is over 64 characters.
 */
export function canonicalTimeZone(tz: string | undefined): string | undefined {
	const name = tz?.trim();
	if (!name || name.length > 64) return undefined;
	try {
		// A throwaway formatter: the cache above holds one per canonical zone, not one per spelling a list uses.
		return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
	} catch {
		return undefined;
	}
}

/** A local time of day, as "Local Send Time" takes it: "09:00", "9:30", "17:05". */
export interface LocalTime {
	hour: number;
	minute: number;
}

/** "HH:MM" (24-hour) → { hour, minute }, or undefined when it is not one. */
export function parseLocalTime(value: string | undefined): LocalTime | undefined {
	const parts = value?.trim().split(':');
	if (!parts || parts.length !== 2 || !/^\d{1,2}$/.test(parts[0]) || !/^\d{2}$/.test(parts[1])) return undefined;
	const hour = Number(parts[0]);
	const minute = Number(parts[1]);
	return hour <= 23 && minute <= 59 ? { hour, minute } : undefined;
}

export const formatLocalTime = (t: LocalTime): string => `${String(t.hour).padStart(2, '0')}:${String(t.minute).padStart(2, '0')}`;

/** Whether a local time of day falls inside the window's hours [startHour, endHour). */
export function timeInWindow(t: LocalTime, window: SendWindow | undefined): boolean {
	return !window || (t.hour >= window.startHour && t.hour < window.endHour);
}

/**
 * The first instant at or after `now` when the clock in timeZone shows `time`, on a day the window
 * allows (any day without a window). Calendar days are counted in the zone, so DST changes keep the
 * local hour; a time that does not exist that day (inside a spring-forward gap) gives the next valid one.
 */
export function nextLocalTime(now: number, time: LocalTime, timeZone: string, window?: SendWindow): number {
	const today = wallClock(now, timeZone);
	for (let d = 0; d < 9; d++) {
		const date = new Date(Date.UTC(today.year, today.month - 1, today.day + d));
		if (window && window.days.length > 0 && !window.days.includes(date.getUTCDay())) continue;
		const t = fromWallClock({ year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate(), hour: time.hour, minute: time.minute, second: 0 }, timeZone);
		if (t >= now) return t;
		// A wall time the autumn change repeats (an hour, or half an hour on Lord Howe): its other occurrence may still be ahead.
		for (const again of [t + 1_800_000, t + 3_600_000]) {
			const w = wallClock(again, timeZone);
			if (again >= now && w.day === date.getUTCDate() && w.hour === time.hour && w.minute === time.minute) return again;
		}
	}
	throw new Error(`no day in the send window ${JSON.stringify(window?.days)}`);
}
