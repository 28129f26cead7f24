//! Generates the typed column handles: a module named after the table with one unit struct per
//! column, and the trait impls that say what each column is (see `scylla_table::ColumnOf`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use scylla_table_schema::{ColumnKind, CqlType};
use syn::Ident;

use crate::model::{Field, Table};
use crate::names::{KeyNames, Runtime};

/// The module of column handles for `table`: its table name as a Rust identifier.
pub fn module_ident(table: &Table) -> Ident {
    let name = &table.name.value;
    let span = table.name.span;
    match syn::parse_str::<Ident>(name) {
        Ok(_) => Ident::new(name, span),
        // A keyword: `r#type` names it, except for the few that cannot be raw.
        Err(_) if matches!(name.as_str(), "self" | "Self" | "super" | "crate") => format_ident!("{}_columns", name),
        Err(_) => Ident::new_raw(name, span),
    }
}

/// The handle module, for the struct's own scope.
pub fn handle_module(table: &Table) -> TokenStream {
    let module = module_ident(table);
    let vis = table.vis;
    let doc = format!(
        " Typed handles on the columns of `{}` ([`{}`]): one unit struct per column, for `Table::set`, \
         collection and counter updates, and clustering slices.",
        table.name.value, table.ident
    );
    let handles = table.fields_in_column_order().into_iter().map(|field| {
        let ident = field.ident;
        let doc = format!(" Column `{}`: {}.", field.column.value, role_text(field));
        quote! {
            #[doc = #doc]
            #[derive(::std::fmt::Debug, ::std::clone::Clone, ::std::marker::Copy, ::std::cmp::PartialEq, ::std::cmp::Eq, ::std::hash::Hash, ::std::default::Default)]
            pub struct #ident;
        }
    });
    quote! {
        #[doc = #doc]
        #[allow(non_camel_case_types, non_snake_case)]
        #vis mod #module {
            #(#handles)*
        }
    }
}

fn role_text(field: &Field) -> &'static str {
    match field.kind() {
        ColumnKind::PartitionKey => "partition key",
        ColumnKind::Clustering(_) => "clustering column",
        ColumnKind::Static => "static",
        ColumnKind::Regular => "regular",
    }
}

/// The impls that tie each handle to its table, type and role, for the derive's `const _` block.
pub fn handle_impls(table: &Table, runtime: &Runtime) -> TokenStream {
    let private = &runtime.private;
    let ident = table.ident;
    let module = module_ident(table);
    let partition_fields = table.partition_key_fields();
    let clustering_fields = table.clustering_fields();
    let columns = table.fields_in_column_order();

    let column_impls = columns.iter().enumerate().map(|(index, field)| {
        let handle = field.ident;
        let ty = field.ty;
        let inner = field.inner_ty;
        let name = &field.column.value;
        let position_in = |fields: &[&Field]| fields.iter().position(|other| other.ident == field.ident).unwrap_or(0);
        let role = match field.kind() {
            ColumnKind::PartitionKey => {
                let position = position_in(&partition_fields);
                quote!(#private::ColumnRole::PartitionKey { position: #position })
            }
            ColumnKind::Clustering(_) => {
                let position = position_in(&clustering_fields);
                quote!(#private::ColumnRole::Clustering { position: #position })
            }
            ColumnKind::Static => quote!(#private::ColumnRole::Static),
            ColumnKind::Regular => quote!(#private::ColumnRole::Regular),
        };
        let cql_type = field.cql_type.as_ref();
        let is_counter = cql_type.is_some_and(CqlType::is_counter);
        let kind_impl = if field.kind().is_key() || (is_counter && field.kind() == ColumnKind::Static) {
            // Key columns cannot be changed in place: no marker at all.
            quote!()
        } else if is_counter {
            quote!(impl #private::CounterColumn for #module::#handle {})
        } else if field.kind() == ColumnKind::Static {
            quote!(impl #private::StaticColumn for #module::#handle {})
        } else {
            let settable = quote!(impl #private::Settable for #module::#handle {});
            let collection = match (cql_type, container_name(inner).as_deref()) {
                (Some(CqlType::List { frozen: false, .. }), Some("Vec")) => quote! {
                    impl #private::ListColumn for #module::#handle {
                        type Element = <#inner as #private::CollectionOf>::Element;
                    }
                },
                (Some(CqlType::Set { frozen: false, .. }), Some("Vec" | "HashSet" | "BTreeSet")) => quote! {
                    impl #private::SetColumn for #module::#handle {
                        type Element = <#inner as #private::CollectionOf>::Element;
                    }
                },
                (Some(CqlType::Map { frozen: false, .. }), Some("HashMap" | "BTreeMap")) => quote! {
                    impl #private::MapColumn for #module::#handle {
                        type Key = <#inner as #private::MapOf>::Key;
                        type Map = #inner;
                    }
                },
                _ => quote!(),
            };
            quote!(#settable #collection)
        };
        quote! {
            #[automatically_derived]
            impl #private::ColumnOf<#ident> for #module::#handle {
                type Value = #ty;
                const NAME: &'static str = #name;
                const INDEX: usize = #index;
                const ROLE: #private::ColumnRole = #role;
            }
            #kind_impl
        }
    });

    let clustering_impls = clustering_fields.iter().enumerate().map(|(position, field)| {
        let handle = field.ident;
        let next = position + 1;
        quote! {
            #[automatically_derived]
            impl #private::ClusteringAt<#position> for #ident {
                type Column = #module::#handle;
                type Next = #private::Prefix<#next>;
            }
        }
    });

    let keys = KeyNames::for_struct(ident);
    let partition_key = &keys.partition_key;
    let primary_key = &keys.primary_key;
    let partition_idents = partition_fields.iter().map(|field| field.ident);
    quote! {
        #(#column_impls)*
        #(#clustering_impls)*

        #[automatically_derived]
        impl #private::RowKey for #primary_key {
            type Table = #ident;
            fn partition_key(&self) -> #partition_key {
                #partition_key { #(#partition_idents: ::std::clone::Clone::clone(&self.#partition_idents),)* }
            }
        }
    }
}

/// The last path segment of a type, such as `Vec` for `std::vec::Vec<String>`.
fn container_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().map(|segment| segment.ident.to_string())
        }
        _ => None,
    }
}
