//! `lariat publish`: send one event or command by hand, for operations and debugging.

use std::io::Write;

use clap::{Args, ValueEnum};
use lariat::aws::Aws;
use lariat::config::Config;
use lariat::message::{Command, Envelope, Event, MessageError};
use lariat::naming::{NamingDefaults, ResourceKind};
use lariat::publish::{PublishOptions, Publisher};
use lariat::{exit, Error};
use serde_json::{json, Value};
use uuid::Uuid;

/// Arguments of `lariat publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Event or command.
    #[arg(value_enum)]
    kind: KindArg,
    /// The message type without its prefix, e.g. user_created.
    #[arg(value_name = "TYPE")]
    message_type: String,
    /// The payload (the envelope's `data`), as JSON.
    #[arg(long, value_name = "JSON")]
    data: String,
    /// Send straight to the queue instead of the topic.
    #[arg(long)]
    to_queue: bool,
    /// The consuming service, the last part of a queue name (with --to-queue).
    #[arg(long, value_name = "DEST")]
    dest: Option<String>,
    /// The target is FIFO (its name ends in .fifo); needs --group.
    #[arg(long)]
    fifo: bool,
    /// FIFO message group id: order is kept within a group.
    #[arg(long, value_name = "GROUP")]
    group: Option<String>,
    /// FIFO deduplication id [default: the message uuid].
    #[arg(long, value_name = "ID")]
    dedup_id: Option<String>,
    /// Send to this topic (or, with --to-queue, queue) name instead of the standard one.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Who acted, for a version 2 message (with --object).
    #[arg(long, value_name = "TYPE:UUID", value_parser = parse_entity, requires = "object")]
    subject: Option<(String, Uuid)>,
    /// What was acted on, for a version 2 message (with --subject).
    #[arg(long, value_name = "TYPE:UUID", value_parser = parse_entity, requires = "subject")]
    object: Option<(String, Uuid)>,
    /// The X-Request-Id that caused the message.
    #[arg(long, value_name = "UUID")]
    request_id: Option<Uuid>,
    /// An extra string message attribute, for subscription filter policies (repeatable).
    #[arg(long = "attribute", value_name = "NAME=VALUE", value_parser = parse_attribute)]
    attributes: Vec<(String, String)>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum KindArg {
    /// A fact that happened (type event_TYPE).
    Event,
    /// A request to act (type command_TYPE).
    Command,
}

/// Builds the envelope, publishes it and prints its uuid and AWS message id.
pub async fn run(args: PublishArgs, config: Config, out: &mut impl Write) -> anyhow::Result<i32> {
    let defaults = match (&args.name, config.naming()) {
        (_, Ok(defaults)) => defaults,
        // A custom name needs no instance; the envelope still needs a publisher.
        (Some(_), Err(_)) if config.publisher.is_some() => NamingDefaults {
            instance: config.instance.clone().unwrap_or_default(),
            publisher: config.publisher.clone().unwrap_or_default(),
        },
        (_, Err(e)) => return Err(Error::from(e).into()),
    };
    let data: Value = match serde_json::from_str(&args.data) {
        Ok(data) => data,
        Err(e) => {
            eprintln!("error: --data is not valid JSON: {e}");
            return Ok(exit::USAGE);
        }
    };
    let envelope = match build(&args, &defaults.publisher, data) {
        Ok(envelope) => envelope,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let options = options(&args);
    let aws = Aws::connect(&config.aws).await.map_err(Error::from)?;
    let publisher = Publisher::new(aws, defaults);
    let published = publisher.publish(&envelope, &options).await?;
    if args.json {
        let value = json!({
            "uuid": published.uuid,
            "message_id": published.message_id,
            "sequence_number": published.sequence_number,
            "type": envelope.message_type().to_string(),
            "target": { "kind": published.target.resource, "name": published.target.name },
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(
            out,
            "published {} to {}",
            envelope.message_type(),
            published.target
        )?;
        writeln!(out, "uuid        {}", published.uuid)?;
        writeln!(out, "message id  {}", published.message_id)?;
        if let Some(sequence) = &published.sequence_number {
            writeln!(out, "sequence    {sequence}")?;
        }
    }
    Ok(exit::OK)
}

fn build(args: &PublishArgs, publisher: &str, data: Value) -> Result<Envelope, MessageError> {
    macro_rules! fill {
        ($builder:expr) => {{
            let mut b = $builder.publisher(publisher);
            if let Some(id) = args.request_id {
                b = b.request_id(id);
            }
            if let Some((kind, uuid)) = &args.subject {
                b = b.subject(kind.clone(), *uuid);
            }
            if let Some((kind, uuid)) = &args.object {
                b = b.object(kind.clone(), *uuid);
            }
            b.build()
        }};
    }
    match args.kind {
        KindArg::Event => fill!(Event::new(&args.message_type, data)),
        KindArg::Command => fill!(Command::new(&args.message_type, data)),
    }
}

fn options(args: &PublishArgs) -> PublishOptions {
    PublishOptions {
        via: if args.to_queue {
            ResourceKind::Queue
        } else {
            ResourceKind::Topic
        },
        dest: args.dest.clone(),
        fifo: args.fifo,
        name: args.name.clone(),
        group_id: args.group.clone(),
        deduplication_id: args.dedup_id.clone(),
        attributes: args.attributes.iter().cloned().collect(),
    }
}

/// `user:40250522-21c8-4fc7-9b0b-47d9666a4430`.
fn parse_entity(text: &str) -> Result<(String, Uuid), String> {
    let (kind, uuid) = text.split_once(':').ok_or_else(|| {
        format!("`{text}` is not TYPE:UUID, e.g. user:40250522-21c8-4fc7-9b0b-47d9666a4430")
    })?;
    if kind.is_empty() {
        return Err(format!("`{text}` has an empty TYPE"));
    }
    let uuid = Uuid::try_parse(uuid).map_err(|e| format!("`{uuid}` is not a uuid: {e}"))?;
    Ok((kind.to_owned(), uuid))
}

/// `NAME=VALUE`.
fn parse_attribute(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_attributes() {
        let uuid = "40250522-21c8-4fc7-9b0b-47d9666a4430";
        assert_eq!(
            parse_entity(&format!("user:{uuid}")),
            Ok(("user".to_owned(), Uuid::parse_str(uuid).expect("uuid")))
        );
        assert!(parse_entity("user").is_err());
        assert!(parse_entity(&format!(":{uuid}")).is_err());
        assert!(parse_entity("user:42").is_err());
        assert_eq!(
            parse_attribute("tenant=a=b"),
            Ok(("tenant".to_owned(), "a=b".to_owned()))
        );
        assert!(parse_attribute("tenant").is_err());
    }
}
