//! Tables that exercise every supported type and option.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use scylla::value::{Counter, CqlDecimal, CqlDuration, CqlTimeuuid, CqlVarint};
use scylla_table::{ScyllaTable, TextEnum, UserType};
use uuid::Uuid;

/// A user-defined type with a collection and another user-defined type inside it.
#[derive(UserType, Debug, Clone, PartialEq)]
pub struct Address {
    pub street: String,
    pub zip: i32,
    pub lines: Vec<String>,
    #[table(cql_type = "frozen<geo_point>")]
    pub location: Option<GeoPoint>,
}

/// A user-defined type that [`Address`] uses, so it must be created first.
#[derive(UserType, Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

#[derive(TextEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mood {
    Calm,
    #[table(rename = "very-happy")]
    VeryHappy,
}

/// One column of every CQL type the derive maps, and every table option.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(
    name = "every_type",
    comment = "Every supported type; it's a fixture",
    default_time_to_live = 86400,
    gc_grace_seconds = 3600,
    compaction(class = "LeveledCompactionStrategy", sstable_size_in_mb = "160")
)]
pub struct EveryType {
    #[table(partition_key)]
    pub id: Uuid,
    #[table(partition_key)]
    pub bucket: i16,
    #[table(clustering, order = "desc")]
    pub at: CqlTimeuuid,
    #[table(clustering)]
    pub tag: (i32, String),
    #[table(static)]
    pub owner: Option<String>,
    pub text_value: String,
    #[table(cql_type = "ascii")]
    pub ascii_value: String,
    pub bigint_value: i64,
    pub int_value: i32,
    pub smallint_value: i16,
    pub tinyint_value: i8,
    pub boolean_value: bool,
    pub float_value: f32,
    pub double_value: f64,
    pub timestamp_value: DateTime<Utc>,
    pub date_value: NaiveDate,
    pub time_value: NaiveTime,
    pub uuid_value: Uuid,
    pub timeuuid_value: CqlTimeuuid,
    pub blob_value: Vec<u8>,
    pub inet_value: IpAddr,
    pub duration_value: CqlDuration,
    pub decimal_value: CqlDecimal,
    pub varint_value: CqlVarint,
    pub list_value: Vec<String>,
    pub set_value: BTreeSet<i32>,
    pub map_value: BTreeMap<String, i64>,
    #[table(frozen)]
    pub frozen_list_value: Vec<i32>,
    pub nested_value: Vec<Vec<i32>>,
    pub tuple_value: (i32, String, bool),
    #[table(cql_type = "frozen<address>")]
    pub udt_value: Address,
    #[table(cql_type = "list<frozen<address>>")]
    pub udt_list_value: Vec<Address>,
    #[table(cql_type = "text")]
    pub mood: Mood,
    pub optional_value: Option<String>,
    #[table(rename = "order")]
    pub order_number: i32,
    #[table(skip)]
    pub cached_summary: Option<String>,
}

/// A counter table: only key columns and counters.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "page_views")]
pub struct PageViews {
    #[table(partition_key)]
    pub page: String,
    #[table(clustering)]
    pub day: NaiveDate,
    pub views: Counter,
    pub unique_visitors: Counter,
}

/// A table with a fixed keyspace, a composite partition key and explicit key positions.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(keyspace = "analytics")]
pub struct DailyActiveUser {
    #[table(partition_key, position = 1)]
    pub day: NaiveDate,
    #[table(partition_key, position = 0)]
    pub tenant: String,
    #[table(clustering, position = 1)]
    pub user_id: Uuid,
    #[table(clustering, position = 0, order = "desc")]
    pub last_seen: DateTime<Utc>,
}

/// A table for drift and migration tests: what the code says `drifty` looks like.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "drifty", comment = "v2")]
pub struct Drifty {
    #[table(partition_key)]
    pub account: String,
    #[table(clustering, order = "desc")]
    pub created_at: DateTime<Utc>,
    pub title: Option<String>,
}

/// Many rows in one partition, for paging and slices.
#[derive(ScyllaTable, Debug, Clone, PartialEq)]
#[table(name = "events")]
pub struct Event {
    #[table(partition_key)]
    pub stream: String,
    #[table(clustering)]
    pub bucket: i32,
    #[table(clustering)]
    pub seq: i32,
    pub body: String,
    pub tags: Vec<String>,
}
