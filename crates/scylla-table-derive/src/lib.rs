//! The `#[derive(ScyllaTable)]`, `#[derive(UserType)]` and `#[derive(TextEnum)]` macros.
//!
//! Use them through the `scylla-table` crate, which re-exports both and documents the attributes.
//!
//! The derive is a pipeline, one module per stage: it reads the struct's attributes (`attr`) into
//! a model of the table (`model`, with Rust types mapped to CQL in `types`), checks the model and
//! collects every error at once under the offending tokens (`check`, `ctxt`), and only then
//! generates code (`codegen`: the `ScyllaTable` impl, keys and row mapping; `columns`: the typed
//! column handles; `names`: the runtime's path and the key structs' names, which both use).
//! `user_type` derives `UserType` from the same field model (`used_types`: the types a field
//! uses, for both derives), and `text_enum` derives `TextEnum`.
//! The DDL and statement texts come from `scylla-table-schema`, which the runtime shares.

mod attr;
mod check;
mod codegen;
mod columns;
mod ctxt;
mod model;
mod names;
mod text_enum;
mod types;
mod used_types;
mod user_type;

#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;

/// Derives `scylla_table::ScyllaTable`. See the `scylla-table` crate for the attribute reference.
#[proc_macro_derive(ScyllaTable, attributes(table))]
pub fn derive_scylla_table(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    scylla_table_inner(input.into()).into()
}

/// Derives `scylla_table::UserType`, with `SerializeValue` and `DeserializeValue`, for a struct
/// stored as a CQL user-defined type. See the `scylla-table` crate for the attribute reference.
#[proc_macro_derive(UserType, attributes(table))]
pub fn derive_user_type(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    user_type_inner(input.into()).into()
}

/// Derives `SerializeValue`, `DeserializeValue`, `Display` and `FromStr` for a fieldless enum stored as text.
#[proc_macro_derive(TextEnum, attributes(table))]
pub fn derive_text_enum(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    text_enum_inner(input.into()).into()
}

/// The `ScyllaTable` derive on `proc_macro2` tokens, callable from tests.
pub(crate) fn scylla_table_inner(input: TokenStream) -> TokenStream {
    let input: syn::DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let cx = ctxt::Ctxt::default();
    let table = model::Table::from_input(&cx, &input);
    if let Some(table) = &table {
        check::check(&cx, table);
    }
    let runtime = names::Runtime::new(table.as_ref());
    match (cx.check(), table) {
        (Ok(()), Some(table)) => codegen::generate(&table, &runtime),
        (result, _) => {
            let mut tokens = result.err().map(|error| error.to_compile_error()).unwrap_or_default();
            if input.generics.params.is_empty() {
                tokens.extend(codegen::fallback(&input.ident, &input.vis, &runtime));
            }
            tokens
        }
    }
}

pub(crate) fn user_type_inner(input: TokenStream) -> TokenStream {
    match syn::parse2(input) {
        Ok(input) => user_type::derive(&input),
        Err(error) => error.to_compile_error(),
    }
}

pub(crate) fn text_enum_inner(input: TokenStream) -> TokenStream {
    match syn::parse2(input).and_then(|input| text_enum::derive(&input)) {
        Ok(tokens) => tokens,
        Err(error) => error.to_compile_error(),
    }
}
