//! `add-table --conflict POLICY`: how a node settles a change from a peer to a key
//! it changed itself since that peer last saw it.
use crate::config::NodeName;
use crate::error::usage;
use crate::sql::Ident;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// The change repsync captured later wins; equal times go to the greater node name.
    CapturedLater,
    /// The row with the later value of this column wins (then as CapturedLater).
    NewerWins(Ident),
    /// The change made on the node listed first wins (unlisted nodes come last).
    OriginPriority(Vec<NodeName>),
    KeepLocal,
    ApplyRemote,
}

impl ConflictPolicy {
    pub fn parse(text: &str) -> anyhow::Result<ConflictPolicy> {
        let (name, arg) = match text.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (text, None),
        };
        match (name, arg) {
            ("newer-wins", None) => Ok(ConflictPolicy::CapturedLater),
            ("newer-wins", Some(column)) => Ok(ConflictPolicy::NewerWins(Ident::new(column)?)),
            ("origin-priority", Some(list)) => {
                let nodes = list
                    .split(',')
                    .map(|n| NodeName::parse(n.trim()))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                if let Some(twice) = nodes
                    .iter()
                    .enumerate()
                    .find(|(i, n)| nodes[..*i].contains(n))
                {
                    return Err(usage(format!(
                        "--conflict origin-priority names node {} twice",
                        twice.1
                    )));
                }
                Ok(ConflictPolicy::OriginPriority(nodes))
            }
            ("keep-local", None) => Ok(ConflictPolicy::KeepLocal),
            ("apply-remote", None) => Ok(ConflictPolicy::ApplyRemote),
            _ => Err(usage(format!(
                "unknown --conflict policy {text:?}; use newer-wins[:COLUMN], origin-priority:NODE,NODE.., keep-local or apply-remote"
            ))),
        }
    }
}

impl fmt::Display for ConflictPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConflictPolicy::CapturedLater => write!(f, "newer-wins"),
            ConflictPolicy::NewerWins(column) => write!(f, "newer-wins:{}", column.as_str()),
            ConflictPolicy::OriginPriority(nodes) => {
                let names: Vec<&str> = nodes.iter().map(NodeName::as_str).collect();
                write!(f, "origin-priority:{}", names.join(","))
            }
            ConflictPolicy::KeepLocal => write!(f, "keep-local"),
            ConflictPolicy::ApplyRemote => write!(f, "apply-remote"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print_back() {
        for text in [
            "newer-wins",
            "newer-wins:updated_at",
            "origin-priority:a,b,c",
            "keep-local",
            "apply-remote",
        ] {
            assert_eq!(ConflictPolicy::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn bad_policies_are_refused() {
        for text in [
            "",
            "newest",
            "origin-priority",
            "origin-priority:a,a",
            "origin-priority:A",
            "keep-local:x",
        ] {
            assert!(ConflictPolicy::parse(text).is_err(), "{text}");
        }
    }
}
