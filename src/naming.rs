//! The names of the objects repsync installs for a replicated table, the same on
//! every node and derived from the source table's name alone.
use crate::sql::{Ident, QualifiedName};

/// The name of a replicated table's objects, the same on every node: derived from
/// the source table's name, short enough for any identifier, unique per table.
/// The digest is of `schema.table` as written in SQL with a part quoted only when it
/// holds a dot, so `"a.b".c` and `a."b.c"` differ while every name without a dot
/// keeps the set name earlier versions gave it.
pub fn set_name(source: &QualifiedName) -> String {
    let part = |i: &Ident| {
        if i.as_str().contains('.') {
            i.to_string()
        } else {
            i.as_str().to_string()
        }
    };
    let written = format!("{}.{}", part(&source.schema), part(&source.name));
    format!(
        "t_{}",
        &crate::fingerprint::md5_hex(written.as_bytes())[..20]
    )
}

pub fn capture_function(set_name: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("capture_{set_name}"))
}

pub fn current_function(set_name: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("current_{set_name}"))
}

pub fn apply_function(set_name: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("apply_{set_name}"))
}

/// The columns a versions table holds beside the table's key (templates/table/versions.sql).
pub const VERSION_COLUMNS: [&str; 6] = [
    "repsync_at",
    "repsync_origin",
    "repsync_base_at",
    "repsync_base_origin",
    "repsync_deleted",
    "repsync_rank",
];

pub fn versions_table(set_name: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("versions_{set_name}"))
}

/// The temporary table on the destination that the shipper's COPY fills.
pub fn staging_table(set_name: &str) -> anyhow::Result<Ident> {
    Ident::new(format!("repsync_stage_{set_name}"))
}
