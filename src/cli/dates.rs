//! Dates for people: Unix seconds to `YYYY-MM-DD HH:MM:SS` (UTC) and back from RFC 3339,
//! with the proleptic Gregorian calendar done by hand (Howard Hinnant's `days_from_civil`
//! and `civil_from_days`) rather than pulling in a date crate.

use crate::clock::UnixTime;

const DAY: i64 = 86_400;

/// `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_time(t: UnixTime) -> String {
    let t = i64::try_from(t).unwrap_or(i64::MAX);
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    let s = t.rem_euclid(DAY);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses Unix seconds (`1767225600`) or RFC 3339 (`2026-01-01T00:00:00Z`,
/// `2026-01-01T01:00:00+01:00`, fractions ignored; a space may replace the `T`).
pub fn parse_time(s: &str) -> Result<UnixTime, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    parse_rfc3339(s).ok_or_else(|| {
        format!("expected Unix seconds or an RFC 3339 time such as 2030-01-01T00:00:00Z, got {s:?}")
    })
}

fn parse_rfc3339(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let max_day = if mo == 2 && leap {
        29
    } else {
        *month_days.get(usize::try_from(mo).ok()?.checked_sub(1)?)?
    };
    if !(1..=max_day).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[3..4], ":") => {
            let sign = match &rest[..1] {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let t = days * DAY + h * 3600 + mi * 60 + sec.min(59) - offset;
    UnixTime::try_from(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_time(1_767_225_599), "2025-12-31 23:59:59");
        assert_eq!(format_time(4_102_444_800), "2100-01-01 00:00:00");
    }

    #[test]
    fn round_trips_every_day_for_centuries() {
        for day in (-50_000..150_000).step_by(7) {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn parses_rfc3339_and_unix_seconds() {
        assert_eq!(parse_time("1767225600"), Ok(1_767_225_600));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Ok(1_767_225_600));
        assert_eq!(parse_time("2026-01-01 01:00:00.5+01:00"), Ok(1_767_225_600));
        assert_eq!(parse_time("2025-12-31T19:00:00-05:00"), Ok(1_767_225_600));
        assert!(parse_time("2026-02-30T00:00:00Z").is_err());
        assert!(parse_time("2026-01-01T00:00:00").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}
