//! Migration planning: which differences can be applied in place, and which must be refused.

use std::fmt;

use scylla_table_schema::{TableOptions, TableSchema, UserTypeSchema};

use crate::live_schema::{expected_role, live_role, same_field_type, same_type, LiveTable, LiveUserType};

/// A change that runs as one CQL statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStep {
    /// What it changes, such as "add column `title` to `sessions_by_user`".
    pub description: String,
    /// The statement.
    pub cql: String,
}

/// A change that would lose data or cannot be made in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedChange {
    /// The change the struct asks for.
    pub description: String,
    /// What to do instead.
    pub advice: String,
    /// The statement that forces the change when destructive changes are allowed. `None` when
    /// CQL cannot make the change at all (a key or type change).
    pub forced_step: Option<MigrationStep>,
}

impl fmt::Display for RefusedChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.description, self.advice)
    }
}

/// The steps that bring the live schema to the derived one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationPlan {
    /// Additive changes, safe to apply.
    pub steps: Vec<MigrationStep>,
    /// Changes that are not made, each with what to do instead.
    pub refused: Vec<RefusedChange>,
}

impl MigrationPlan {
    /// True when the live schema already matches.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.refused.is_empty()
    }

    /// Adds another table's plan to this one.
    pub fn extend(&mut self, other: MigrationPlan) {
        self.steps.extend(other.steps);
        self.refused.extend(other.refused);
    }
}

impl fmt::Display for MigrationPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "nothing to do: the live schema matches the code");
        }
        for step in &self.steps {
            writeln!(f, "apply   {}\n        {};", step.description, step.cql)?;
        }
        for refused in &self.refused {
            writeln!(f, "REFUSE  {}\n        {}", refused.description, refused.advice)?;
        }
        Ok(())
    }
}

const NEW_TABLE_ADVICE: &str = "CQL cannot change this in place: create a new table with the new definition, \
     backfill it from the old one, switch reads and writes, then drop the old table";

/// Plans the migration of one table in `keyspace`.
pub fn plan_migration(keyspace: &str, table: &TableSchema, live: Option<&LiveTable>) -> MigrationPlan {
    let mut plan = MigrationPlan::default();
    let name = format!("{keyspace}.{}", table.name);
    let Some(live) = live else {
        plan.steps.push(MigrationStep {
            description: format!("create table {name}"),
            cql: table.create_table_cql(Some(keyspace)).trim_end().trim_end_matches(';').to_owned(),
        });
        return plan;
    };
    for column in &table.columns {
        match live.column(&column.name) {
            None if column.kind.is_key() => plan.refused.push(RefusedChange {
                description: format!("add key column {name}.{}", column.name),
                advice: NEW_TABLE_ADVICE.to_owned(),
                forced_step: None,
            }),
            None => plan.steps.push(MigrationStep {
                description: format!("add column {name}.{} {}", column.name, column.cql_type),
                cql: table.add_column_cql(Some(keyspace), column),
            }),
            Some(found) => {
                if !same_type(&column.cql_type, &found.cql_type) {
                    plan.refused.push(RefusedChange {
                        description: format!(
                            "change the type of {name}.{} from {} to {}",
                            column.name, found.cql_type, column.cql_type
                        ),
                        advice: NEW_TABLE_ADVICE.to_owned(),
                        forced_step: None,
                    });
                }
                let (expected, current) = (expected_role(table, column), live_role(found));
                let order_changed = matches!(column.kind, scylla_table_schema::ColumnKind::Clustering(order)
                    if !found.clustering_order.eq_ignore_ascii_case(order.keyword()));
                if expected != current || order_changed {
                    plan.refused.push(RefusedChange {
                        description: format!(
                            "change the primary key of {name}: {} is {current}, the code makes it {expected}{}",
                            column.name,
                            if order_changed { " with another clustering order" } else { "" }
                        ),
                        advice: NEW_TABLE_ADVICE.to_owned(),
                        forced_step: None,
                    });
                }
            }
        }
    }
    for found in &live.columns {
        if table.column(&found.name).is_none() {
            plan.refused.push(RefusedChange {
                description: format!("drop column {name}.{}", found.name),
                advice: "dropping a column deletes its data; keep the field, or allow destructive changes".to_owned(),
                forced_step: Some(MigrationStep {
                    description: format!("drop column {name}.{}", found.name),
                    cql: table.drop_column_cql(Some(keyspace), &found.name),
                }),
            });
        }
    }
    let changed = changed_options(&table.options, live);
    if let Some(cql) = table.alter_options_cql(Some(keyspace), &changed) {
        plan.steps.push(MigrationStep { description: format!("change table options of {name}"), cql });
    }
    plan
}

/// Plans the migration of one user-defined type in `keyspace`: create it, or add the fields it
/// lacks. A field whose type changed is refused: CQL cannot change it. So is a field only the live
/// type has: CQL cannot drop it, and the struct cannot write the type without it.
pub fn plan_user_type_migration(
    keyspace: &str,
    user_type: &UserTypeSchema,
    live: Option<&LiveUserType>,
) -> MigrationPlan {
    let mut plan = MigrationPlan::default();
    let name = format!("{keyspace}.{}", user_type.name);
    let Some(live) = live else {
        plan.steps.push(MigrationStep {
            description: format!("create type {name}"),
            cql: user_type.create_type_cql(Some(keyspace)).trim_end().trim_end_matches(';').to_owned(),
        });
        return plan;
    };
    for field in &user_type.fields {
        match live.fields.iter().find(|(found, _)| *found == field.name) {
            None => plan.steps.push(MigrationStep {
                description: format!("add field {name}.{} {}", field.name, field.cql_type),
                cql: user_type.add_field_cql(Some(keyspace), field),
            }),
            Some((_, found)) if !same_field_type(&field.cql_type, found) => plan.refused.push(RefusedChange {
                description: format!(
                    "change the type of field {name}.{} from {found} to {}",
                    field.name, field.cql_type
                ),
                advice: "CQL cannot change a field's type: add a field under a new name, copy the values, and \
                         stop using the old one"
                    .to_owned(),
                forced_step: None,
            }),
            Some(_) => {}
        }
    }
    for (found, found_type) in &live.fields {
        if user_type.field(found).is_none() {
            plan.refused.push(RefusedChange {
                description: format!("drop field {name}.{found} {found_type}"),
                advice: "CQL cannot drop a field of a type, and a value is written whole: add the field to \
                         the struct, or give the struct's type another name"
                    .to_owned(),
                forced_step: None,
            });
        }
    }
    plan
}

/// The options the code sets that differ from the live ones. Options the code leaves unset are
/// not compared: the server's defaults, or a change made by an operator, stay.
fn changed_options(options: &TableOptions, live: &LiveTable) -> TableOptions {
    let live_compaction_class = live.compaction.get("class").map(|class| class.rsplit('.').next().unwrap_or(class));
    TableOptions {
        default_time_to_live: options
            .default_time_to_live
            .filter(|ttl| i64::from(*ttl) != i64::from(live.default_time_to_live)),
        gc_grace_seconds: options
            .gc_grace_seconds
            .filter(|grace| i64::from(*grace) != i64::from(live.gc_grace_seconds)),
        comment: options.comment.clone().filter(|comment| *comment != live.comment),
        compaction: options.compaction.clone().filter(|compaction| {
            let class = compaction.class.rsplit('.').next().unwrap_or(&compaction.class);
            Some(class) != live_compaction_class
                || compaction.options.iter().any(|(key, value)| live.compaction.get(key) != Some(value))
        }),
    }
}
