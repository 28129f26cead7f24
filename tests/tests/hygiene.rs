//! The generated code names everything by absolute path: it compiles with no prelude, with the
//! runtime reached through a re-export (`#[table(crate = ...)]`), and beside the driver's own
//! `SerializeRow` derive, whose `#[scylla(...)]` attributes share the struct with ours. (The
//! driver's `DeserializeRow` derive itself does not compile without a prelude, so it is not here.)
#![no_implicit_prelude]

#[derive(
    ::tests::reexport::scylla_table::ScyllaTable, ::scylla::SerializeRow, ::std::fmt::Debug, ::std::clone::Clone,
)]
#[table(crate = ::tests::reexport::scylla_table, name = "hygienic")]
struct Hygienic {
    #[table(partition_key)]
    id: ::std::string::String,
    #[table(clustering, order = "desc")]
    at: i64,
    #[scylla(rename = "note")]
    #[table(rename = "note")]
    body: ::std::option::Option<::std::string::String>,
}

#[derive(::tests::reexport::scylla_table::UserType, ::std::fmt::Debug, ::std::clone::Clone)]
#[table(crate = ::tests::reexport::scylla_table, name = "spot")]
struct Spot {
    label: ::std::string::String,
    #[table(rename = "tags")]
    labels: ::std::vec::Vec<::std::string::String>,
}

#[derive(::tests::reexport::scylla_table::ScyllaTable, ::std::fmt::Debug, ::std::clone::Clone)]
#[table(crate = ::tests::reexport::scylla_table, name = "spots")]
struct Spots {
    #[table(partition_key)]
    id: i32,
    #[table(cql_type = "frozen<spot>")]
    spot: Spot,
}

#[derive(::tests::reexport::scylla_table::TextEnum, ::std::fmt::Debug, ::std::cmp::PartialEq)]
#[table(crate = ::tests::reexport::scylla_table)]
enum Flavor {
    Plain,
    ExtraHot,
}

#[test]
fn derives_compile_without_a_prelude() {
    use ::tests::reexport::scylla_table::ScyllaTable;

    ::std::assert_eq!(<Hygienic as ScyllaTable>::TABLE_NAME, "hygienic");
    ::std::assert_eq!(
        <Hygienic as ScyllaTable>::STATEMENTS.select_row,
        "SELECT id, at, note FROM hygienic WHERE id = ? AND at = ?"
    );
    let row = Hygienic { id: ::std::string::ToString::to_string("a"), at: 1, body: ::std::option::Option::None };
    ::std::assert_eq!(ScyllaTable::column_values(&row).len(), 3);
    ::std::assert_eq!(Flavor::ExtraHot.as_cql_text(), "extra_hot");
    ::std::assert_eq!("plain".parse::<Flavor>(), ::std::result::Result::Ok(Flavor::Plain));
    ::std::assert!("mild".parse::<Flavor>().is_err());
    ::std::assert_eq!(
        <Spot as ::tests::reexport::scylla_table::UserType>::CREATE_TYPE,
        "CREATE TYPE IF NOT EXISTS spot (\n    label text,\n    tags frozen<list<text>>\n);\n"
    );
    let spots = <Spots as ScyllaTable>::table_schema();
    ::std::assert_eq!(spots.user_types.len(), 1);
    ::std::assert_eq!(spots.user_types[0].name, "spot");
}
