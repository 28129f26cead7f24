//! Statement rendering: every query a table supports, as CQL text with bind markers.

use std::fmt;

use crate::table::{ClusteringOrder, Column, ColumnKind, TableSchema};

/// One side of a range on a clustering column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BoundKind {
    Unbounded,
    /// `>=` or `<=`.
    Inclusive,
    /// `>` or `<`.
    Exclusive,
}

/// Every statement a table has. The runtime prepares each kind once and keys its cache by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementKind {
    /// `INSERT` of every column.
    Insert,
    /// `INSERT ... USING TTL ? AND TIMESTAMP ?`. Binding an unset value for either keeps the default.
    InsertUsing,
    /// `INSERT ... IF NOT EXISTS`, a lightweight transaction.
    InsertIfNotExists,
    /// Every row of one partition.
    SelectPartition,
    /// One row by its full primary key.
    SelectRow,
    /// `SelectPartition`, each row followed by the write time of each of its
    /// [timed columns](TableSchema::timed_columns): for tools that compare copies by timestamp.
    SelectPartitionTimed,
    /// `SelectRow` with the same write times.
    SelectRowTimed,
    /// Every row of the table, partition after partition in token order: a full scan, for
    /// audits and tools, never for a request path.
    SelectAll,
    /// Rows whose first `prefix_len` clustering columns are equal to the bound values, with `LIMIT ?`;
    /// `reversed` reads them against the clustering order (`ORDER BY`).
    SelectPrefix {
        prefix_len: usize,
        reversed: bool,
    },
    /// Like `SelectPrefix`, plus a range on the next clustering column.
    SelectRange {
        prefix_len: usize,
        lower: BoundKind,
        upper: BoundKind,
        reversed: bool,
    },
    /// `UPDATE` of every static and regular column, by full primary key. Counters are incremented.
    Update,
    DeleteRow,
    DeletePartition,
    /// `UPDATE ... SET c = c + ?` for the non-frozen collection or counter column at `column_index`
    /// (in column order): appends to a list, adds to a set, puts into a map, increments a counter.
    /// Not idempotent on a list or a counter: a retry appends or increments again.
    AddTo {
        column_index: usize,
    },
    /// `UPDATE ... SET c = c - ?` for the same columns: removes list elements, set elements or map
    /// keys, or decrements a counter.
    RemoveFrom {
        column_index: usize,
    },
    /// `UPDATE ... SET c = ?` for the one static or regular column at `column_index`, leaving the
    /// row's other columns as they are.
    UpdateColumn {
        column_index: usize,
    },
}

/// A statement the table cannot have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("`{table}` is a counter table: counters are written with UPDATE, never INSERT")]
    InsertIntoCounterTable { table: String },
    #[error("`{table}` has only key columns, so there is nothing to UPDATE; use INSERT")]
    NothingToUpdate { table: String },
    #[error("`{table}` has {available} clustering column(s); a prefix of {requested} is too long")]
    PrefixTooLong { table: String, requested: usize, available: usize },
    #[error("a range on `{table}` needs at least one bound; use SelectPrefix for an open range")]
    UnboundedRange { table: String },
    #[error(
        "column #{column_index} of `{table}` is neither a non-frozen collection nor a counter, so nothing can be \
         added to or removed from it"
    )]
    NotACollectionOrCounter { table: String, column_index: usize },
    #[error("column #{column_index} of `{table}` is not a static or regular column, so it cannot be updated alone")]
    NotAValueColumn { table: String, column_index: usize },
}

impl fmt::Display for StatementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl TableSchema {
    /// Renders one statement.
    ///
    /// ```
    /// use scylla_table_schema::{ClusteringOrder, Column, ColumnKind, CqlType, NativeType, StatementKind, TableSchema};
    ///
    /// let text = CqlType::Native(NativeType::Text);
    /// let table = TableSchema::new(
    ///     "turns_by_parent",
    ///     vec![
    ///         Column::new("parent_uid", text.clone(), ColumnKind::PartitionKey),
    ///         Column::new("turn_uid", text, ColumnKind::Clustering(ClusteringOrder::Asc)),
    ///     ],
    /// );
    /// assert_eq!(
    ///     table.statement_cql(StatementKind::SelectRow, None).unwrap(),
    ///     "SELECT parent_uid, turn_uid FROM turns_by_parent WHERE parent_uid = ? AND turn_uid = ?",
    /// );
    /// ```
    pub fn statement_cql(&self, kind: StatementKind, session_keyspace: Option<&str>) -> Result<String, StatementError> {
        let table = self.qualified_name(session_keyspace);
        let all_columns = self.columns.iter().map(|column| column.quoted_name()).collect::<Vec<_>>().join(", ");
        let select = format!("SELECT {all_columns} FROM {table}");
        let partition = equalities(self.partition_key().map(|column| column.quoted_name()));
        let primary = equalities(self.primary_key().map(|column| column.quoted_name()));
        // What an UPDATE of one column names: a static column belongs to the partition, and CQL
        // refuses clustering restrictions for it.
        let row_of =
            |column: &Column| if column.kind == ColumnKind::Static { partition.as_str() } else { primary.as_str() };

        let cql = match kind {
            StatementKind::Insert | StatementKind::InsertUsing | StatementKind::InsertIfNotExists => {
                if self.is_counter_table() {
                    return Err(StatementError::InsertIntoCounterTable { table: self.name.clone() });
                }
                let markers = vec!["?"; self.columns.len()].join(", ");
                let suffix = match kind {
                    StatementKind::InsertUsing => " USING TTL ? AND TIMESTAMP ?",
                    StatementKind::InsertIfNotExists => " IF NOT EXISTS",
                    _ => "",
                };
                format!("INSERT INTO {table} ({all_columns}) VALUES ({markers}){suffix}")
            }
            StatementKind::SelectPartition => format!("{select} WHERE {partition}"),
            StatementKind::SelectRow => format!("{select} WHERE {primary}"),
            StatementKind::SelectPartitionTimed | StatementKind::SelectRowTimed => {
                let times: Vec<String> =
                    self.timed_columns().map(|column| format!(", WRITETIME({})", column.quoted_name())).collect();
                let restriction = if kind == StatementKind::SelectRowTimed { &primary } else { &partition };
                format!("SELECT {all_columns}{} FROM {table} WHERE {restriction}", times.concat())
            }
            StatementKind::SelectAll => select,
            StatementKind::SelectPrefix { prefix_len, reversed } => {
                let prefix = self.clustering_prefix(prefix_len, false)?;
                format!("{select} WHERE {}{prefix}{} LIMIT ?", partition, self.order_by(reversed))
            }
            StatementKind::SelectRange { prefix_len, lower, upper, reversed } => {
                if lower == BoundKind::Unbounded && upper == BoundKind::Unbounded {
                    return Err(StatementError::UnboundedRange { table: self.name.clone() });
                }
                let prefix = self.clustering_prefix(prefix_len, true)?;
                let ranged =
                    self.clustering_columns().nth(prefix_len).map(|column| column.quoted_name()).unwrap_or_default();
                let mut clauses = String::new();
                match lower {
                    BoundKind::Inclusive => clauses.push_str(&format!(" AND {ranged} >= ?")),
                    BoundKind::Exclusive => clauses.push_str(&format!(" AND {ranged} > ?")),
                    BoundKind::Unbounded => {}
                }
                match upper {
                    BoundKind::Inclusive => clauses.push_str(&format!(" AND {ranged} <= ?")),
                    BoundKind::Exclusive => clauses.push_str(&format!(" AND {ranged} < ?")),
                    BoundKind::Unbounded => {}
                }
                format!("{select} WHERE {partition}{prefix}{clauses}{} LIMIT ?", self.order_by(reversed))
            }
            StatementKind::Update => {
                let assignments: Vec<String> = self
                    .value_columns()
                    .map(|column| {
                        let name = column.quoted_name();
                        if column.cql_type.is_counter() {
                            format!("{name} = {name} + ?")
                        } else {
                            format!("{name} = ?")
                        }
                    })
                    .collect();
                if assignments.is_empty() {
                    return Err(StatementError::NothingToUpdate { table: self.name.clone() });
                }
                format!("UPDATE {table} SET {} WHERE {primary}", assignments.join(", "))
            }
            StatementKind::DeleteRow => format!("DELETE FROM {table} WHERE {primary}"),
            StatementKind::DeletePartition => format!("DELETE FROM {table} WHERE {partition}"),
            StatementKind::AddTo { column_index } | StatementKind::RemoveFrom { column_index } => {
                let column = self
                    .columns
                    .get(column_index)
                    .filter(|column| {
                        !column.kind.is_key()
                            && (column.cql_type.is_unfrozen_collection() || column.cql_type.is_counter())
                    })
                    .ok_or_else(|| StatementError::NotACollectionOrCounter {
                        table: self.name.clone(),
                        column_index,
                    })?;
                let name = column.quoted_name();
                let operator = if matches!(kind, StatementKind::AddTo { .. }) { '+' } else { '-' };
                format!("UPDATE {table} SET {name} = {name} {operator} ? WHERE {}", row_of(column))
            }
            StatementKind::UpdateColumn { column_index } => {
                let column = self
                    .columns
                    .get(column_index)
                    .filter(|column| !column.kind.is_key() && !column.cql_type.is_counter())
                    .ok_or_else(|| StatementError::NotAValueColumn { table: self.name.clone(), column_index })?;
                format!("UPDATE {table} SET {} = ? WHERE {}", column.quoted_name(), row_of(column))
            }
        };
        Ok(cql)
    }

    /// ` AND c1 = ? AND c2 = ?` for the first `prefix_len` clustering columns. With `needs_next`,
    /// one more clustering column must exist after the prefix, for a range.
    fn clustering_prefix(&self, prefix_len: usize, needs_next: bool) -> Result<String, StatementError> {
        let available = self.clustering_columns().count();
        let limit = if needs_next { available.saturating_sub(1) } else { available };
        if prefix_len > limit || (needs_next && available == 0) {
            return Err(StatementError::PrefixTooLong {
                table: self.name.clone(),
                requested: prefix_len + usize::from(needs_next),
                available,
            });
        }
        Ok(self
            .clustering_columns()
            .take(prefix_len)
            .map(|column| format!(" AND {} = ?", column.quoted_name()))
            .collect())
    }

    /// ` ORDER BY` every clustering column against its declared order, or nothing.
    fn order_by(&self, reversed: bool) -> String {
        if !reversed {
            return String::new();
        }
        let columns: Vec<String> = self
            .clustering_columns()
            .map(|column| {
                let against = match column.kind {
                    ColumnKind::Clustering(ClusteringOrder::Desc) => "ASC",
                    _ => "DESC",
                };
                format!("{} {against}", column.quoted_name())
            })
            .collect();
        format!(" ORDER BY {}", columns.join(", "))
    }

    /// Every statement kind this table supports, in a fixed order: the fixed statements, then every
    /// prefix, then every range shape. Used to prepare a table up front and to snapshot it.
    pub fn statement_kinds(&self) -> Vec<StatementKind> {
        let bounds = [BoundKind::Unbounded, BoundKind::Inclusive, BoundKind::Exclusive];
        let clustering = self.clustering_columns().count();
        let mut kinds = vec![
            StatementKind::Insert,
            StatementKind::InsertUsing,
            StatementKind::InsertIfNotExists,
            StatementKind::SelectPartition,
            StatementKind::SelectRow,
            StatementKind::Update,
            StatementKind::DeleteRow,
            StatementKind::DeletePartition,
        ];
        kinds.extend((0..self.columns.len()).map(|column_index| StatementKind::UpdateColumn { column_index }));
        kinds.extend((0..self.columns.len()).map(|column_index| StatementKind::AddTo { column_index }));
        kinds.extend((0..self.columns.len()).map(|column_index| StatementKind::RemoveFrom { column_index }));
        for reversed in [false, true] {
            kinds.extend((0..=clustering).map(|prefix_len| StatementKind::SelectPrefix { prefix_len, reversed }));
            for prefix_len in 0..clustering {
                for lower in bounds {
                    for upper in bounds {
                        kinds.push(StatementKind::SelectRange { prefix_len, lower, upper, reversed });
                    }
                }
            }
        }
        kinds.retain(|kind| self.statement_cql(*kind, None).is_ok());
        kinds
    }
}

fn equalities(names: impl Iterator<Item = String>) -> String {
    names.map(|name| format!("{name} = ?")).collect::<Vec<_>>().join(" AND ")
}

#[cfg(test)]
mod tests {
    use crate::{ClusteringOrder, Column, ColumnKind, CqlType, NativeType, StatementKind, TableSchema};

    #[test]
    fn timed_selects_add_the_write_time_of_each_plain_value_column() {
        let text = CqlType::Native(NativeType::Text);
        let table = TableSchema::new(
            "steps",
            vec![
                Column::new("turn_uid", text.clone(), ColumnKind::PartitionKey),
                Column::new("idx", CqlType::Native(NativeType::Int), ColumnKind::Clustering(ClusteringOrder::Asc)),
                Column::new("content", text.clone(), ColumnKind::Regular),
                Column::new("tags", CqlType::list(text.clone()), ColumnKind::Regular),
                Column::new("title", text, ColumnKind::Static),
            ],
        );
        assert_eq!(
            table.statement_cql(StatementKind::SelectPartitionTimed, Some("chat")).unwrap(),
            "SELECT turn_uid, idx, content, tags, title, WRITETIME(content), WRITETIME(title) FROM chat.steps \
             WHERE turn_uid = ?",
            "a list not frozen has a write time per element, which WRITETIME cannot select"
        );
        assert!(table
            .statement_cql(StatementKind::SelectRowTimed, None)
            .unwrap()
            .ends_with("FROM steps WHERE turn_uid = ? AND idx = ?"));
    }
}
