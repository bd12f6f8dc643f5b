//! Time as the store sees it: injected, so tests and the dev server can move it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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

/// The system clock plus an offset that only grows: the dev server's "time travel", so a user
/// can watch a soft-deleted key reach its purge date without waiting for it.
#[derive(Debug, Default)]
pub struct OffsetClock(AtomicI64);

impl OffsetClock {
    /// A clock that starts at the system time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves this clock forward by `secs` and returns the new time.
    pub fn shift_forward(&self, secs: u64) -> UnixTime {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        // Saturating: a wrapping add would turn a huge shift into a step backwards.
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(secs))
            });
        self.now()
    }

    /// Moves this clock forward, if needed, so it reads at least `t`. A dev server that was
    /// shifted forward and restarted resumes from the store's latest time instead of
    /// standing still until the system clock catches up.
    pub fn catch_up_to(&self, t: UnixTime) {
        let behind = t.saturating_sub(self.now());
        if behind > 0 {
            self.shift_forward(behind);
        }
    }

    /// How far ahead of the system clock this clock runs, in seconds.
    pub fn offset(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> UnixTime {
        SystemClock.now().saturating_add_signed(self.offset())
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> UnixTime {
        (**self).now()
    }
}
