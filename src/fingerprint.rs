//! Short stable digests: object names derived from table names, and install fingerprints.
use md5::{Digest, Md5};

pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
