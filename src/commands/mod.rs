//! One module per subcommand, each a `run(args, ctx)`; shared plumbing here.
use std::io::IsTerminal;
use std::path::PathBuf;

use postgres::Client;

use crate::cli::{Cli, Command};
use crate::config::{Config, Node, NodeName};
use crate::db;
use crate::error::usage;

pub mod add_table;
pub mod conflicts;
pub mod copy_from;
pub mod demo;
pub mod drain_errors;
pub mod init;
pub mod purge_tombstones;
pub mod remove_table;
pub mod repair;
pub mod run;
pub mod status;
pub mod uninstall;
pub mod verify;

pub struct Context {
    pub config_path: Option<PathBuf>,
}

impl Context {
    pub fn config(&self) -> anyhow::Result<Config> {
        Config::load(self.config_path.as_deref())
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context {
        config_path: cli.config,
    };
    match cli.command {
        Command::Init(args) => init::run(args, &ctx),
        Command::AddTable(args) => add_table::run(args, &ctx),
        Command::RemoveTable(args) => remove_table::run(args, &ctx),
        Command::DrainErrors(args) => drain_errors::run(args, &ctx),
        Command::Run(args) => run::run(args, &ctx),
        Command::Status(args) => status::run(args, &ctx),
        Command::Verify(args) => verify::run(args, &ctx),
        Command::Repair(args) => repair::run(args, &ctx),
        Command::Conflicts(args) => conflicts::run(args, &ctx),
        Command::PurgeTombstones(args) => purge_tombstones::run(args, &ctx),
        Command::Uninstall(args) => uninstall::run(args, &ctx),
        Command::Demo(args) => demo::run(args, &ctx),
    }
}

/// Names the node in an error that does not already: a server error alone
/// ("permission denied for schema repsync") does not say where it happened.
pub fn on_node<T>(node: &NodeName, result: anyhow::Result<T>) -> anyhow::Result<T> {
    result.map_err(|err| {
        if err.to_string().starts_with(&format!("node {node}")) {
            err
        } else {
            err.context(format!("node {node}"))
        }
    })
}

/// A node and an open connection to it.
pub struct Connected {
    pub node: Node,
    pub client: Client,
}

/// Connects to every node or to none: an unreachable node is a configuration error,
/// reported before anything is changed anywhere.
pub fn connect_all(nodes: &[&Node]) -> anyhow::Result<Vec<Connected>> {
    nodes
        .iter()
        .map(|node| {
            let client = db::connect(node).map_err(|err| usage(format!("{err:#}")))?;
            Ok(Connected {
                node: (*node).clone(),
                client,
            })
        })
        .collect()
}

/// Runs each node's SQL in one transaction per node and commits only when every
/// node succeeded (see [`all_or_nothing`] for a commit that fails).
pub fn execute_all(
    conns: &mut [Connected],
    plans: &[(usize, String)],
    what: &str,
) -> anyhow::Result<()> {
    let nodes: Vec<usize> = plans.iter().map(|(index, _)| *index).collect();
    all_or_nothing(conns, &nodes, what, |k, client| {
        client.batch_execute(&plans[k].1)
    })
}

/// Runs `work` on each node of `nodes` (indexes into `conns`; `work` gets the
/// position in `nodes`) in one transaction per node, and commits only when every
/// node succeeded, so a failure of the work leaves every node as it was. The
/// commits go one node after another, in the order of `nodes`: a commit that fails
/// leaves the nodes before it committed and rolls back the rest, and the error
/// says which are which. Each command's SQL is written to be run again over such
/// a state (see ARCHITECTURE.md, "Commits across nodes").
pub fn all_or_nothing(
    conns: &mut [Connected],
    nodes: &[usize],
    what: &str,
    mut work: impl FnMut(usize, &mut Client) -> Result<(), postgres::Error>,
) -> anyhow::Result<()> {
    let mut begun = Vec::new();
    let mut failure = None;
    for (k, index) in nodes.iter().enumerate() {
        let conn = &mut conns[*index];
        begun.push(*index);
        let result = conn
            .client
            .batch_execute("begin")
            .and_then(|_| work(k, &mut conn.client));
        if let Err(err) = result {
            let next = if err.code() == Some(&postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
                ". `repsync init --print-grants` shows what each node's role needs"
            } else {
                ""
            };
            failure = Some(anyhow::anyhow!(
                "node {}: {what} failed: {}. Nothing was changed on any node{next}",
                conn.node.name,
                db::error_text(&err).trim_end_matches('.')
            ));
            break;
        }
    }
    if let Some(err) = failure {
        for index in begun {
            let _ = conns[index].client.batch_execute("rollback");
        }
        return Err(err);
    }
    let mut committed: Vec<String> = Vec::new();
    for (position, index) in begun.iter().enumerate() {
        let conn = &mut conns[*index];
        let Err(err) = conn.client.batch_execute("commit") else {
            committed.push(conn.node.name.to_string());
            continue;
        };
        let failed = conn.node.name.to_string();
        // The server answered: the transaction is rolled back. No answer (the
        // connection broke): the commit may still have happened there.
        let outcome = if err.as_db_error().is_some() {
            format!("not committed on node {failed}")
        } else {
            format!("node {failed} may or may not have committed")
        };
        let mut rolled_back = Vec::new();
        for later in &begun[position + 1..] {
            let _ = conns[*later].client.batch_execute("rollback");
            rolled_back.push(format!("node {}", conns[*later].node.name));
        }
        let mut state = Vec::new();
        if !committed.is_empty() {
            state.push(format!("committed on node {}", committed.join(", node ")));
        }
        state.push(outcome);
        if !rolled_back.is_empty() {
            state.push(format!("rolled back on {}", rolled_back.join(", ")));
        }
        let next = if committed.is_empty() && err.as_db_error().is_some() {
            "nothing was changed on any node".to_string()
        } else {
            "run the same command again to bring the other nodes to the same state".to_string()
        };
        let mut state = state.join("; ");
        if let Some(first) = state.get(0..1) {
            state = first.to_uppercase() + &state[1..];
        }
        return Err(anyhow::anyhow!(
            "node {failed}: commit of {what} failed: {}. {state}: {next}",
            db::error_text(&err).trim_end_matches('.')
        ));
    }
    Ok(())
}

/// The SQL each node would run. It holds no password (init passes them as bound
/// parameters), so it prints as it is.
pub fn print_dry_run(conns: &[Connected], plans: &[(usize, String)]) {
    for (index, sql) in plans {
        println!("-- node {}", conns[*index].node.name);
        println!("{sql}");
    }
}

/// The end of the commands that remove things: print the SQL for a dry run, else
/// ask, then run every node's SQL all-or-nothing. True when it ran.
pub fn remove_after_confirmation(
    conns: &mut [Connected],
    plans: &[(usize, String)],
    dry_run: bool,
    prompt: &str,
    yes: bool,
    what: &str,
) -> anyhow::Result<bool> {
    if dry_run {
        print_dry_run(conns, plans);
        return Ok(false);
    }
    if !confirm(prompt, yes)? {
        println!("nothing removed");
        return Ok(false);
    }
    execute_all(conns, plans, what)?;
    Ok(true)
}

/// Asks on a terminal; without one, `--yes` is required.
pub fn confirm(prompt: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "{prompt}: no terminal to ask on; pass --yes to go ahead"
        )));
    }
    Ok(dialoguer::Confirm::new()
        .with_prompt(prompt)
        .default(false)
        .interact()?)
}
