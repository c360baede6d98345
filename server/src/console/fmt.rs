//! Dates, times and numbers in the user's language and time zone: the user's own IANA zone if
//! they chose one, else the deployment's (`time_zone` in the configuration). Calendar and
//! daylight-saving arithmetic is jiff's.

use super::i18n::Lang;
use jiff::civil;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// The instant `ms` (Unix milliseconds) in `tz`; out-of-range instants clamp to jiff's range.
fn zoned(ms: i64, tz: &TimeZone) -> Zoned {
    let ts = Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    ts.to_zoned(tz.clone())
}

/// The instant of a local date and time in `tz`. A time skipped by a daylight-saving change
/// reads as the same clock time after it; a repeated one as its first occurrence (RFC 5545's
/// "compatible" rule, what calendars do).
pub fn local_ms(dt: civil::DateTime, tz: &TimeZone) -> Option<i64> {
    tz.to_ambiguous_zoned(dt)
        .compatible()
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// A local calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(civil::Date);

impl Date {
    #[cfg(test)]
    pub fn new(y: i16, m: i8, d: i8) -> Option<Date> {
        civil::Date::new(y, m, d).ok().map(Date)
    }

    /// The local date of an instant.
    pub fn of(ms: i64, tz: &TimeZone) -> Date {
        Date(zoned(ms, tz).date())
    }

    /// `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        s.trim().parse::<civil::Date>().ok().map(Date)
    }

    /// The start of the local day (midnight, or the first instant after a daylight-saving gap
    /// at midnight), in UTC milliseconds.
    pub fn start_ms(self, tz: &TimeZone) -> i64 {
        self.at_minute(0, tz)
    }

    /// `minute` minutes of clock time after the day's midnight (0 ..= 1440), in UTC
    /// milliseconds: 09:00 is 09:00 on the wall clock, whatever daylight saving did that night.
    pub fn at_minute(self, minute: i64, tz: &TimeZone) -> i64 {
        let minute = minute.clamp(0, 1440);
        let (day, minute) = if minute == 1440 {
            (self.add_days(1), 0)
        } else {
            (self, minute)
        };
        let dt = day.0.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
        local_ms(dt, tz).unwrap_or_else(|| {
            // Only at the ends of jiff's range (years -9999 and 9999).
            dt.to_zoned(TimeZone::UTC)
                .map_or(0, |z| z.timestamp().as_millisecond())
        })
    }

    pub fn add_days(self, n: i64) -> Date {
        Date(self.0.checked_add(n.days()).unwrap_or(self.0))
    }

    /// ISO weekday: 1 = Monday ... 7 = Sunday.
    pub fn weekday(self) -> u32 {
        self.0.weekday().to_monday_one_offset() as u32
    }

    /// The Monday of this date's week.
    pub fn monday(self) -> Date {
        self.add_days(-(i64::from(self.weekday()) - 1))
    }

    pub fn iso(self) -> String {
        self.0.to_string()
    }

    /// "Mon 23 Nov" / "11月23日 周一".
    pub fn label(self, lang: Lang) -> String {
        let wd = self.weekday() as usize - 1;
        let (m, d) = (self.0.month(), self.0.day());
        match lang {
            Lang::En => {
                const W: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
                const M: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                format!("{} {d} {}", W[wd], M[m as usize - 1])
            }
            Lang::ZhCn => {
                const W: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
                format!("{m}月{d}日 {}", W[wd])
            }
        }
    }
}

/// Minutes of wall-clock time after local midnight.
pub fn minute_of_day(ms: i64, tz: &TimeZone) -> i64 {
    let t = zoned(ms, tz).time();
    i64::from(t.hour()) * 60 + i64::from(t.minute())
}

/// "14:05".
pub fn time(ms: i64, tz: &TimeZone) -> String {
    zoned(ms, tz).strftime("%H:%M").to_string()
}

/// "Mon 23 Nov 14:05" / "11月23日 周一 14:05".
pub fn datetime(lang: Lang, ms: i64, tz: &TimeZone) -> String {
    format!("{} {}", Date::of(ms, tz).label(lang), time(ms, tz))
}

/// A full ISO 8601 local timestamp with its offset, for `<time datetime>`.
pub fn iso(ms: i64, tz: &TimeZone) -> String {
    zoned(ms, tz).strftime("%Y-%m-%dT%H:%M%:z").to_string()
}

/// `YYYY-MM-DDTHH:MM`, what an `<input type=datetime-local>` holds (empty for no time).
pub fn local_input(ms: Option<i64>, tz: &TimeZone) -> String {
    ms.map(|ms| zoned(ms, tz).strftime("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// What an `<input type=datetime-local>` sent (`YYYY-MM-DDTHH:MM`, seconds optional), as an
/// instant in `tz`.
pub fn parse_local(s: &str, tz: &TimeZone) -> Option<i64> {
    local_ms(s.trim().parse::<civil::DateTime>().ok()?, tz)
}

/// A span of minutes: "2 h 05 min" / "2小时05分".
pub fn minutes(lang: Lang, m: i64) -> String {
    let (h, mm) = (m.abs() / 60, m.abs() % 60);
    match (lang, h) {
        (Lang::En, 0) => format!("{mm} min"),
        (Lang::En, _) => format!("{h} h {mm:02} min"),
        (Lang::ZhCn, 0) => format!("{mm}分钟"),
        (Lang::ZhCn, _) => format!("{h}小时{mm:02}分"),
    }
}

/// An integer with thousands separators (both languages group by three with commas).
pub fn number(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A quantity in a part's minor unit: thousandths for m, l and kg, whole pieces otherwise.
pub fn qty(q: i64, unit: &str) -> String {
    if matches!(unit, "m" | "l" | "kg") {
        let whole = number(q / 1000);
        let frac = (q % 1000).abs();
        let sign = if q < 0 && q / 1000 == 0 { "-" } else { "" };
        if frac == 0 {
            format!("{sign}{whole} {unit}")
        } else {
            let frac = format!("{frac:03}");
            format!("{sign}{whole}.{} {unit}", frac.trim_end_matches('0'))
        }
    } else {
        number(q)
    }
}

/// Money in minor units (fen): "¥1,234.50".
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!(
        "{sign}¥{}.{:02}",
        number(minor.abs() / 100),
        minor.abs() % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    #[test]
    fn dates_step_through_weeks_and_months() {
        let d = Date::new(2026, 11, 24).unwrap();
        let sh = tz("Asia/Shanghai");
        assert_eq!(d.weekday(), 2);
        assert_eq!(d.monday(), Date::new(2026, 11, 23).unwrap());
        assert_eq!(Date::of(d.start_ms(&sh), &sh), d);
        assert_eq!(Date::of(d.start_ms(&sh) - 1, &sh), d.add_days(-1));
        assert_eq!(d.add_days(7), Date::new(2026, 12, 1).unwrap());
        assert_eq!(Date::parse("2026-11-24"), Some(d));
        assert_eq!(Date::parse("2026-13-01"), None);
        assert_eq!(Date::parse("2026-02-30"), None);
    }

    #[test]
    fn shanghai_afternoon_reads_in_both_languages() {
        // 2026-11-24 06:05 UTC is 14:05 in Shanghai.
        let ms = Date::new(2026, 11, 24).unwrap().start_ms(&TimeZone::UTC) + (6 * 60 + 5) * 60_000;
        let sh = tz("Asia/Shanghai");
        assert_eq!(datetime(Lang::En, ms, &sh), "Tue 24 Nov 14:05");
        assert_eq!(datetime(Lang::ZhCn, ms, &sh), "11月24日 周二 14:05");
        assert_eq!(iso(ms, &sh), "2026-11-24T14:05+08:00");
        assert_eq!(local_input(Some(ms), &sh), "2026-11-24T14:05");
        assert_eq!(parse_local("2026-11-24T14:05", &sh), Some(ms));
        assert_eq!(time(ms, &TimeZone::UTC), "06:05");
        assert_eq!(parse_local("", &sh), None);
        assert_eq!(local_input(None, &sh), "");
    }

    /// Berlin moves its clocks from 02:00 to 03:00 on 2026-03-29 and back from 03:00 to 02:00
    /// on 2026-10-25: a fixed offset would read working hours an hour off for half the year.
    #[test]
    fn berlin_clock_times_follow_daylight_saving() {
        let berlin = tz("Europe/Berlin");
        let hour = 3_600_000;
        let winter = Date::new(2026, 3, 28).unwrap();
        let summer = Date::new(2026, 3, 30).unwrap();
        // 09:00 local is 08:00 UTC in winter, 07:00 UTC in summer.
        assert_eq!(
            winter.at_minute(540, &berlin) - winter.start_ms(&TimeZone::UTC),
            8 * hour
        );
        assert_eq!(
            summer.at_minute(540, &berlin) - summer.start_ms(&TimeZone::UTC),
            7 * hour
        );
        // The spring-forward day is 23 hours long; the fall-back day 25.
        let spring = Date::new(2026, 3, 29).unwrap();
        assert_eq!(
            spring.add_days(1).start_ms(&berlin) - spring.start_ms(&berlin),
            23 * hour
        );
        let fall = Date::new(2026, 10, 25).unwrap();
        assert_eq!(
            fall.add_days(1).start_ms(&berlin) - fall.start_ms(&berlin),
            25 * hour
        );
        // 02:30 does not exist on the spring day: it reads as 03:30 summer time.
        let skipped = parse_local("2026-03-29T02:30", &berlin).unwrap();
        assert_eq!(time(skipped, &berlin), "03:30");
        assert_eq!(iso(skipped, &berlin), "2026-03-29T03:30+02:00");
        // 02:30 happens twice on the fall day: the first (summer time) is meant.
        let repeated = parse_local("2026-10-25T02:30", &berlin).unwrap();
        assert_eq!(iso(repeated, &berlin), "2026-10-25T02:30+02:00");
        assert_eq!(
            minute_of_day(repeated + hour, &berlin),
            150,
            "the second 02:30"
        );
        assert_eq!(parse_local("not a time", &berlin), None);
    }

    #[test]
    fn numbers_group_by_thousands() {
        assert_eq!(number(1_234_567), "1,234,567");
        assert_eq!(number(-1000), "-1,000");
        assert_eq!(number(12), "12");
        assert_eq!(money(123_450), "¥1,234.50");
        assert_eq!(qty(2500, "m"), "2.5 m");
        assert_eq!(qty(3, "pcs"), "3");
    }
}
