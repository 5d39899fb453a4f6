//! `lariat list`, `lariat graph --live` and `lariat drift`: what the account holds, printed as
//! tables, DOT or a drift report (or JSON).

use std::future::Future;
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use lariat::aws::Aws;
use lariat::config::Config;
use lariat::inspect::{
    self, DriftReport, Filter, Listing, Progress, ResourceRow, SubscriptionRow, What,
};
use lariat::naming::{Kind, ParsedName};
use lariat::{exit, Migrator};

/// Arguments of `lariat list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// What to list.
    #[arg(value_enum)]
    what: ListWhat,
    /// Only names of this kind. --instance and --publisher (or LARIAT_INSTANCE and
    /// LARIAT_PUBLISHER, not lariat.toml) filter too.
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    /// Machine-readable output: a JSON array.
    #[arg(long)]
    json: bool,
}

/// Arguments of `lariat drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Machine-readable output: a JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListWhat {
    /// SNS topics.
    Topics,
    /// SQS queues.
    Queues,
    /// SNS subscriptions (topic → endpoint).
    Subscriptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum KindArg {
    /// Event topics and queues.
    Event,
    /// Command topics and queues.
    Command,
}

/// The name parts given as flags or `LARIAT_*` variables, before lariat.toml is merged in:
/// `list` covers the whole account unless asked to narrow it.
#[derive(Debug, Clone, Default)]
pub struct NameFlags {
    instance: Option<String>,
    pub(crate) publisher: Option<String>,
}

impl NameFlags {
    /// Takes `--instance` and `--publisher` from the global options.
    pub fn of(args: &crate::ConfigArgs) -> NameFlags {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        NameFlags {
            instance: given(&args.instance),
            publisher: given(&args.publisher),
        }
    }
}

/// `lariat list topics|queues|subscriptions`.
pub async fn list(
    args: ListArgs,
    names: NameFlags,
    config: Config,
    out: &mut impl Write,
) -> anyhow::Result<i32> {
    let filter = Filter {
        instance: names.instance,
        publisher: names.publisher,
        kind: args.kind.map(|k| match k {
            KindArg::Event => Kind::Event,
            KindArg::Command => Kind::Command,
        }),
    };
    let what = match args.what {
        ListWhat::Topics => What::Topics,
        ListWhat::Queues => What::Queues,
        ListWhat::Subscriptions => What::Subscriptions,
    };
    let aws = Aws::connect(&config.aws).await?;
    let progress = Progress::default();
    let mut listing =
        with_progress(&progress, inspect::list(&aws, what, &filter, &progress)).await?;
    // without a valid project folder there is nothing derived to mark
    if let Ok(migrator) = Migrator::load(config) {
        inspect::mark_via(&mut listing, &migrator.project.topology_at(None));
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &listing)?;
        writeln!(out)?;
    } else {
        print_listing(out, &listing)?;
    }
    Ok(exit::OK)
}

/// The live topology for `lariat graph --live`.
pub async fn live_graph(migrator: &Migrator) -> anyhow::Result<lariat::topology::Topology> {
    let progress = Progress::default();
    Ok(with_progress(&progress, inspect::live_graph(migrator, &progress)).await?)
}

/// `lariat drift`: exit 0 in sync, 2 on drift.
pub async fn drift(args: DriftArgs, config: Config, out: &mut impl Write) -> anyhow::Result<i32> {
    let migrator = Migrator::load(config)?;
    super::validate::print_warnings(&migrator);
    let progress = Progress::default();
    let report = with_progress(&progress, inspect::drift_of(&migrator, &progress)).await?;
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        print_drift(out, &report)?;
    }
    Ok(if report.in_sync {
        exit::OK
    } else {
        exit::DIFFERENCES
    })
}

/// Runs `work`, showing its counts on one stderr line after half a second when stderr is a
/// terminal; the line is cleared when the work ends.
async fn with_progress<T>(progress: &Progress, work: impl Future<Output = T>) -> T {
    let terminal = io::stderr().is_terminal();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut shown = false;
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => {
                if shown {
                    eprint!("\r\x1b[2K");
                }
                return result;
            }
            _ = tick.tick() => {
                if terminal && started.elapsed() > Duration::from_millis(500) {
                    eprint!("\r\x1b[2K{}", progress_line(progress));
                    shown = true;
                }
            }
        }
    }
}

fn progress_line(progress: &Progress) -> String {
    let p = progress.snapshot();
    let mut line = format!(
        "reading the account: {} topics, {} queues, {} subscriptions",
        p.topics, p.queues, p.subscriptions
    );
    if p.to_describe > 0 {
        line.push_str(&format!("; attributes {}/{}", p.described, p.to_describe));
    }
    line
}

fn print_listing(out: &mut impl Write, listing: &Listing) -> io::Result<()> {
    match listing {
        Listing::Topics(rows) => print_resources(out, rows, "topic", false),
        Listing::Queues(rows) => print_resources(out, rows, "queue", true),
        Listing::Subscriptions(rows) => print_subscriptions(out, rows),
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// Writes rows as columns padded to their widest cell, two spaces apart.
fn print_table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        text.trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn print_resources(
    out: &mut impl Write,
    rows: &[ResourceRow],
    noun: &str,
    dest: bool,
) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "no {noun}s");
    }
    let mut header = vec!["NAME", "INSTANCE", "KIND", "PUBLISHER", "TYPE"];
    if dest {
        header.push("DEST");
    }
    header.push("FIFO");
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.name.clone()];
            match &row.naming {
                ParsedName::Standard(p) => {
                    cells.extend([
                        p.instance.clone(),
                        p.kind.to_string(),
                        p.publisher.clone(),
                        p.message_type.clone(),
                    ]);
                    if dest {
                        cells.push(p.dest.clone().unwrap_or_else(|| "-".into()));
                    }
                }
                ParsedName::Custom { .. } => {
                    cells.push("custom".into());
                    cells.extend(std::iter::repeat_n(
                        "-".to_owned(),
                        if dest { 4 } else { 3 },
                    ));
                }
            }
            cells.push(yes_no(row.naming.fifo()).into());
            cells
        })
        .collect();
    print_table(out, &header, &table)?;
    let custom = rows.iter().filter(|r| r.naming.parts().is_none()).count();
    let plural = if rows.len() == 1 { "" } else { "s" };
    writeln!(out, "\n{} {noun}{plural} ({custom} custom)", rows.len())
}

fn print_subscriptions(out: &mut impl Write, rows: &[SubscriptionRow]) -> io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "no subscriptions");
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|s| {
            vec![
                s.topic.clone(),
                format!("→ {}", s.endpoint),
                s.protocol.clone(),
                match s.raw_message_delivery {
                    Some(raw) => yes_no(raw).into(),
                    None => "-".into(),
                },
                yes_no(s.filter_policy).into(),
                match (&s.via, s.pending_confirmation) {
                    (_, true) => "pending confirmation".into(),
                    (Some(via), false) => via.clone(),
                    (None, false) => String::new(),
                },
            ]
        })
        .collect();
    print_table(
        out,
        &["TOPIC", "  ENDPOINT", "PROTOCOL", "RAW", "FILTER", ""],
        &table,
    )?;
    let plural = if rows.len() == 1 { "" } else { "s" };
    writeln!(out, "\n{} subscription{plural}", rows.len())
}

fn print_drift(out: &mut impl Write, report: &DriftReport) -> io::Result<()> {
    let instance = report.instance.as_deref().unwrap_or("?");
    let against = match report.version {
        Some(v) => format!("applied version {v}"),
        None => "nothing applied (an empty topology)".to_owned(),
    };
    if report.in_sync {
        return writeln!(
            out,
            "in sync: the account matches {against} (instance {instance})"
        );
    }
    let drift = &report.drift;
    writeln!(
        out,
        "drift: the account differs from {against} (instance {instance})"
    )?;
    if !drift.unexpected.is_empty() {
        writeln!(out, "\nunexpected (in the account, not in the migrations):")?;
        for r in &drift.unexpected {
            writeln!(out, "  + {r}")?;
        }
    }
    if !drift.missing.is_empty() {
        writeln!(out, "\nmissing (in the migrations, not in the account):")?;
        for r in &drift.missing {
            writeln!(out, "  - {r}")?;
        }
    }
    if !drift.missing_external.is_empty() {
        writeln!(
            out,
            "\nmissing external (another service's, which its migrations create):"
        )?;
        for r in &drift.missing_external {
            writeln!(out, "  - {r}")?;
        }
    }
    if !drift.differing.is_empty() {
        writeln!(out, "\ndiffering:")?;
        for d in &drift.differing {
            writeln!(out, "  ~ {}", d.resource)?;
            for difference in &d.differences {
                writeln!(out, "      {difference}")?;
            }
        }
    }
    let external = match drift.missing_external.len() {
        0 => String::new(),
        n => format!(", {n} missing external"),
    };
    writeln!(
        out,
        "\n{} unexpected, {} missing, {} differing{external}",
        drift.unexpected.len(),
        drift.missing.len(),
        drift.differing.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lariat::naming::{self, ResourceKind};

    fn row(name: &str) -> ResourceRow {
        ResourceRow {
            name: name.into(),
            naming: naming::parse(ResourceKind::Queue, name),
        }
    }

    #[test]
    fn queue_table_is_aligned_and_marks_custom_names() {
        let mut out = Vec::new();
        let rows = [
            row("legacy-orders.fifo"),
            row("test-event-queue-any-all-statistic"),
        ];
        print_listing(&mut out, &Listing::Queues(rows.to_vec())).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "\
NAME                                INSTANCE  KIND   PUBLISHER  TYPE  DEST       FIFO
legacy-orders.fifo                  custom    -      -          -     -          yes
test-event-queue-any-all-statistic  test      event  any        all   statistic  no

2 queues (1 custom)
"
        );
    }

    #[test]
    fn subscription_table() {
        let mut out = Vec::new();
        let rows = vec![SubscriptionRow {
            topic: "t".into(),
            endpoint: "q".into(),
            protocol: "sqs".into(),
            raw_message_delivery: Some(true),
            filter_policy: false,
            pending_confirmation: false,
            subscription_arn: "arn".into(),
            via: None,
        }];
        print_listing(&mut out, &Listing::Subscriptions(rows)).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "TOPIC    ENDPOINT  PROTOCOL  RAW  FILTER\nt      → q         sqs       yes  no\n\n1 subscription\n"
        );
    }

    #[test]
    fn drift_report_lists_each_kind_of_difference() {
        let report = DriftReport {
            version: Some(20240103000000),
            instance: Some("test".into()),
            in_sync: false,
            drift: inspect::Drift {
                missing: vec![inspect::Resource::Topic("t".into())],
                unexpected: vec![inspect::Resource::Queue("q".into())],
                differing: vec![inspect::Differing {
                    resource: inspect::Resource::Queue("m".into()),
                    differences: vec![inspect::Difference {
                        attribute: "VisibilityTimeout".into(),
                        expected: Some("60".into()),
                        declared: true,
                        live: Some("90".into()),
                    }],
                }],
                missing_external: Vec::new(),
            },
        };
        let mut out = Vec::new();
        print_drift(&mut out, &report).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "\
drift: the account differs from applied version 20240103000000 (instance test)

unexpected (in the account, not in the migrations):
  + queue q

missing (in the migrations, not in the account):
  - topic t

differing:
  ~ queue m
      VisibilityTimeout: expected 60, found 90

1 unexpected, 1 missing, 1 differing
"
        );
    }
}
