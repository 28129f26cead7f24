//! `#[derive(TextEnum)]`: stores a fieldless enum as a `text` column, one word per variant.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::attr::{snake_case, NAMESPACE};
use crate::ctxt::Ctxt;

pub fn derive(input: &DeriveInput) -> Result<TokenStream, syn::Error> {
    let cx = Ctxt::default();
    let mut krate = quote!(::scylla_table);
    for attr in input.attrs.iter().filter(|attr| attr.path().is_ident(NAMESPACE)) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                // #[table(crate = my_reexport::scylla_table)]
                let path: syn::Path = meta.value()?.parse()?;
                krate = quote!(#path);
                Ok(())
            } else {
                Err(meta.error("unknown TextEnum attribute: expected `crate`"))
            }
        });
        if let Err(error) = result {
            cx.syn_error(error);
        }
    }
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(&input.generics, "a TextEnum cannot be generic");
    }
    let Data::Enum(data) = &input.data else {
        cx.error_spanned_by(&input.ident, "TextEnum can only be derived for an enum");
        return cx.check().map(|()| TokenStream::new());
    };

    let mut variants = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            cx.error_spanned_by(&variant.fields, "a TextEnum variant cannot carry data: it is stored as one word");
        }
        let mut text = LitStr::new(&snake_case(&variant.ident), variant.ident.span());
        for attr in variant.attrs.iter().filter(|attr| attr.path().is_ident(NAMESPACE)) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    // #[table(rename = "human")]
                    text = meta.value()?.parse()?;
                    Ok(())
                } else {
                    Err(meta.error("unknown TextEnum variant attribute: expected `rename`"))
                }
            });
            if let Err(error) = result {
                cx.syn_error(error);
            }
        }
        if seen.contains(&text.value()) {
            cx.error_spanned_by(&text, format!("two variants are stored as \"{}\"", text.value()));
        }
        seen.push(text.value());
        variants.push((&variant.ident, text));
    }
    cx.check()?;

    let ident = &input.ident;
    let private = quote!(#krate::__private);
    let idents: Vec<_> = variants.iter().map(|(ident, _)| *ident).collect();
    let texts: Vec<_> = variants.iter().map(|(_, text)| text).collect();
    let expected = texts.iter().map(|text| format!("\"{}\"", text.value())).collect::<Vec<_>>().join(", ");
    Ok(quote! {
        const _: () = {
            #[automatically_derived]
            impl #ident {
                /// The text stored for this variant.
                pub const fn as_cql_text(&self) -> &'static str {
                    match self {
                        #(#ident::#idents => #texts,)*
                    }
                }
            }

            #[automatically_derived]
            impl ::std::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.write_str(self.as_cql_text())
                }
            }

            #[automatically_derived]
            impl ::std::str::FromStr for #ident {
                type Err = #private::UnknownVariant;

                fn from_str(text: &str) -> ::std::result::Result<Self, Self::Err> {
                    match text {
                        #(#texts => ::std::result::Result::Ok(#ident::#idents),)*
                        _ => ::std::result::Result::Err(#private::UnknownVariant::new(
                            ::std::stringify!(#ident),
                            text,
                            #expected,
                        )),
                    }
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
                    <&str as #private::SerializeValue>::serialize(&self.as_cql_text(), typ, writer)
                }
            }

            #[automatically_derived]
            impl<'frame, 'metadata> #private::DeserializeValue<'frame, 'metadata> for #ident {
                fn type_check(
                    typ: &#private::scylla::frame::response::result::ColumnType<'_>,
                ) -> ::std::result::Result<(), #private::scylla::deserialize::TypeCheckError> {
                    <&str as #private::DeserializeValue<'frame, 'metadata>>::type_check(typ)
                }

                fn deserialize(
                    typ: &'metadata #private::scylla::frame::response::result::ColumnType<'metadata>,
                    value: ::std::option::Option<#private::scylla::deserialize::FrameSlice<'frame>>,
                ) -> ::std::result::Result<Self, #private::scylla::deserialize::DeserializationError> {
                    let text = <&str as #private::DeserializeValue<'frame, 'metadata>>::deserialize(typ, value)?;
                    text.parse().map_err(#private::scylla::deserialize::DeserializationError::new)
                }
            }
        };
    })
}
