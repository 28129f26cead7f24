//! Every supported type survives a write and a read, including null and empty values.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use scylla::value::{CqlDecimal, CqlDuration, CqlTimeuuid, CqlVarint};
use scylla_table::ScyllaTable;
use tests::fixtures::{every_type, Address, EveryType, EveryTypePrimaryKey, GeoPoint, Mood};
use tests::live::TestKeyspace;
use uuid::Uuid;

fn full_row() -> EveryType {
    EveryType {
        id: Uuid::from_u128(0x1234),
        bucket: 7,
        at: CqlTimeuuid::from_bytes([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x11, 0xee, 0x80, 0, 0, 0, 0, 0, 0, 1]),
        tag: (3, "three".into()),
        owner: Some("ops".into()),
        text_value: "héllo ✓".into(),
        ascii_value: "plain".into(),
        bigint_value: i64::MIN,
        int_value: -42,
        smallint_value: i16::MAX,
        tinyint_value: -8,
        boolean_value: true,
        float_value: 1.5,
        double_value: -2.25e100,
        timestamp_value: Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
        date_value: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        time_value: NaiveTime::from_hms_nano_opt(23, 59, 58, 123_456_789).unwrap(),
        uuid_value: Uuid::from_u128(u128::MAX - 1),
        timeuuid_value: CqlTimeuuid::from_bytes([0xaa, 0, 0, 0, 0, 0, 0x11, 0xee, 0x80, 0, 0, 0, 0, 0, 0, 2]),
        blob_value: vec![0, 1, 2, 255],
        inet_value: IpAddr::V6(Ipv6Addr::LOCALHOST),
        duration_value: CqlDuration { months: 1, days: 2, nanoseconds: 3_000_000_000 },
        decimal_value: CqlDecimal::from_signed_be_bytes_and_exponent(vec![0x01, 0x00], 2),
        varint_value: CqlVarint::from_signed_bytes_be(vec![0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        list_value: vec!["b".into(), "a".into(), "b".into()],
        set_value: BTreeSet::from([3, 1, 2]),
        map_value: BTreeMap::from([("x".to_owned(), 1), ("y".to_owned(), -1)]),
        frozen_list_value: vec![5, 4],
        nested_value: vec![vec![1], vec![], vec![2, 3]],
        tuple_value: (1, "one".into(), false),
        udt_value: Address {
            street: "Main St".into(),
            zip: 12345,
            lines: vec!["Flat 2".into(), "Back door".into()],
            location: Some(GeoPoint { lat: 38.71, lon: -9.14 }),
        },
        udt_list_value: vec![
            Address { street: "A".into(), zip: 1, lines: Vec::new(), location: None },
            Address {
                street: "B".into(),
                zip: 2,
                lines: vec!["".into()],
                location: Some(GeoPoint { lat: 0.0, lon: 0.0 }),
            },
        ],
        mood: Mood::VeryHappy,
        optional_value: Some("set".into()),
        order_number: 9,
        cached_summary: None,
    }
}

#[tokio::test]
async fn every_type_round_trips_with_values_nulls_and_empty_collections() {
    let test = TestKeyspace::new("round_trip").await;
    test.db.apply_schema(test.replication(), &[EveryType::table_schema()]).await.unwrap();
    test.db.validate_schema(&[EveryType::table_schema()]).await.unwrap();
    let table = test.db.table::<EveryType>();

    let full = full_row();
    table.insert(&full).await.unwrap();
    let read = table.get(&full.primary_key()).await.unwrap().expect("the row was written");
    assert_eq!(read, full);

    let sparse = EveryType {
        tag: (4, String::new()),
        owner: None,
        text_value: String::new(),
        blob_value: Vec::new(),
        list_value: Vec::new(),
        set_value: BTreeSet::new(),
        map_value: BTreeMap::new(),
        frozen_list_value: Vec::new(),
        nested_value: Vec::new(),
        udt_list_value: Vec::new(),
        optional_value: None,
        cached_summary: Some("not stored".into()),
        ..full_row()
    };
    table.insert(&sparse).await.unwrap();
    let key = EveryTypePrimaryKey { id: sparse.id, bucket: sparse.bucket, at: sparse.at, tag: sparse.tag.clone() };
    let read = table.get(&key).await.unwrap().expect("the sparse row was written");
    // A skipped field is not stored, so it reads back as its default.
    assert_eq!(read, EveryType { cached_summary: None, ..sparse });
    test.drop().await;
}

#[tokio::test]
async fn typed_updates_change_one_column_set_and_map_in_place() {
    let test = TestKeyspace::new("typed_updates").await;
    test.db.apply_schema(test.replication(), &[EveryType::table_schema()]).await.unwrap();
    let table = test.db.table::<EveryType>();
    let row = full_row();
    table.insert(&row).await.unwrap();
    let key = row.primary_key();
    let stored = || async { table.get(&key).await.unwrap().expect("the row was written") };

    table.add_to_set(&key, every_type::set_value, &[7, 8]).await.unwrap();
    table.remove_from_set(&key, every_type::set_value, &[1]).await.unwrap();
    let mut expected_set = row.set_value.clone();
    expected_set.extend([7, 8]);
    expected_set.remove(&1);
    assert_eq!(stored().await.set_value, expected_set);

    let entries = BTreeMap::from([("new".to_owned(), 5_i64)]);
    table.put_in_map(&key, every_type::map_value, &entries).await.unwrap();
    let first_key = row.map_value.keys().next().cloned().expect("the fixture's map has entries");
    table.remove_from_map(&key, every_type::map_value, std::slice::from_ref(&first_key)).await.unwrap();
    let mut expected_map = row.map_value.clone();
    expected_map.extend(entries);
    expected_map.remove(&first_key);
    assert_eq!(stored().await.map_value, expected_map);

    // A static column is one value for the partition; a renamed column is set by its field.
    table.set_static(&row.partition_key(), every_type::owner, &Some("new owner".to_owned())).await.unwrap();
    table.set(&key, every_type::order_number, &99).await.unwrap();
    let after = stored().await;
    assert_eq!((after.owner.as_deref(), after.order_number), (Some("new owner"), 99));
    let untouched = EveryType {
        owner: row.owner.clone(),
        order_number: row.order_number,
        set_value: row.set_value.clone(),
        map_value: row.map_value.clone(),
        ..after
    };
    assert_eq!(untouched, row, "every other column is as inserted");
    test.drop().await;
}
