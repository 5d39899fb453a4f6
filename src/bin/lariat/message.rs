//! `lariat message check`: reads message bodies as the inbox would and says why one would be
//! set aside, or what lariat reads from it.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use lariat::exit;
use lariat::message::read::{read_sqs_body, Rules};
use serde_json::json;

/// Work with message bodies.
#[derive(Debug, clap::Subcommand)]
pub enum MessageCommand {
    /// Read bodies (raw or SNS-wrapped) as the inbox does: print the envelope as read, or every
    /// reason it is refused. Reads stdin when no file is given.
    ///
    /// Exits 0 when every body is valid, 3 otherwise.
    Check {
        /// Files holding one body each.
        files: Vec<PathBuf>,
        /// Apply the publisher's rules instead of the lenient reading rules.
        #[arg(long)]
        strict: bool,
        /// One JSON object per body, one per line.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `message` subcommand.
pub fn run(command: MessageCommand, out: &mut impl Write) -> anyhow::Result<i32> {
    let MessageCommand::Check {
        files,
        strict,
        json,
    } = command;
    let rules = if strict {
        Rules::Strict
    } else {
        Rules::Lenient
    };
    let mut bodies = Vec::new();
    if files.is_empty() {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("could not read the body from stdin")?;
        bodies.push(("-".to_owned(), text));
    }
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("could not read {}", file.display()))?;
        bodies.push((file.display().to_string(), text));
    }
    let mut all_valid = true;
    for (source, body) in bodies {
        match read_sqs_body(&body, rules) {
            Ok(received) => {
                let e = &received.envelope;
                let sent_at = e
                    .sent_at()
                    .map(|at| at.with_timezone(&chrono::Utc).to_rfc3339());
                if json {
                    let line = json!({
                        "source": source, "valid": true, "kind": e.kind().to_string(),
                        "type": e.message_type().to_string(), "version": e.version(),
                        "uuid": e.uuid(), "publisher": e.publisher(), "sent_at": sent_at,
                        "sns_wrapped": received.sns_wrapped,
                    });
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "{source}: valid: {} {} v{} uuid {} from {} sent {}{}",
                        e.kind(),
                        e.message_type(),
                        e.version(),
                        e.uuid(),
                        e.publisher(),
                        sent_at.as_deref().unwrap_or("-"),
                        if received.sns_wrapped {
                            " (SNS-wrapped)"
                        } else {
                            ""
                        }
                    )?;
                }
            }
            Err(refusal) => {
                all_valid = false;
                if json {
                    let reasons: Vec<_> = refusal
                        .errors
                        .iter()
                        .map(|e| json!({ "field": e.field(), "error": e.to_string() }))
                        .collect();
                    writeln!(
                        out,
                        "{}",
                        json!({ "source": source, "valid": false, "errors": reasons })
                    )?;
                } else {
                    writeln!(out, "{source}: refused")?;
                    for error in &refusal.errors {
                        writeln!(out, "  - {error}")?;
                    }
                }
            }
        }
    }
    Ok(if all_valid { exit::OK } else { exit::INVALID })
}
