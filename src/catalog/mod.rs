//! Catalog introspection. The queries live in `src/catalog/*.sql` and take bound
//! parameters only.
//!
//! `tables`: what a table is made of (columns, keys, indexes, shape);
//! `state`: what repsync installed on a node and what it holds (peers, sets,
//! queues, conflicts).
mod state;
mod tables;

pub use state::*;
pub use tables::*;

pub const TABLE_COLUMNS: &str = include_str!("table_columns.sql");
pub const NODE_STATE: &str = include_str!("node_state.sql");
pub const LOCAL_NODE: &str = include_str!("local_node.sql");
pub const REPLICATED_TABLES: &str = include_str!("replicated_tables.sql");
pub const SENDER_SET: &str = include_str!("sender_set.sql");
pub const ROW_FILTER_UNTRUSTED_CALLS: &str = include_str!("row_filter_untrusted_calls.sql");
pub const QUEUES: &str = include_str!("queues.sql");
pub const KEY_SEQUENCE: &str = include_str!("key_sequence.sql");
pub const CONFLICTS: &str = include_str!("conflicts.sql");
pub const CONFLICT_COUNTS: &str = include_str!("conflict_counts.sql");
pub const TABLE_SHAPE: &str = include_str!("table_shape.sql");
pub const PURGE_CONFLICTS: &str = include_str!("purge_conflicts.sql");
pub const UNIQUE_INDEXES: &str = include_str!("unique_indexes.sql");
pub const ROW_SECURITY: &str = include_str!("row_security.sql");
pub const KEY_CHANGE_BLOCKERS: &str = include_str!("key_change_blockers.sql");
pub const SET_QUEUE_DESTS: &str = include_str!("set_queue_dests.sql");
pub const PEERS: &str = include_str!("peers.sql");
pub const FUNCTIONS_PRESENT: &str = include_str!("functions_present.sql");
pub const PEER_MAPPING_MATCHES: &str = include_str!("peer_mapping_matches.sql");
pub const QUEUED_ENTRY: &str = include_str!("queued_entry.sql");
