//! A team's own tables on `scylla-table`, end to end on a live node: support tickets per tenant
//! and day, and a counter table beside them (`tables.rs`).
//!
//! Run: `cargo xtask db up`, then `cargo run -p examples --example own_tables`. It writes to the
//! keyspace `SCYLLA_KEYSPACE` (default `own_tables`) on `SCYLLA_URI` (default the local node);
//! the rows are upserts, and the counters add up across runs.
mod tables;

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};
use scylla_table::{ConnectionConfig, Database};
use tables::{
    all_tables, ticket_counts, tickets_by_day, Contact, Priority, TicketByDay, TicketByDayPartitionKey,
    TicketByDayPrimaryKey, TicketCount, TicketCountPrimaryKey,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ConnectionConfig::from_env("own_tables")?;
    let db = Database::connect(&config).await?;
    let tables = all_tables();
    // The keyspace, the `contact` type, then both tables; then a check that the live schema is
    // what the structs say.
    db.apply_schema(&config.replication, &tables).await?;
    db.validate_schema(&tables).await?;
    println!("schema of keyspace {} applied and validated", config.keyspace);

    let tickets = db.table::<TicketByDay>();
    let counts = db.table::<TicketCount>();
    let day = NaiveDate::from_ymd_opt(2026, 12, 3).ok_or("a valid date")?;
    let partition = TicketByDayPartitionKey { tenant: "acme".into(), day };
    for (minute, priority) in [(5, Priority::Low), (20, Priority::Urgent), (45, Priority::Normal)] {
        let ticket = TicketByDay {
            tenant: "acme".into(),
            day,
            opened_at: Utc.with_ymd_and_hms(2026, 12, 3, 9, minute, 0).single().ok_or("a valid time")?,
            ticket_id: format!("T-{minute}"),
            day_note: None,
            subject: format!("Ticket opened at 09:{minute:02}"),
            priority,
            tags: vec!["email".into()],
            fields: BTreeMap::from([("plan".to_owned(), "pro".to_owned())]),
            reporter: Contact { name: "Ana".into(), email: "ana@example.com".into(), phone: None },
        };
        // `insert_new` writes no nulls for `None`, so a new row leaves no tombstones.
        tickets.insert_new(&ticket).await?;
        let count_key = TicketCountPrimaryKey { tenant: "acme".into(), day };
        counts.increment(&count_key, ticket_counts::opened, 1).await?;
        if priority == Priority::Urgent {
            counts.increment(&count_key, ticket_counts::urgent, 1).await?;
        }
    }

    // Typed updates: each column handle belongs to its table and carries the column's type.
    let urgent = TicketByDayPrimaryKey {
        tenant: "acme".into(),
        day,
        opened_at: Utc.with_ymd_and_hms(2026, 12, 3, 9, 20, 0).single().ok_or("a valid time")?,
        ticket_id: "T-20".into(),
    };
    tickets.append_to_list(&urgent, tickets_by_day::tags, &["outage".to_owned()]).await?;
    tickets
        .put_in_map(&urgent, tickets_by_day::fields, &BTreeMap::from([("region".to_owned(), "eu".to_owned())]))
        .await?;
    tickets.set(&urgent, tickets_by_day::subject, &"Checkout is down".to_owned()).await?;
    tickets.set_static(&partition, tickets_by_day::day_note, &Some("Payments incident at 09:20".to_owned())).await?;

    // Slices: the partition's rows in clustering order (newest first), a range of it, reversed.
    let since_nine_ten = Utc.with_ymd_and_hms(2026, 12, 3, 9, 10, 0).single().ok_or("a valid time")?;
    let newest = tickets.slice(&partition).limit(2).fetch().await?;
    let after =
        tickets.slice(&partition).range(tickets_by_day::opened_at, &since_nine_ten..).reversed().fetch().await?;
    println!("newest two: {}", ids(&newest));
    println!("opened after 09:10, oldest first: {}", ids(&after));

    let all = tickets.partition_vec(&partition).await?;
    for ticket in &all {
        println!(
            "{} {:?} {:?} tags={:?} fields={:?} reporter={} note={:?}",
            ticket.ticket_id,
            ticket.priority,
            ticket.subject,
            ticket.tags,
            ticket.fields,
            ticket.reporter.name,
            ticket.day_note
        );
    }
    let count = counts.get(&TicketCountPrimaryKey { tenant: "acme".into(), day }).await?.ok_or("the counters exist")?;
    println!("counted: opened {}, urgent {}", count.opened.0, count.urgent.0);
    Ok(())
}

fn ids(tickets: &[TicketByDay]) -> String {
    tickets.iter().map(|ticket| ticket.ticket_id.as_str()).collect::<Vec<_>>().join(", ")
}
