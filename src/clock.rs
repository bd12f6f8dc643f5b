//! Time as the store sees it, and how dates are written.
//!
//! Layer: base. Imports nothing from the crate. The store never reads the system clock
//! directly: retention and purge dates, `nbf` and `exp` all go through [`Clock`], so tests
//! move time by hand and the dev server can shift it forward. Dates are Unix seconds inside
//! the crate and on the Key Vault wire; [`rfc3339`], [`format_time`] and [`parse_time`] are
//! the one place they are turned into text and back (the proleptic Gregorian calendar, by
//! Howard Hinnant's `days_from_civil` and `civil_from_days`, rather than a date crate).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, the unit Key Vault uses for every date on the wire.
pub type UnixTime = u64;

/// A source of the current time.
///
/// The store never reads the system clock directly: retention and purge dates, `nbf` and `exp`
/// checks all go through this trait, so a test can move time and the dev server can shift it.
pub trait Clock: Send + Sync + 'static {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> UnixTime;

    /// Told that another process sharing the store has acted at time `t`: a clock that may
    /// be moved (the dev server's) moves forward to it, so that every replica of a shared
    /// store reads the same time after one of them was shifted. Others keep the default,
    /// and the store never reads a time earlier than `t` anyway.
    fn follow(&self, t: UnixTime) {
        let _ = t;
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: UnixTime) -> Self {
        Self(AtomicU64::new(start))
    }

    /// Moves the clock to `t`, forwards or backwards.
    pub fn set(&self, t: UnixTime) {
        self.0.store(t, Ordering::SeqCst);
    }

    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}

/// The longest shift [`OffsetClock::shift`] takes in one call: 3650 days (about ten years),
/// far enough for any retention (at most 90 days) or certificate lifetime a user wants to
/// watch, short of a jump that would make every date meaningless.
pub const MAX_SHIFT_SECS: u64 = 3650 * 86_400;

/// The system clock plus an offset that only grows: the dev server's "time travel", so a user
/// can watch a soft-deleted key reach its purge date without waiting for it.
///
/// A shift can reach scheduled purge dates, and so ends the wait that purge protection
/// imposes: [`OffsetClock::shift`] refuses until [`OffsetClock::allow_shifts`] is called
/// (`localhsm serve --dev-clock`).
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset: AtomicI64,
    shifts_allowed: AtomicBool,
}

/// Why [`OffsetClock::shift`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftRefused {
    /// Shifts were never allowed on this clock.
    Disabled,
    /// More than [`MAX_SHIFT_SECS`] in one call.
    TooFar,
}

impl OffsetClock {
    /// A clock that starts at the system time, with shifts not allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets [`OffsetClock::shift`] move this clock from now on (there is no way back: a
    /// dev store stays one).
    pub fn allow_shifts(&self) {
        self.shifts_allowed.store(true, Ordering::SeqCst);
    }

    /// Whether [`OffsetClock::allow_shifts`] was called.
    pub fn shifts_allowed(&self) -> bool {
        self.shifts_allowed.load(Ordering::SeqCst)
    }

    /// A user's shift: forward by `secs`, at most [`MAX_SHIFT_SECS`], only when shifts are
    /// allowed. Returns the new time.
    pub fn shift(&self, secs: u64) -> Result<UnixTime, ShiftRefused> {
        if !self.shifts_allowed() {
            return Err(ShiftRefused::Disabled);
        }
        if secs > MAX_SHIFT_SECS {
            return Err(ShiftRefused::TooFar);
        }
        Ok(self.shift_forward(secs))
    }

    /// Moves this clock forward by `secs` and returns the new time, unchecked: for the
    /// store's own catch-up and for tests; a user's shift goes through
    /// [`OffsetClock::shift`].
    pub fn shift_forward(&self, secs: u64) -> UnixTime {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        // Saturating: a wrapping add would turn a huge shift into a step backwards.
        let _ = self
            .offset
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(secs))
            });
        self.now()
    }

    /// Moves this clock forward, if needed, so it reads at least `t`. A dev server that was
    /// shifted forward and restarted resumes from the store's latest time instead of
    /// standing still until the system clock catches up (with or without shifts allowed:
    /// the store's time never runs backwards).
    pub fn catch_up_to(&self, t: UnixTime) {
        let behind = t.saturating_sub(self.now());
        if behind > 0 {
            self.shift_forward(behind);
        }
    }

    /// How far ahead of the system clock this clock runs, in seconds.
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> UnixTime {
        SystemClock.now().saturating_add_signed(self.offset())
    }

    fn follow(&self, t: UnixTime) {
        self.catch_up_to(t);
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> UnixTime {
        (**self).now()
    }

    fn follow(&self, t: UnixTime) {
        (**self).follow(t)
    }
}

const DAY_SECS: i64 = 86_400;

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

/// Unix seconds as `YYYY-MM-DD`, `separator`, `HH:MM:SS`, UTC.
fn civil(t: UnixTime, separator: char) -> String {
    let t = i64::try_from(t).unwrap_or(i64::MAX);
    let (y, m, d) = civil_from_days(t.div_euclid(DAY_SECS));
    let s = t.rem_euclid(DAY_SECS);
    format!(
        "{y:04}-{m:02}-{d:02}{separator}{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Unix seconds as RFC 3339 in UTC: `YYYY-MM-DDTHH:MM:SSZ` (access logs, error messages).
pub fn rfc3339(t: UnixTime) -> String {
    civil(t, 'T') + "Z"
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` in UTC, for people (CLI tables).
pub fn format_time(t: UnixTime) -> String {
    civil(t, ' ')
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
    let t = days * DAY_SECS + h * 3600 + mi * 60 + sec.min(59) - offset;
    UnixTime::try_from(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_337_360), "2026-11-22T08:49:20Z");
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
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
    fn shifts_need_permission_and_stay_within_the_bound() {
        let clock = OffsetClock::new();
        assert_eq!(clock.shift(60), Err(ShiftRefused::Disabled));
        assert_eq!(clock.offset(), 0, "a refused shift moves nothing");
        clock.allow_shifts();
        assert_eq!(clock.shift(MAX_SHIFT_SECS + 1), Err(ShiftRefused::TooFar));
        assert_eq!(clock.offset(), 0);
        assert!(clock.shift(MAX_SHIFT_SECS).is_ok());
        assert!(clock.shift(0).is_ok());
        assert_eq!(clock.offset(), MAX_SHIFT_SECS as i64);
        // The store's own catch-up is not a user's shift: it works either way.
        let fresh = OffsetClock::new();
        fresh.catch_up_to(SystemClock.now() + 3600);
        assert!(fresh.offset() >= 3599);
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
        for t in [0, 951_782_400, 1_795_337_360, 4_102_444_800] {
            assert_eq!(parse_time(&rfc3339(t)), Ok(t));
        }
    }
}
