//! `lariat graph`: the topology the files declare at a version, or (--live) what the account
//! holds, as Graphviz DOT or Mermaid.

use std::io::Write;

use clap::{Args, ValueEnum};
use lariat::config::Config;
use lariat::migrator::Error;
use lariat::plan::PlanError;
use lariat::{exit, graph, Migrator};

use super::inspect;

/// Arguments of `lariat graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The topology after this version [default: the newest].
    #[arg(long = "version", id = "at_version", value_name = "VERSION")]
    at: Option<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    format: GraphFormat,
    /// Draw what the AWS account holds (this instance, and the custom names the files
    /// declare) instead of the files, so the two can be diffed.
    #[arg(long, conflicts_with = "at_version")]
    live: bool,
    /// Also draw (dashed) the subscriptions lariat derives from topic-to-topic links.
    #[arg(long)]
    derived: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    /// Graphviz DOT.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Runs `lariat graph`.
pub async fn run(args: GraphArgs, config: Config, out: &mut impl Write) -> anyhow::Result<i32> {
    let migrator = Migrator::load(config)?;
    if let Some(v) = args.at {
        if migrator.project.get(v).is_none() {
            return Err(Error::Plan(PlanError::UnknownVersion(v)).into());
        }
    }
    let format = match args.format {
        GraphFormat::Dot => graph::Format::Dot,
        GraphFormat::Mermaid => graph::Format::Mermaid,
    };
    let mut topology = match args.live {
        true => inspect::live_graph(&migrator).await?,
        false => migrator.project.topology_at(args.at),
    };
    if !args.derived {
        topology.derived.clear();
    }
    write!(out, "{}", graph::render(&topology, format))?;
    Ok(exit::OK)
}
