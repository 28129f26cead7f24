//! Statements sent as PostgreSQL's unnamed statement, each with its parameters' types named
//! ([`typed!`](crate::typed)): parsed, bound and run in one round trip, with nothing left behind on the server
//! connection. A named prepared statement, tokio-postgres's default, lives on the one server
//! connection that parsed it, which PgBouncer in transaction mode does not keep between a
//! client's transactions; the unnamed one works through it, and saves the round trip of a
//! separate prepare besides.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

/// A Rust value's PostgreSQL type, as the store's statements bind it.
pub trait PgType {
    const TYPE: Type;
    /// The type of an array of such values.
    const ARRAY: Type;
}

macro_rules! pg_types {
    ($($rust:ty => $pg:ident, $array:ident;)*) => {
        $(impl PgType for $rust {
            const TYPE: Type = Type::$pg;
            const ARRAY: Type = Type::$array;
        })*
    };
}

pg_types! {
    str => TEXT, TEXT_ARRAY;
    String => TEXT, TEXT_ARRAY;
    i64 => INT8, INT8_ARRAY;
    i32 => INT4, INT4_ARRAY;
    f64 => FLOAT8, FLOAT8_ARRAY;
    bool => BOOL, BOOL_ARRAY;
    DateTime<Utc> => TIMESTAMPTZ, TIMESTAMPTZ_ARRAY;
}

impl<T: PgType + ?Sized> PgType for &T {
    const TYPE: Type = T::TYPE;
    const ARRAY: Type = T::ARRAY;
}

impl<T: PgType> PgType for Option<T> {
    const TYPE: Type = T::TYPE;
    const ARRAY: Type = T::ARRAY;
}

impl<T: PgType> PgType for Vec<T> {
    const TYPE: Type = T::ARRAY;
    const ARRAY: Type = T::ARRAY;
}

impl<T: PgType> PgType for [T] {
    const TYPE: Type = T::ARRAY;
    const ARRAY: Type = T::ARRAY;
}

/// The PostgreSQL type a value binds as.
pub fn type_of<T: PgType + ?Sized>(_: &T) -> Type {
    T::TYPE
}

/// The parameters of a statement, each with its PostgreSQL type, for the `*_typed` methods of
/// tokio-postgres: `client.query_typed(sql, typed![&a, &b])`.
#[macro_export]
macro_rules! typed {
    ($($param:expr),* $(,)?) => {
        &[$(($param as &(dyn ::tokio_postgres::types::ToSql + Sync), $crate::sql::type_of($param))),*]
    };
}
