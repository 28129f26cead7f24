//! The model of one query table: its columns, their roles in the primary key, and its options.

use std::fmt;

use crate::cql_type::CqlType;
use crate::identifier::quote_if_needed;
use crate::user_type::{creation_order, UserTypeSchema};

/// The direction in which a clustering column sorts rows inside a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClusteringOrder {
    #[default]
    Asc,
    Desc,
}

impl ClusteringOrder {
    pub const fn keyword(self) -> &'static str {
        match self {
            ClusteringOrder::Asc => "ASC",
            ClusteringOrder::Desc => "DESC",
        }
    }
}

impl fmt::Display for ClusteringOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The role a column plays in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    /// Part of the partition key: decides which node holds the row.
    PartitionKey,
    /// Part of the clustering key: sorts rows inside a partition.
    Clustering(ClusteringOrder),
    /// One value shared by every row of a partition.
    Static,
    /// An ordinary value column.
    Regular,
}

impl ColumnKind {
    pub fn is_key(self) -> bool {
        matches!(self, ColumnKind::PartitionKey | ColumnKind::Clustering(_))
    }

    /// The name `system_schema.columns.kind` uses.
    pub const fn system_schema_name(self) -> &'static str {
        match self {
            ColumnKind::PartitionKey => "partition_key",
            ColumnKind::Clustering(_) => "clustering",
            ColumnKind::Static => "static",
            ColumnKind::Regular => "regular",
        }
    }
}

/// One stored column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Column {
    /// The column's name in CQL, unquoted.
    pub name: String,
    pub cql_type: CqlType,
    pub kind: ColumnKind,
}

impl Column {
    pub fn new(name: impl Into<String>, cql_type: CqlType, kind: ColumnKind) -> Column {
        Column { name: name.into(), cql_type, kind }
    }

    /// The name as it must be written in a statement.
    pub fn quoted_name(&self) -> String {
        quote_if_needed(&self.name)
    }
}

/// A compaction strategy and its sub-options, as in `compaction = {'class': ..., ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Compaction {
    /// The strategy class, such as `LeveledCompactionStrategy`.
    pub class: String,
    /// Further sub-options, written in this order after `class`.
    pub options: Vec<(String, String)>,
}

impl Compaction {
    pub fn new(class: impl Into<String>) -> Compaction {
        Compaction { class: class.into(), options: Vec::new() }
    }

    pub fn with_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Compaction {
        self.options.push((key.into(), value.into()));
        self
    }
}

/// Table options that go after `WITH`. Unset options keep the server's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TableOptions {
    /// Seconds after which a written cell expires; 0 means never.
    pub default_time_to_live: Option<u32>,
    /// Seconds a tombstone is kept before compaction may drop it.
    pub gc_grace_seconds: Option<u32>,
    pub comment: Option<String>,
    pub compaction: Option<Compaction>,
}

/// One query table: the model that `#[derive(ScyllaTable)]` builds from a struct.
///
/// Columns are kept in primary-key order: partition key columns, then clustering columns, then
/// static and regular columns in declaration order. Every statement lists columns in this order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableSchema {
    /// A fixed keyspace for this table, or `None` to use the session's keyspace.
    pub keyspace: Option<String>,
    pub name: String,
    pub columns: Vec<Column>,
    pub options: TableOptions,
    /// The user-defined types the columns use, each with the types it uses. They live in the
    /// table's keyspace and are created before it.
    pub user_types: Vec<UserTypeSchema>,
}

impl TableSchema {
    /// Builds a table, ordering its columns as described on [`TableSchema`].
    pub fn new(name: impl Into<String>, columns: Vec<Column>) -> TableSchema {
        let mut columns = columns;
        // A stable sort keeps declaration order within each group.
        columns.sort_by_key(|column| match column.kind {
            ColumnKind::PartitionKey => 0,
            ColumnKind::Clustering(_) => 1,
            ColumnKind::Static | ColumnKind::Regular => 2,
        });
        TableSchema {
            keyspace: None,
            name: name.into(),
            columns,
            options: TableOptions::default(),
            user_types: Vec::new(),
        }
    }

    pub fn with_keyspace(mut self, keyspace: impl Into<String>) -> TableSchema {
        self.keyspace = Some(keyspace.into());
        self
    }

    pub fn with_options(mut self, options: TableOptions) -> TableSchema {
        self.options = options;
        self
    }

    /// Adds the user-defined types the columns use; a type used twice is kept once. Two different
    /// types of one name are both kept, for `Database::apply_schema` to refuse.
    pub fn with_user_types(mut self, user_types: impl IntoIterator<Item = UserTypeSchema>) -> TableSchema {
        for user_type in user_types {
            if !self.user_types.contains(&user_type) {
                self.user_types.push(user_type);
            }
        }
        self
    }

    /// Every user-defined type the table needs, in the order to create them.
    pub fn user_types_in_order(&self) -> Vec<&UserTypeSchema> {
        creation_order(&self.user_types)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }

    pub fn partition_key(&self) -> impl Iterator<Item = &Column> + '_ {
        self.columns.iter().filter(|column| column.kind == ColumnKind::PartitionKey)
    }

    pub fn clustering_columns(&self) -> impl Iterator<Item = &Column> + '_ {
        self.columns.iter().filter(|column| matches!(column.kind, ColumnKind::Clustering(_)))
    }

    /// Partition key columns followed by clustering columns.
    pub fn primary_key(&self) -> impl Iterator<Item = &Column> + '_ {
        self.columns.iter().filter(|column| column.kind.is_key())
    }

    /// Static and regular columns: the ones an UPDATE sets.
    pub fn value_columns(&self) -> impl Iterator<Item = &Column> + '_ {
        self.columns.iter().filter(|column| !column.kind.is_key())
    }

    /// The value columns whose write time CQL can select (`WRITETIME(c)`): all but counters and
    /// collections that are not frozen (a cell each).
    pub fn timed_columns(&self) -> impl Iterator<Item = &Column> + '_ {
        self.value_columns().filter(|column| !column.cql_type.is_counter() && !column.cql_type.is_multi_cell())
    }

    /// A counter table holds only key columns and counters, and is written only by UPDATE.
    pub fn is_counter_table(&self) -> bool {
        self.value_columns().any(|column| column.cql_type.is_counter())
    }

    /// The name to write in a statement: `keyspace.table` when a keyspace is known.
    /// A keyspace fixed on the table wins over `session_keyspace`.
    pub fn qualified_name(&self, session_keyspace: Option<&str>) -> String {
        match self.keyspace.as_deref().or(session_keyspace) {
            Some(keyspace) => format!("{}.{}", quote_if_needed(keyspace), quote_if_needed(&self.name)),
            None => quote_if_needed(&self.name),
        }
    }
}
