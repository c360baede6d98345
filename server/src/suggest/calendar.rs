//! Availability in a job window: how much of it falls in working hours, how much overlaps
//! booked visits, how much is both on shift and free.

use super::Shift;

pub(crate) const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;
/// Windows are assessed over at most their first 31 days: bounds the work per engineer, and a
/// month is already more than any visit window.
const MAX_WINDOW_MS: i64 = 31 * DAY_MS;
/// Times are clamped to ±10^15 ms (about ±31,700 years) so no arithmetic on them overflows.
const TIME_LIMIT_MS: i64 = 1_000_000_000_000_000;
/// 1970-01-01 was a Thursday (weekday 3, Monday = 0).
const EPOCH_WEEKDAY: i64 = 3;

/// Milliseconds of the window in each state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Availability {
    pub window_ms: i64,
    /// Outside working hours.
    pub off_shift_ms: i64,
    /// Overlapping booked visits (on shift or not).
    pub busy_ms: i64,
    /// On shift and not booked.
    pub free_ms: i64,
}

impl Availability {
    /// The free share of the window, `0..=1`.
    pub fn free_fraction(&self) -> f64 {
        self.free_ms as f64 / self.window_ms as f64
    }
}

/// The assessed window: `[start, end)` with at least one minute and at most
/// [`MAX_WINDOW_MS`].
pub(crate) fn assessed_window(start: i64, end: i64) -> (i64, i64) {
    let start = start.clamp(-TIME_LIMIT_MS, TIME_LIMIT_MS);
    let end = end.clamp(start + MINUTE_MS, start + MAX_WINDOW_MS);
    (start, end)
}

/// Keeps valid shifts only (weekday 0..=6, minutes 0..=1440, not empty).
pub(crate) fn valid_shifts(shifts: &[Shift]) -> Vec<Shift> {
    let mut v: Vec<Shift> = shifts
        .iter()
        .copied()
        .filter(|s| {
            s.weekday <= 6
                && s.start_minute <= 1440
                && s.end_minute <= 1440
                && s.start_minute != s.end_minute
        })
        .collect();
    v.sort_by_key(|s| (s.weekday, s.start_minute, s.end_minute));
    v.dedup();
    v
}

/// Sorts and merges windows into disjoint, non-adjacent `[start, end)` intervals; drops empty
/// ones.
pub(crate) fn merge(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.retain(|(s, e)| s < e);
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Availability of an engineer with `shifts` (valid, see [`valid_shifts`]; empty = always on
/// shift) and `booked` (merged, see [`merge`]) over `window` (see [`assessed_window`]), in an
/// organisation `offset_min` minutes ahead of UTC.
pub(crate) fn availability(
    window: (i64, i64),
    shifts: &[Shift],
    booked: &[(i64, i64)],
    offset_min: i32,
) -> Availability {
    let (start, end) = window;
    let window_ms = end - start;

    let on_shift: Vec<(i64, i64)> = if shifts.is_empty() {
        vec![window]
    } else {
        shift_intervals(window, shifts, offset_min)
    };
    let on_ms: i64 = on_shift.iter().map(|(s, e)| e - s).sum();

    // Booked intervals that reach into the window, clipped to it.
    let first = booked.partition_point(|&(_, e)| e <= start);
    let booked = booked[first..]
        .iter()
        .take_while(|&&(s, _)| s < end)
        .map(|&(s, e)| (s.max(start), e.min(end)));
    let mut busy_ms = 0;
    let mut on_and_busy_ms = 0;
    let mut i = 0; // on_shift intervals ending before the current booking are done
    for (bs, be) in booked {
        busy_ms += be - bs;
        while i < on_shift.len() && on_shift[i].1 <= bs {
            i += 1;
        }
        for &(os, oe) in &on_shift[i..] {
            if os >= be {
                break;
            }
            on_and_busy_ms += oe.min(be) - os.max(bs);
        }
    }
    Availability {
        window_ms,
        off_shift_ms: window_ms - on_ms,
        busy_ms,
        free_ms: on_ms - on_and_busy_ms,
    }
}

/// Working periods overlapping the window, clipped to it, merged.
fn shift_intervals(window: (i64, i64), shifts: &[Shift], offset_min: i32) -> Vec<(i64, i64)> {
    let (start, end) = window;
    let offset_ms = i64::from(offset_min) * MINUTE_MS;
    // Local days touched by the window, plus the day before for night shifts running past
    // midnight into it.
    let first_day = (start + offset_ms).div_euclid(DAY_MS) - 1;
    let last_day = (end - 1 + offset_ms).div_euclid(DAY_MS);
    let mut out = Vec::with_capacity(4);
    for day in first_day..=last_day {
        let weekday = (day + EPOCH_WEEKDAY).rem_euclid(7) as u8;
        let midnight_utc = day * DAY_MS - offset_ms;
        for s in shifts.iter().filter(|s| s.weekday == weekday) {
            let from = midnight_utc + i64::from(s.start_minute) * MINUTE_MS;
            let mut to = midnight_utc + i64::from(s.end_minute) * MINUTE_MS;
            if s.end_minute < s.start_minute {
                to += DAY_MS;
            }
            let (from, to) = (from.max(start), to.min(end));
            if from < to {
                out.push((from, to));
            }
        }
    }
    merge(out)
}
