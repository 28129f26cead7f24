//! One recorded change: what a write touched, as the outbox toward PostgreSQL (`pg_outbox`)
//! records it, and where the entry goes. Pure data; the writers are in `outbox`.

use chrono::{DateTime, Utc};

use crate::clock::{new_id, now_millis};
use crate::tables::{PgOutboxEntry, PgOutboxSlot};

/// Buckets of `pg_outbox`: each minute's entries are spread over this many partitions.
pub const OUTBOX_BUCKETS: i32 = 16;

/// The span of one `pg_outbox` partition (a bucket's slot), in seconds.
pub const OUTBOX_SLOT_SECONDS: i64 = 60;

/// How long after its `recorded_at` an entry may land before it is recorded again, in the minute
/// it landed in: the relay stops reading a minute some minutes after it ends (see
/// `chat_migrate::relay::to_postgres::LATE_ENTRY_ALLOWANCE`), and a write held up that long (a paused
/// process, a slow request) must not land where nobody looks.
pub const OUTBOX_RERECORD_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// The slot an entry recorded at `recorded_at` goes in: the start of its minute.
pub fn outbox_slot(recorded_at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = recorded_at.timestamp().div_euclid(OUTBOX_SLOT_SECONDS) * OUTBOX_SLOT_SECONDS;
    DateTime::from_timestamp(seconds, 0).unwrap_or(recorded_at)
}

/// What a change touched: the row to copy again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Changed {
    /// The session row (title, deletion, active root), or the whole session when it was purged.
    Session,
    Turn {
        turn_uid: String,
    },
    Step {
        turn_uid: String,
        idx: i32,
    },
}

impl Changed {
    /// The kind as stored (`session`, `turn`, `step`), the turn, and the step index.
    pub fn parts(&self) -> (&'static str, Option<&str>, Option<i32>) {
        match self {
            Changed::Session => ("session", None, None),
            Changed::Turn { turn_uid } => ("turn", Some(turn_uid), None),
            Changed::Step { turn_uid, idx } => ("step", Some(turn_uid), Some(*idx)),
        }
    }

    /// Rebuilds a change from its stored parts; `None` for parts no writer makes.
    pub fn from_parts(kind: &str, turn_uid: Option<String>, idx: Option<i32>) -> Option<Changed> {
        match (kind, turn_uid, idx) {
            ("session", _, _) => Some(Changed::Session),
            ("turn", Some(turn_uid), _) => Some(Changed::Turn { turn_uid }),
            ("step", Some(turn_uid), Some(idx)) => Some(Changed::Step { turn_uid, idx }),
            _ => None,
        }
    }
}

/// A bucket in `0..buckets` from FNV-1a, which is fixed across builds and platforms (std's
/// hasher is not), so every process puts a key in the same bucket.
pub fn stable_bucket(key: &str, buckets: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash % buckets.max(1)
}

impl PgOutboxEntry {
    /// A new entry for `changed` in `session_uid`, in the session's bucket.
    pub fn new(session_uid: &str, changed: &Changed) -> PgOutboxEntry {
        let (kind, turn_uid, idx) = changed.parts();
        let recorded_at = now_millis();
        PgOutboxEntry {
            bucket: stable_bucket(session_uid, OUTBOX_BUCKETS as u64) as i32,
            slot: outbox_slot(recorded_at),
            recorded_at,
            entry_id: new_id(),
            session_uid: session_uid.to_owned(),
            kind: kind.to_owned(),
            turn_uid: turn_uid.map(str::to_owned),
            idx,
            stamp: None,
        }
    }

    /// The same entry, made by a logged batch with timestamp `stamp` (microseconds): the relay
    /// takes it as the change's version, which a write of a null cannot give (CQL has no write
    /// time for a null), and deletes the entry no earlier than it.
    pub fn stamped(mut self, stamp: i64) -> PgOutboxEntry {
        self.stamp = Some(stamp);
        self
    }

    pub fn changed(&self) -> Option<Changed> {
        Changed::from_parts(&self.kind, self.turn_uid.clone(), self.idx)
    }

    /// What the entry names; the session row for parts no writer makes.
    pub(crate) fn changed_or_session(&self) -> Changed {
        self.changed().unwrap_or(Changed::Session)
    }

    /// The row that lists this entry's partition for the relay.
    pub fn slot_row(&self) -> PgOutboxSlot {
        PgOutboxSlot { bucket: self.bucket, slot: self.slot }
    }

    /// The rows that list these entries' partitions, once each.
    pub fn slot_rows(entries: &[PgOutboxEntry]) -> Vec<PgOutboxSlot> {
        let mut slots: Vec<PgOutboxSlot> = entries.iter().map(PgOutboxEntry::slot_row).collect();
        slots.dedup();
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_round_trips_through_its_stored_parts() {
        for changed in
            [Changed::Session, Changed::Turn { turn_uid: "t".into() }, Changed::Step { turn_uid: "t".into(), idx: 3 }]
        {
            let (kind, turn_uid, idx) = changed.parts();
            assert_eq!(Changed::from_parts(kind, turn_uid.map(str::to_owned), idx), Some(changed.clone()));
        }
        assert_eq!(Changed::from_parts("step", Some("t".into()), None), None);
        assert_eq!(Changed::from_parts("poll", None, None), None);
    }

    #[test]
    fn buckets_are_fixed_across_builds_and_within_range() {
        // FNV-1a of "" is its offset basis; these values must never change, or writers and the
        // relay of two builds would disagree on where a session's entries are.
        assert_eq!(stable_bucket("", u64::MAX), 0xcbf2_9ce4_8422_2325);
        // FNV-1a's published test vectors.
        assert_eq!(stable_bucket("a", u64::MAX), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_bucket("foobar", u64::MAX), 0x8594_4171_f739_67e8);
        assert_eq!(stable_bucket("session-1", 16), 13);
        assert!((0..1000).all(|n| stable_bucket(&format!("s{n}"), 16) < 16));
        assert_eq!(stable_bucket("anything", 0), 0, "no buckets means one");
    }

    #[test]
    fn an_entry_goes_in_the_slot_of_its_minute_also_before_1970() {
        let at = |ms| DateTime::from_timestamp_millis(ms).expect("a valid time");
        assert_eq!(outbox_slot(at(125_500)), at(120_000));
        assert_eq!(outbox_slot(at(120_000)), at(120_000));
        assert_eq!(outbox_slot(at(-1)), at(-60_000));
        let entry = PgOutboxEntry::new("session-1", &Changed::Turn { turn_uid: "t".into() });
        assert_eq!(entry.slot, outbox_slot(entry.recorded_at));
        assert_eq!(entry.changed(), Some(Changed::Turn { turn_uid: "t".into() }));
        assert_eq!(PgOutboxEntry::slot_rows(&[entry.clone(), entry.clone()]), [entry.slot_row()]);
    }
}
