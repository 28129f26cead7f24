//! A table's live definition, as `system_schema` reports it, compared with the derived one:
//! pure functions over data. [`crate::read_live_table`] reads the data.

use std::collections::HashMap;
use std::fmt;

use scylla_table_schema::{ClusteringOrder, ColumnKind, CqlType, TableSchema, UserTypeSchema};

/// One column as `system_schema.columns` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveColumn {
    /// The column's name.
    pub name: String,
    /// `partition_key`, `clustering`, `static` or `regular`.
    pub kind: String,
    /// The index within the partition key or clustering key; -1 for other columns.
    pub position: i32,
    /// The type as CQL text, such as `frozen<list<int>>`.
    pub cql_type: String,
    /// `asc`, `desc` or `none`.
    pub clustering_order: String,
}

/// A table as `system_schema` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTable {
    /// The keyspace it is in.
    pub keyspace: String,
    /// The table's name.
    pub name: String,
    /// Every column, in `system_schema` order.
    pub columns: Vec<LiveColumn>,
    /// Seconds a written cell lives unless the write says otherwise; 0 for ever.
    pub default_time_to_live: i32,
    /// Seconds a tombstone is kept before compaction may purge it.
    pub gc_grace_seconds: i32,
    /// The table's comment.
    pub comment: String,
    /// The compaction strategy's options, `class` among them.
    pub compaction: HashMap<String, String>,
}

impl LiveTable {
    /// The column of that name, if the table has it.
    pub(crate) fn column(&self, name: &str) -> Option<&LiveColumn> {
        self.columns.iter().find(|column| column.name == name)
    }
}

/// A user-defined type as `system_schema.types` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveUserType {
    /// The keyspace it is in.
    pub keyspace: String,
    /// The type's name.
    pub name: String,
    /// Each field's name and CQL type text, in the type's order.
    pub fields: Vec<(String, String)>,
}

/// One difference between the derived table and the live one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaMismatch {
    /// The keyspace has no such table.
    MissingTable {
        /// The table.
        table: String,
    },
    /// The struct has a column the live table lacks.
    MissingColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its CQL type in the struct.
        expected_type: String,
    },
    /// The live table has a column the struct lacks.
    ExtraColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its CQL type in the live table.
        found_type: String,
    },
    /// The column's CQL type differs.
    TypeMismatch {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The type in the struct.
        expected: String,
        /// The type in the live table.
        found: String,
    },
    /// The column plays a different part in the primary key.
    KeyMismatch {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// Its part in the struct, such as `clustering 0`.
        expected: String,
        /// Its part in the live table.
        found: String,
    },
    /// The keyspace has no such user-defined type.
    MissingType {
        /// The type.
        user_type: String,
    },
    /// The struct has a field the live type lacks.
    MissingTypeField {
        /// The type.
        user_type: String,
        /// The field.
        field: String,
        /// Its CQL type in the struct.
        expected_type: String,
    },
    /// The live type has a field the struct lacks.
    ExtraTypeField {
        /// The type.
        user_type: String,
        /// The field.
        field: String,
        /// Its CQL type in the live type.
        found_type: String,
    },
    /// A field's CQL type differs.
    TypeFieldMismatch {
        /// The type.
        user_type: String,
        /// The field.
        field: String,
        /// The type in the struct.
        expected: String,
        /// The type in the live type.
        found: String,
    },
    /// A clustering column sorts the other way.
    ClusteringOrderMismatch {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// `asc` or `desc` in the struct.
        expected: String,
        /// The order in the live table.
        found: String,
    },
}

impl fmt::Display for SchemaMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaMismatch::MissingTable { table } => {
                write!(f, "table `{table}` does not exist: create it with `Database::apply_schema`")
            }
            SchemaMismatch::MissingColumn { table, column, expected_type } => write!(
                f,
                "`{table}.{column}` is missing: expected `{expected_type}`; an additive migration adds it"
            ),
            SchemaMismatch::ExtraColumn { table, column, found_type } => write!(
                f,
                "`{table}.{column}` (`{found_type}`) exists in the database but not in the struct: add the field, or drop the column"
            ),
            SchemaMismatch::TypeMismatch { table, column, expected, found } => {
                write!(f, "`{table}.{column}` has type `{found}`, expected `{expected}`")
            }
            SchemaMismatch::KeyMismatch { table, column, expected, found } => {
                write!(f, "`{table}.{column}` is {found} in the database, expected {expected}")
            }
            SchemaMismatch::ClusteringOrderMismatch { table, column, expected, found } => {
                write!(f, "`{table}.{column}` clusters {found}, expected {expected}")
            }
            SchemaMismatch::MissingType { user_type } => {
                write!(f, "user-defined type `{user_type}` does not exist: create it with `Database::apply_schema`")
            }
            SchemaMismatch::MissingTypeField { user_type, field, expected_type } => write!(
                f,
                "type `{user_type}` lacks field `{field}`: expected `{expected_type}`; an additive migration adds it"
            ),
            SchemaMismatch::ExtraTypeField { user_type, field, found_type } => write!(
                f,
                "type `{user_type}` has field `{field}` (`{found_type}`) that the struct lacks: add the field \
                 (CQL cannot drop a field of a type, and until the struct has it, a value of the type is not \
                 written, since the write would erase the field)"
            ),
            SchemaMismatch::TypeFieldMismatch { user_type, field, expected, found } => {
                write!(f, "field `{field}` of type `{user_type}` is `{found}`, expected `{expected}`")
            }
        }
    }
}

/// The key role of a derived column, written the way the mismatch messages show it.
pub(crate) fn expected_role(table: &TableSchema, column: &scylla_table_schema::Column) -> String {
    // The position within its part of the key, as system_schema numbers it.
    let position = table
        .columns
        .iter()
        .filter(|other| other.kind.system_schema_name() == column.kind.system_schema_name())
        .position(|other| other.name == column.name)
        .unwrap_or(0);
    match column.kind {
        ColumnKind::PartitionKey => format!("partition key column #{position}"),
        ColumnKind::Clustering(_) => format!("clustering column #{position}"),
        ColumnKind::Static => "a static column".to_owned(),
        ColumnKind::Regular => "a regular column".to_owned(),
    }
}

pub(crate) fn live_role(live: &LiveColumn) -> String {
    match live.kind.as_str() {
        "partition_key" => format!("partition key column #{}", live.position),
        "clustering" => format!("clustering column #{}", live.position),
        "static" => "a static column".to_owned(),
        _ => "a regular column".to_owned(),
    }
}

/// True if the live type text means the same type as `expected`.
pub(crate) fn same_type(expected: &CqlType, live: &str) -> bool {
    match live.parse::<CqlType>() {
        Ok(parsed) => &parsed == expected,
        Err(_) => expected.to_string() == live,
    }
}

/// [`same_type`] for a field of a user-defined type. A type made by hand may declare a field
/// `list<text>` where the derive writes `frozen<list<text>>`: inside a frozen value, which is how
/// a type is stored, the two are the same.
pub(crate) fn same_field_type(expected: &CqlType, live: &str) -> bool {
    match live.parse::<CqlType>() {
        Ok(parsed) => parsed.frozen() == expected.clone().frozen(),
        Err(_) => expected.to_string() == live,
    }
}

impl SchemaMismatch {
    /// Every difference between `expected` and `live`, in column order, extra columns last.
    pub fn between(expected: &TableSchema, live: Option<&LiveTable>) -> Vec<SchemaMismatch> {
        let table = &expected.name;
        let Some(live) = live else { return vec![SchemaMismatch::MissingTable { table: table.clone() }] };
        let mut mismatches = Vec::new();
        for column in &expected.columns {
            let Some(found) = live.column(&column.name) else {
                mismatches.push(SchemaMismatch::MissingColumn {
                    table: table.clone(),
                    column: column.name.clone(),
                    expected_type: column.cql_type.to_string(),
                });
                continue;
            };
            if !same_type(&column.cql_type, &found.cql_type) {
                mismatches.push(SchemaMismatch::TypeMismatch {
                    table: table.clone(),
                    column: column.name.clone(),
                    expected: column.cql_type.to_string(),
                    found: found.cql_type.clone(),
                });
            }
            let (expected_role, found_role) = (expected_role(expected, column), live_role(found));
            if expected_role != found_role {
                mismatches.push(SchemaMismatch::KeyMismatch {
                    table: table.clone(),
                    column: column.name.clone(),
                    expected: expected_role,
                    found: found_role,
                });
            } else if let ColumnKind::Clustering(order) = column.kind {
                let expected_order = match order {
                    ClusteringOrder::Asc => "asc",
                    ClusteringOrder::Desc => "desc",
                };
                if !found.clustering_order.eq_ignore_ascii_case(expected_order) {
                    mismatches.push(SchemaMismatch::ClusteringOrderMismatch {
                        table: table.clone(),
                        column: column.name.clone(),
                        expected: expected_order.to_owned(),
                        found: found.clustering_order.clone(),
                    });
                }
            }
        }
        for found in &live.columns {
            if expected.column(&found.name).is_none() {
                mismatches.push(SchemaMismatch::ExtraColumn {
                    table: table.clone(),
                    column: found.name.clone(),
                    found_type: found.cql_type.clone(),
                });
            }
        }
        mismatches
    }
}

impl SchemaMismatch {
    /// Every difference between a derived user-defined type and the live one, in field order,
    /// extra fields last.
    pub fn between_types(expected: &UserTypeSchema, live: Option<&LiveUserType>) -> Vec<SchemaMismatch> {
        let user_type = &expected.name;
        let Some(live) = live else { return vec![SchemaMismatch::MissingType { user_type: user_type.clone() }] };
        let mut mismatches = Vec::new();
        for field in &expected.fields {
            match live.fields.iter().find(|(name, _)| *name == field.name) {
                None => mismatches.push(SchemaMismatch::MissingTypeField {
                    user_type: user_type.clone(),
                    field: field.name.clone(),
                    expected_type: field.cql_type.to_string(),
                }),
                Some((_, found)) if !same_field_type(&field.cql_type, found) => {
                    mismatches.push(SchemaMismatch::TypeFieldMismatch {
                        user_type: user_type.clone(),
                        field: field.name.clone(),
                        expected: field.cql_type.to_string(),
                        found: found.clone(),
                    })
                }
                Some(_) => {}
            }
        }
        for (name, found_type) in &live.fields {
            if expected.field(name).is_none() {
                mismatches.push(SchemaMismatch::ExtraTypeField {
                    user_type: user_type.clone(),
                    field: name.clone(),
                    found_type: found_type.clone(),
                });
            }
        }
        mismatches
    }
}
