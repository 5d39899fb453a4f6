//! `lariat generate migration` and `lariat import`: the commands that write a migration file,
//! from the template or from what the account holds.

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use lariat::config::Config;
use lariat::naming::Kind;
use lariat::{exit, Migrator};

/// What `lariat generate` creates.
#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// A new migration file: lariat/migrate/<UTC YYYYMMDDHHMMSS>_<NAME>.toml.
    Migration {
        /// snake_case name, e.g. user_created.
        name: String,
    },
}

/// Filters of `lariat import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Only names matching this glob (`*` any characters, `?` one); it may also select names
    /// outside the naming rule or of another instance.
    #[arg(long, value_name = "GLOB")]
    name: Option<String>,
    /// Only events or only commands.
    #[arg(long, value_enum)]
    kind: Option<ImportKind>,
    /// Name of the migration file.
    #[arg(long = "as", default_value = "import", value_name = "NAME")]
    file_name: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ImportKind {
    /// Events.
    Event,
    /// Commands.
    Command,
}

/// Runs `lariat generate`.
pub fn generate(
    command: GenerateCommand,
    config: Config,
    out: &mut impl Write,
) -> anyhow::Result<i32> {
    let GenerateCommand::Migration { name } = command;
    let path = lariat::generate::generate_migration(&config.migrations, &name, chrono::Utc::now())?;
    writeln!(out, "created {}", path.display())?;
    Ok(exit::OK)
}

/// Runs `lariat import`; `publisher` is the one given as a flag or variable, not lariat.toml's.
pub async fn import(
    args: ImportArgs,
    publisher: Option<String>,
    config: Config,
    out: &mut impl Write,
) -> anyhow::Result<i32> {
    let migrator = Migrator::load(config)?;
    let filter = lariat::import::Filter {
        publisher,
        name: args.name,
        kind: args.kind.map(|k| match k {
            ImportKind::Event => Kind::Event,
            ImportKind::Command => Kind::Command,
        }),
    };
    let imported = migrator
        .import(&filter, &args.file_name, chrono::Utc::now())
        .await?;
    writeln!(
        out,
        "imported {} topic(s), {} queue(s), {} subscription(s) into {}\nrecorded version {} as applied; nothing was changed in AWS",
        imported.topics,
        imported.queues,
        imported.subscriptions,
        imported.path.display(),
        imported.version
    )?;
    Ok(exit::OK)
}
