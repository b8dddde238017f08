import { stepDueAt, intoWindow, WEEKDAYS_9_TO_5, wallClock } from '../../lib/sequences/schedule';
import { decideWinner, normalCdf, twoProportionTest } from '../../lib/ab/stats';

const iso = (ms: number) => new Date(ms).toISOString();

describe('sequence timing', () => {
	it('keeps the local hour across the spring DST change for whole-day delays', () => {
		// 10:00 EST on Fri 6 March 2026; DST starts Sun 8 March. Day 3 is Mon 9 March 10:00 EDT.
		const enrolled = Date.parse('2026-03-06T15:00:00Z');
		expect(iso(stepDueAt(enrolled, 72, 'America/New_York'))).toBe('2026-03-09T14:00:00.000Z');
		// An hour-based delay is an exact duration: 60 h after 15:00Z on 6 March, across the change.
		expect(iso(stepDueAt(enrolled, 60, 'America/New_York'))).toBe('2026-03-09T03:00:00.000Z');
	});

	it('moves a step into the send window in the contact\'s time zone', () => {
		// Friday 13 March 2026 18:00 in New York (22:00Z) → Monday 16 March 09:00 EDT (13:00Z).
		expect(iso(intoWindow(Date.parse('2026-03-13T22:00:00Z'), WEEKDAYS_9_TO_5, 'America/New_York'))).toBe('2026-03-16T13:00:00.000Z');
		// Tuesday 07:30 in Berlin → 09:00 the same day.
		expect(iso(intoWindow(Date.parse('2026-03-17T06:30:00Z'), WEEKDAYS_9_TO_5, 'Europe/Berlin'))).toBe('2026-03-17T08:00:00.000Z');
		// Inside the window: unchanged.
		expect(iso(intoWindow(Date.parse('2026-03-17T10:00:00Z'), WEEKDAYS_9_TO_5, 'Europe/Berlin'))).toBe('2026-03-17T10:00:00.000Z');
	});

	it('handles the autumn DST change and unknown time zones', () => {
		// Sat 31 Oct 2026 09:00 EDT; DST ends Sun 1 Nov. Day 7 = Sat 7 Nov 09:00 EST = 14:00Z.
		const due = stepDueAt(Date.parse('2026-10-31T13:00:00Z'), 168, 'America/New_York');
		expect(iso(due)).toBe('2026-11-07T14:00:00.000Z');
		expect(wallClock(due, 'America/New_York').hour).toBe(9);
		expect(iso(stepDueAt(Date.parse('2026-10-31T13:00:00Z'), 24, 'Not/AZone'))).toBe('2026-11-01T13:00:00.000Z');
	});
});

describe('A/B statistics', () => {
	it('matches known values of the normal CDF and the two-proportion test', () => {
		expect(normalCdf(1.96)).toBeCloseTo(0.975, 4);
		expect(normalCdf(0)).toBeCloseTo(0.5, 6);
		const t = twoProportionTest(200, 1000, 150, 1000);
		expect(t.z).toBeCloseTo(2.9426, 3);
		expect(t.pValue).toBeCloseTo(0.003254, 4);
	});

	it('declares a winner only when the difference is significant', () => {
		const win = decideWinner(
			[
				{ variant: 'A', sent: 1000, conversions: 150 },
				{ variant: 'B', sent: 1000, conversions: 200 },
			],
			'unique_click_rate',
		);
		expect(win).toMatchObject({ decided: true, winner: 'B', leader: 'B', reason: 'significant' });
		const close = decideWinner(
			[
				{ variant: 'A', sent: 100, conversions: 10 },
				{ variant: 'B', sent: 100, conversions: 12 },
			],
			'unique_click_rate',
		);
		expect(close.decided).toBe(false);
		expect(close.leader).toBe('B');
		expect(close.reason).toMatch(/not significant/);
	});

	it('corrects for several variants', () => {
		const stats = [
			{ variant: 'A', sent: 1000, conversions: 150 },
			{ variant: 'B', sent: 1000, conversions: 185 },
			{ variant: 'C', sent: 1000, conversions: 150 },
		];
		// p ≈ 0.036 against A and C: significant at 95 % for one comparison, not after dividing alpha by two.
		expect(decideWinner(stats, 'unique_click_rate').decided).toBe(false);
		expect(decideWinner(stats.slice(0, 2), 'unique_click_rate').decided).toBe(true);
	});
});
