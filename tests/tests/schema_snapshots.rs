//! Snapshots of every table's DDL and of every statement it supports.

use conversation_store::{SessionByUser, StepByTurn, TurnByParent, TurnBySession};
use scylla_table::schema::TableSchema;
use scylla_table::ScyllaTable;
use tests::fixtures::{DailyActiveUser, EveryType, PageViews};

/// The DDL, then each statement kind with its CQL, one per line.
fn describe(table: &TableSchema) -> String {
    let mut text = table.create_table_cql(None);
    text.push('\n');
    for kind in table.statement_kinds() {
        let cql = table.statement_cql(kind, None).expect("statement_kinds lists only renderable kinds");
        text.push_str(&format!("{kind:?}\n    {cql}\n"));
    }
    text
}

#[test]
fn sessions_by_user() {
    insta::assert_snapshot!(describe(SessionByUser::table_schema()));
}

#[test]
fn turns_by_session() {
    insta::assert_snapshot!(describe(TurnBySession::table_schema()));
}

#[test]
fn steps_by_turn() {
    insta::assert_snapshot!(describe(StepByTurn::table_schema()));
}

#[test]
fn turns_by_parent() {
    insta::assert_snapshot!(describe(TurnByParent::table_schema()));
}

#[test]
fn every_type_fixture() {
    insta::assert_snapshot!(describe(EveryType::table_schema()));
}

#[test]
fn counter_fixture() {
    insta::assert_snapshot!(describe(PageViews::table_schema()));
}

#[test]
fn fixed_keyspace_fixture() {
    insta::assert_snapshot!(describe(DailyActiveUser::table_schema()));
}

/// The constants the derive renders at compile time agree with the runtime rendering.
#[test]
fn compile_time_statements_match_the_model() {
    use scylla_table::schema::StatementKind;

    fn check<T: ScyllaTable>() {
        let schema = T::table_schema();
        let render = |kind| schema.statement_cql(kind, None).ok();
        let texts = T::STATEMENTS;
        assert_eq!(T::CREATE_TABLE, schema.create_table_cql(None));
        assert_eq!(texts.insert.map(str::to_owned), render(StatementKind::Insert));
        assert_eq!(texts.insert_using.map(str::to_owned), render(StatementKind::InsertUsing));
        assert_eq!(texts.insert_if_not_exists.map(str::to_owned), render(StatementKind::InsertIfNotExists));
        assert_eq!(Some(texts.select_partition.to_owned()), render(StatementKind::SelectPartition));
        assert_eq!(Some(texts.select_row.to_owned()), render(StatementKind::SelectRow));
        assert_eq!(texts.update.map(str::to_owned), render(StatementKind::Update));
        assert_eq!(Some(texts.delete_row.to_owned()), render(StatementKind::DeleteRow));
        assert_eq!(Some(texts.delete_partition.to_owned()), render(StatementKind::DeletePartition));
    }
    check::<SessionByUser>();
    check::<TurnBySession>();
    check::<StepByTurn>();
    check::<TurnByParent>();
    check::<EveryType>();
    check::<PageViews>();
    check::<DailyActiveUser>();
    assert_eq!(PageViews::STATEMENTS.insert, None, "a counter table has no INSERT");
}
