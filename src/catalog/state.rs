//! What repsync installed on a node and what it holds: node state, sets, the
//! options add-table stored, queues, peers, queued entries, key sequences and
//! logged conflicts.
use postgres::GenericClient;

use super::*;
use crate::model::{Mode, OnError};
use crate::sql::{Ident, QualifiedName, RowFilter};

#[derive(Debug, Clone)]
pub struct NodeState {
    pub server_version: String,
    pub installed: bool,
    pub superuser: bool,
    pub dblink_schema: Option<String>,
    pub shipper_running: bool,
}

pub fn node_state(client: &mut impl GenericClient) -> anyhow::Result<NodeState> {
    let row = client.query_one(NODE_STATE, &[&crate::drain::SHIPPER_APPLICATION_NAME])?;
    Ok(NodeState {
        server_version: row.get("server_version"),
        installed: row.get("installed"),
        superuser: row.get::<_, Option<bool>>("superuser").unwrap_or(false),
        dblink_schema: row.get("dblink_schema"),
        shipper_running: row.get("shipper_running"),
    })
}

#[derive(Debug, Clone)]
pub struct LocalNode {
    pub name: String,
    pub created_dblink: bool,
    pub init_fingerprint: String,
}

pub fn local_node(client: &mut impl GenericClient) -> anyhow::Result<Option<LocalNode>> {
    Ok(client.query_opt(LOCAL_NODE, &[])?.map(|row| LocalNode {
        name: row.get("name"),
        created_dblink: row.get("created_dblink"),
        init_fingerprint: row.get("init_fingerprint"),
    }))
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplicatedTable {
    pub set_name: String,
    pub source: String,
    pub local_schema: String,
    pub local_table: String,
    pub is_sender: bool,
    pub is_receiver: bool,
    pub mode: Mode,
    pub on_error: OnError,
    pub options: String,
    /// The local table still exists (someone may have dropped it since).
    pub table_exists: bool,
    pub dests: Vec<String>,
    pub missing: Vec<String>,
    pub changed: Vec<String>,
}

impl ReplicatedTable {
    pub fn local_name(&self) -> anyhow::Result<QualifiedName> {
        Ok(QualifiedName::new(
            Ident::new(self.local_schema.clone())?,
            Ident::new(self.local_table.clone())?,
        ))
    }
}

pub fn replicated_tables(client: &mut impl GenericClient) -> anyhow::Result<Vec<ReplicatedTable>> {
    client
        .query(REPLICATED_TABLES, &[])?
        .iter()
        .map(|row| {
            Ok(ReplicatedTable {
                set_name: row.get("set_name"),
                source: row.get("source"),
                local_schema: row.get("local_schema"),
                local_table: row.get("local_table"),
                is_sender: row.get("is_sender"),
                is_receiver: row.get("is_receiver"),
                mode: row.get::<_, String>("mode").parse()?,
                on_error: row.get::<_, String>("on_error").parse()?,
                options: row.get("options"),
                table_exists: row.get("table_exists"),
                dests: row.get("dests"),
                missing: row.get("missing"),
                changed: row.get("changed"),
            })
        })
        .collect()
}

/// The name of the set this node sends from `table`, if the node is initialised and
/// sends it.
pub fn sender_set(
    client: &mut impl GenericClient,
    table: &QualifiedName,
) -> anyhow::Result<Option<String>> {
    if !node_state(client)?.installed {
        return Ok(None);
    }
    Ok(client
        .query_opt(SENDER_SET, &[&table.schema.as_str(), &table.name.as_str()])?
        .map(|row| row.get("set_name")))
}

/// The set `set_name` as installed on this node, if the node is initialised and
/// has it.
pub fn installed_set(
    client: &mut impl GenericClient,
    set_name: &str,
) -> anyhow::Result<Option<ReplicatedTable>> {
    if !node_state(client)?.installed {
        return Ok(None);
    }
    Ok(replicated_tables(client)?
        .into_iter()
        .find(|t| t.set_name == set_name))
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Queue {
    pub dest: String,
    pub depth: i64,
    pub oldest_seconds: f64,
    pub last_error: Option<String>,
    pub oldest_id: i64,
}

pub fn queues(client: &mut impl GenericClient) -> anyhow::Result<Vec<Queue>> {
    Ok(client
        .query(QUEUES, &[])?
        .iter()
        .map(|row| Queue {
            dest: row.get("dest"),
            depth: row.get("depth"),
            oldest_seconds: row.get("oldest_seconds"),
            last_error: row.get("last_error"),
            oldest_id: row.get("oldest_id"),
        })
        .collect())
}

/// Destinations with queued changes of one table, and how many each.
pub fn set_queue_dests(
    client: &mut impl GenericClient,
    set_name: &str,
) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(client
        .query(SET_QUEUE_DESTS, &[&set_name])?
        .iter()
        .map(|row| (row.get("dest"), row.get("depth")))
        .collect())
}

#[derive(Debug, Clone)]
pub struct PeerRow {
    pub name: String,
    pub server_present: bool,
    pub in_use: bool,
}

pub fn peers(client: &mut impl GenericClient) -> anyhow::Result<Vec<PeerRow>> {
    Ok(client
        .query(PEERS, &[])?
        .iter()
        .map(|row| PeerRow {
            name: row.get("name"),
            server_present: row.get("server_present"),
            in_use: row.get("in_use"),
        })
        .collect())
}

/// Whether this role's user mapping for `server` exists with exactly `password`.
pub fn peer_mapping_matches(
    client: &mut impl GenericClient,
    server: &Ident,
    password: Option<&str>,
) -> anyhow::Result<bool> {
    Ok(client
        .query_one(PEER_MAPPING_MATCHES, &[&server.as_str(), &password])?
        .get(0))
}

pub fn functions_present(client: &mut impl GenericClient) -> anyhow::Result<bool> {
    Ok(client.query_one(FUNCTIONS_PRESENT, &[])?.get(0))
}

#[derive(Debug, Clone)]
pub struct QueuedEntry {
    pub id: i64,
    pub dest: String,
    pub source: String,
    pub op: String,
    pub queued_at: String,
    pub rows: Option<String>,
}

pub fn queued_entry(
    client: &mut impl GenericClient,
    id: i64,
) -> anyhow::Result<Option<QueuedEntry>> {
    Ok(client
        .query_opt(QUEUED_ENTRY, &[&id])?
        .map(|row| QueuedEntry {
            id: row.get("id"),
            dest: row.get("dest"),
            source: row.get("source"),
            op: row.get("op"),
            queued_at: row.get("queued_at"),
            rows: row.get("rows"),
        }))
}

/// What add-table stored in a set's options: the replicated columns, in order,
/// and the row filter.
pub fn stored_columns_and_filter(
    table: &QualifiedName,
    options: &str,
) -> anyhow::Result<(Vec<Ident>, Option<RowFilter>)> {
    let options: serde_json::Value = serde_json::from_str(options)?;
    let columns = options["columns"]
        .as_array()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the options add-table stored for {} list no columns; run add-table again",
                table.plain()
            )
        })?
        .iter()
        .map(|c| Ident::new(c.as_str().unwrap_or_default().to_string()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let filter = options["row_filter"]
        .as_str()
        .map(RowFilter::parse)
        .transpose()?;
    Ok((columns, filter))
}

/// The sequence that fills a key column, when one does (serial, identity, a
/// `nextval` default), with its current increment.
pub struct KeySequence {
    pub column: Ident,
    pub sequence: QualifiedName,
    pub increment: i64,
}

pub fn key_sequences(
    client: &mut impl GenericClient,
    table: &QualifiedName,
    key: &[Ident],
) -> anyhow::Result<Vec<KeySequence>> {
    let mut found = Vec::new();
    for column in key {
        if let Some(row) =
            client.query_opt(KEY_SEQUENCE, &[&table.to_string(), &column.as_str()])?
        {
            found.push(KeySequence {
                column: column.clone(),
                sequence: QualifiedName::parse(row.get::<_, &str>(0))?,
                increment: row.get::<_, Option<i64>>(1).unwrap_or(1),
            });
        }
    }
    Ok(found)
}

/// What a purge of the conflict log did on one node.
#[derive(Debug, Clone, Copy)]
pub struct Purged {
    pub deleted: i64,
    pub remaining: i64,
}

/// Deletes the node's logged conflicts of `table` (its name as given to
/// add-table) or of all tables, except the newest `keep` and those logged less
/// than `older_than` ago; an entry goes only when neither keeps it.
pub fn purge_conflicts(
    client: &mut impl GenericClient,
    table: Option<&str>,
    keep: Option<i64>,
    older_than: Option<std::time::Duration>,
) -> Result<Purged, postgres::Error> {
    // Durations are whole seconds of at most a hundred years (cli::duration).
    let seconds = older_than.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let row = client.query_one(PURGE_CONFLICTS, &[&table, &keep, &seconds])?;
    Ok(Purged {
        deleted: row.get("deleted"),
        remaining: row.get("remaining"),
    })
}
