//! What a table is made of: its columns and key, unique indexes, shape, row
//! security and what blocks a key change.
use anyhow::Context as _;
use postgres::GenericClient;

use super::*;

use crate::sql::{Ident, QualifiedName};

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
