//! Rate limiting of broadcasts: the first change after a quiet spell goes
//! out at once, later ones are folded into one send at the next slot.

use crate::protocol::Millis;

/// Most frequent `tally` and `buzz_queue` sends, per room.
pub(crate) const TALLY_INTERVAL_MS: u64 = 100;
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
