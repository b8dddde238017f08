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
