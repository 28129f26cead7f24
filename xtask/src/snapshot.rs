//! `cargo xtask cluster snapshot <tag> --keyspace K` and `cluster restore <tag> --keyspace K`:
//! point-in-time copies of a keyspace's tables on every node of the local cluster, and loading
//! them back.
//!
//! A snapshot is `nodetool snapshot` on each node (a flush, then hard links to the SSTables),
//! moved out of the node's data folder into `target/cluster/snapshots/<tag>/nodeN/<table>/`, so
//! it outlives a `DROP KEYSPACE` and the node's own snapshot housekeeping. Restore is `nodetool
//! import --copy-data` of each table's files on the node they came from: every cell keeps its
//! write timestamp, so a restore merges with what the tables hold by the usual last-write-wins
//! and never overwrites a newer write. The keyspace and its tables must exist (after a drop,
//! `chat-migrate schema apply` or the application makes them again); the copies are kept, so a
//! restore can run again.

use std::fs;
use std::path::{Path, PathBuf};

use crate::cassandra::Node;

/// A node of the cluster, numbered as the commands count.
pub struct SnapshotNode<'a> {
    pub number: u8,
    pub node: &'a Node,
}

/// Beside the nodes' folders: each cluster layout keeps its own snapshots.
fn snapshots_root(nodes: &[SnapshotNode]) -> PathBuf {
    let cluster = nodes.first().and_then(|first| first.node.root.parent());
    cluster.map_or_else(|| crate::workspace_root().join("target").join("cluster"), PathBuf::from).join("snapshots")
}

/// A tag or a keyspace name that is safe as a folder name and a nodetool argument.
fn checked_name<'a>(what: &str, name: &'a str) -> Result<&'a str, String> {
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        Ok(name)
    } else {
        Err(format!("`{name}` is not a {what}: use letters, digits, `_` and `-`"))
    }
}

/// The table a data folder (`<table>-<id>`) holds.
fn table_of(folder: &Path) -> Option<String> {
    let name = folder.file_name()?.to_str()?;
    name.rsplit_once('-').map(|(table, _id)| table.to_owned())
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|error| format!("cannot read {}: {error}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    paths.sort();
    Ok(paths)
}

pub fn snapshot(nodes: &[SnapshotNode], tag: &str, keyspace: &str) -> Result<(), String> {
    let (tag, keyspace) = (checked_name("snapshot tag", tag)?, checked_name("keyspace", keyspace)?);
    let done = snapshots_root(nodes).join(tag);
    if done.exists() {
        return Err(format!("snapshot `{tag}` exists ({}); choose another tag or delete it", done.display()));
    }
    // Written aside and renamed once every node is in: a snapshot that failed half-way is never
    // restored as if whole.
    let root = snapshots_root(nodes).join(format!("{tag}.partial"));
    let _ = fs::remove_dir_all(&root);
    for SnapshotNode { number, node } in nodes {
        node.nodetool(&["snapshot", "-t", tag, "--", keyspace])?;
        let (mut tables, mut files, mut bytes) = (0, 0, 0u64);
        let keyspace_dir = node.data().join("data").join(keyspace);
        for table_dir in entries(&keyspace_dir)? {
            let taken = table_dir.join("snapshots").join(tag);
            let Some(table) = table_of(&table_dir).filter(|_| taken.is_dir()) else { continue };
            let saved = root.join(format!("node{number}")).join(&table);
            fs::create_dir_all(&saved).map_err(|error| format!("cannot create {}: {error}", saved.display()))?;
            for file in entries(&taken)? {
                let target = saved.join(file.file_name().unwrap_or_default());
                // The node's snapshot is hard links already: linking again costs no space.
                fs::hard_link(&file, &target)
                    .or_else(|_| fs::copy(&file, &target).map(drop))
                    .map_err(|error| format!("cannot save {}: {error}", file.display()))?;
                bytes += fs::metadata(&target).map(|meta| meta.len()).unwrap_or(0);
                files += 1;
            }
            tables += 1;
        }
        node.nodetool(&["clearsnapshot", "-t", tag, "--", keyspace])?;
        println!("node {number}: {tables} tables of `{keyspace}`, {files} files, {} KiB", bytes / 1024);
    }
    fs::rename(&root, &done).map_err(|error| format!("cannot finish the snapshot: {error}"))?;
    println!("snapshot `{tag}` saved in {}", done.display());
    Ok(())
}

pub fn restore(nodes: &[SnapshotNode], tag: &str, keyspace: &str) -> Result<(), String> {
    let (tag, keyspace) = (checked_name("snapshot tag", tag)?, checked_name("keyspace", keyspace)?);
    let root = snapshots_root(nodes).join(tag);
    if !root.is_dir() {
        return Err(format!("there is no snapshot `{tag}` ({} is missing)", root.display()));
    }
    for SnapshotNode { number, node } in nodes {
        let saved = root.join(format!("node{number}"));
        let mut tables = 0;
        for table_dir in entries(&saved)? {
            let table = table_dir.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_owned();
            let has_data = entries(&table_dir)?.iter().any(|file| file.to_string_lossy().ends_with("-Data.db"));
            if !has_data {
                continue;
            }
            let dir = table_dir.display().to_string();
            node.nodetool(&["import", "--copy-data", "--", keyspace, &table, &dir]).map_err(|error| {
                format!(
                    "{error}\n(restore loads into existing tables: create keyspace `{keyspace}` and its tables first, \
                     for example with `chat-migrate schema apply`)"
                )
            })?;
            tables += 1;
        }
        println!("node {number}: {tables} tables of `{keyspace}` loaded from snapshot `{tag}`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_folder_are_refused() {
        assert!(checked_name("tag", "before-cutover_1").is_ok());
        for bad in ["", "../x", "a b", "a/b", "x;y"] {
            assert!(checked_name("tag", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_data_folder_names_its_table_before_the_id() {
        assert_eq!(table_of(Path::new("/d/turns_by_session-5f1c0e20a1b211ef")), Some("turns_by_session".into()));
        assert_eq!(table_of(Path::new("/d/noid")), None);
    }
}
