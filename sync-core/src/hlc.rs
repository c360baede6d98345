//! Hybrid logical clock: orders events causally even when device clocks are wrong.
//!
//! Device time is recorded for display; ordering uses the HLC, which never goes backwards and
//! always lands after every timestamp the node has seen (its own or received in a document).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A hybrid logical clock timestamp: physical milliseconds, a logical counter, and a node tag
/// that breaks ties deterministically.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Hlc {
    /// Milliseconds since the Unix epoch (UTC), as the clock believed.
    pub wall_ms: i64,
    /// Logical counter within one millisecond.
    pub counter: u32,
    /// Low bits of the node's actor id: a deterministic tie breaker.
    pub node: u32,
}

impl Hlc {
    /// The zero timestamp.
    pub const ZERO: Hlc = Hlc {
        wall_ms: 0,
        counter: 0,
        node: 0,
    };

    /// The next timestamp for a local event at physical time `now_ms`, after `self` (the last
    /// timestamp this node issued or saw).
    pub fn tick(self, now_ms: i64, node: u32) -> Hlc {
        if now_ms > self.wall_ms {
            Hlc {
                wall_ms: now_ms,
                counter: 0,
                node,
            }
        } else {
            Hlc {
                wall_ms: self.wall_ms,
                counter: self.counter + 1,
                node,
            }
        }
    }

    /// Merge a timestamp received from elsewhere: the result is after both.
    pub fn observe(self, seen: Hlc) -> Hlc {
        if seen > self {
            Hlc {
                node: self.node,
                ..seen
            }
        } else {
            self
        }
    }

    /// A string that sorts like the timestamp (fixed-width hex), for storage in documents.
    pub fn encode(&self) -> String {
        // wall_ms is clamped to be non-negative so the text sorts like the number.
        format!(
            "{:013x}-{:08x}-{:08x}",
            self.wall_ms.max(0),
            self.counter,
            self.node
        )
    }

    /// Parse [`Hlc::encode`]'s output.
    pub fn decode(s: &str) -> crate::Result<Hlc> {
        let bad = || crate::Error::InvalidInput(format!("bad hlc {s:?}"));
        let mut parts = s.split('-');
        let (Some(w), Some(c), Some(n), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        Ok(Hlc {
            wall_ms: i64::from_str_radix(w, 16).map_err(|_| bad())?,
            counter: u32::from_str_radix(c, 16).map_err(|_| bad())?,
            node: u32::from_str_radix(n, 16).map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_never_goes_backwards_when_the_wall_clock_does() {
        let a = Hlc::ZERO.tick(1_000, 1);
        let b = a.tick(500, 1); // clock jumped back
        assert!(b > a);
        let c = b.tick(2_000, 1);
        assert!(c > b);
    }

    #[test]
    fn observe_moves_past_remote_timestamps() {
        let local = Hlc::ZERO.tick(1_000, 1);
        let remote = Hlc {
            wall_ms: 9_000,
            counter: 3,
            node: 2,
        };
        let merged = local.observe(remote).tick(1_001, 1);
        assert!(merged > remote);
    }

    #[test]
    fn encoding_sorts_like_the_timestamp_and_round_trips() {
        let a = Hlc {
            wall_ms: 1_700_000_000_000,
            counter: 2,
            node: 7,
        };
        let b = Hlc {
            wall_ms: 1_700_000_000_000,
            counter: 10,
            node: 1,
        };
        assert!(a.encode() < b.encode());
        assert_eq!(Hlc::decode(&a.encode()).unwrap(), a);
        assert!(Hlc::decode("zz").is_err());
    }
}
