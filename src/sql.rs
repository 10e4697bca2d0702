//! The only way text enters SQL: identifiers and literals are escaped here, with
//! postgres-protocol's escaping, and nowhere else.
use std::fmt;

use postgres_protocol::escape::{escape_identifier, escape_literal};

use crate::error::usage;

/// A PostgreSQL identifier as stored in the catalog (unquoted, case preserved).
/// `Display` renders it quoted, so it can be pasted into SQL as is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Ident(String);

impl Ident {
    /// An identifier taken from the catalog or already unquoted.
    pub fn new(raw: impl Into<String>) -> anyhow::Result<Ident> {
        let raw = raw.into();
        if raw.is_empty() {
            return Err(usage("an identifier cannot be empty"));
        }
        if raw.len() > 63 {
            return Err(usage(format!(
                "identifier {} is longer than PostgreSQL's 63-byte limit",
                escape_identifier(&raw)
            )));
        }
        if raw.contains('\0') {
            return Err(usage("an identifier cannot contain a NUL character"));
        }
        Ok(Ident(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape_identifier(&self.0))
    }
}

/// `schema.table`, each part an [`Ident`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct QualifiedName {
    pub schema: Ident,
    pub name: Ident,
}

impl QualifiedName {
    pub fn new(schema: Ident, name: Ident) -> QualifiedName {
        QualifiedName { schema, name }
    }

    /// Parses a name written as in SQL: `t`, `s.t`, `"My Schema"."T"`. Unquoted parts
    /// fold to lower case as PostgreSQL folds them; no schema means `public`.
    pub fn parse(text: &str) -> anyhow::Result<QualifiedName> {
        let parts = split_sql_name(text)?;
        match parts.as_slice() {
            [name] => Ok(QualifiedName::new(
                Ident::new("public")?,
                Ident::new(name.clone())?,
            )),
            [schema, name] => Ok(QualifiedName::new(
                Ident::new(schema.clone())?,
                Ident::new(name.clone())?,
            )),
            _ => Err(usage(format!(
                "{text:?} is not a table name: write it as TABLE or SCHEMA.TABLE, quoting parts with double quotes where needed"
            ))),
        }
    }

    /// The unquoted `schema.table` form, for messages and catalog keys.
    pub fn plain(&self) -> String {
        format!("{}.{}", self.schema.as_str(), self.name.as_str())
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// A string constant. `Display` renders it as a quoted SQL literal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Literal(String);

impl Literal {
    pub fn new(value: impl Into<String>) -> Literal {
        Literal(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape_literal(&self.0))
    }
}

/// A boolean SQL expression given by the operator (`--where`). It cannot be quoted,
/// so it is only ever accepted after PostgreSQL has parsed and type-checked it
/// on its own (see `catalog::check_row_filter`); its text is kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowFilter(String);

impl RowFilter {
    pub fn parse(text: &str) -> anyhow::Result<RowFilter> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(usage(
                "--where needs an expression, for example --where \"region = 'eu'\"",
            ));
        }
        if trimmed.contains(';') && !balanced_outside_quotes(trimmed) {
            return Err(usage(format!(
                "--where {trimmed:?}: a row filter is one expression, not statements"
            )));
        }
        Ok(RowFilter(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RowFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Own lines, so that a trailing `--` comment cannot swallow what follows.
        write!(f, "(\n{}\n)", self.0)
    }
}

/// True when every `;` is inside a quoted string or identifier.
fn balanced_outside_quotes(text: &str) -> bool {
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => return false,
            _ => {}
        }
    }
    true
}

fn split_sql_name(text: &str) -> anyhow::Result<Vec<String>> {
    let bad = || {
        usage(format!(
            "{text:?} is not a valid name: write TABLE or SCHEMA.TABLE; quote parts with \" when they hold capitals, spaces or dots"
        ))
    };
    let mut parts = Vec::new();
    let mut chars = text.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err(bad()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if !(c.is_alphanumeric() || c == '_' || c == '$') {
                    return Err(bad());
                }
                part.extend(c.to_lowercase());
                chars.next();
            }
            if part.is_empty()
                || part.starts_with('$')
                || part.starts_with(|c: char| c.is_ascii_digit())
            {
                return Err(bad());
            }
        }
        parts.push(part);
        match chars.next() {
            None => return Ok(parts),
            Some('.') => continue,
            Some(_) => return Err(bad()),
        }
    }
}

/// Picks a dollar-quote tag that does not occur in `body`, so no value or name
/// inside a function body can close it.
pub fn dollar_tag(body: &str) -> String {
    (0..)
        .map(|i| {
            if i == 0 {
                "$repsync$".to_string()
            } else {
                format!("$repsync{i}$")
            }
        })
        .find(|tag| !body.contains(tag.as_str()))
        .expect("an unused tag exists")
}

/// Parses a comma-separated list of column names written as in SQL.
pub fn parse_ident_list(text: &str) -> anyhow::Result<Vec<Ident>> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let (part, tail) = split_first_item(rest);
        let names = split_sql_name(part)?;
        match names.as_slice() {
            [name] => out.push(Ident::new(name.clone())?),
            _ => return Err(usage(format!("{part:?} is not a column name"))),
        }
        rest = tail.trim_start();
    }
    if out.is_empty() {
        return Err(usage("--columns needs at least one column"));
    }
    Ok(out)
}

/// Splits at the first comma outside double quotes.
fn split_first_item(text: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => return (text[..i].trim(), &text[i + 1..]),
            _ => {}
        }
    }
    (text.trim(), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_quoted_names() {
        assert_eq!(
            QualifiedName::parse("Orders").unwrap().to_string(),
            r#""public"."orders""#
        );
        let q = QualifiedName::parse(r#""My ""Schema"".x"."T a""#).unwrap();
        assert_eq!(q.schema.as_str(), r#"My "Schema".x"#);
        assert_eq!(q.name.as_str(), "T a");
        assert_eq!(q.to_string(), r#""My ""Schema"".x"."T a""#);
    }

    #[test]
    fn refuses_malformed_names() {
        for bad in [
            "",
            "a.b.c",
            "a b",
            "\"open",
            "a;drop table x",
            "a.",
            ".a",
            "1abc",
        ] {
            assert!(QualifiedName::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn literal_escapes_quotes_and_backslashes() {
        assert_eq!(Literal::new("it's").to_string(), "'it''s'");
        assert_eq!(Literal::new(r"a\b").to_string(), r" E'a\\b'");
    }

    #[test]
    fn dollar_tag_avoids_body_content() {
        assert_eq!(dollar_tag("select 1"), "$repsync$");
        assert_eq!(dollar_tag("x $repsync$ y"), "$repsync1$");
    }

    #[test]
    fn row_filter_refuses_statements() {
        assert!(RowFilter::parse("a = 1; drop table t").is_err());
        assert!(RowFilter::parse("a = ';'").is_ok());
        assert!(RowFilter::parse("  ").is_err());
    }
}
