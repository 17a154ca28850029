//! Rate limiting of broadcasts: the first change after a quiet spell goes
//! out at once, later ones are folded into one send at the next slot.

use crate::protocol::Millis;

/// Most frequent `buzz_queue` sends, per room.
pub(crate) const TALLY_INTERVAL_MS: u64 = 100;
/// Most frequent `tally` sends to a handful of sockets (the host and the
/// screens): each costs one small frame per socket, so a vote storm's
/// counts reach the host within 25 ms of being counted.
pub(crate) const TALLY_MIN_INTERVAL_MS: u64 = 25;
/// Least frequent `tally` sends, however many sockets see them.
pub(crate) const TALLY_MAX_INTERVAL_MS: u64 = 1000;

/// The tally interval for `recipients` sockets: 2.5 ms per recipient
/// between [`TALLY_MIN_INTERVAL_MS`] and [`TALLY_MAX_INTERVAL_MS`], so the
/// host of any room sees counts quickly, an open poll in a classroom of
/// 40 updates about ten times a second as before, and one in a room of
/// thousands costs at most one tally per player per second instead of
/// flooding every socket ten times a second.
pub(crate) fn tally_interval_ms(recipients: usize) -> u64 {
    let recipients = u64::try_from(recipients).unwrap_or(u64::MAX);
    (recipients.saturating_mul(5) / 2).clamp(TALLY_MIN_INTERVAL_MS, TALLY_MAX_INTERVAL_MS)
}
/// Most frequent `roster`/`player_count` sends, per room.
pub(crate) const ROSTER_INTERVAL_MS: u64 = 500;

/// A dirty flag with a next-flush time.
#[derive(Debug, Default, Clone)]
pub(crate) struct Throttle {
    last: Option<Millis>,
    due: Option<Millis>,
}

impl Throttle {
    /// Marks the state changed. Returns true when the caller must send now;
    /// otherwise a send is scheduled at [`Throttle::due`].
    pub fn touch(&mut self, now: Millis, interval: u64) -> bool {
        if self.due.is_some() {
            return false;
        }
        match self.last {
            Some(last) if now < last.saturating_add(interval) => {
                self.due = Some(last.saturating_add(interval));
                false
            }
            _ => {
                self.last = Some(now);
                true
            }
        }
    }

    /// Records a send made outside the schedule (e.g. a final tally at close),
    /// cancelling any pending one.
    pub fn sent(&mut self, now: Millis) {
        self.last = Some(now);
        self.due = None;
    }

    /// When a held-back send is due.
    pub fn due(&self) -> Option<Millis> {
        self.due
    }

    /// True (once) when the held-back send is due at `now`.
    pub fn take_due(&mut self, now: Millis) -> bool {
        match self.due {
            Some(d) if now >= d => {
                self.sent(now);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_interval_grows_with_its_audience() {
        assert_eq!(tally_interval_ms(0), TALLY_MIN_INTERVAL_MS);
        assert_eq!(tally_interval_ms(2), TALLY_MIN_INTERVAL_MS);
        assert_eq!(tally_interval_ms(41), 102);
        assert_eq!(tally_interval_ms(400), TALLY_MAX_INTERVAL_MS);
        assert_eq!(tally_interval_ms(10_001), TALLY_MAX_INTERVAL_MS);
    }

    #[test]
    fn first_change_goes_out_then_changes_fold_into_one_slot() {
        let mut t = Throttle::default();
        assert!(t.touch(1000, 100));
        assert!(!t.touch(1010, 100));
        assert!(!t.touch(1050, 100));
        assert_eq!(t.due(), Some(1100));
        assert!(!t.take_due(1099));
        assert!(t.take_due(1100));
        assert_eq!(t.due(), None);
        assert!(!t.touch(1150, 100));
        assert_eq!(t.due(), Some(1200));
        assert!(t.take_due(1300));
        assert!(t.touch(1500, 100));
    }
}
