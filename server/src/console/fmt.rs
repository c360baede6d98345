//! Dates, times and numbers in the user's language and the organisation's time zone (a fixed
//! UTC offset, `utc_offset_minutes` in the configuration). Civil-date arithmetic is Howard
//! Hinnant's `days_from_civil`, so no date library is needed for what the console shows.

use super::i18n::Lang;

const DAY_MS: i64 = 86_400_000;

/// A local calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date {
    pub y: i64,
    pub m: u32,
    pub d: u32,
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> Date {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    Date {
        y: yoe + era * 400 + i64::from(m <= 2),
        m,
        d,
    }
}

impl Date {
    /// The local date of an instant.
    pub fn of(ms: i64, tz: i32) -> Date {
        civil_from_days((ms + i64::from(tz) * 60_000).div_euclid(DAY_MS))
    }

    /// `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Date> {
        let mut it = s.splitn(3, '-');
        let y = it.next()?.parse().ok()?;
        let m = it.next()?.parse().ok()?;
        let d = it.next()?.parse().ok()?;
        ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some(Date { y, m, d })
    }

    /// Local midnight, in UTC milliseconds.
    pub fn start_ms(self, tz: i32) -> i64 {
        days_from_civil(self.y, self.m, self.d) * DAY_MS - i64::from(tz) * 60_000
    }

    pub fn add_days(self, n: i64) -> Date {
        civil_from_days(days_from_civil(self.y, self.m, self.d) + n)
    }

    /// ISO weekday: 1 = Monday ... 7 = Sunday.
    pub fn weekday(self) -> u32 {
        (days_from_civil(self.y, self.m, self.d) + 3).rem_euclid(7) as u32 + 1
    }

    /// The Monday of this date's week.
    pub fn monday(self) -> Date {
        self.add_days(-(i64::from(self.weekday()) - 1))
    }

    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.y, self.m, self.d)
    }

    /// "Mon 23 Nov" / "11月23日 周一".
    pub fn label(self, lang: Lang) -> String {
        let wd = self.weekday() as usize - 1;
        match lang {
            Lang::En => {
                const W: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
                const M: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                format!("{} {} {}", W[wd], self.d, M[self.m as usize - 1])
            }
            Lang::ZhCn => {
                const W: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
                format!("{}月{}日 {}", self.m, self.d, W[wd])
            }
        }
    }
}

/// Minutes after local midnight.
pub fn minute_of_day(ms: i64, tz: i32) -> i64 {
    (ms + i64::from(tz) * 60_000).rem_euclid(DAY_MS) / 60_000
}

/// "14:05".
pub fn time(ms: i64, tz: i32) -> String {
    let m = minute_of_day(ms, tz);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// "Mon 23 Nov 14:05" / "11月23日 周一 14:05".
pub fn datetime(lang: Lang, ms: i64, tz: i32) -> String {
    format!("{} {}", Date::of(ms, tz).label(lang), time(ms, tz))
}

/// A full ISO 8601 local timestamp with its offset, for `<time datetime>`.
pub fn iso(ms: i64, tz: i32) -> String {
    let sign = if tz < 0 { '-' } else { '+' };
    format!(
        "{}T{}{}{:02}:{:02}",
        Date::of(ms, tz).iso(),
        time(ms, tz),
        sign,
        tz.abs() / 60,
        tz.abs() % 60
    )
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

    #[test]
    fn dates_round_trip_through_days() {
        let d = Date {
            y: 2026,
            m: 11,
            d: 24,
        };
        assert_eq!(d.weekday(), 2);
        assert_eq!(
            d.monday(),
            Date {
                y: 2026,
                m: 11,
                d: 23
            }
        );
        assert_eq!(Date::of(d.start_ms(480), 480), d);
        assert_eq!(Date::of(d.start_ms(480) - 1, 480), d.add_days(-1));
        assert_eq!(
            d.add_days(7),
            Date {
                y: 2026,
                m: 12,
                d: 1
            }
        );
        assert_eq!(Date::parse("2026-11-24"), Some(d));
        assert_eq!(Date::parse("2026-13-01"), None);
    }

    #[test]
    fn shanghai_afternoon_reads_in_both_languages() {
        // 2026-11-24 06:05 UTC is 14:05 in Shanghai.
        let ms = Date {
            y: 2026,
            m: 11,
            d: 24,
        }
        .start_ms(0)
            + (6 * 60 + 5) * 60_000;
        assert_eq!(datetime(Lang::En, ms, 480), "Tue 24 Nov 14:05");
        assert_eq!(datetime(Lang::ZhCn, ms, 480), "11月24日 周二 14:05");
        assert_eq!(iso(ms, 480), "2026-11-24T14:05+08:00");
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
