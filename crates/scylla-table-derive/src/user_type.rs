//! `#[derive(UserType)]`: a struct as a CQL user-defined type (UDT): its `CREATE TYPE`
//! statement, its model, and its value mapping.
//!
//! The struct's fields are read as a table's are (`model::Field`), so a field's CQL type follows
//! the same rules and the same `rename`, `cql_type` and `skip` attributes; the table-only ones are
//! refused. Collections and UDTs inside a UDT are frozen, as CQL requires.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use scylla_table_schema::{validate_column_name, validate_name, CqlType, UserTypeField, UserTypeSchema};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

use crate::attr::{snake_case, Located, TypeAttrs};
use crate::codegen::cql_type_tokens;
use crate::ctxt::Ctxt;
use crate::model::Field;
use crate::used_types::{check_user_type_uses, user_types_used};

/// The derive's output: the impls, or every error with stub impls, so that the tables using the
/// type do not add errors of their own.
pub fn derive(input: &DeriveInput) -> TokenStream {
    let attrs = TypeAttrs::from_attrs(&Ctxt::default(), &input.attrs);
    let private = match &attrs.crate_path {
        Some(path) => quote!(#path::__private),
        None => quote!(::scylla_table::__private),
    };
    match checked(input, &private) {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut tokens = error.to_compile_error();
            if input.generics.params.is_empty() && matches!(input.data, Data::Struct(_)) {
                tokens.extend(fallback(&input.ident, &private));
            }
            tokens
        }
    }
}

fn checked(input: &DeriveInput, private: &TokenStream) -> Result<TokenStream, syn::Error> {
    let cx = Ctxt::default();
    let attrs = TypeAttrs::from_attrs(&cx, &input.attrs);
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(&input.generics, "a UserType cannot be generic: it describes one concrete CQL type");
    }
    let named = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Some(named),
            _ => {
                cx.error_spanned_by(
                    &input.ident,
                    "UserType needs a struct with named fields: each field names a UDT field",
                );
                None
            }
        },
        _ => {
            cx.error_spanned_by(&input.ident, "UserType can only be derived for a struct");
            None
        }
    };
    let Some(named) = named else { return cx.check().map(|()| TokenStream::new()) };

    let name = attrs.name.clone().unwrap_or(Located { value: snake_case(&input.ident), span: input.ident.span() });
    if let Err(error) = validate_name(&name.value) {
        cx.syn_error(syn::Error::new(name.span, format!("invalid type name: {error}")));
    } else if matches!(name.value.parse::<CqlType>(), Ok(CqlType::Native(_))) {
        // `frozen<date>` would read as the native type, and CQL refuses the name anyway.
        cx.syn_error(syn::Error::new(
            name.span,
            format!("`{}` is a CQL type of its own: name the type otherwise with #[table(name = \"...\")]", name.value),
        ));
    }
    let fields: Vec<Field> = named
        .named
        .iter()
        .enumerate()
        .filter_map(|(index, field)| Some(Field::from_syn(&cx, field.ident.as_ref()?, &field.ty, &field.attrs, index)))
        .collect();
    for field in &fields {
        refuse_column_roles(&cx, field);
        check_user_type_uses(&cx, field);
        if let Some(cql_type) = &field.cql_type {
            let span = field.attrs.cql_type.as_ref().map(|explicit| explicit.span).unwrap_or_else(|| field.ty.span());
            if cql_type.is_counter() {
                cx.syn_error(syn::Error::new(span, "a user-defined type cannot hold a counter"));
            }
            if cql_type.udt_names().contains(&name.value.as_str()) {
                cx.syn_error(syn::Error::new(span, "a user-defined type cannot contain itself"));
            }
        }
        if field.is_stored() {
            if let Err(error) = validate_column_name(&field.column.value) {
                cx.syn_error(syn::Error::new(field.column.span, format!("invalid field name: {error}")));
            }
            if fields.iter().filter(|other| other.is_stored() && other.column.value == field.column.value).count() > 1 {
                cx.syn_error(syn::Error::new(
                    field.column.span,
                    format!("two fields are stored as `{}`", field.column.value),
                ));
            }
        }
    }
    if !fields.iter().any(Field::is_stored) {
        cx.error_spanned_by(&input.ident, "a user-defined type needs at least one stored field");
    }
    cx.check()?;

    let stored: Vec<&Field> = fields.iter().filter(|field| field.is_stored()).collect();
    // Inside a UDT a collection or another UDT is one frozen value.
    let model_fields: Vec<UserTypeField> = stored
        .iter()
        .filter_map(|field| {
            let cql_type = field.cql_type.clone()?;
            Some(UserTypeField::new(
                field.column.value.clone(),
                if cql_type.is_multi_cell() { cql_type.frozen() } else { cql_type },
            ))
        })
        .collect();
    let schema = UserTypeSchema::new(name.value.clone(), model_fields);
    let type_name = &schema.name;
    let create_type = schema.create_type_cql(None);
    let model = quote!(#private::schema);
    let field_models = schema.fields.iter().map(|field| {
        let field_name = &field.name;
        let cql_type = cql_type_tokens(&field.cql_type, &model);
        quote!(#model::UserTypeField::new(#field_name, #cql_type))
    });
    let (used_types, name_checks) = user_types_used(&stored, private);

    let ident = &input.ident;
    let idents: Vec<_> = stored.iter().map(|field| field.ident).collect();
    let types: Vec<_> = stored.iter().map(|field| field.ty).collect();
    let names: Vec<&str> = schema.fields.iter().map(|field| field.name.as_str()).collect();
    let slots: Vec<_> = idents.iter().map(|ident| quote::format_ident!("__{}", ident)).collect();
    // A skipped field's missing `Default` is reported under the field.
    let skipped = fields.iter().filter(|field| !field.is_stored()).map(|field| {
        let ident = field.ident;
        quote_spanned!(field.ty.span()=> #ident: ::std::default::Default::default())
    });
    let with_user_types = (!used_types.is_empty()).then(|| quote!(.with_user_types([#(#used_types),*])));

    Ok(quote! {
        const _: () = {
            #(#name_checks)*

            #[automatically_derived]
            impl #private::UserType for #ident {
                const TYPE_NAME: &'static str = #type_name;
                const CREATE_TYPE: &'static str = #create_type;

                fn type_schema() -> &'static #model::UserTypeSchema {
                    static SCHEMA: #private::OnceLock<#model::UserTypeSchema> = #private::OnceLock::new();
                    SCHEMA.get_or_init(|| {
                        #model::UserTypeSchema::new(#type_name, ::std::vec![#(#field_models),*])
                            #with_user_types
                    })
                }
            }

            #[automatically_derived]
            impl #private::SerializeValue for #ident {
                fn serialize<'b>(
                    &self,
                    typ: &#private::scylla::frame::response::result::ColumnType<'_>,
                    writer: #private::scylla::serialize::writers::CellWriter<'b>,
                ) -> ::std::result::Result<
                    #private::scylla::serialize::writers::WrittenCellProof<'b>,
                    #private::scylla::serialize::SerializationError,
                > {
                    #private::serialize_user_type(
                        #type_name,
                        typ,
                        writer,
                        &[#((#names, &self.#idents as &dyn #private::SerializeValue)),*],
                    )
                }
            }

            #[automatically_derived]
            impl<'frame, 'metadata> #private::DeserializeValue<'frame, 'metadata> for #ident {
                fn type_check(
                    typ: &#private::scylla::frame::response::result::ColumnType<'_>,
                ) -> ::std::result::Result<(), #private::scylla::deserialize::TypeCheckError> {
                    #private::type_check_user_type(
                        #type_name,
                        typ,
                        &[#((#names, <#types as #private::DeserializeValue<'frame, 'metadata>>::type_check as #private::TypeCheck)),*],
                    )
                }

                fn deserialize(
                    typ: &'metadata #private::scylla::frame::response::result::ColumnType<'metadata>,
                    value: ::std::option::Option<#private::scylla::deserialize::FrameSlice<'frame>>,
                ) -> ::std::result::Result<Self, #private::scylla::deserialize::DeserializationError> {
                    #(let mut #slots: ::std::option::Option<#types> = ::std::option::Option::None;)*
                    for (field, cell) in #private::user_type_cells(#type_name, typ, value)? {
                        match ::std::convert::AsRef::<str>::as_ref(&field.0) {
                            #(#names => #slots = ::std::option::Option::Some(#private::deserialize_user_type_field(#type_name, field, cell)?),)*
                            _ => {}
                        }
                    }
                    ::std::result::Result::Ok(#ident {
                        #(#idents: #private::user_type_field_present(#slots, #type_name, #names)?,)*
                        #(#skipped,)*
                    })
                }
            }
        };
    })
}

/// Impls that satisfy the compiler after an error; an empty `TYPE_NAME` also passes the tables'
/// name checks, which would only repeat the error.
fn fallback(ident: &syn::Ident, private: &TokenStream) -> TokenStream {
    let unreachable = quote!(::std::unreachable!("the UserType derive reported a compile error"));
    quote! {
        const _: () = {
            impl #private::UserType for #ident {
                const TYPE_NAME: &'static str = "";
                const CREATE_TYPE: &'static str = "";
                fn type_schema() -> &'static #private::schema::UserTypeSchema { #unreachable }
            }
            impl #private::SerializeValue for #ident {
                fn serialize<'b>(
                    &self,
                    _: &#private::scylla::frame::response::result::ColumnType<'_>,
                    _: #private::scylla::serialize::writers::CellWriter<'b>,
                ) -> ::std::result::Result<
                    #private::scylla::serialize::writers::WrittenCellProof<'b>,
                    #private::scylla::serialize::SerializationError,
                > { #unreachable }
            }
            impl<'frame, 'metadata> #private::DeserializeValue<'frame, 'metadata> for #ident {
                fn type_check(
                    _: &#private::scylla::frame::response::result::ColumnType<'_>,
                ) -> ::std::result::Result<(), #private::scylla::deserialize::TypeCheckError> { #unreachable }
                fn deserialize(
                    _: &'metadata #private::scylla::frame::response::result::ColumnType<'metadata>,
                    _: ::std::option::Option<#private::scylla::deserialize::FrameSlice<'frame>>,
                ) -> ::std::result::Result<Self, #private::scylla::deserialize::DeserializationError> { #unreachable }
            }
        };
    }
}

/// A UDT field has no place in a key and no order.
fn refuse_column_roles(cx: &Ctxt, field: &Field) {
    let attrs = &field.attrs;
    let roles = [
        (attrs.partition_key, "partition_key"),
        (attrs.clustering, "clustering"),
        (attrs.is_static, "static"),
        (attrs.order.as_ref().map(|order| order.span), "order"),
        (attrs.position.as_ref().map(|position| position.span), "position"),
    ];
    for (span, key) in roles {
        if let Some(span) = span {
            cx.syn_error(syn::Error::new(
                span,
                format!("`{key}` does not apply here: it applies to a table's column, not to a field of a user-defined type"),
            ));
        }
    }
    if let Some(skip) = attrs.skip {
        if attrs.rename.is_some() || attrs.cql_type.is_some() || attrs.frozen.is_some() {
            cx.syn_error(syn::Error::new(skip, "a `skip` field is not stored, so it takes no field attributes"));
        }
    }
}
