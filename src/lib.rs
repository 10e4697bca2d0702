//! repsync: table-level PostgreSQL replication built from triggers, PL/pgSQL and dblink.
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod config;
pub mod db;
pub mod drain;
pub mod error;
pub mod fingerprint;
pub mod formats;
pub mod local_cluster;
pub mod model;
pub mod naming;
pub mod password;
pub mod policy;
pub mod render;
pub mod shipping;
pub mod sql;
