//! Checks that need more than one attribute or field. Each error goes under the token to fix.

use std::collections::HashMap;

use scylla_table_schema::{validate_column_name, validate_name};

use crate::ctxt::Ctxt;
use crate::model::{Field, Table};

pub fn check(cx: &Ctxt, table: &Table) {
    check_names(cx, table);
    for field in &table.fields {
        check_field_roles(cx, field);
        crate::used_types::check_user_type_uses(cx, field);
    }
    check_duplicate_columns(cx, table);
    check_positions(cx, table, "partition key", |field| field.is_partition_key());
    check_positions(cx, table, "clustering", |field| field.is_clustering());
    check_partition_key_exists(cx, table);
    check_counters(cx, table);
    check_static_columns(cx, table);
}

fn check_names(cx: &Ctxt, table: &Table) {
    if let Err(error) = validate_name(&table.name.value) {
        cx.syn_error(syn::Error::new(table.name.span, format!("invalid table name: {error}")));
    }
    if let Some(keyspace) = &table.attrs.keyspace {
        if let Err(error) = validate_name(&keyspace.value) {
            cx.syn_error(syn::Error::new(keyspace.span, format!("invalid keyspace name: {error}")));
        }
    }
    for field in table.stored_fields() {
        if let Err(error) = validate_column_name(&field.column.value) {
            cx.syn_error(syn::Error::new(field.column.span, format!("invalid column name: {error}")));
        }
    }
}

/// Attributes that contradict each other on one field.
fn check_field_roles(cx: &Ctxt, field: &Field) {
    let attrs = &field.attrs;
    if let Some(skip) = attrs.skip {
        let stored_only = [
            attrs.partition_key.is_some(),
            attrs.clustering.is_some(),
            attrs.is_static.is_some(),
            attrs.rename.is_some(),
            attrs.cql_type.is_some(),
            attrs.frozen.is_some(),
        ];
        if stored_only.iter().any(|set| *set) {
            cx.syn_error(syn::Error::new(skip, "a `skip` field is not stored, so it takes no column attributes"));
        }
        return;
    }
    if let (Some(_), Some(clustering)) = (attrs.partition_key, attrs.clustering) {
        cx.syn_error(syn::Error::new(clustering, "a column is either `partition_key` or `clustering`, not both"));
    }
    if let Some(order) = &attrs.order {
        if attrs.clustering.is_none() {
            cx.syn_error(syn::Error::new(
                order.span,
                "`order` applies only to a clustering column: add `clustering` or remove `order`",
            ));
        }
    }
    if let Some(position) = &attrs.position {
        if attrs.partition_key.is_none() && attrs.clustering.is_none() {
            cx.syn_error(syn::Error::new(
                position.span,
                "`position` orders key columns: use it with `partition_key` or `clustering`",
            ));
        }
    }
    let is_key = attrs.partition_key.is_some() || attrs.clustering.is_some();
    if let Some(is_static) = attrs.is_static {
        if is_key {
            cx.syn_error(syn::Error::new(is_static, "a primary key column cannot be `static`"));
        }
    }
    if !is_key {
        return;
    }
    if field.optional {
        cx.error_spanned_by(field.ty, "a primary key column cannot be null: use the inner type instead of `Option<T>`");
    }
    if let Some(cql_type) = &field.cql_type {
        if cql_type.is_multi_cell() {
            cx.error_spanned_by(
                field.ty,
                format!("`{cql_type}` in the primary key must be frozen: add `#[table(frozen)]`"),
            );
        }
        if cql_type.is_counter() {
            cx.error_spanned_by(field.ty, "a counter cannot be part of the primary key");
        }
    }
}

fn check_duplicate_columns(cx: &Ctxt, table: &Table) {
    let mut seen: HashMap<&str, &Field> = HashMap::new();
    for field in table.stored_fields() {
        match seen.get(field.column.value.as_str()) {
            Some(first) => cx.syn_error(syn::Error::new(
                field.column.span,
                format!("duplicate column `{}`: field `{}` already uses that name", field.column.value, first.ident),
            )),
            None => {
                seen.insert(&field.column.value, field);
            }
        }
    }
}

/// Within one part of the key, positions are all given or all left out, and never repeat.
fn check_positions(cx: &Ctxt, table: &Table, part: &str, in_part: impl Fn(&Field) -> bool) {
    let fields: Vec<&Field> = table.stored_fields().filter(|field| in_part(field)).collect();
    let with_position = fields.iter().filter(|field| field.attrs.position.is_some()).count();
    if with_position > 0 && with_position < fields.len() {
        for field in fields.iter().filter(|field| field.attrs.position.is_none()) {
            cx.syn_error(syn::Error::new(
                field.key_span(),
                format!("give every {part} column a `position`, or none: `{}` has none", field.ident),
            ));
        }
    }
    let mut used: HashMap<u32, &Field> = HashMap::new();
    for field in &fields {
        let Some(position) = &field.attrs.position else { continue };
        match used.get(&position.value) {
            Some(first) => cx.syn_error(syn::Error::new(
                position.span,
                format!("{part} position {} is already used by `{}`", position.value, first.ident),
            )),
            None => {
                used.insert(position.value, field);
            }
        }
    }
}

fn check_partition_key_exists(cx: &Ctxt, table: &Table) {
    if !table.stored_fields().any(Field::is_partition_key) {
        cx.error_spanned_by(
            table.ident,
            format!(
                "table `{}` has no partition key: mark at least one field #[table(partition_key)]",
                table.name.value
            ),
        );
    }
}

/// A table with a counter holds only key columns and counters.
fn check_counters(cx: &Ctxt, table: &Table) {
    let is_counter = |field: &Field| field.cql_type.as_ref().is_some_and(|cql_type| cql_type.is_counter());
    let value_fields: Vec<&Field> = table.stored_fields().filter(|field| !field.kind().is_key()).collect();
    let Some(counter) = value_fields.iter().find(|field| is_counter(field)) else { return };
    for field in value_fields.iter().filter(|field| !is_counter(field)) {
        cx.error_spanned_by(
            field.ty,
            format!(
                "`{}` is not a counter, but `{}` is: a counter table holds only key columns and counters; \
                 move the other columns to a table of their own",
                field.ident, counter.ident
            ),
        );
    }
}

fn check_static_columns(cx: &Ctxt, table: &Table) {
    if table.stored_fields().any(Field::is_clustering) {
        return;
    }
    for field in table.stored_fields() {
        if let Some(is_static) = field.attrs.is_static {
            cx.syn_error(syn::Error::new(
                is_static,
                "a static column needs a table with clustering columns: it is shared by the rows of a partition",
            ));
        }
    }
}
