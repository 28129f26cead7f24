//! The model of a user-defined type (UDT): its fields, and the other UDTs it uses.

use crate::cql_type::CqlType;
use crate::identifier::quote_if_needed;

/// One field of a user-defined type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserTypeField {
    /// The field's name in CQL, unquoted.
    pub name: String,
    pub cql_type: CqlType,
}

impl UserTypeField {
    pub fn new(name: impl Into<String>, cql_type: CqlType) -> UserTypeField {
        UserTypeField { name: name.into(), cql_type }
    }
}

/// One user-defined type: the model that `#[derive(UserType)]` builds from a struct.
///
/// A type lives in the keyspace of the table that uses it. `user_types` holds the types its
/// fields use, so a type can be created after everything it needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserTypeSchema {
    pub name: String,
    /// Fields in declaration order, the order `CREATE TYPE` lists them in.
    pub fields: Vec<UserTypeField>,
    /// The types the fields use, each with its own.
    pub user_types: Vec<UserTypeSchema>,
}

impl UserTypeSchema {
    pub fn new(name: impl Into<String>, fields: Vec<UserTypeField>) -> UserTypeSchema {
        UserTypeSchema { name: name.into(), fields, user_types: Vec::new() }
    }

    /// Adds the types the fields use; a type used twice is kept once. Two different types of one
    /// name are both kept, for `Database::apply_schema` to refuse.
    pub fn with_user_types(mut self, user_types: impl IntoIterator<Item = UserTypeSchema>) -> UserTypeSchema {
        for user_type in user_types {
            if !self.user_types.contains(&user_type) {
                self.user_types.push(user_type);
            }
        }
        self
    }

    pub fn field(&self, name: &str) -> Option<&UserTypeField> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// The name to write in a statement: `keyspace.type` when a keyspace is known.
    pub fn qualified_name(&self, keyspace: Option<&str>) -> String {
        match keyspace {
            Some(keyspace) => format!("{}.{}", quote_if_needed(keyspace), quote_if_needed(&self.name)),
            None => quote_if_needed(&self.name),
        }
    }

    /// The `CREATE TYPE IF NOT EXISTS` statement for this type alone.
    ///
    /// ```
    /// use scylla_table_schema::{CqlType, NativeType, UserTypeField, UserTypeSchema};
    ///
    /// let address = UserTypeSchema::new(
    ///     "address",
    ///     vec![
    ///         UserTypeField::new("street", CqlType::Native(NativeType::Text)),
    ///         UserTypeField::new("zip", CqlType::Native(NativeType::Int)),
    ///     ],
    /// );
    /// assert_eq!(
    ///     address.create_type_cql(Some("shop")),
    ///     "CREATE TYPE IF NOT EXISTS shop.address (\n    street text,\n    zip int\n);\n",
    /// );
    /// ```
    pub fn create_type_cql(&self, keyspace: Option<&str>) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|field| format!("    {} {}", quote_if_needed(&field.name), field.cql_type))
            .collect();
        format!("CREATE TYPE IF NOT EXISTS {} (\n{}\n);\n", self.qualified_name(keyspace), fields.join(",\n"))
    }

    /// `ALTER TYPE ... ADD`, for a field the live type lacks.
    pub fn add_field_cql(&self, keyspace: Option<&str>, field: &UserTypeField) -> String {
        format!("ALTER TYPE {} ADD {} {}", self.qualified_name(keyspace), quote_if_needed(&field.name), field.cql_type)
    }
}

/// Every type in `user_types` and the types they use, each once, in an order that creates a type
/// after the types its fields use. Two different definitions of one name both appear, so that a
/// caller can refuse them.
pub fn creation_order<'a>(user_types: impl IntoIterator<Item = &'a UserTypeSchema>) -> Vec<&'a UserTypeSchema> {
    fn visit<'a>(user_type: &'a UserTypeSchema, ordered: &mut Vec<&'a UserTypeSchema>) {
        if ordered.contains(&user_type) {
            return;
        }
        for used in &user_type.user_types {
            visit(used, ordered);
        }
        ordered.push(user_type);
    }
    let mut ordered = Vec::new();
    for user_type in user_types {
        visit(user_type, &mut ordered);
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cql_type::NativeType;

    fn text() -> CqlType {
        CqlType::Native(NativeType::Text)
    }

    #[test]
    fn a_type_comes_after_the_types_it_uses_and_each_comes_once() {
        let geo = UserTypeSchema::new("geo", vec![UserTypeField::new("lat", CqlType::Native(NativeType::Double))]);
        let address = UserTypeSchema::new("address", vec![UserTypeField::new("at", CqlType::udt("geo"))])
            .with_user_types([geo.clone()]);
        let person = UserTypeSchema::new(
            "person",
            vec![
                UserTypeField::new("home", CqlType::udt("address")),
                UserTypeField::new("seen_at", CqlType::udt("geo")),
            ],
        )
        .with_user_types([address.clone(), geo.clone(), geo.clone()]);
        assert_eq!(person.user_types.len(), 2, "geo is kept once");
        let other_geo = UserTypeSchema::new("geo", vec![UserTypeField::new("x", CqlType::Native(NativeType::Int))]);
        assert_eq!(creation_order([&person, &other_geo]).len(), 4, "another `geo` is kept, to be refused");
        let names: Vec<&str> = creation_order([&person, &address]).iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["geo", "address", "person"]);
    }

    #[test]
    fn reserved_and_mixed_case_names_are_quoted() {
        let user_type = UserTypeSchema::new("Order", vec![UserTypeField::new("from", text())]);
        assert_eq!(user_type.create_type_cql(None), "CREATE TYPE IF NOT EXISTS \"Order\" (\n    \"from\" text\n);\n");
        assert_eq!(
            user_type.add_field_cql(Some("shop"), &UserTypeField::new("note", text())),
            "ALTER TYPE shop.\"Order\" ADD note text"
        );
    }
}
