//! The fixed session formats under which repsync prints and parses values as
//! text (the wire's JSON, the shipper's COPY, verify's hashes): the same on every
//! node, whatever the nodes' own settings, so equal values print equally. The
//! templates and verify read them from here.

/// `ISO, YMD`: dates and timestamps read back under any DateStyle.
pub const DATESTYLE: &str = "ISO, YMD";
/// `postgres`: an interval printed so reads back with the same sign under any
/// IntervalStyle (sql_standard's does not).
pub const INTERVALSTYLE: &str = "postgres";
/// Any value above 0 prints floats shortest-exact (PostgreSQL 12 and later).
pub const EXTRA_FLOAT_DIGITS: &str = "3";
pub const BYTEA_OUTPUT: &str = "hex";
pub const TIMEZONE: &str = "UTC";
