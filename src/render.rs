//! Askama template structs: one per unit of DDL under `templates/`. Fields are the
//! quoting types of `sql`, never raw strings, so every name and value is escaped.
use askama::Template;

use crate::catalog::WireFormat;
use crate::config::NodeName;
use crate::sql::{Ident, Literal, QualifiedName, RowFilter, dollar_tag};

/// Stands in for the dollar-quote tag while rendering. NUL never occurs in SQL text
/// PostgreSQL accepts, so the final tag can be chosen after the body is known.
const TAG_PLACEHOLDER: &str = "\u{0}";

/// Renders a template, then replaces the tag placeholder with a dollar-quote tag
/// that occurs nowhere in the rendered text.
pub fn render(template: &impl Template) -> String {
    let text = template
        .render()
        .expect("templates render from typed fields");
    let tag = dollar_tag(&text);
    let mut sql = text.replace(TAG_PLACEHOLDER, &tag);
    // Units are concatenated: each ends its own line.
    if !sql.ends_with('\n') {
        sql.push('\n');
    }
    sql
}

pub fn tag() -> &'static str {
    TAG_PLACEHOLDER
}

#[derive(Template)]
#[template(path = "init/catalog.sql", escape = "none")]
pub struct Catalog<'a> {
    pub node: &'a NodeName,
    pub peer_role: Option<Ident>,
    pub tag: &'static str,
}

#[derive(Template)]
#[template(path = "init/functions.sql", escape = "none")]
pub struct Functions<'a> {
    pub node: &'a NodeName,
    pub dblink_schema: &'a Ident,
    pub tag: &'static str,
}

#[derive(Template)]
#[template(path = "init/peer.sql", escape = "none")]
pub struct Peer<'a> {
    pub node: &'a NodeName,
    pub peer: &'a NodeName,
    pub server: &'a Ident,
    pub options: &'a [(Ident, Literal)],
    pub mapping: &'a [(Ident, Literal)],
    pub password_setting: Option<Literal>,
    pub tag: &'static str,
    pub peer_literal: Literal,
    pub server_literal: Literal,
    /// The sequence that holds the highest id of a transaction that queued for it.
    pub queued_mark: Ident,
}

#[derive(Template)]
#[template(path = "table/capture_function.sql", escape = "none")]
pub struct CaptureFunction<'a> {
    pub async_mode: bool,
    /// More than one node writes the table: record each key's version.
    pub versioned: bool,
    pub versions: &'a Ident,
    pub local_node: &'a Literal,
    /// This node's place in an origin-priority list (1 first; i32::MAX when
    /// unlisted or under another policy).
    pub local_rank: i32,
    pub dests: &'a [Literal],
    pub table: &'a QualifiedName,
    /// The table is partitioned on this node: its rows are read through the whole
    /// partition tree, not `only` the table (whose own storage is empty).
    pub partitioned: bool,
    /// The table's name as SQL text, for a cast to regclass on the server.
    pub table_literal: &'a Literal,
    pub function: &'a Ident,
    pub set_name: &'a Literal,
    pub columns: &'a [Ident],
    pub key: &'a [Ident],
    pub filter: Option<&'a RowFilter>,
    pub idle_lock: [i32; 2],
    pub tag: &'static str,
    /// Which columns travel as text, and which settings their text depends on.
    pub json: &'a WireFormat,
    /// The settings the function pins: those of the columns it turns into text
    /// (only the key, when it queues keys), since each one costs every call.
    pub settings: &'a WireFormat,
}

#[derive(Template)]
#[template(path = "table/capture_triggers.sql", escape = "none")]
pub struct CaptureTriggers<'a> {
    pub table: &'a QualifiedName,
    pub function: &'a Ident,
    /// The table is partitioned: its truncate is marked for its partitions' triggers.
    pub partitioned: bool,
    /// The table is a partition of the replicated (partitioned) table.
    pub partition: bool,
    /// `create or replace`, which takes only the TRIGGER privilege where dropping
    /// takes the table's owner.
    pub replace: bool,
}

#[derive(Template)]
#[template(path = "table/apply_function.sql", escape = "none")]
pub struct ApplyFunction<'a> {
    pub table: &'a QualifiedName,
    /// The table is partitioned on this node: its rows are read through the whole
    /// partition tree, not `only` the table (whose own storage is empty).
    pub partitioned: bool,
    pub function: &'a Ident,
    pub columns: &'a [Ident],
    pub key: &'a [Ident],
    pub non_key: &'a [Ident],
    pub tag: &'static str,
    /// Which columns travel as text, and which settings their text depends on.
    pub json: &'a WireFormat,
}

#[derive(Template)]
#[template(path = "table/copy_keys.sql", escape = "none")]
pub struct CopyKeys<'a> {
    pub table: &'a QualifiedName,
    /// The table is partitioned on this node: its rows are read through the whole
    /// partition tree, not `only` the table (whose own storage is empty).
    pub partitioned: bool,
    pub set_name: &'a Literal,
    pub key: &'a [Ident],
    /// Each key column with its name as a JSON key.
    pub key_names: &'a [(Ident, Literal)],
    pub filter: Option<&'a RowFilter>,
    pub dests: &'a [Literal],
    pub chunk_rows: i64,
    /// Which columns travel as text, and which settings their text depends on.
    pub json: &'a WireFormat,
}

#[derive(Template)]
#[template(path = "table/key_high.sql", escape = "none")]
pub struct KeyHigh<'a> {
    pub table: &'a QualifiedName,
    /// The table is partitioned on this node: its rows are read through the whole
    /// partition tree, not `only` the table (whose own storage is empty).
    pub partitioned: bool,
    pub column: &'a Ident,
    /// The sequence's name as text, cast to regclass on the server.
    pub sequence: &'a Literal,
}

#[derive(Template)]
#[template(path = "table/fix_sequence.sql", escape = "none")]
pub struct FixSequence<'a> {
    pub sequence: &'a QualifiedName,
    pub sequence_literal: &'a Literal,
    pub start: i64,
    pub step: i64,
}

#[derive(Template)]
#[template(path = "table/versions.sql", escape = "none")]
pub struct VersionsTable<'a> {
    pub table: &'a QualifiedName,
    pub versions: &'a Ident,
    pub versions_key: &'a Ident,
    pub key: &'a [Ident],
}

#[derive(Template)]
#[template(path = "table/apply_versioned.sql", escape = "none")]
pub struct ApplyVersioned<'a> {
    pub table: &'a QualifiedName,
    /// The table is partitioned on this node: its rows are read through the whole
    /// partition tree, not `only` the table (whose own storage is empty).
    pub partitioned: bool,
    pub function: &'a Ident,
    pub versions: &'a Ident,
    pub set_name: &'a Literal,
    pub columns: &'a [Ident],
    pub key: &'a [Ident],
    pub non_key: &'a [Ident],
    /// How the policy is stored in repsync.conflict.
    pub policy: &'a Literal,
    pub newer_column: Option<&'a Ident>,
    pub origin_priority: bool,
    pub keep_local: bool,
    pub apply_remote: bool,
    pub tag: &'static str,
    /// Which columns travel as text, and which settings their text depends on.
    pub json: &'a WireFormat,
}

#[derive(Template)]
#[template(path = "table/drop_objects.sql", escape = "none")]
pub struct DropObjects<'a> {
    pub set_name: &'a Literal,
    pub versions: Option<&'a Ident>,
    pub sender_table: Option<&'a QualifiedName>,
    pub capture_function: Option<&'a Ident>,
    pub current_function: &'a Ident,
    pub apply_function: &'a Ident,
}

#[derive(Template)]
#[template(path = "init/partition_trigger.sql", escape = "none")]
pub struct PartitionTrigger {
    pub tag: &'static str,
}

#[derive(Template)]
#[template(path = "table/drop_capture_triggers.sql", escape = "none")]
pub struct DropCaptureTriggers<'a> {
    pub set_name: &'a Literal,
    /// The capture function's name, as text.
    pub function: &'a Literal,
    /// Keep the triggers on this table (as SQL text) and its partitions.
    pub keep_tree: Option<&'a Literal>,
    pub tag: &'static str,
}

#[derive(Template)]
#[template(path = "table/register.sql", escape = "none")]
pub struct Register<'a> {
    pub set_name: &'a Literal,
    pub local_schema: Literal,
    pub local_table: Literal,
    pub source: Literal,
    pub is_sender: bool,
    pub is_receiver: bool,
    pub mode: Literal,
    pub on_error: Literal,
    pub options: Literal,
    pub dests: &'a [Literal],
}

#[derive(Template)]
#[template(path = "init/local_node.sql", escape = "none")]
pub struct LocalNode<'a> {
    pub node: &'a NodeName,
    pub node_literal: Literal,
    pub created_dblink: bool,
    pub fingerprint: Literal,
    pub revoke_user_mappings: bool,
}

#[derive(Template)]
#[template(path = "init/drop_peer.sql", escape = "none")]
pub struct DropPeer<'a> {
    pub peer: &'a NodeName,
    pub server: &'a Ident,
    pub peer_literal: Literal,
    pub queued_mark: Ident,
}

#[derive(Template)]
#[template(path = "init/extension.sql", escape = "none")]
pub struct Extension<'a> {
    pub schema: &'a Ident,
}

/// Parsed and type-checked by PostgreSQL as one prepared statement, which refuses
/// anything but a single boolean expression over the table's columns.
#[derive(Template)]
#[template(path = "table/check_row_filter.sql", escape = "none")]
pub struct CheckRowFilter<'a> {
    pub table: &'a QualifiedName,
    pub filter: &'a RowFilter,
}

/// The filter as a check constraint of a scratch table: refuses anything but one
/// expression, and gives the functions it calls as the constraint's dependencies.
#[derive(Template)]
#[template(path = "table/check_row_filter_constraint.sql", escape = "none")]
pub struct CheckRowFilterConstraint<'a> {
    pub scratch: &'a Ident,
    pub table: &'a QualifiedName,
    pub filter: &'a RowFilter,
}

#[derive(Template)]
#[template(path = "table/purge_queue.sql", escape = "none")]
pub struct PurgeQueue<'a> {
    pub set_name: &'a Literal,
}

#[derive(Template)]
#[template(path = "init/uninstall.sql", escape = "none")]
pub struct Uninstall<'a> {
    pub node: &'a NodeName,
    pub servers: &'a [Ident],
    pub drop_dblink: bool,
    pub restore_user_mappings: bool,
}

#[derive(Template)]
#[template(path = "table/current_rows.sql", escape = "none")]
pub struct CurrentRows<'a> {
    pub table: &'a QualifiedName,
    /// The table is partitioned on this node: its rows are read through the whole
    /// partition tree, not `only` the table (whose own storage is empty).
    pub partitioned: bool,
    pub function: &'a Ident,
    pub versions: Option<&'a Ident>,
    pub columns: &'a [Ident],
    pub key: &'a [Ident],
    pub filter: Option<&'a RowFilter>,
    pub tag: &'static str,
    /// Which columns travel as text, and which settings their text depends on.
    pub json: &'a WireFormat,
}

/// What every verify and repair query of a run shares: the table as one node
/// has it, and how keys are put into buckets and rows hashed.
pub struct Buckets<'a> {
    pub table: &'a QualifiedName,
    /// The table is partitioned on this node: its rows are read through the whole
    /// partition tree, not `only` the table (whose own storage is empty).
    pub partitioned: bool,
    pub key: &'a [Ident],
    pub columns: &'a [Ident],
    pub filter: Option<&'a RowFilter>,
    pub mask: u32,
    /// Hash with the columns' own hash functions rather than the row's text.
    pub typed: bool,
    /// Which columns travel as text, and which settings their text depends on.
    pub json: &'a WireFormat,
}

#[derive(Template)]
#[template(path = "verify/buckets.sql", escape = "none")]
pub struct VerifyBuckets<'a> {
    pub q: &'a Buckets<'a>,
}

#[derive(Template)]
#[template(path = "verify/rows.sql", escape = "none")]
pub struct VerifyRows<'a> {
    pub q: &'a Buckets<'a>,
}

#[derive(Template)]
#[template(path = "verify/repair_rows.sql", escape = "none")]
pub struct RepairRows<'a> {
    pub q: &'a Buckets<'a>,
}

#[derive(Template)]
#[template(path = "verify/repair_versions.sql", escape = "none")]
pub struct RepairVersions<'a> {
    pub q: &'a Buckets<'a>,
    pub versions: &'a QualifiedName,
}

#[derive(Template)]
#[template(path = "verify/repair_set_versions.sql", escape = "none")]
pub struct RepairSetVersions<'a> {
    pub q: &'a Buckets<'a>,
    pub versions: &'a QualifiedName,
    /// The versions table's columns: the key, then the version's.
    pub all: &'a [Ident],
}

/// The statements that purge the tombstones of a table that several nodes write
/// (commands/purge_tombstones.rs): the table as this node has it, its versions table.
#[derive(Template)]
#[template(path = "tombstones/candidates.sql", escape = "none")]
pub struct TombstoneCandidates<'a> {
    pub q: &'a Buckets<'a>,
    pub versions: &'a QualifiedName,
}

#[derive(Template)]
#[template(path = "tombstones/count.sql", escape = "none")]
pub struct TombstoneCount<'a> {
    pub versions: &'a QualifiedName,
}

#[derive(Template)]
#[template(path = "tombstones/safe.sql", escape = "none")]
pub struct TombstonesSettled<'a> {
    pub q: &'a Buckets<'a>,
    pub versions: &'a QualifiedName,
    pub set_name: &'a Literal,
    /// The versions table's columns: the key, then the version's.
    pub all: &'a [Ident],
}

#[derive(Template)]
#[template(path = "tombstones/delete.sql", escape = "none")]
pub struct TombstonesDelete<'a> {
    pub q: &'a Buckets<'a>,
    pub versions: &'a QualifiedName,
    pub set_name: &'a Literal,
    pub all: &'a [Ident],
}

#[derive(Template)]
#[template(path = "verify/repair_delete.sql", escape = "none")]
pub struct RepairDelete<'a> {
    pub q: &'a Buckets<'a>,
}

#[derive(Template)]
#[template(path = "ship/copy_rows.sql", escape = "none")]
pub struct ShipCopyRows<'a> {
    pub table: &'a QualifiedName,
    /// The table is partitioned on this node: its rows are read through the whole
    /// partition tree, not `only` the table (whose own storage is empty).
    pub partitioned: bool,
    pub key: &'a [Ident],
    pub columns: &'a [Ident],
    pub filter: Option<&'a RowFilter>,
    pub dest: &'a Literal,
    pub ids: &'a Literal,
    /// Which columns travel as text, and which settings their text depends on.
    pub json: &'a WireFormat,
}

#[derive(Template)]
#[template(path = "ship/gone_keys.sql", escape = "none")]
pub struct ShipGoneKeys<'a> {
    pub table: &'a QualifiedName,
    /// The table is partitioned on this node: its rows are read through the whole
    /// partition tree, not `only` the table (whose own storage is empty).
    pub partitioned: bool,
    pub key: &'a [Ident],
    pub filter: Option<&'a RowFilter>,
    /// Which columns travel as text, and which settings their text depends on.
    pub json: &'a WireFormat,
}

#[derive(Template)]
#[template(path = "ship/stage.sql", escape = "none")]
pub struct ShipStage<'a> {
    pub stage: &'a Ident,
    pub table: &'a QualifiedName,
    pub columns: &'a [Ident],
}

#[derive(Template)]
#[template(path = "ship/copy_in.sql", escape = "none")]
pub struct ShipCopyIn<'a> {
    pub stage: &'a Ident,
    pub columns: &'a [Ident],
}

#[derive(Template)]
#[template(path = "table/upsert_rows.sql", escape = "none")]
pub struct UpsertRows<'a> {
    /// The staging table the rows are in; `None`: they are JSON in `$1`.
    pub stage: Option<&'a Ident>,
    pub table: &'a QualifiedName,
    pub key: &'a [Ident],
    pub columns: &'a [Ident],
    pub non_key: &'a [Ident],
    /// Which columns travel as text, and which settings their text depends on.
    pub json: &'a WireFormat,
}

/// Session settings for both ends of a COPY of rows as text.
#[derive(Template)]
#[template(path = "ship/settings.sql", escape = "none")]
pub struct ShipSettings;

#[derive(Template)]
#[template(path = "ship/apply_gone.sql", escape = "none")]
pub struct ShipApplyGone<'a> {
    pub function: &'a Ident,
}

#[derive(Template)]
#[template(path = "init/grants.sql", escape = "none")]
pub struct Grants<'a> {
    pub node: &'a NodeName,
    pub role: &'a Ident,
    pub database: &'a Ident,
    pub peer_role: Option<Ident>,
    pub schemas: &'a [Ident],
    pub tables: &'a [QualifiedName],
}
