//! The names generated code uses: the path to the runtime crate, and the key structs' names.
//! Both `codegen` and `columns` generate code with them.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use crate::model::Table;

/// Paths into the runtime crate that generated code uses.
pub struct Runtime {
    /// `::scylla_table::__private`, or the `crate = ...` override's `__private`.
    pub private: TokenStream,
}

impl Runtime {
    pub fn new(table: Option<&Table>) -> Runtime {
        let root = match table.and_then(|table| table.attrs.crate_path.as_ref()) {
            Some(path) => quote!(#path),
            None => quote!(::scylla_table),
        };
        Runtime { private: quote!(#root::__private) }
    }
}

pub struct KeyNames {
    pub partition_key: Ident,
    pub primary_key: Ident,
}

impl KeyNames {
    pub fn for_struct(ident: &Ident) -> KeyNames {
        KeyNames {
            partition_key: format_ident!("{}PartitionKey", ident),
            primary_key: format_ident!("{}PrimaryKey", ident),
        }
    }
}
