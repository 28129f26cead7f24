//! The four conversation tables are exactly the platform design's DDL: names, columns, CQL types,
//! partition keys, clustering columns and clustering order.

use conversation_store::query_tables as all_tables;
use scylla_table::schema::{ClusteringOrder, ColumnKind, TableSchema};

/// One table as the design writes it: `(column, type)` in declaration order, the partition key,
/// and the clustering columns with their order.
struct SeedTable {
    name: &'static str,
    columns: &'static [(&'static str, &'static str)],
    partition_key: &'static [&'static str],
    clustering: &'static [(&'static str, ClusteringOrder)],
}

const SEED: [SeedTable; 4] = [
    SeedTable {
        name: "sessions_by_user",
        columns: &[
            ("account_uid", "text"),
            ("created_at", "timestamp"),
            ("session_uid", "text"),
            ("title", "text"),
            ("deleted_at", "timestamp"),
        ],
        partition_key: &["account_uid"],
        // The design writes `created_at DESC`; the next clustering column defaults to ASC.
        clustering: &[("created_at", ClusteringOrder::Desc), ("session_uid", ClusteringOrder::Asc)],
    },
    SeedTable {
        name: "turns_by_session",
        columns: &[
            ("session_uid", "text"),
            ("created_at", "timestamp"),
            ("turn_uid", "text"),
            ("turn_type", "text"),
            ("parent_uid", "text"),
            ("active_child", "text"),
            ("prompt", "text"),
            ("liked", "boolean"),
        ],
        partition_key: &["session_uid"],
        clustering: &[("created_at", ClusteringOrder::Asc), ("turn_uid", ClusteringOrder::Asc)],
    },
    SeedTable {
        name: "steps_by_turn",
        columns: &[
            ("turn_uid", "text"),
            ("idx", "int"),
            ("tpe", "int"),
            ("content", "text"),
            ("created_at", "timestamp"),
        ],
        partition_key: &["turn_uid"],
        clustering: &[("idx", ClusteringOrder::Asc)],
    },
    SeedTable {
        name: "turns_by_parent",
        columns: &[
            ("parent_uid", "text"),
            ("created_at", "timestamp"),
            ("turn_uid", "text"),
            ("session_uid", "text"),
            ("turn_type", "text"),
        ],
        partition_key: &["parent_uid"],
        clustering: &[("created_at", ClusteringOrder::Asc), ("turn_uid", ClusteringOrder::Asc)],
    },
];

fn find<'a>(tables: &[&'a TableSchema], name: &str) -> &'a TableSchema {
    tables.iter().find(|table| table.name == name).unwrap_or_else(|| panic!("no table `{name}`"))
}

#[test]
fn the_query_tables_are_exactly_the_four_seed_tables() {
    let mut names: Vec<&str> = all_tables().iter().map(|table| table.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["sessions_by_user", "steps_by_turn", "turns_by_parent", "turns_by_session"]);
}

#[test]
fn every_seed_table_matches_the_design() {
    let tables = all_tables();
    for seed in &SEED {
        let table = find(&tables, seed.name);
        let columns: Vec<(&str, String)> =
            table.columns.iter().map(|column| (column.name.as_str(), column.cql_type.to_string())).collect();
        let expected: Vec<(&str, String)> = seed.columns.iter().map(|(name, ty)| (*name, ty.to_string())).collect();
        assert_eq!(columns, expected, "columns of {}", seed.name);

        let partition_key: Vec<&str> = table.partition_key().map(|column| column.name.as_str()).collect();
        assert_eq!(partition_key, seed.partition_key, "partition key of {}", seed.name);

        let clustering: Vec<(&str, ClusteringOrder)> = table
            .clustering_columns()
            .map(|column| match column.kind {
                ColumnKind::Clustering(order) => (column.name.as_str(), order),
                _ => unreachable!("clustering_columns yields clustering columns"),
            })
            .collect();
        assert_eq!(clustering, seed.clustering, "clustering of {}", seed.name);
        assert_eq!(table.keyspace, None, "{} uses the session's keyspace", seed.name);
    }
}

#[test]
fn clustering_order_lists_every_clustering_column() {
    for table in all_tables() {
        let ddl = table.create_table_cql(None);
        let listed = ddl.split("CLUSTERING ORDER BY (").nth(1).and_then(|rest| rest.split(')').next()).unwrap_or("");
        let names: Vec<&str> = listed.split(", ").map(|entry| entry.split(' ').next().unwrap_or("")).collect();
        let clustering: Vec<&str> = table.clustering_columns().map(|column| column.name.as_str()).collect();
        assert_eq!(names, clustering, "CLUSTERING ORDER BY of {}", table.name);
    }
}
