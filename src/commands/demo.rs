//! `repsync demo`: three throwaway local nodes, multi-master on a sample table.
use super::Context;
use crate::cli::DemoArgs;

pub fn run(_args: DemoArgs, _ctx: &Context) -> anyhow::Result<()> {
    anyhow::bail!("demo: not built yet")
}
