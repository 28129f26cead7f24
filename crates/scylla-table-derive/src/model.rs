//! The derive's model of one table struct: every field with its attributes, its column name and its
//! CQL type, each still tied to its syntax for error spans.

use proc_macro2::Span;
use scylla_table_schema::{ClusteringOrder, Column, ColumnKind, Compaction, CqlType, TableOptions, TableSchema};
use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use crate::attr::{snake_case, FieldAttrs, Located, TableAttrs};
use crate::ctxt::Ctxt;
use crate::types::{default_cql_type, describe, fits, read_field_type};

pub struct Table<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub attrs: TableAttrs,
    /// The table name and the span to blame for it.
    pub name: Located<String>,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
    /// The column name (after `rename`) and the span to blame for it.
    pub column: Located<String>,
    /// True for `Option<T>`.
    pub optional: bool,
    /// The type inside `Option`, or the field's type; the syntax to blame for type errors.
    pub inner_ty: &'a Type,
    /// `None` when the type could not be resolved; that error is already reported.
    pub cql_type: Option<CqlType>,
    pub declaration_index: usize,
}

impl Field<'_> {
    pub fn is_stored(&self) -> bool {
        self.attrs.skip.is_none()
    }

    pub fn is_partition_key(&self) -> bool {
        self.attrs.partition_key.is_some()
    }

    pub fn is_clustering(&self) -> bool {
        self.attrs.clustering.is_some()
    }

    pub fn kind(&self) -> ColumnKind {
        if self.is_partition_key() {
            ColumnKind::PartitionKey
        } else if self.is_clustering() {
            ColumnKind::Clustering(self.attrs.order.as_ref().map(|order| order.value).unwrap_or(ClusteringOrder::Asc))
        } else if self.attrs.is_static.is_some() {
            ColumnKind::Static
        } else {
            ColumnKind::Regular
        }
    }
}

impl<'a> Table<'a> {
    /// Reads the struct. Returns `None` only when the input is not a struct with named fields and
    /// no generics; every other problem is recorded in `cx` and reading goes on.
    pub fn from_input(cx: &Ctxt, input: &'a DeriveInput) -> Option<Table<'a>> {
        let attrs = TableAttrs::from_attrs(cx, &input.attrs);
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "a ScyllaTable cannot be generic: each struct describes one concrete table",
            );
        }
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Some(named),
                Fields::Unnamed(_) | Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "ScyllaTable needs a struct with named fields: each field names a column",
                    );
                    None
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "ScyllaTable can only be derived for a struct; to store an enum as text, derive TextEnum",
                );
                None
            }
            Data::Union(data) => {
                cx.error_spanned_by(data.union_token, "ScyllaTable can only be derived for a struct");
                None
            }
        };
        let named = named?;
        if !input.generics.params.is_empty() {
            return None;
        }

        let name = match &attrs.name {
            Some(name) => name.clone(),
            None => Located { value: snake_case(&input.ident), span: input.ident.span() },
        };
        let fields = named
            .named
            .iter()
            .enumerate()
            .filter_map(|(declaration_index, field)| {
                let ident = field.ident.as_ref()?;
                Some(Field::from_syn(cx, ident, &field.ty, &field.attrs, declaration_index))
            })
            .collect();
        Some(Table { ident: &input.ident, vis: &input.vis, attrs, name, fields })
    }

    pub fn stored_fields(&self) -> impl Iterator<Item = &Field<'a>> + '_ {
        self.fields.iter().filter(|field| field.is_stored())
    }

    /// Partition key fields in key order: by `position` when given, else by declaration.
    pub fn partition_key_fields(&self) -> Vec<&Field<'a>> {
        self.key_fields(Field::is_partition_key)
    }

    /// Clustering fields in key order.
    pub fn clustering_fields(&self) -> Vec<&Field<'a>> {
        self.key_fields(Field::is_clustering)
    }

    fn key_fields(&self, is_part: fn(&Field<'a>) -> bool) -> Vec<&Field<'a>> {
        let mut fields: Vec<&Field<'a>> = self.stored_fields().filter(|field| is_part(field)).collect();
        fields.sort_by_key(|field| {
            (field.attrs.position.as_ref().map(|position| position.value).unwrap_or(u32::MAX), field.declaration_index)
        });
        fields
    }

    /// Stored fields in the table's column order: partition key, clustering, then the rest.
    pub fn fields_in_column_order(&self) -> Vec<&Field<'a>> {
        let mut fields = self.partition_key_fields();
        fields.extend(self.clustering_fields());
        fields.extend(self.stored_fields().filter(|field| !field.kind().is_key()));
        fields
    }

    /// The table model. Call only when no error is pending: unresolved types are left out.
    pub fn schema(&self) -> TableSchema {
        let columns = self
            .fields_in_column_order()
            .into_iter()
            .filter_map(|field| Some(Column::new(field.column.value.clone(), field.cql_type.clone()?, field.kind())))
            .collect();
        let options = TableOptions {
            default_time_to_live: self.attrs.default_time_to_live,
            gc_grace_seconds: self.attrs.gc_grace_seconds,
            comment: self.attrs.comment.clone(),
            compaction: self.attrs.compaction.as_ref().map(|compaction| Compaction {
                class: compaction.value.class.clone(),
                options: compaction.value.options.clone(),
            }),
        };
        let schema = TableSchema::new(self.name.value.clone(), columns).with_options(options);
        match &self.attrs.keyspace {
            Some(keyspace) => schema.with_keyspace(keyspace.value.clone()),
            None => schema,
        }
    }
}

impl<'a> Field<'a> {
    pub fn from_syn(
        cx: &Ctxt,
        ident: &'a Ident,
        ty: &'a Type,
        attrs: &[syn::Attribute],
        declaration_index: usize,
    ) -> Field<'a> {
        let attrs = FieldAttrs::from_attrs(cx, attrs);
        let column = match &attrs.rename {
            Some(rename) => rename.clone(),
            None => Located { value: ident.to_string(), span: ident.span() },
        };
        let mut field =
            Field { ident, ty, attrs, column, optional: false, inner_ty: ty, cql_type: None, declaration_index };
        if field.attrs.skip.is_none() {
            field.resolve_type(cx);
        }
        field
    }

    /// Works out the column's CQL type from the Rust type and the `cql_type` and `frozen` attributes.
    fn resolve_type(&mut self, cx: &Ctxt) {
        let read = match read_field_type(self.ty) {
            Ok(read) => read,
            Err(unsupported) => {
                cx.error_spanned_by(unsupported.ty, unsupported.message);
                return;
            }
        };
        self.optional = read.optional;
        self.inner_ty = read.inner;
        let resolved = match &self.attrs.cql_type {
            Some(explicit) => {
                if !fits(&read.shape, &explicit.value) {
                    cx.syn_error(syn::Error::new(
                        explicit.span,
                        format!(
                            "`{}` cannot hold the Rust type `{}`, which is stored as {}",
                            explicit.value,
                            type_text(read.inner),
                            describe(&read.shape)
                        ),
                    ));
                    return;
                }
                explicit.value.clone()
            }
            None => match default_cql_type(&read.shape) {
                Some(cql_type) => cql_type,
                None => {
                    cx.error_spanned_by(
                        read.inner,
                        format!(
                            "cannot infer the CQL type of `{}`: add #[table(cql_type = \"...\")], for example \
                             \"text\" for an enum that derives TextEnum or \"frozen<address>\" for a UDT",
                            type_text(read.inner)
                        ),
                    );
                    return;
                }
            },
        };
        self.cql_type = Some(match self.attrs.frozen {
            Some(span) => {
                if !resolved.is_multi_cell() {
                    cx.syn_error(syn::Error::new(
                        span,
                        format!("`frozen` applies to a collection or a UDT, not to `{resolved}`"),
                    ));
                }
                resolved.frozen()
            }
            None => resolved,
        });
    }

    /// The span of the key that made this field a key column.
    pub fn key_span(&self) -> Span {
        self.attrs.partition_key.or(self.attrs.clustering).unwrap_or_else(|| self.ident.span())
    }
}

fn type_text(ty: &Type) -> String {
    quote::quote!(#ty).to_string().replace(" < ", "<").replace(" >", ">").replace("< ", "<").replace(" ,", ",")
}
