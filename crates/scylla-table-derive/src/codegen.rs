//! Generates the code for a checked table: key structs, the `ScyllaTable` impl and row mapping.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use scylla_table_schema::{ClusteringOrder, ColumnKind, CqlType, NativeType, StatementKind, TableSchema};
use syn::spanned::Spanned;
use syn::Ident;

use crate::model::{Field, Table};
use crate::names::{KeyNames, Runtime};

pub fn generate(table: &Table, runtime: &Runtime) -> TokenStream {
    let private = &runtime.private;
    let ident = table.ident;
    let keys = KeyNames::for_struct(ident);
    let schema = table.schema();

    let partition_fields = table.partition_key_fields();
    let primary_fields: Vec<&Field> = partition_fields.iter().copied().chain(table.clustering_fields()).collect();
    let partition_key_struct = key_struct(table, runtime, &keys.partition_key, &partition_fields, "partition key");
    let primary_key_struct = key_struct(table, runtime, &keys.primary_key, &primary_fields, "primary key");
    let partition_key_impl = key_impl(runtime, &keys.partition_key, &partition_fields);
    let primary_key_impl = key_impl(runtime, &keys.primary_key, &primary_fields);
    let partition_key_name = &keys.partition_key;
    let primary_key_name = &keys.primary_key;
    let partition_idents: Vec<&Ident> = partition_fields.iter().map(|field| field.ident).collect();
    let primary_idents: Vec<&Ident> = primary_fields.iter().map(|field| field.ident).collect();

    let columns = table.fields_in_column_order();
    let column_idents: Vec<&Ident> = columns.iter().map(|field| field.ident).collect();
    // `Option` fields bind "unset" for `None` in new-row inserts: a null would be a tombstone.
    let values_without_nulls = columns.iter().map(|field| {
        let field_ident = field.ident;
        if is_option(field.ty) {
            quote! {
                match &self.#field_ident {
                    ::std::option::Option::Some(_) => &self.#field_ident as #private::ColumnValue<'_>,
                    ::std::option::Option::None => &#private::UNSET as #private::ColumnValue<'_>,
                }
            }
        } else {
            quote!(&self.#field_ident as #private::ColumnValue<'_>)
        }
    });
    // Each column written out for comparing two rows; a field type without `Debug` is reported
    // under that type.
    let column_texts = columns.iter().map(|field| {
        let field_ident = field.ident;
        match field.cql_type {
            // The server sorts a set's elements and a map's entries; a value in memory need not.
            Some(CqlType::Set { .. } | CqlType::Map { .. }) => quote_spanned! {field.ty.span()=>
                #private::UnorderedText::unordered_text(&self.#field_ident)
            },
            _ => quote_spanned!(field.ty.span()=> ::std::format!("{:?}", &self.#field_ident)),
        }
    });
    let row_fields = columns.iter().map(|field| {
        let field_ident = field.ident;
        let ty = field.ty;
        let column = &field.column.value;
        quote!(#[scylla(rename = #column)] #field_ident: #ty)
    });
    // A skipped field's missing `Default` is reported under the field.
    let skipped_fields = table.fields.iter().filter(|field| !field.is_stored()).map(|field| {
        let ident = field.ident;
        quote_spanned!(field.ty.span()=> #ident: ::std::default::Default::default())
    });

    let table_name = &schema.name;
    let create_table = schema.create_table_cql(None);
    let statement = |kind| match schema.statement_cql(kind, None) {
        Ok(text) => quote!(::std::option::Option::Some(#text)),
        Err(_) => quote!(::std::option::Option::None),
    };
    let required = |kind| schema.statement_cql(kind, None).unwrap_or_default();
    let insert = statement(StatementKind::Insert);
    let insert_using = statement(StatementKind::InsertUsing);
    let insert_if_not_exists = statement(StatementKind::InsertIfNotExists);
    let update = statement(StatementKind::Update);
    let select_partition = required(StatementKind::SelectPartition);
    let select_row = required(StatementKind::SelectRow);
    let delete_row = required(StatementKind::DeleteRow);
    let delete_partition = required(StatementKind::DeletePartition);
    // The user-defined types the columns use come from their Rust types' `UserType` impls.
    let (used_types, user_type_checks) = crate::used_types::user_types_used(&columns, private);
    let with_user_types = (!used_types.is_empty()).then(|| quote!(.with_user_types([#(#used_types),*])));
    let schema_tokens = schema_tokens(&schema, private);
    let column_count = columns.len();
    let handle_module = crate::columns::handle_module(table);
    let handle_impls = crate::columns::handle_impls(table, runtime);
    // Each field straight into the request, checked against its column's type; `None` as
    // "unset" when asked, as in `column_values_without_nulls`.
    let spec_idents: Vec<Ident> = (0..columns.len()).map(|index| format_ident!("__spec{}", index)).collect();
    let serialize_cells = columns.iter().zip(&spec_idents).map(|(field, spec)| {
        let field_ident = field.ident;
        let cell = quote!(#private::serialize_cell(&self.#field_ident, #spec, writer, #table_name)?;);
        if is_option(field.ty) {
            quote! {
                if skip_nulls && ::std::option::Option::is_none(&self.#field_ident) {
                    #private::serialize_cell(&#private::UNSET, #spec, writer, #table_name)?;
                } else {
                    #cell
                }
            }
        } else {
            cell
        }
    });

    quote! {
        #partition_key_struct
        #primary_key_struct
        #handle_module

        const _: () = {
            #handle_impls
            #(#user_type_checks)*

            // Only for its type check: names, order and types of a result's columns.
            #[derive(#private::scylla::DeserializeRow)]
            #[scylla(crate = #private::scylla, flavor = "enforce_order")]
            #[allow(dead_code)]
            struct __Row {
                #(#row_fields,)*
            }

            #partition_key_impl
            #primary_key_impl

            #[automatically_derived]
            impl #private::ScyllaTable for #ident {
                type PartitionKey = #partition_key_name;
                type PrimaryKey = #primary_key_name;

                const TABLE_NAME: &'static str = #table_name;
                const COLUMN_COUNT: usize = #column_count;
                const CREATE_TABLE: &'static str = #create_table;
                const STATEMENTS: #private::StatementTexts = #private::StatementTexts {
                    insert: #insert,
                    insert_using: #insert_using,
                    insert_if_not_exists: #insert_if_not_exists,
                    select_partition: #select_partition,
                    select_row: #select_row,
                    update: #update,
                    delete_row: #delete_row,
                    delete_partition: #delete_partition,
                };

                fn table_schema() -> &'static #private::schema::TableSchema {
                    static SCHEMA: #private::OnceLock<#private::schema::TableSchema> = #private::OnceLock::new();
                    SCHEMA.get_or_init(|| #schema_tokens #with_user_types)
                }

                fn partition_key(&self) -> #partition_key_name {
                    #partition_key_name {
                        #(#partition_idents: ::std::clone::Clone::clone(&self.#partition_idents),)*
                    }
                }

                fn primary_key(&self) -> #primary_key_name {
                    #primary_key_name {
                        #(#primary_idents: ::std::clone::Clone::clone(&self.#primary_idents),)*
                    }
                }

                fn column_values(&self) -> ::std::vec::Vec<#private::ColumnValue<'_>> {
                    ::std::vec![#(&self.#column_idents as #private::ColumnValue<'_>),*]
                }

                fn column_values_without_nulls(&self) -> ::std::vec::Vec<#private::ColumnValue<'_>> {
                    ::std::vec![#(#values_without_nulls),*]
                }

                fn column_texts(&self) -> ::std::vec::Vec<::std::string::String> {
                    ::std::vec![#(#column_texts),*]
                }

                // Inlined into the caller's `SerializeRow`, as a hand-written impl would be.
                #[inline(always)]
                fn serialize_columns(
                    &self,
                    skip_nulls: bool,
                    specs: &[#private::scylla::frame::response::result::ColumnSpec<'_>],
                    writer: &mut #private::scylla::serialize::writers::RowWriter<'_>,
                ) -> ::std::result::Result<(), #private::scylla::serialize::SerializationError> {
                    let [#(#spec_idents),*] = specs else {
                        return ::std::result::Result::Err(#private::column_count_mismatch(#table_name, #column_count, specs.len()));
                    };
                    #(#serialize_cells)*
                    ::std::result::Result::Ok(())
                }

                // The driver's derive checks names, order and types, once per result.
                fn type_check_row(
                    specs: &[#private::scylla::frame::response::result::ColumnSpec<'_>],
                ) -> ::std::result::Result<(), #private::scylla::deserialize::TypeCheckError> {
                    <__Row as #private::DeserializeRow<'_, '_>>::type_check(specs)
                }

                // Each field straight from its cell, in column order (the order the fields are
                // written here is the order they are read); the types were checked once per result.
                #[inline]
                fn deserialize_row<'frame, 'metadata>(
                    mut row: #private::scylla::deserialize::row::ColumnIterator<'frame, 'metadata>,
                ) -> ::std::result::Result<Self, #private::scylla::deserialize::DeserializationError> {
                    ::std::result::Result::Ok(#ident {
                        #(#column_idents: #private::deserialize_cell(&mut row)?,)*
                        #(#skipped_fields,)*
                    })
                }
            }
        };
    }
}

/// Whether a field's type is written `Option<...>` (by any path ending in `Option`).
fn is_option(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(path) if path.qself.is_none()
        && path.path.segments.last().is_some_and(|segment| segment.ident == "Option"))
}

fn key_struct(table: &Table, runtime: &Runtime, name: &Ident, fields: &[&Field], what: &str) -> TokenStream {
    let private = &runtime.private;
    let vis = table.vis;
    let doc = format!(
        " The {what} of [`{}`]: the values that identify {} in `{}`.",
        table.ident,
        if what == "partition key" { "one partition" } else { "one row" },
        table.name.value
    );
    let field_defs = fields.iter().map(|field| {
        let ident = field.ident;
        let ty = field.ty;
        let column = &field.column.value;
        let field_doc = format!(" Column `{column}`.");
        quote!(#[doc = #field_doc] #[scylla(rename = #column)] pub #ident: #ty)
    });
    quote! {
        #[doc = #doc]
        #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq, #private::scylla::SerializeRow)]
        #[scylla(crate = #private::scylla, flavor = "enforce_order")]
        #vis struct #name {
            #(#field_defs,)*
        }
    }
}

fn key_impl(runtime: &Runtime, name: &Ident, fields: &[&Field]) -> TokenStream {
    let private = &runtime.private;
    let idents = fields.iter().map(|field| field.ident);
    quote! {
        #[automatically_derived]
        impl #private::TableKey for #name {
            fn key_values(&self) -> ::std::vec::Vec<#private::ColumnValue<'_>> {
                ::std::vec![#(&self.#idents as #private::ColumnValue<'_>),*]
            }
        }
    }
}

/// Code that rebuilds `schema` at run time, for `ScyllaTable::table_schema`.
fn schema_tokens(schema: &TableSchema, private: &TokenStream) -> TokenStream {
    let model = quote!(#private::schema);
    let name = &schema.name;
    let columns = schema.columns.iter().map(|column| {
        let column_name = &column.name;
        let cql_type = cql_type_tokens(&column.cql_type, &model);
        let kind = match column.kind {
            ColumnKind::PartitionKey => quote!(#model::ColumnKind::PartitionKey),
            ColumnKind::Clustering(ClusteringOrder::Asc) => {
                quote!(#model::ColumnKind::Clustering(#model::ClusteringOrder::Asc))
            }
            ColumnKind::Clustering(ClusteringOrder::Desc) => {
                quote!(#model::ColumnKind::Clustering(#model::ClusteringOrder::Desc))
            }
            ColumnKind::Static => quote!(#model::ColumnKind::Static),
            ColumnKind::Regular => quote!(#model::ColumnKind::Regular),
        };
        quote!(#model::Column::new(#column_name, #cql_type, #kind))
    });
    let options = &schema.options;
    let optional_u32 = |value: Option<u32>| match value {
        Some(value) => quote!(::std::option::Option::Some(#value)),
        None => quote!(::std::option::Option::None),
    };
    let default_time_to_live = optional_u32(options.default_time_to_live);
    let gc_grace_seconds = optional_u32(options.gc_grace_seconds);
    let comment = match &options.comment {
        Some(comment) => quote!(::std::option::Option::Some(::std::string::ToString::to_string(#comment))),
        None => quote!(::std::option::Option::None),
    };
    let compaction = match &options.compaction {
        Some(compaction) => {
            let class = &compaction.class;
            let with_options = compaction.options.iter().map(|(key, value)| quote!(.with_option(#key, #value)));
            quote!(::std::option::Option::Some(#model::Compaction::new(#class) #(#with_options)*))
        }
        None => quote!(::std::option::Option::None),
    };
    let keyspace = schema.keyspace.as_ref().map(|keyspace| quote!(.with_keyspace(#keyspace)));
    quote! {
        #model::TableSchema::new(#name, ::std::vec![#(#columns),*])
            .with_options(#model::TableOptions {
                default_time_to_live: #default_time_to_live,
                gc_grace_seconds: #gc_grace_seconds,
                comment: #comment,
                compaction: #compaction,
            })
            #keyspace
    }
}

pub fn cql_type_tokens(cql_type: &CqlType, model: &TokenStream) -> TokenStream {
    match cql_type {
        CqlType::Native(native) => {
            let variant = native_variant(*native);
            quote!(#model::CqlType::Native(#model::NativeType::#variant))
        }
        CqlType::List { element, frozen } => {
            let element = cql_type_tokens(element, model);
            quote!(#model::CqlType::List { element: ::std::boxed::Box::new(#element), frozen: #frozen })
        }
        CqlType::Set { element, frozen } => {
            let element = cql_type_tokens(element, model);
            quote!(#model::CqlType::Set { element: ::std::boxed::Box::new(#element), frozen: #frozen })
        }
        CqlType::Map { key, value, frozen } => {
            let key = cql_type_tokens(key, model);
            let value = cql_type_tokens(value, model);
            quote!(#model::CqlType::Map {
                key: ::std::boxed::Box::new(#key),
                value: ::std::boxed::Box::new(#value),
                frozen: #frozen,
            })
        }
        CqlType::Tuple(elements) => {
            let elements = elements.iter().map(|element| cql_type_tokens(element, model));
            quote!(#model::CqlType::Tuple(::std::vec![#(#elements),*]))
        }
        CqlType::Udt { name, frozen } => {
            quote!(#model::CqlType::Udt { name: ::std::string::ToString::to_string(#name), frozen: #frozen })
        }
    }
}

fn native_variant(native: NativeType) -> Ident {
    let keyword = native.keyword();
    let mut name = keyword[..1].to_ascii_uppercase();
    name.push_str(&keyword[1..]);
    format_ident!("{}", name)
}

/// What is emitted next to the errors of a bad input: the key structs and a `ScyllaTable` impl
/// that never runs, so code that uses the table reports no follow-on errors.
pub fn fallback(ident: &Ident, vis: &syn::Visibility, runtime: &Runtime) -> TokenStream {
    let private = &runtime.private;
    let keys = KeyNames::for_struct(ident);
    let partition_key = &keys.partition_key;
    let primary_key = &keys.primary_key;
    let unreachable = quote!(::std::unreachable!("the ScyllaTable derive reported a compile error"));
    quote! {
        #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq)]
        #vis struct #partition_key {}
        #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::cmp::PartialEq)]
        #vis struct #primary_key {}

        const _: () = {
            impl #private::scylla::serialize::row::SerializeRow for #partition_key {
                fn serialize(
                    &self,
                    _: &#private::scylla::serialize::row::RowSerializationContext<'_>,
                    _: &mut #private::scylla::serialize::writers::RowWriter,
                ) -> ::std::result::Result<(), #private::scylla::serialize::SerializationError> { #unreachable }
                fn is_empty(&self) -> bool { #unreachable }
            }
            impl #private::scylla::serialize::row::SerializeRow for #primary_key {
                fn serialize(
                    &self,
                    _: &#private::scylla::serialize::row::RowSerializationContext<'_>,
                    _: &mut #private::scylla::serialize::writers::RowWriter,
                ) -> ::std::result::Result<(), #private::scylla::serialize::SerializationError> { #unreachable }
                fn is_empty(&self) -> bool { #unreachable }
            }
            impl #private::TableKey for #partition_key {
                fn key_values(&self) -> ::std::vec::Vec<#private::ColumnValue<'_>> { #unreachable }
            }
            impl #private::TableKey for #primary_key {
                fn key_values(&self) -> ::std::vec::Vec<#private::ColumnValue<'_>> { #unreachable }
            }
            impl #private::ScyllaTable for #ident {
                type PartitionKey = #partition_key;
                type PrimaryKey = #primary_key;
                const TABLE_NAME: &'static str = "";
                const COLUMN_COUNT: usize = 0;
                const CREATE_TABLE: &'static str = "";
                const STATEMENTS: #private::StatementTexts = #private::StatementTexts {
                    insert: ::std::option::Option::None,
                    insert_using: ::std::option::Option::None,
                    insert_if_not_exists: ::std::option::Option::None,
                    select_partition: "",
                    select_row: "",
                    update: ::std::option::Option::None,
                    delete_row: "",
                    delete_partition: "",
                };
                fn table_schema() -> &'static #private::schema::TableSchema { #unreachable }
                fn partition_key(&self) -> #partition_key { #unreachable }
                fn primary_key(&self) -> #primary_key { #unreachable }
                fn column_values(&self) -> ::std::vec::Vec<#private::ColumnValue<'_>> { #unreachable }
                fn column_values_without_nulls(&self) -> ::std::vec::Vec<#private::ColumnValue<'_>> { #unreachable }
                fn column_texts(&self) -> ::std::vec::Vec<::std::string::String> { #unreachable }
                fn serialize_columns(
                    &self,
                    _: bool,
                    _: &[#private::scylla::frame::response::result::ColumnSpec<'_>],
                    _: &mut #private::scylla::serialize::writers::RowWriter<'_>,
                ) -> ::std::result::Result<(), #private::scylla::serialize::SerializationError> { #unreachable }
                fn type_check_row(
                    _: &[#private::scylla::frame::response::result::ColumnSpec<'_>],
                ) -> ::std::result::Result<(), #private::scylla::deserialize::TypeCheckError> { #unreachable }
                fn deserialize_row<'frame, 'metadata>(
                    _: #private::scylla::deserialize::row::ColumnIterator<'frame, 'metadata>,
                ) -> ::std::result::Result<Self, #private::scylla::deserialize::DeserializationError> { #unreachable }
            }
        };
    }
}
