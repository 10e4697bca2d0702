//! Passwords the libpq way.
//!
//! The node file holds no passwords, so repsync looks where PostgreSQL users already
//! keep them (PGPASSWORD, the password file) and only then asks.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::Context;

const MASK: &str = "********";

/// PGPASSWORD, then the password file (PGPASSFILE, else ~/.pgpass), with libpq's
/// matching rules so an existing file works unchanged.
pub fn lookup(host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    // libpq treats an empty PGPASSWORD as unset.
    if let Some(password) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
        return Some(password);
    }
    let contents = read_passfile(&passfile_path()?)?;
    lookup_in(&contents, host, port, dbname, user)
}

/// `lookup`, else a hidden prompt when someone is at the keyboard. Without a terminal
/// it returns `None` rather than blocking a script; the connection then fails with the
/// server's own authentication error.
pub fn obtain(
    node: &str,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> anyhow::Result<Option<String>> {
    if let Some(password) = lookup(host, port, dbname, user) {
        return Ok(Some(password));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(None);
    }
    // dialoguer appends ": " to the prompt.
    let password = dialoguer::Password::new()
        .with_prompt(format!("Password for {user}@{node}"))
        .allow_empty_password(true)
        .interact()
        .with_context(|| format!("cannot read the password for {user}@{node}"))?;
    // An empty answer means "no password", e.g. for trust or peer authentication.
    Ok(Some(password).filter(|p| !p.is_empty()))
}

/// Replaces every known secret in `text` so dry-run output and error messages can be
/// shown or logged safely.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    // Longest first: a secret containing a shorter one must be masked whole, not left
    // partly visible around the shorter one's mask.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
        .into_iter()
        .fold(text.to_owned(), |text, secret| text.replace(secret, MASK))
}

fn passfile_path() -> Option<PathBuf> {
    match std::env::var_os("PGPASSFILE") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => std::env::home_dir().map(|home| home.join(".pgpass")),
    }
}

/// Reads the password file unless libpq would refuse it. A missing file is normal and
/// silent; a refused one is reported once, since every node looks it up again.
fn read_passfile(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        warn_once(format!(
            "password file \"{}\" is not a plain file; ignoring it",
            path.display()
        ));
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            warn_once(format!(
                "password file \"{}\" has group or world access; permissions should be u=rw \
                 (0600) or less; ignoring it",
                path.display()
            ));
            return None;
        }
    }
    match std::fs::read_to_string(path) {
        Ok(contents) => Some(contents),
        Err(e) => {
            warn_once(format!(
                "cannot read password file \"{}\": {e}; ignoring it",
                path.display()
            ));
            None
        }
    }
}

fn warn_once(message: String) {
    static WARNED: Once = Once::new();
    WARNED.call_once(|| eprintln!("warning: {message}"));
}

/// The password-file lookup on given contents, kept free of the environment so it can
/// be tested. Follows libpq: `host:port:database:username:password` per line, `*`
/// matches anything, `\` escapes `:` and `\`, lines starting with `#` and lines with
/// fewer than five fields are skipped, and the first matching line wins.
pub(crate) fn lookup_in(
    contents: &str,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Option<String> {
    let port = port.to_string();
    // libpq reads "no host" and its default socket directory as `localhost`. Its
    // compiled-in socket directory differs between builds (/tmp, /var/run/postgresql),
    // so any socket directory matches `localhost` here, as well as its own path.
    let host = if host.is_empty() { "localhost" } else { host };
    let socket = host.starts_with('/');
    let host_matches =
        |field: &Field| field.matches(host) || (socket && field.matches("localhost"));

    let line = contents
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(split_fields)
        .find(|f| {
            f.len() >= 5
                && host_matches(&f[0])
                && f[1].matches(&port)
                && f[2].matches(dbname)
                && f[3].matches(user)
        })?;
    // The first match wins even when its password is empty; libpq would then send no
    // password, which `None` expresses.
    Some(line[4].value.clone()).filter(|p| !p.is_empty())
}

struct Field {
    value: String,
    /// Only an unescaped, lone `*` is a wildcard; `\*` is a literal star.
    wildcard: bool,
}

impl Field {
    fn matches(&self, s: &str) -> bool {
        self.wildcard || self.value == s
    }
}

/// Splits a line at unescaped `:` and removes the escapes. Anything after a fifth
/// field is ignored by the caller, as libpq ends the password at an unescaped `:`.
fn split_fields(line: &str) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut value = String::new();
    let mut start = 0;
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            // A trailing backslash has nothing to escape and stays literal.
            '\\' => value.push(chars.next().map_or('\\', |(_, next)| next)),
            ':' => {
                fields.push(Field {
                    wildcard: &line[start..i] == "*",
                    value: std::mem::take(&mut value),
                });
                start = i + 1;
            }
            _ => value.push(c),
        }
    }
    fields.push(Field {
        wildcard: &line[start..] == "*",
        value,
    });
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(contents: &str, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
        lookup_in(contents, host, port, dbname, user)
    }

    #[test]
    fn exact_match() {
        let file = "db1:5432:app:admin:s3cret\n";
        assert_eq!(
            find(file, "db1", 5432, "app", "admin").as_deref(),
            Some("s3cret")
        );
        assert_eq!(find(file, "db2", 5432, "app", "admin"), None);
        assert_eq!(find(file, "db1", 5433, "app", "admin"), None);
        assert_eq!(find(file, "db1", 5432, "other", "admin"), None);
        assert_eq!(find(file, "db1", 5432, "app", "bob"), None);
        assert_eq!(find("", "db1", 5432, "app", "admin"), None);
    }

    #[test]
    fn wildcards_in_each_field() {
        for line in [
            "*:5432:app:admin:pw",
            "db1:*:app:admin:pw",
            "db1:5432:*:admin:pw",
            "db1:5432:app:*:pw",
            "*:*:*:*:pw",
        ] {
            assert_eq!(
                find(line, "db1", 5432, "app", "admin").as_deref(),
                Some("pw"),
                "{line}"
            );
        }
        // Only a lone, unescaped `*` is a wildcard.
        assert_eq!(
            find("db*:5432:app:admin:pw", "db1", 5432, "app", "admin"),
            None
        );
        assert_eq!(
            find("\\*:5432:app:admin:pw", "db1", 5432, "app", "admin"),
            None
        );
        assert_eq!(
            find("\\*:5432:app:admin:pw", "*", 5432, "app", "admin").as_deref(),
            Some("pw")
        );
    }

    #[test]
    fn first_match_wins() {
        let file = "db1:5432:app:admin:first\n*:*:*:*:fallback\ndb1:5432:app:admin:second\n";
        assert_eq!(
            find(file, "db1", 5432, "app", "admin").as_deref(),
            Some("first")
        );
        assert_eq!(find(file, "db9", 1, "x", "y").as_deref(), Some("fallback"));
        // An empty password on the first match stops the search, as in libpq.
        let file = "db1:5432:app:admin:\n*:*:*:*:fallback\n";
        assert_eq!(find(file, "db1", 5432, "app", "admin"), None);
    }

    #[test]
    fn comments_blank_and_short_lines_are_skipped() {
        let file = "# db1:5432:app:admin:commented\n\n\
                    db1:5432:app:admin\n\
                    db1:5432\n\
                    garbage\n  # not a comment, but too short\n\
                    db1:5432:app:admin:real\n";
        assert_eq!(
            find(file, "db1", 5432, "app", "admin").as_deref(),
            Some("real")
        );
        // A `#` is only a comment at the very start of the line.
        let file = " #:5432:app:admin:odd\n";
        assert_eq!(
            find(file, " #", 5432, "app", "admin").as_deref(),
            Some("odd")
        );
    }

    #[test]
    fn escapes() {
        // An IPv6 host and a password containing `:` and `\`.
        let file = "\\:\\:1:5432:app:admin:a\\:b\\\\c\n";
        assert_eq!(
            find(file, "::1", 5432, "app", "admin").as_deref(),
            Some("a:b\\c")
        );
        // Escaped characters in the database and user fields.
        let file = "db1:5432:we\\:ird:do\\\\main:pw\n";
        assert_eq!(
            find(file, "db1", 5432, "we:ird", "do\\main").as_deref(),
            Some("pw")
        );
        // The password ends at an unescaped `:`; a trailing backslash stays literal.
        let file = "db1:5432:app:admin:pass:ignored\n*:*:*:*:end\\";
        assert_eq!(
            find(file, "db1", 5432, "app", "admin").as_deref(),
            Some("pass")
        );
        assert_eq!(
            find(file, "db2", 5432, "app", "admin").as_deref(),
            Some("end\\")
        );
    }

    #[test]
    fn windows_line_endings() {
        let file = "db1:5432:app:admin:pw\r\nother:5432:app:admin:pw2\r\n";
        assert_eq!(
            find(file, "db1", 5432, "app", "admin").as_deref(),
            Some("pw")
        );
        assert_eq!(
            find(file, "other", 5432, "app", "admin").as_deref(),
            Some("pw2")
        );
    }

    #[test]
    fn local_connections_match_localhost() {
        let file = "localhost:5432:app:admin:local\n";
        for host in ["", "/var/run/postgresql", "/tmp", "localhost"] {
            assert_eq!(
                find(file, host, 5432, "app", "admin").as_deref(),
                Some("local"),
                "{host:?}"
            );
        }
        assert_eq!(find(file, "db1", 5432, "app", "admin"), None);
        // The socket directory itself also matches.
        let file = "/tmp/sock:5432:app:admin:bypath\n";
        assert_eq!(
            find(file, "/tmp/sock", 5432, "app", "admin").as_deref(),
            Some("bypath")
        );
    }

    #[cfg(unix)]
    #[test]
    fn passfile_permissions() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_passfile(&path).as_deref(), Some("*:*:*:*:pw\n"));
        for mode in [0o640, 0o604, 0o660, 0o644] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_passfile(&path), None, "{mode:o}");
        }
        assert_eq!(read_passfile(&dir.path().join("absent")), None);
        assert_eq!(read_passfile(dir.path()), None);
    }

    #[test]
    fn mask_secrets() {
        let secrets = ["s3cret".to_string(), String::new(), "s3".to_string()];
        assert_eq!(
            mask("user=a password=s3cret; again s3cret, s3", &secrets),
            "user=a password=********; again ********, ********"
        );
        assert_eq!(mask("nothing here", &[]), "nothing here");
        assert_eq!(mask("abc", &[String::new()]), "abc");
    }
}
