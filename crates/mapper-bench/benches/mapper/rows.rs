//! The same two rows three ways: the derive's table structs, hand-written `SerializeRow` and
//! `DeserializeRow` impls (what a careful user writes against the driver), and the driver's own
//! derives (matching columns by name, their default).

use chrono::{DateTime, TimeZone, Utc};
use conversation_store::{StepByTurn, TurnBySession, TurnType};
use scylla::deserialize::row::{ColumnIterator, DeserializeRow};
use scylla::deserialize::value::DeserializeValue;
use scylla::deserialize::{DeserializationError, TypeCheckError};
use scylla::frame::response::result::{ColumnSpec, ColumnType, NativeType, TableSpec};
use scylla::serialize::row::{RowSerializationContext, SerializeRow};
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::RowWriter;
use scylla::serialize::SerializationError;

/// A human turn in the middle of a session: every optional column but `liked` is set.
pub fn turn(index: usize) -> TurnBySession {
    TurnBySession {
        session_uid: "session-0000000000000001".into(),
        created_at: created_at(index),
        turn_uid: format!("turn-{index:020}"),
        turn_type: TurnType::Human,
        parent_uid: Some(format!("turn-{:020}", index.saturating_sub(1))),
        active_child: Some(format!("turn-{:020}", index + 1)),
        prompt: Some("Summarise the migration plan for the chat history tables, step by step. ".repeat(4)),
        liked: None,
    }
}

/// An agent's step of about 800 bytes.
pub fn step(index: usize) -> StepByTurn {
    StepByTurn {
        turn_uid: "turn-00000000000000000002".into(),
        idx: i32::try_from(index).unwrap_or(i32::MAX),
        tpe: 2,
        content: "The backfill copies each session with its turns and steps in one logged batch. ".repeat(10),
        created_at: created_at(index),
    }
}

fn created_at(index: usize) -> DateTime<Utc> {
    let offset = i64::try_from(index).unwrap_or(i64::MAX);
    Utc.timestamp_millis_opt(1_790_000_000_000 + offset).single().unwrap_or_default()
}

/// The columns of a table as a node describes them in a prepared statement or a result.
pub fn specs(table: &'static str, columns: &[(&'static str, NativeType)]) -> Vec<ColumnSpec<'static>> {
    columns
        .iter()
        .map(|(name, native)| {
            ColumnSpec::borrowed(name, ColumnType::Native(native.clone()), TableSpec::borrowed("chat", table))
        })
        .collect()
}

pub fn turn_specs() -> Vec<ColumnSpec<'static>> {
    use NativeType::{Boolean, Text, Timestamp};
    specs(
        "turns_by_session",
        &[
            ("session_uid", Text),
            ("created_at", Timestamp),
            ("turn_uid", Text),
            ("turn_type", Text),
            ("parent_uid", Text),
            ("active_child", Text),
            ("prompt", Text),
            ("liked", Boolean),
        ],
    )
}

pub fn step_specs() -> Vec<ColumnSpec<'static>> {
    use NativeType::{Int, Text, Timestamp};
    specs(
        "steps_by_turn",
        &[("turn_uid", Text), ("idx", Int), ("tpe", Int), ("content", Text), ("created_at", Timestamp)],
    )
}

#[derive(Debug, thiserror::Error)]
#[error("the statement's columns are not the row's")]
struct WrongColumns;

/// The next cell, read as `T`.
fn next<'frame, 'metadata, T: DeserializeValue<'frame, 'metadata>>(
    row: &mut ColumnIterator<'frame, 'metadata>,
) -> Result<T, DeserializationError> {
    let column = row.next().ok_or_else(|| DeserializationError::new(WrongColumns))??;
    T::deserialize(column.spec.typ(), column.slice)
}

fn check<'frame, 'metadata, T: DeserializeValue<'frame, 'metadata>>(
    spec: &ColumnSpec<'_>,
) -> Result<(), TypeCheckError> {
    T::type_check(spec.typ())
}

fn cell(
    value: &impl SerializeValue,
    spec: &ColumnSpec<'_>,
    writer: &mut RowWriter<'_>,
) -> Result<(), SerializationError> {
    value.serialize(spec.typ(), writer.make_cell_writer()).map(|_| ())
}

/// `turns_by_session`, hand-written.
#[derive(Debug, Clone, PartialEq)]
pub struct HandTurn(pub TurnBySession);

impl SerializeRow for HandTurn {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter<'_>,
    ) -> Result<(), SerializationError> {
        let [c0, c1, c2, c3, c4, c5, c6, c7] = ctx.columns() else {
            return Err(SerializationError::new(WrongColumns));
        };
        let row = &self.0;
        cell(&row.session_uid, c0, writer)?;
        cell(&row.created_at, c1, writer)?;
        cell(&row.turn_uid, c2, writer)?;
        cell(&row.turn_type, c3, writer)?;
        cell(&row.parent_uid, c4, writer)?;
        cell(&row.active_child, c5, writer)?;
        cell(&row.prompt, c6, writer)?;
        cell(&row.liked, c7, writer)
    }

    fn is_empty(&self) -> bool {
        false
    }
}

impl<'frame, 'metadata> DeserializeRow<'frame, 'metadata> for HandTurn {
    fn type_check(specs: &[ColumnSpec]) -> Result<(), TypeCheckError> {
        let [c0, c1, c2, c3, c4, c5, c6, c7] = specs else {
            return Err(TypeCheckError::new(WrongColumns));
        };
        check::<String>(c0)?;
        check::<DateTime<Utc>>(c1)?;
        check::<String>(c2)?;
        check::<TurnType>(c3)?;
        check::<Option<String>>(c4)?;
        check::<Option<String>>(c5)?;
        check::<Option<String>>(c6)?;
        check::<Option<bool>>(c7)
    }

    fn deserialize(mut row: ColumnIterator<'frame, 'metadata>) -> Result<Self, DeserializationError> {
        Ok(HandTurn(TurnBySession {
            session_uid: next(&mut row)?,
            created_at: next(&mut row)?,
            turn_uid: next(&mut row)?,
            turn_type: next(&mut row)?,
            parent_uid: next(&mut row)?,
            active_child: next(&mut row)?,
            prompt: next(&mut row)?,
            liked: next(&mut row)?,
        }))
    }
}

/// `steps_by_turn`, hand-written.
#[derive(Debug, Clone, PartialEq)]
pub struct HandStep(pub StepByTurn);

impl SerializeRow for HandStep {
    fn serialize(
        &self,
        ctx: &RowSerializationContext<'_>,
        writer: &mut RowWriter<'_>,
    ) -> Result<(), SerializationError> {
        let [c0, c1, c2, c3, c4] = ctx.columns() else {
            return Err(SerializationError::new(WrongColumns));
        };
        let row = &self.0;
        cell(&row.turn_uid, c0, writer)?;
        cell(&row.idx, c1, writer)?;
        cell(&row.tpe, c2, writer)?;
        cell(&row.content, c3, writer)?;
        cell(&row.created_at, c4, writer)
    }

    fn is_empty(&self) -> bool {
        false
    }
}

impl<'frame, 'metadata> DeserializeRow<'frame, 'metadata> for HandStep {
    fn type_check(specs: &[ColumnSpec]) -> Result<(), TypeCheckError> {
        let [c0, c1, c2, c3, c4] = specs else {
            return Err(TypeCheckError::new(WrongColumns));
        };
        check::<String>(c0)?;
        check::<i32>(c1)?;
        check::<i32>(c2)?;
        check::<String>(c3)?;
        check::<DateTime<Utc>>(c4)
    }

    fn deserialize(mut row: ColumnIterator<'frame, 'metadata>) -> Result<Self, DeserializationError> {
        Ok(HandStep(StepByTurn {
            turn_uid: next(&mut row)?,
            idx: next(&mut row)?,
            tpe: next(&mut row)?,
            content: next(&mut row)?,
            created_at: next(&mut row)?,
        }))
    }
}

/// `turns_by_session` through the driver's derives.
#[derive(Debug, Clone, PartialEq, scylla::SerializeRow, scylla::DeserializeRow)]
pub struct DerivedTurn {
    pub session_uid: String,
    pub created_at: DateTime<Utc>,
    pub turn_uid: String,
    pub turn_type: TurnType,
    pub parent_uid: Option<String>,
    pub active_child: Option<String>,
    pub prompt: Option<String>,
    pub liked: Option<bool>,
}

impl From<&TurnBySession> for DerivedTurn {
    fn from(row: &TurnBySession) -> Self {
        let row = row.clone();
        DerivedTurn {
            session_uid: row.session_uid,
            created_at: row.created_at,
            turn_uid: row.turn_uid,
            turn_type: row.turn_type,
            parent_uid: row.parent_uid,
            active_child: row.active_child,
            prompt: row.prompt,
            liked: row.liked,
        }
    }
}

/// `steps_by_turn` through the driver's derives.
#[derive(Debug, Clone, PartialEq, scylla::SerializeRow, scylla::DeserializeRow)]
pub struct DerivedStep {
    pub turn_uid: String,
    pub idx: i32,
    pub tpe: i32,
    pub content: String,
    pub created_at: DateTime<Utc>,
}

impl From<&StepByTurn> for DerivedStep {
    fn from(row: &StepByTurn) -> Self {
        let row = row.clone();
        DerivedStep {
            turn_uid: row.turn_uid,
            idx: row.idx,
            tpe: row.tpe,
            content: row.content,
            created_at: row.created_at,
        }
    }
}
