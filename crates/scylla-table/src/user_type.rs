//! User-defined types: the trait `#[derive(UserType)]` implements, and the value mapping its
//! generated code calls.
//!
//! A value is matched to the live type field by field, by name. A value is stored frozen, so every
//! write replaces it whole: a field the live type has and the struct lacks is therefore refused
//! when writing (writing it as null would erase what another writer stored there) and skipped when
//! reading. A field the struct has and the live type lacks fails the type check, naming the field.

use std::borrow::Cow;

use scylla::deserialize::value::{DeserializeValue, UdtIterator};
use scylla::deserialize::{DeserializationError, FrameSlice, TypeCheckError};
use scylla::frame::response::result::ColumnType;
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::{CellWriter, WrittenCellProof};
use scylla::serialize::SerializationError;
use scylla_table_schema::UserTypeSchema;

/// A struct stored as a CQL user-defined type. Derive it with `#[derive(UserType)]`; a table
/// column of the type names it with `cql_type = "frozen<name>"`, and the table's model then
/// carries the type, so `apply_schema`, `validate_schema`, `migrate` and `gen-cql` handle it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a user-defined type of this crate",
    label = "the column's `cql_type` names a user-defined type, so this Rust type must derive `UserType`",
    note = "add `#[derive(scylla_table::UserType)]` to `{Self}`"
)]
pub trait UserType {
    /// The type's name in CQL.
    const TYPE_NAME: &'static str;
    /// `CREATE TYPE IF NOT EXISTS` for this type alone, without a keyspace.
    const CREATE_TYPE: &'static str;
    /// The model: fields with their CQL types, and the types they use.
    fn type_schema() -> &'static UserTypeSchema;
}

/// What went wrong mapping a value to or from a user-defined type.
#[derive(Debug, thiserror::Error)]
enum UserTypeMismatch {
    #[error("the value is the user-defined type `{rust_type}`, but the column's type is {found}")]
    NotUserType { rust_type: &'static str, found: String },
    #[error("the value is the user-defined type `{rust_type}`, but the column's type is `{found}`")]
    OtherType { rust_type: &'static str, found: String },
    #[error(
        "the live type `{type_name}` has no field `{field}`, which the struct has: add it \
         (`Database::migrate` does) or remove it from the struct"
    )]
    MissingField { type_name: &'static str, field: &'static str },
    #[error("field `{field}` of `{type_name}`: {source}")]
    Field { type_name: &'static str, field: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error(
        "the live type `{type_name}` has a field `{field}` that the struct lacks: a value is written whole, \
         so writing it would erase what is stored in `{field}`; add the field to the struct (as `Option`), \
         and restart every writer once the type has changed"
    )]
    UnknownField { type_name: &'static str, field: String },
    #[error("a `{type_name}` value exceeds the largest cell CQL can hold")]
    TooLarge { type_name: &'static str },
}

fn definition<'a>(
    type_name: &'static str,
    typ: &'a ColumnType<'a>,
) -> Result<&'a [(Cow<'a, str>, ColumnType<'a>)], UserTypeMismatch> {
    match typ {
        ColumnType::UserDefinedType { definition, .. } if definition.name == type_name => {
            Ok(definition.field_types.as_slice())
        }
        ColumnType::UserDefinedType { definition, .. } => {
            Err(UserTypeMismatch::OtherType { rust_type: type_name, found: definition.name.to_string() })
        }
        other => Err(UserTypeMismatch::NotUserType { rust_type: type_name, found: format!("{other:?}") }),
    }
}

#[doc(hidden)]
/// Writes a value field by field in the live type's order. A field the struct lacks is refused:
/// the value replaces the stored one whole.
pub fn serialize_user_type<'b>(
    type_name: &'static str,
    typ: &ColumnType<'_>,
    writer: CellWriter<'b>,
    fields: &[(&'static str, &dyn SerializeValue)],
) -> Result<WrittenCellProof<'b>, SerializationError> {
    let live = definition(type_name, typ).map_err(SerializationError::new)?;
    if let Some((field, _)) = fields.iter().find(|(field, _)| !live.iter().any(|(name, _)| name == field)) {
        return Err(SerializationError::new(UserTypeMismatch::MissingField { type_name, field }));
    }
    let mut builder = writer.into_value_builder();
    for (name, field_type) in live {
        let Some((_, value)) = fields.iter().find(|(field, _)| field == name) else {
            return Err(SerializationError::new(UserTypeMismatch::UnknownField { type_name, field: name.to_string() }));
        };
        value.serialize(field_type, builder.make_sub_writer()).map_err(|source| {
            SerializationError::new(UserTypeMismatch::Field {
                type_name,
                field: name.to_string(),
                source: Box::new(source),
            })
        })?;
    }
    builder.finish().map_err(|_| SerializationError::new(UserTypeMismatch::TooLarge { type_name }))
}

#[doc(hidden)]
/// The type check of one field's Rust type against a CQL type.
pub type TypeCheck = fn(&ColumnType<'_>) -> Result<(), TypeCheckError>;

#[doc(hidden)]
/// Checks the live type once per result: the same name, every field of the struct, each of a
/// type its Rust type reads.
pub fn type_check_user_type(
    type_name: &'static str,
    typ: &ColumnType<'_>,
    fields: &[(&'static str, TypeCheck)],
) -> Result<(), TypeCheckError> {
    let live = definition(type_name, typ).map_err(TypeCheckError::new)?;
    for (field, type_check) in fields {
        let Some((_, field_type)) = live.iter().find(|(name, _)| name == field) else {
            return Err(TypeCheckError::new(UserTypeMismatch::MissingField { type_name, field }));
        };
        type_check(field_type).map_err(|source| {
            TypeCheckError::new(UserTypeMismatch::Field {
                type_name,
                field: (*field).to_owned(),
                source: Box::new(source),
            })
        })?;
    }
    Ok(())
}

#[doc(hidden)]
/// The value's fields, each with its live name and type. The driver checks the type first; a
/// caller that did not still gets an error rather than the iterator's panic.
pub fn user_type_cells<'frame, 'metadata>(
    type_name: &'static str,
    typ: &'metadata ColumnType<'metadata>,
    value: Option<FrameSlice<'frame>>,
) -> Result<UdtIterator<'frame, 'metadata>, DeserializationError> {
    definition(type_name, typ).map_err(DeserializationError::new)?;
    UdtIterator::deserialize(typ, value)
}

#[doc(hidden)]
/// One field's value. A field missing from the end of the serialized value (written before the
/// field was added to the type) reads as null.
pub fn deserialize_user_type_field<'frame, 'metadata, T: DeserializeValue<'frame, 'metadata>>(
    type_name: &'static str,
    field: &'metadata (Cow<'metadata, str>, ColumnType<'metadata>),
    cell: Result<Option<Option<FrameSlice<'frame>>>, DeserializationError>,
) -> Result<T, DeserializationError> {
    let wrap = |source: DeserializationError| {
        DeserializationError::new(UserTypeMismatch::Field {
            type_name,
            field: field.0.to_string(),
            source: Box::new(source),
        })
    };
    T::deserialize(&field.1, cell.map_err(wrap)?.flatten()).map_err(wrap)
}

#[doc(hidden)]
/// A field the type check found must have been read.
pub fn user_type_field_present<T>(
    value: Option<T>,
    type_name: &'static str,
    field: &'static str,
) -> Result<T, DeserializationError> {
    value.ok_or_else(|| DeserializationError::new(UserTypeMismatch::MissingField { type_name, field }))
}

#[doc(hidden)]
/// True if `named` (a column's `cql_type`) is `declared`, the name the Rust type's `UserType`
/// declares; in a const context, for the derive's compile-time check. An empty declared name is
/// the stub a failed derive leaves, whose error is already reported.
pub const fn names_the_type(declared: &str, named: &str) -> bool {
    let (a, b) = (declared.as_bytes(), named.as_bytes());
    if a.is_empty() {
        return true;
    }
    if a.len() != b.len() {
        return false;
    }
    let mut index = 0;
    while index < a.len() {
        if a[index] != b[index] {
            return false;
        }
        index += 1;
    }
    true
}
