//! Hybrid logical clocks: `TTTTTTTTTTTTTTT-CCCCC-NODE` (SYNC.md). 15-digit Unix
//! milliseconds, a 5-digit counter and the writer's node id; the fixed widths make plain
//! string comparison the clock order.

use std::fmt;

/// The largest counter value; a writer that would pass it moves to the next millisecond.
pub const MAX_COUNTER: u32 = 99_999;

/// A parsed HLC.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hlc {
    /// Wall-clock part, Unix milliseconds.
    pub ms: u64,
    /// Logical counter within the millisecond.
    pub counter: u32,
    /// Writer: a device's client_id or `server`.
    pub node: String,
}

impl Hlc {
    /// Parses the wire form; `None` when it is malformed.
    pub fn parse(s: &str) -> Option<Hlc> {
        let (ms, rest) = s.split_at_checked(15)?;
        let rest = rest.strip_prefix('-')?;
        let (counter, rest) = rest.split_at_checked(5)?;
        let node = rest.strip_prefix('-')?;
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(counter) || node.is_empty() || node.len() > 64 {
            return None;
        }
        if !node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        Some(Hlc {
            ms: ms.parse().ok()?,
            counter: counter.parse().ok()?,
            node: node.to_owned(),
        })
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:015}-{:05}-{}", self.ms, self.counter, self.node)
    }
}

/// A node's clock: never goes backwards, whatever the wall clock does.
#[derive(Debug, Clone)]
pub struct Clock {
    node: String,
    last_ms: u64,
    counter: u32,
}

impl Clock {
    /// A clock for `node` that has issued nothing yet.
    pub fn new(node: &str) -> Clock {
        Clock {
            node: node.to_owned(),
            last_ms: 0,
            counter: 0,
        }
    }

    /// Issues the next timestamp given the wall clock `now_ms`.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            self.counter = 0;
        } else if self.counter >= MAX_COUNTER {
            self.last_ms += 1;
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        self.current()
    }

    /// Takes in a timestamp seen from another node so later ticks order after it.
    pub fn observe(&mut self, seen: &Hlc, now_ms: u64) {
        let (ms, counter) = (seen.ms, seen.counter);
        if ms > self.last_ms || (ms == self.last_ms && counter > self.counter) {
            self.last_ms = ms;
            self.counter = counter;
        }
        if now_ms > self.last_ms {
            self.last_ms = now_ms;
            self.counter = 0;
        }
    }

    /// The last issued (or observed) timestamp, stamped with this node.
    pub fn current(&self) -> Hlc {
        Hlc {
            ms: self.last_ms,
            counter: self.counter,
            node: self.node.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_format_round_trip() {
        let s = "001733040000123-00007-0190f0a0-0000-7000-8000-000000000001";
        let h = Hlc::parse(s).unwrap();
        assert_eq!(h.ms, 1_733_040_000_123);
        assert_eq!(h.counter, 7);
        assert_eq!(h.node, "0190f0a0-0000-7000-8000-000000000001");
        assert_eq!(h.to_string(), s);
    }

    #[test]
    fn malformed_hlcs_are_refused() {
        for bad in [
            "",
            "1733040000123-00000-a",
            "001733040000123-0000-a",
            "001733040000123-00000-",
            "001733040000123_00000-a",
            "00173304000012x-00000-a",
            "001733040000123-00000-a b",
            "001733040000123-00000-a'; drop table records;--",
        ] {
            assert!(Hlc::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn counter_overflow_moves_to_the_next_millisecond() {
        let mut c = Clock::new("n");
        let mut last = c.tick(1000);
        for _ in 0..(MAX_COUNTER + 5) {
            let next = c.tick(1000);
            assert!(next.to_string() > last.to_string());
            assert!(next.counter <= MAX_COUNTER);
            last = next;
        }
        assert_eq!(last.ms, 1001);
    }

    proptest! {
        /// Ticks are strictly increasing as strings even when the device clock jumps
        /// back and forth by up to a year.
        #[test]
        fn monotonic_under_clock_jumps(
            start in 1_600_000_000_000u64..1_900_000_000_000u64,
            jumps in proptest::collection::vec(-31_536_000_000i64..31_536_000_000i64, 1..200),
            seen in proptest::collection::vec(proptest::option::of(0u64..2_000_000_000_000u64), 1..200),
        ) {
            let mut clock = Clock::new("dev-1");
            let mut wall = start as i64;
            let mut last = clock.tick(start).to_string();
            for (i, j) in jumps.iter().enumerate() {
                wall = (wall + j).max(0);
                if let Some(Some(ms)) = seen.get(i) {
                    clock.observe(&Hlc { ms: *ms, counter: 3, node: "other".into() }, wall as u64);
                }
                let next = clock.tick(wall as u64);
                let s = next.to_string();
                prop_assert!(s > last, "{} !> {}", s, last);
                prop_assert_eq!(Hlc::parse(&s), Some(next));
                last = s;
            }
        }
    }
}
