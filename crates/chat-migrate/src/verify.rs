//! Verify: compares every ScyllaDB copy of a session with what the projection makes of its
//! relational rows, and `turns_by_session` with `turns_by_parent`. Before `scylla-primary` it
//! also checks each copy's write time against its row's version: the migration writes every
//! copy at exactly that version, so a later write time means something else wrote the copy, and
//! it would silently win over the next dual-write.
//!
//! ScyllaDB is read before PostgreSQL. A dual-write copies a change only after it commits, so a
//! row seen in ScyllaDB is already visible in PostgreSQL: a session being written during the
//! check can look stale ("missing", "differs"), which a repair rewrites harmlessly, but never
//! look "extra", which a repair would delete.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use conversation_pg::{SessionRow, SessionSnapshot};
use conversation_store::{
    root_parent_key, SessionByUser, SessionByUserPrimaryKey, SessionOwner, SessionOwnerPrimaryKey, StepBySession,
    StepBySessionPartitionKey, StepByTurn, StepByTurnPartitionKey, StoreTables, TurnByParent, TurnByParentPartitionKey,
    TurnBySession, TurnBySessionPartitionKey, TurnLocation, TurnLocationPrimaryKey,
};
use futures::{StreamExt, TryStreamExt};
use scylla_table::{ColumnDifference, RowText, ScyllaTable, Timed};

use crate::error::MigrateResult;
use crate::projection::{project_snapshot, Layout, SessionCopy};

/// Partitions read at once while reading one session's copies.
const READ_CONCURRENCY: usize = 16;

/// The kinds of divergence verify reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DivergenceKind {
    /// A row PostgreSQL has is not in ScyllaDB.
    Missing,
    /// ScyllaDB has a row PostgreSQL does not.
    Extra,
    /// Both have the row, with a different value in a column.
    Differs,
    /// The copy was written after its relational version: by something other than the
    /// migration, stamped ahead of PostgreSQL's clock.
    Newer,
    /// `turns_by_session` and `turns_by_parent` disagree about a turn.
    Orphan,
}

impl DivergenceKind {
    pub const ALL: [DivergenceKind; 5] = [
        DivergenceKind::Missing,
        DivergenceKind::Extra,
        DivergenceKind::Differs,
        DivergenceKind::Newer,
        DivergenceKind::Orphan,
    ];

    pub fn label(self) -> &'static str {
        match self {
            DivergenceKind::Missing => "missing",
            DivergenceKind::Extra => "extra",
            DivergenceKind::Differs => "differing column",
            DivergenceKind::Newer => "stamped later",
            DivergenceKind::Orphan => "orphan",
        }
    }
}

/// One difference between the two databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub kind: DivergenceKind,
    pub session_uid: String,
    pub table: &'static str,
    /// The row's primary key.
    pub key: String,
    /// For `Differs`: the column and both values; for `Orphan`: what disagrees.
    pub detail: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {} {} (session {})", self.kind.label(), self.table, self.key, self.session_uid)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Which database a verify or a repair takes as the truth: the one the shared phase writes
/// first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Truth {
    /// Every phase before `scylla-primary`: repair rewrites ScyllaDB from PostgreSQL.
    #[default]
    Postgres,
    /// `scylla-primary`: repair rewrites PostgreSQL from ScyllaDB, and never touches ScyllaDB.
    Scylla,
}

impl Truth {
    pub fn name(self) -> &'static str {
        match self {
            Truth::Postgres => "postgres",
            Truth::Scylla => "scylla",
        }
    }
}

/// What ScyllaDB holds for one session, read partition by partition.
#[derive(Debug, Default)]
pub struct ScyllaSession {
    rows: RowsByKey,
    /// Each row's newest write time, in microseconds (rows with a value).
    write_times: BTreeMap<RowKey, i64>,
    pub by_user: Option<SessionByUser>,
    pub owner: Option<SessionOwner>,
    pub by_session: Vec<TurnBySession>,
    pub by_parent: Vec<TurnByParent>,
    pub locations: Vec<TurnLocation>,
    pub steps: Vec<StepByTurn>,
    pub steps_by_session: Vec<StepBySession>,
}

impl ScyllaSession {
    /// Rows found in all tables.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// The newest write time of the row of `table` with `key`, in microseconds.
    pub fn write_time(&self, table: &'static str, key: &str) -> Option<i64> {
        self.write_times.get(&(table, key.to_owned())).copied()
    }

    /// The newest write time of any row found.
    pub fn newest_write(&self) -> Option<i64> {
        self.write_times.values().copied().max()
    }
}

/// A row's table and key.
type RowKey = (&'static str, String);
/// Rows written out column by column, by table and key.
type RowsByKey = BTreeMap<RowKey, RowText>;

/// A row's table and key, as verify reports it.
pub(crate) fn row_key<T: ScyllaTable>(row: &T) -> RowKey {
    (T::TABLE_NAME, RowText::of(row).key_text())
}

fn add_rows<'a, T: ScyllaTable + 'a>(rows: &mut RowsByKey, found: impl IntoIterator<Item = &'a T>) {
    for row in found {
        let text = RowText::of(row);
        rows.insert((text.table, text.key_text()), text);
    }
}

/// The rows read with their write times: the rows, with each write time kept by row key.
fn untimed<T: ScyllaTable>(write_times: &mut BTreeMap<RowKey, i64>, timed: Vec<Timed<T>>) -> Vec<T> {
    timed
        .into_iter()
        .map(|Timed { row, newest_write }| {
            if let Some(written) = newest_write {
                write_times.insert(row_key(&row), written);
            }
            row
        })
        .collect()
}

/// The keys of every row the projection makes of a session.
pub(crate) fn expected_keys(copy: &SessionCopy) -> BTreeSet<RowKey> {
    expected_rows(copy).into_keys().collect()
}

/// The rows the projection makes of a session, each with its version (its write timestamp).
fn expected_rows(copy: &SessionCopy) -> BTreeMap<RowKey, (RowText, i64)> {
    let mut rows = BTreeMap::new();
    let mut add = |row: RowText, version: i64| {
        rows.insert((row.table, row.key_text()), (row, version));
    };
    let session = &copy.session;
    add(RowText::of(&session.by_user), session.timestamp);
    add(RowText::of(&session.owner), session.timestamp);
    for turn in &copy.turns {
        add(RowText::of(&turn.by_session), turn.timestamp);
        add(RowText::of(&turn.by_parent), turn.timestamp);
        add(RowText::of(&turn.location), turn.timestamp);
    }
    for step in &copy.steps {
        add(RowText::of(&step.step), step.timestamp);
        if let Some(by_session) = &step.by_session {
            add(RowText::of(by_session), step.timestamp);
        }
    }
    rows
}

/// The session's keys in ScyllaDB: from PostgreSQL, or for a purged session from its record.
pub struct SessionKeys {
    pub session: SessionRow,
    pub turn_uids: Vec<String>,
}

/// Where a session's copies are: enough to read every one of them.
#[derive(Debug, Clone, Copy)]
pub struct SessionAddress<'a> {
    pub session_uid: &'a str,
    pub account_uid: &'a str,
    pub created_at: DateTime<Utc>,
}

impl SessionKeys {
    pub fn address(&self) -> SessionAddress<'_> {
        SessionAddress {
            session_uid: &self.session.uid,
            account_uid: &self.session.account_uid,
            created_at: self.session.created_at,
        }
    }
}

/// Reads every ScyllaDB row that could hold a copy of the session: its `sessions_by_user` row,
/// its owner, its `turns_by_session` partition, and for every turn either database knows, its
/// `turns_by_parent` partition, `turns_by_uid` row and `steps_by_turn` partition; and in that
/// layout, its `steps_by_session` partition.
pub async fn read_scylla(tables: &StoreTables, keys: &SessionKeys, layout: Layout) -> MigrateResult<ScyllaSession> {
    read_copies(tables, keys.address(), &keys.turn_uids, layout).await
}

/// [`read_scylla`] from the address alone, plus turns known elsewhere (`known_turn_uids`): the
/// turns `turns_by_session` lists are always read.
pub async fn read_copies(
    tables: &StoreTables,
    session: SessionAddress<'_>,
    known_turn_uids: &[String],
    layout: Layout,
) -> MigrateResult<ScyllaSession> {
    let session_uid = session.session_uid.to_owned();
    let mut found = ScyllaSession::default();
    let mut times = BTreeMap::new();
    let by_user_key = SessionByUserPrimaryKey {
        account_uid: session.account_uid.to_owned(),
        created_at: session.created_at,
        session_uid: session_uid.clone(),
    };
    let by_user = tables.sessions.get_timed(&by_user_key).await?;
    found.by_user = untimed(&mut times, by_user.into_iter().collect()).pop();
    let owner = tables.owners.get_timed(&SessionOwnerPrimaryKey { session_uid: session_uid.clone() }).await?;
    found.owner = untimed(&mut times, owner.into_iter().collect()).pop();
    let by_session =
        tables.turns.partition_timed(&TurnBySessionPartitionKey { session_uid: session_uid.clone() }).await?;
    found.by_session = untimed(&mut times, by_session);
    let turn_uids: BTreeSet<String> =
        known_turn_uids.iter().cloned().chain(found.by_session.iter().map(|turn| turn.turn_uid.clone())).collect();
    let parents: Vec<String> =
        std::iter::once(root_parent_key(&session_uid)).chain(turn_uids.iter().cloned()).collect();
    let by_parent = futures::stream::iter(parents)
        .map(|parent_uid| async move { tables.parents.partition_timed(&TurnByParentPartitionKey { parent_uid }).await })
        .buffered(READ_CONCURRENCY)
        .try_concat()
        .await?;
    found.by_parent = untimed(&mut times, by_parent);
    let locations: Vec<Option<Timed<TurnLocation>>> = futures::stream::iter(turn_uids.iter().cloned())
        .map(|turn_uid| async move { tables.locations.get_timed(&TurnLocationPrimaryKey { turn_uid }).await })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    found.locations = untimed(&mut times, locations.into_iter().flatten().collect());
    let steps = futures::stream::iter(turn_uids.iter().cloned())
        .map(|turn_uid| async move { tables.steps.partition_timed(&StepByTurnPartitionKey { turn_uid }).await })
        .buffered(READ_CONCURRENCY)
        .try_concat()
        .await?;
    found.steps = untimed(&mut times, steps);
    if layout.steps_by_session {
        let partition = StepBySessionPartitionKey { session_uid };
        found.steps_by_session = untimed(&mut times, tables.steps_by_session.partition_timed(&partition).await?);
    }
    let mut rows = BTreeMap::new();
    add_rows(&mut rows, found.by_user.iter());
    add_rows(&mut rows, found.owner.iter());
    add_rows(&mut rows, &found.by_session);
    add_rows(&mut rows, &found.by_parent);
    add_rows(&mut rows, &found.locations);
    add_rows(&mut rows, &found.steps);
    add_rows(&mut rows, &found.steps_by_session);
    found.rows = rows;
    found.write_times = times;
    Ok(found)
}

/// `turns_by_session` and `turns_by_parent` must list the same turns of the session.
pub(crate) fn orphans(session_uid: &str, found: &ScyllaSession) -> Vec<Divergence> {
    let mut divergences = Vec::new();
    let by_session: BTreeSet<&str> = found.by_session.iter().map(|turn| turn.turn_uid.as_str()).collect();
    for turn in &found.by_session {
        let parent_key = turn.parent_uid.clone().unwrap_or_else(|| root_parent_key(session_uid));
        let listed = found.by_parent.iter().any(|row| row.turn_uid == turn.turn_uid && row.parent_uid == parent_key);
        if !listed {
            divergences.push(Divergence {
                kind: DivergenceKind::Orphan,
                session_uid: session_uid.to_owned(),
                table: TurnBySession::TABLE_NAME,
                key: RowText::of(turn).key_text(),
                detail: format!("not listed in turns_by_parent under `{parent_key}`"),
            });
        }
    }
    for row in &found.by_parent {
        if row.session_uid == session_uid && !by_session.contains(row.turn_uid.as_str()) {
            divergences.push(Divergence {
                kind: DivergenceKind::Orphan,
                session_uid: session_uid.to_owned(),
                table: TurnByParent::TABLE_NAME,
                key: RowText::of(row).key_text(),
                detail: "no such turn in turns_by_session".into(),
            });
        }
    }
    divergences
}

/// Compares what ScyllaDB holds for a session with its relational rows, read after it.
/// `snapshot` is `None` when PostgreSQL no longer has the session (it was purged): then every
/// copy found is extra. With PostgreSQL as the `truth`, a copy written after its row's version
/// is reported too; in `scylla-primary` ScyllaDB's writes carry their own time, and PostgreSQL's
/// versions are its copies' (see `conversation_pg::replica`), so the two are not compared.
pub fn compare(
    session_uid: &str,
    found: &ScyllaSession,
    snapshot: Option<&SessionSnapshot>,
    layout: Layout,
    truth: Truth,
) -> Vec<Divergence> {
    let expected = snapshot.map(|snapshot| expected_rows(&project_snapshot(snapshot, layout))).unwrap_or_default();
    let mut divergences = Vec::new();
    let divergence = |kind, table, key: &str, detail: String| Divergence {
        kind,
        session_uid: session_uid.to_owned(),
        table,
        key: key.to_owned(),
        detail,
    };
    for ((table, key), (columns, version)) in &expected {
        let Some(actual) = found.rows.get(&(*table, key.clone())) else {
            divergences.push(divergence(DivergenceKind::Missing, table, key, String::new()));
            continue;
        };
        for detail in column_details(columns, actual) {
            divergences.push(divergence(DivergenceKind::Differs, table, key, detail));
        }
        match found.write_time(table, key) {
            Some(written) if truth == Truth::Postgres && written > *version => {
                let detail = format!(
                    "written at {written} µs, {:.3} ms after its version {version}: it would win over the next \
                     dual-write",
                    (written - version) as f64 / 1000.0
                );
                divergences.push(divergence(DivergenceKind::Newer, table, key, detail));
            }
            _ => {}
        }
    }
    for (table, key) in found.rows.keys() {
        if !expected.contains_key(&(*table, key.clone())) {
            divergences.push(divergence(DivergenceKind::Extra, table, key, String::new()));
        }
    }
    divergences.extend(orphans(session_uid, found));
    divergences
}

/// What differs between the row PostgreSQL's rows make and ScyllaDB's copy, column by column as
/// the table's model lists them: a column added to a table is verified without a change here.
fn column_details(expected: &RowText, found: &RowText) -> Vec<String> {
    expected
        .differences(found)
        .into_iter()
        .map(|ColumnDifference { column, left, right }| {
            format!("{column}: PostgreSQL has {left}, ScyllaDB has {right}")
        })
        .collect()
}

/// Store table handles that read at QUORUM (LOCAL_QUORUM with local writes): verify must see
/// what a write quorum acknowledged.
pub fn verifying_tables(tables: &StoreTables) -> StoreTables {
    let mut levels = tables.turns.consistency();
    levels.read = levels.strong_read();
    tables.clone().with_consistency(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table like `steps_by_turn` with a column neither verify nor shadow names.
    #[derive(ScyllaTable, Debug, Clone, PartialEq)]
    #[table(name = "steps_with_a_new_column")]
    struct Widened {
        #[table(partition_key)]
        turn_uid: String,
        #[table(clustering)]
        idx: i32,
        content: String,
        added_column: Vec<String>,
        labels: std::collections::HashSet<String>,
    }

    #[test]
    fn a_column_the_model_adds_is_verified() {
        let expected = Widened {
            turn_uid: "t1".into(),
            idx: 0,
            content: "Thinking".into(),
            added_column: vec![],
            labels: labels(50),
        };
        let found = Widened { added_column: vec!["x".into()], ..expected.clone() };
        let mut rows = RowsByKey::new();
        add_rows(&mut rows, [&found]);
        let (key, copy) = rows.into_iter().next().unwrap();
        assert_eq!(key, row_key(&expected));
        assert_eq!(key, ("steps_with_a_new_column", r#"("t1", 0)"#.to_owned()));
        assert_eq!(
            column_details(&RowText::of(&expected), &copy),
            [r#"added_column: PostgreSQL has [], ScyllaDB has ["x"]"#]
        );
        assert!(column_details(&RowText::of(&found), &copy).is_empty());
        // Each HashSet iterates in an order of its own: the same set is still the same value.
        let rebuilt = Widened { labels: labels(50), ..found.clone() };
        assert!(column_details(&RowText::of(&rebuilt), &copy).is_empty());
        let other = Widened { labels: labels(2), ..found };
        let details = column_details(&RowText::of(&other), &copy);
        assert_eq!(details.len(), 1, "{details:?}");
        assert!(
            details[0].starts_with(r#"labels: PostgreSQL has {"label 0", "label 1"}, ScyllaDB has {"#),
            "{details:?}"
        );
    }

    fn labels(count: usize) -> std::collections::HashSet<String> {
        (0..count).map(|index| format!("label {index}")).collect()
    }
}
