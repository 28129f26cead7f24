//! `CREATE TABLE` rendering.

use crate::identifier::quote_if_needed;
use crate::table::{ColumnKind, TableOptions, TableSchema};

impl TableSchema {
    /// The `CREATE TABLE IF NOT EXISTS` statement for this table.
    ///
    /// `CLUSTERING ORDER BY` names every clustering column in key order: Cassandra 4 and later
    /// reject a prefix. Options follow in a fixed order, so the output is deterministic.
    ///
    /// ```
    /// use scylla_table_schema::{ClusteringOrder, Column, ColumnKind, CqlType, NativeType, TableSchema};
    ///
    /// let table = TableSchema::new(
    ///     "steps_by_turn",
    ///     vec![
    ///         Column::new("turn_uid", CqlType::Native(NativeType::Text), ColumnKind::PartitionKey),
    ///         Column::new("idx", CqlType::Native(NativeType::Int), ColumnKind::Clustering(ClusteringOrder::Asc)),
    ///         Column::new("content", CqlType::Native(NativeType::Text), ColumnKind::Regular),
    ///     ],
    /// );
    /// assert_eq!(
    ///     table.create_table_cql(Some("chat")),
    ///     "CREATE TABLE IF NOT EXISTS chat.steps_by_turn (\n    turn_uid text,\n    idx int,\n    \
    ///      content text,\n    PRIMARY KEY (turn_uid, idx)\n) WITH CLUSTERING ORDER BY (idx ASC);\n",
    /// );
    /// ```
    pub fn create_table_cql(&self, session_keyspace: Option<&str>) -> String {
        let mut lines: Vec<String> = self
            .columns
            .iter()
            .map(|column| {
                let suffix = if column.kind == ColumnKind::Static { " STATIC" } else { "" };
                format!("    {} {}{suffix}", column.quoted_name(), column.cql_type)
            })
            .collect();
        lines.push(format!("    PRIMARY KEY ({})", self.primary_key_clause()));

        let mut with = Vec::new();
        let clustering: Vec<String> = self
            .columns
            .iter()
            .filter_map(|column| match column.kind {
                ColumnKind::Clustering(order) => Some(format!("{} {order}", column.quoted_name())),
                _ => None,
            })
            .collect();
        if !clustering.is_empty() {
            with.push(format!("CLUSTERING ORDER BY ({})", clustering.join(", ")));
        }
        with.extend(option_clauses(&self.options));

        let mut cql =
            format!("CREATE TABLE IF NOT EXISTS {} (\n{}\n)", self.qualified_name(session_keyspace), lines.join(",\n"));
        if !with.is_empty() {
            cql.push_str(" WITH ");
            cql.push_str(&with.join("\n    AND "));
        }
        cql.push_str(";\n");
        cql
    }

    /// `(a, b)` for a single partition key column, `((a, b), c)` for a composite one.
    fn primary_key_clause(&self) -> String {
        let partition: Vec<String> = self.partition_key().map(|column| column.quoted_name()).collect();
        let partition = if partition.len() == 1 { partition[0].clone() } else { format!("({})", partition.join(", ")) };
        std::iter::once(partition)
            .chain(self.clustering_columns().map(|column| column.quoted_name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The `WITH` clauses for the set options, each as `name = value`.
pub(crate) fn option_clauses(options: &TableOptions) -> Vec<String> {
    let mut clauses = Vec::new();
    if let Some(comment) = &options.comment {
        clauses.push(format!("comment = {}", string_literal(comment)));
    }
    if let Some(compaction) = &options.compaction {
        let entries: Vec<String> = std::iter::once(("class", compaction.class.as_str()))
            .chain(compaction.options.iter().map(|(key, value)| (key.as_str(), value.as_str())))
            .map(|(key, value)| format!("{}: {}", string_literal(key), string_literal(value)))
            .collect();
        clauses.push(format!("compaction = {{{}}}", entries.join(", ")));
    }
    if let Some(ttl) = options.default_time_to_live {
        clauses.push(format!("default_time_to_live = {ttl}"));
    }
    if let Some(grace) = options.gc_grace_seconds {
        clauses.push(format!("gc_grace_seconds = {grace}"));
    }
    clauses
}

/// A CQL string literal: single quotes, with inner quotes doubled.
pub(crate) fn string_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `CREATE KEYSPACE IF NOT EXISTS` with the given replication map, written as CQL.
pub fn create_keyspace_cql(keyspace: &str, replication: &[(String, String)]) -> String {
    let entries: Vec<String> =
        replication.iter().map(|(key, value)| format!("{}: {}", string_literal(key), string_literal(value))).collect();
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {{{}}};\n",
        quote_if_needed(keyspace),
        entries.join(", ")
    )
}

impl TableSchema {
    /// `ALTER TABLE ... ADD` for one of this table's columns.
    pub fn add_column_cql(&self, session_keyspace: Option<&str>, column: &crate::Column) -> String {
        let suffix = if column.kind == ColumnKind::Static { " static" } else { "" };
        format!(
            "ALTER TABLE {} ADD {} {}{suffix}",
            self.qualified_name(session_keyspace),
            column.quoted_name(),
            column.cql_type
        )
    }

    /// `ALTER TABLE ... DROP` for a column by name.
    pub fn drop_column_cql(&self, session_keyspace: Option<&str>, column: &str) -> String {
        format!("ALTER TABLE {} DROP {}", self.qualified_name(session_keyspace), quote_if_needed(column))
    }

    /// `ALTER TABLE ... WITH` for the set options in `options`, or `None` when none are set.
    pub fn alter_options_cql(&self, session_keyspace: Option<&str>, options: &TableOptions) -> Option<String> {
        let clauses = option_clauses(options);
        (!clauses.is_empty())
            .then(|| format!("ALTER TABLE {} WITH {}", self.qualified_name(session_keyspace), clauses.join(" AND ")))
    }
}
