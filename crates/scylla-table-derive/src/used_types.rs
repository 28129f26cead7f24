//! The user-defined types a field uses: the check that its Rust type shows each one where its
//! `cql_type` names it, and the code that finds their models and checks their names. Both the
//! table derive and the `UserType` derive use it.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;
use crate::model::Field;
use crate::types::user_type_uses;

/// Where a field's `cql_type` names user-defined types, its Rust type must show each in the same
/// place (`Address`, `Vec<Address>`, `(i32, Address)`): that is how the type's model is found. An
/// alias or a wrapper hides it, and the table would be created without its type.
pub fn check_user_type_uses(cx: &Ctxt, field: &Field) {
    let Some(cql_type) = &field.cql_type else { return };
    let named = cql_type.udt_names();
    if user_type_uses(field.inner_ty, cql_type).len() < named.len() {
        let span = field.attrs.cql_type.as_ref().map(|explicit| explicit.span).unwrap_or_else(|| field.ty.span());
        cx.syn_error(syn::Error::new(
            span,
            format!(
                "the field's Rust type does not show where the user-defined type `{}` sits: spell it out \
                 as `cql_type` does (`T`, `Option<T>`, `Vec<T>`, `BTreeMap<K, T>`, `(A, T)`), not through an \
                 alias or a wrapper",
                named.join("`, `")
            ),
        ));
    }
}

/// The types the fields use, as code that yields each one's model, and a compile-time check that
/// each `cql_type` names the type its Rust type declares.
pub fn user_types_used(fields: &[&Field], private: &TokenStream) -> (Vec<TokenStream>, Vec<TokenStream>) {
    let mut models = Vec::new();
    let mut checks = Vec::new();
    for field in fields {
        let Some(cql_type) = &field.cql_type else { continue };
        let span = field.attrs.cql_type.as_ref().map(|explicit| explicit.span).unwrap_or_else(|| field.ty.span());
        for (ty, name) in user_type_uses(field.inner_ty, cql_type) {
            models.push(quote!(::std::clone::Clone::clone(<#ty as #private::UserType>::type_schema())));
            checks.push(quote_spanned! {span=>
                const _: () = ::std::assert!(
                    #private::names_the_type(<#ty as #private::UserType>::TYPE_NAME, #name),
                    "this `cql_type` names a user-defined type other than the one the field's Rust type derives"
                );
            });
        }
    }
    (models, checks)
}
