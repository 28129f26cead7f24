//! The dashboard and the "Monitoring" section of `docs/operations.md` against the metrics the code exports
//! (`chat_migrate::monitoring::METRICS`): a panel on a metric that no longer exists would show
//! nothing during the migration, when it is needed.

use std::collections::BTreeSet;
use std::path::Path;

use chat_migrate::monitoring::METRICS;

fn workspace_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate is in the workspace");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Every `chat_migrate_...` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("chat_migrate_") {
        let name: String = rest[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[start + name.len()..];
        names.insert(name);
    }
    names
}

fn exported() -> BTreeSet<String> {
    METRICS.iter().map(|metric| metric.name.to_owned()).collect()
}

/// Every Prometheus query of the dashboard.
fn dashboard_queries() -> Vec<String> {
    let dashboard: serde_json::Value =
        serde_json::from_str(&workspace_file("deploy/grafana/chat-migrate.json")).expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("the dashboard has panels");
    panels
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .map(|target| target["expr"].as_str().expect("every target has a query").to_owned())
        .collect()
}

#[test]
fn every_dashboard_query_names_only_exported_metrics_and_every_metric_has_a_panel() {
    let queries = dashboard_queries();
    assert!(!queries.is_empty());
    let exported = exported();
    for query in &queries {
        let names = metric_names(query);
        assert!(!names.is_empty(), "a query that names no metric of the migration: {query}");
        for name in names {
            assert!(
                exported.contains(&name),
                "the dashboard queries `{name}`, which the code does not export: {query}"
            );
        }
    }
    let shown = metric_names(&queries.join("\n"));
    let missing: Vec<&String> = exported.difference(&shown).collect();
    assert!(missing.is_empty(), "metrics with no panel: {missing:?}");
}

#[test]
fn the_operations_guide_names_every_metric_and_no_other() {
    let guide = workspace_file("docs/operations.md");
    let section = guide.split_once("\n## Monitoring").expect("docs/operations.md has a Monitoring section").1;
    let section = section.split("\n## ").next().unwrap_or(section);
    assert_eq!(metric_names(section), exported(), "the Monitoring section of docs/operations.md and METRICS differ");
}
