//! `lariat validate`: every migration file checked, its warnings on stderr and a summary of
//! what the files declare.

use std::io::{self, Write};

use lariat::config::Config;
use lariat::{exit, Migrator};

/// Runs `lariat validate`; with `verbose`, also lists the derived subscriptions.
pub fn run(verbose: bool, config: Config, out: &mut impl Write) -> anyhow::Result<i32> {
    let migrator = Migrator::load(config)?;
    print_warnings(&migrator);
    validate_summary(&migrator.project, verbose, out)?;
    Ok(exit::OK)
}

/// The warnings of the migration files, each once, on stderr.
pub fn print_warnings(migrator: &Migrator) {
    for warning in migrator.project.warnings.warnings() {
        eprintln!("{warning}\n");
    }
}

/// `N migrations, M operations: valid`; derived subscriptions are counted apart, and with
/// `verbose` listed with the links they stand for.
fn validate_summary(
    project: &lariat::topology::Project,
    verbose: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    use lariat::topology::Operation;
    let count = project.migrations.len();
    let ops = project.migrations.iter().flat_map(|m| &m.up);
    let derived = |op: &&Operation| {
        matches!(
            op,
            Operation::SubscribeDerived(_)
                | Operation::UnsubscribeDerived(_)
                | Operation::ChangeDerived { .. }
        )
    };
    let derived_ops = ops.clone().filter(derived).count();
    let operations = ops.count() - derived_ops;
    let newest = project.topology_at(None);
    if verbose {
        for d in newest.derived.values() {
            writeln!(
                out,
                "derived: {} ({}): AWS has no topic-to-topic subscription, so lariat subscribes the queue to the upstream topic directly",
                d.subscription.key,
                d.via_text()
            )?;
        }
    }
    match newest.derived.len() {
        0 => writeln!(out, "{count} migrations, {operations} operations: valid"),
        n => writeln!(
            out,
            "{count} migrations, {operations} operations, {n} derived subscriptions: valid"
        ),
    }
}
