//! Expansion snapshots: the derive's output for representative inputs, formatted with prettyplease.

use quote::quote;

fn expand(input: proc_macro2::TokenStream) -> String {
    let output = crate::scylla_table_inner(input);
    let file: syn::File = syn::parse2(output).expect("the derive output parses as a file");
    prettyplease::unparse(&file)
}

#[test]
fn steps_by_turn_expansion() {
    insta::assert_snapshot!(expand(quote! {
        #[table(name = "steps_by_turn")]
        pub struct StepByTurn {
            #[table(partition_key)]
            pub turn_uid: String,
            #[table(clustering)]
            pub idx: i32,
            pub tpe: Option<i32>,
            pub content: Option<String>,
            pub created_at: Option<chrono::DateTime<chrono::Utc>>,
        }
    }));
}

#[test]
fn composite_keys_renames_and_skip_expansion() {
    insta::assert_snapshot!(expand(quote! {
        #[table(keyspace = "metrics", crate = my_reexport::scylla_table, default_time_to_live = 3600)]
        pub(crate) struct DailyCount {
            #[table(partition_key, position = 1)]
            pub day: chrono::NaiveDate,
            #[table(partition_key, position = 0, rename = "tenant")]
            pub tenant_id: uuid::Uuid,
            #[table(clustering, order = "desc")]
            pub hour: i16,
            pub hits: Counter,
            #[table(skip)]
            pub cached: bool,
        }
    }));
}

#[test]
fn text_enum_expansion() {
    let output = crate::text_enum_inner(quote! {
        pub enum TurnType {
            Human,
            #[table(rename = "assistant")]
            Agent,
        }
    });
    let file: syn::File = syn::parse2(output).expect("the derive output parses as a file");
    insta::assert_snapshot!(prettyplease::unparse(&file));
}

#[test]
fn errors_replace_the_impl_with_a_fallback() {
    let output = crate::scylla_table_inner(quote! {
        struct NoKey {
            #[table(bogus)]
            a: String,
        }
    })
    .to_string();
    assert!(output.contains("unknown field attribute `bogus`"), "{output}");
    assert!(output.contains("has no partition key"), "{output}");
    assert!(output.contains("unreachable"), "{output}");
}
