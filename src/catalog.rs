//! Catalog introspection. The queries live in `src/catalog/*.sql` and take bound
//! parameters only.
use anyhow::Context as _;

use crate::model::{Mode, OnError};
use postgres::GenericClient;

use crate::sql::{Ident, QualifiedName, RowFilter};

pub const TABLE_COLUMNS: &str = include_str!("catalog/table_columns.sql");
pub const NODE_STATE: &str = include_str!("catalog/node_state.sql");
pub const LOCAL_NODE: &str = include_str!("catalog/local_node.sql");
pub const REPLICATED_TABLES: &str = include_str!("catalog/replicated_tables.sql");
pub const SENDER_SET: &str = include_str!("catalog/sender_set.sql");
pub const ROW_FILTER_UNTRUSTED_CALLS: &str = include_str!("catalog/row_filter_untrusted_calls.sql");
pub const QUEUES: &str = include_str!("catalog/queues.sql");
pub const KEY_SEQUENCE: &str = include_str!("catalog/key_sequence.sql");
pub const CONFLICTS: &str = include_str!("catalog/conflicts.sql");
pub const CONFLICT_COUNTS: &str = include_str!("catalog/conflict_counts.sql");
pub const TABLE_SHAPE: &str = include_str!("catalog/table_shape.sql");
pub const PURGE_CONFLICTS: &str = include_str!("catalog/purge_conflicts.sql");
pub const UNIQUE_INDEXES: &str = include_str!("catalog/unique_indexes.sql");
pub const ROW_SECURITY: &str = include_str!("catalog/row_security.sql");
pub const KEY_CHANGE_BLOCKERS: &str = include_str!("catalog/key_change_blockers.sql");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: Ident,
    pub type_name: String,
    pub key_position: Option<i32>,
    pub generated: bool,
    /// How the column travels in JSON rows: "json" or "jsonb" (a column of that
    /// type, not a domain of it) and "text" (an array) as a string of its text,
    /// `None` as a JSON value.
    pub wire: Option<String>,
    /// Types inside the column's type that cannot be replicated (see table_columns.sql).
    pub unsupported: Option<Vec<String>>,
    /// The definitions of the enums, composites and domains the column's type uses.
    pub shape: Option<String>,
    /// The type holds floats, intervals, dates or timestamps: values whose text
    /// depends on the session's settings.
    pub has_float: bool,
    pub has_interval: bool,
    pub has_datetime: bool,
}

/// How a table holds its rows (see table_shape.sql).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableShape {
    pub partitioned: bool,
    /// The root of the partition tree the table is a partition of.
    pub partition_of: Option<QualifiedName>,
    /// A partitioned table's partitions at every level, the upper levels first.
    pub partitions: Vec<QualifiedName>,
    pub row_security: bool,
    pub force_row_security: bool,
}

/// A table's shape; `None` when the table does not exist.
pub fn table_shape(
    client: &mut impl GenericClient,
    table: &QualifiedName,
) -> anyhow::Result<Option<TableShape>> {
    let Some(row) = client
        .query_opt(TABLE_SHAPE, &[&table.schema.as_str(), &table.name.as_str()])
        .with_context(|| format!("reading how {} holds its rows", table.plain()))?
    else {
        return Ok(None);
    };
    let name = |schema: String, name: String| -> anyhow::Result<QualifiedName> {
        Ok(QualifiedName::new(Ident::new(schema)?, Ident::new(name)?))
    };
    let partition_of = match (row.get(1), row.get(2)) {
        (Some(schema), Some(root)) => Some(name(schema, root)?),
        _ => None,
    };
    let schemas: Vec<String> = row.get(3);
    let names: Vec<String> = row.get(4);
    Ok(Some(TableShape {
        partitioned: row.get(0),
        partition_of,
        partitions: schemas
            .into_iter()
            .zip(names)
            .map(|(s, n)| name(s, n))
            .collect::<anyhow::Result<_>>()?,
        row_security: row.get(5),
        force_row_security: row.get(6),
    }))
}

/// A unique index that could become a table's primary key (see unique_indexes.sql).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueIndex {
    pub index: Ident,
    /// The unique constraint the index belongs to.
    pub constraint: Option<Ident>,
    pub columns: Vec<Ident>,
}

/// The unique indexes of a table that could become its primary key, by name.
pub fn unique_indexes(
    client: &mut impl GenericClient,
    table: &QualifiedName,
) -> anyhow::Result<Vec<UniqueIndex>> {
    client
        .query(
            UNIQUE_INDEXES,
            &[&table.schema.as_str(), &table.name.as_str()],
        )
        .with_context(|| format!("reading the unique indexes of {}", table.plain()))?
        .iter()
        .map(|row| {
            Ok(UniqueIndex {
                index: Ident::new(row.get::<_, String>("index"))?,
                constraint: row
                    .get::<_, Option<String>>("constraint")
                    .map(Ident::new)
                    .transpose()?,
                columns: row
                    .get::<_, Vec<String>>("columns")
                    .into_iter()
                    .map(Ident::new)
                    .collect::<anyhow::Result<_>>()?,
            })
        })
        .collect()
}

/// A role that row-level security on a table applies to (see row_security.sql).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSecuritySubject {
    pub role: Ident,
    /// The role owns the table: only FORCE ROW LEVEL SECURITY subjects it.
    pub owner: bool,
}

/// Of the connected role and `roles`, those that row-level security on the table
/// applies to, the connected role first.
pub fn row_security_subjects(
    client: &mut impl GenericClient,
    table: &QualifiedName,
    roles: &[String],
) -> anyhow::Result<Vec<RowSecuritySubject>> {
    client
        .query(
            ROW_SECURITY,
            &[&table.schema.as_str(), &table.name.as_str(), &roles],
        )
        .with_context(|| {
            format!(
                "reading who row-level security on {} applies to",
                table.plain()
            )
        })?
        .iter()
        .map(|row| {
            Ok(RowSecuritySubject {
                role: Ident::new(row.get::<_, String>("role"))?,
                owner: row.get("owner"),
            })
        })
        .collect()
}

/// A foreign key that refuses a key change as it reaches a peer (see
/// key_change_blockers.sql).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChangeBlocker {
    pub name: Ident,
    /// The referencing table.
    pub table: QualifiedName,
    /// The referenced table.
    pub parent: QualifiedName,
    /// "on update cascade", "on update set null" or "on update set default".
    pub on_update: String,
    /// On delete restrict, which cannot be deferred.
    pub restrict: bool,
}

/// The foreign keys between the table and the tables this node receives that
/// refuse a referenced key's change as a peer applies it.
pub fn key_change_blockers(
    client: &mut impl GenericClient,
    table: &QualifiedName,
) -> anyhow::Result<Vec<KeyChangeBlocker>> {
    let name = |schema: String, name: String| -> anyhow::Result<QualifiedName> {
        Ok(QualifiedName::new(Ident::new(schema)?, Ident::new(name)?))
    };
    client
        .query(
            KEY_CHANGE_BLOCKERS,
            &[&table.schema.as_str(), &table.name.as_str()],
        )
        .with_context(|| format!("reading the foreign keys of {}", table.plain()))?
        .iter()
        .map(|row| {
            Ok(KeyChangeBlocker {
                name: Ident::new(row.get::<_, String>("name"))?,
                table: name(row.get("table_schema"), row.get("table_name"))?,
                parent: name(row.get("parent_schema"), row.get("parent_name"))?,
                on_update: row.get("on_update"),
                restrict: row.get("restrict"),
            })
        })
        .collect()
}

/// Whether the table is partitioned on this node (false when it does not exist).
pub fn is_partitioned(
    client: &mut impl GenericClient,
    table: &QualifiedName,
) -> anyhow::Result<bool> {
    Ok(table_shape(client, table)?.is_some_and(|s| s.partitioned))
}

/// A table's columns; `None` when the table does not exist.
pub fn table_columns(
    client: &mut impl GenericClient,
    table: &QualifiedName,
) -> anyhow::Result<Option<Vec<Column>>> {
    let rows = client
        .query(
            TABLE_COLUMNS,
            &[&table.schema.as_str(), &table.name.as_str()],
        )
        .with_context(|| format!("reading the columns of {table}"))?;
    if rows.is_empty() {
        return Ok(None);
    }
    rows.iter()
        .map(|row| {
            Ok(Column {
                name: Ident::new(row.get::<_, String>("name"))?,
                type_name: row.get("type"),
                key_position: row.get("key_position"),
                generated: row.get("generated"),
                wire: row.get("wire"),
                unsupported: row.get("unsupported"),
                shape: row.get("shape"),
                has_float: row.get("has_float"),
                has_interval: row.get("has_interval"),
                has_datetime: row.get("has_datetime"),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

/// The replicated columns that are not part of the key: what an upsert updates.
pub fn non_key_columns(columns: &[Ident], key: &[Ident]) -> Vec<Ident> {
    columns
        .iter()
        .filter(|c| !key.contains(c))
        .cloned()
        .collect()
}

/// How a table's replicated columns travel as text. The replicated columns of
/// type json and jsonb, and the array columns: rows
/// travel as JSON with these columns as strings of their text: embedded as JSON
/// values, a JSON `null` would arrive as SQL NULL, the whitespace around a json
/// value would be lost, a json value holding `\u0000` could not be read back, and
/// an array would lose its lower bounds. json_populate_recordset reads an array
/// from a string with the array's input function, so only json and jsonb need
/// turning back.
#[derive(Debug, Clone, Default)]
pub struct WireFormat {
    json: Vec<Ident>,
    jsonb: Vec<Ident>,
    text: Vec<Ident>,
    /// The replicated columns hold floats, intervals, dates or timestamps: the
    /// generated functions then fix the setting their text depends on. Only
    /// then, because each SET on a function costs every call (the capture
    /// function runs for every statement on the table).
    pub float: bool,
    pub interval: bool,
    pub datetime: bool,
}

impl WireFormat {
    pub fn of(table: &[Column], replicated: &[Ident]) -> Self {
        let of_kind = |kind: &str| {
            table
                .iter()
                .filter(|c| replicated.contains(&c.name) && c.wire.as_deref() == Some(kind))
                .map(|c| c.name.clone())
                .collect()
        };
        let replicated_columns = || table.iter().filter(|c| replicated.contains(&c.name));
        WireFormat {
            json: of_kind("json"),
            jsonb: of_kind("jsonb"),
            text: of_kind("text"),
            float: replicated_columns().any(|c| c.has_float),
            interval: replicated_columns().any(|c| c.has_interval),
            datetime: replicated_columns().any(|c| c.has_datetime),
        }
    }

    pub fn new(json: Vec<Ident>, jsonb: Vec<Ident>, text: Vec<Ident>) -> Self {
        WireFormat {
            json,
            jsonb,
            text,
            ..Default::default()
        }
    }

    /// Whether the column travels as a string of its text.
    pub fn as_text(&self, column: &Ident) -> bool {
        self.is_json(column) || self.is_jsonb(column) || self.text.contains(column)
    }

    pub fn is_json(&self, column: &Ident) -> bool {
        self.json.contains(column)
    }

    pub fn is_jsonb(&self, column: &Ident) -> bool {
        self.jsonb.contains(column)
    }

    /// Whether any of `columns` must be turned back from text after
    /// json_populate_recordset.
    pub fn any_of(&self, columns: &[Ident]) -> bool {
        columns.iter().any(|c| self.is_json(c) || self.is_jsonb(c))
    }
}

/// The primary key columns in key order.
pub fn key_columns(columns: &[Column]) -> Vec<&Column> {
    let mut key: Vec<&Column> = columns
        .iter()
        .filter(|c| c.key_position.is_some())
        .collect();
    key.sort_by_key(|c| c.key_position);
    key
}

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

pub const SET_QUEUE_DESTS: &str = include_str!("catalog/set_queue_dests.sql");

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

pub const PEERS: &str = include_str!("catalog/peers.sql");
pub const FUNCTIONS_PRESENT: &str = include_str!("catalog/functions_present.sql");

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

pub const PEER_MAPPING_MATCHES: &str = include_str!("catalog/peer_mapping_matches.sql");

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

pub const QUEUED_ENTRY: &str = include_str!("catalog/queued_entry.sql");

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
