//! `lariat import`: adopting what an account already holds (Flyway's baseline and Terraform's
//! import in one step).
//!
//! The account is read once; the topics, queues and subscriptions of this instance that the
//! files do not declare yet become one migration file — names that follow the naming rules as
//! their parts, other names as `name = "..."` — marked `imported = true`, and its version is
//! recorded as applied without any AWS call. Tags lariat itself puts on what it creates (the
//! Ruby gem's `standard`, `instance`, `kind`, `publisher`, `type`, `fifo`, `dest`, plus
//! `managed_by`) are left out of the file; drift compares only the declared tags of adopted
//! resources.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::aws::inspect::{InventoryRequest, Lists, Progress};
use crate::executor::DEFAULT_CONCURRENCY;
use crate::inspect;
use crate::migration::{
    self, is_snake_case, DeduplicationScope, FifoThroughputLimit, FilterPolicyScope,
};
use crate::migrator::{Error, Migrator};
use crate::naming::{self, Kind, ParsedName, ResourceKind};
use crate::plan::State;
use crate::store::VersionState;
use crate::topology::{load_project, Endpoint, Queue, RedriveAllow, Subscription, Topic, Topology};

/// Which resources `lariat import` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only names with this publisher part.
    pub publisher: Option<String>,
    /// Only names matching this glob (`*`, `?`); it may select names outside the naming rule
    /// or of another instance.
    pub name: Option<String>,
    /// Only events or only commands.
    pub kind: Option<Kind>,
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The migration file.
    pub path: PathBuf,
    /// Its version, recorded as applied.
    pub version: i64,
    /// Topics declared.
    pub topics: usize,
    /// Queues declared.
    pub queues: usize,
    /// Subscriptions declared.
    pub subscriptions: usize,
}

/// `*` matches any characters, `?` one; everything else itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn wanted(name: &str, naming: &ParsedName, instance: &str, filter: &Filter) -> bool {
    let parts = naming.parts();
    let selected = match &filter.name {
        Some(glob) => glob_match(glob, name),
        None => parts.is_some_and(|p| p.instance == instance),
    };
    selected
        && filter
            .publisher
            .as_ref()
            .is_none_or(|want| parts.is_some_and(|p| &p.publisher == want))
        && filter
            .kind
            .is_none_or(|want| parts.is_some_and(|p| p.kind == want))
}

/// The resources to adopt: those `filter` selects that `declared` does not hold, the
/// dead-letter queues they use, and the subscriptions between adopted or declared resources
/// that `declared` does not hold (one end at least adopted).
pub fn select(live: &Topology, declared: &Topology, instance: &str, filter: &Filter) -> Topology {
    let mut out = Topology::default();
    for (name, t) in &live.topics {
        if !declared.topics.contains_key(name) && wanted(name, &t.naming, instance, filter) {
            out.topics.insert(name.clone(), t.clone());
        }
    }
    for (name, q) in &live.queues {
        if !declared.queues.contains_key(name) && wanted(name, &q.naming, instance, filter) {
            out.queues.insert(name.clone(), q.clone());
        }
    }
    let mut subscriptions = BTreeMap::new();
    for (key, s) in &live.subscriptions {
        // a derived subscription is lariat's own, standing for a topic-to-topic link
        if declared.subscriptions.contains_key(key) || declared.derived.contains_key(key) {
            continue;
        }
        let adopted_topic = out.topics.contains_key(&key.topic);
        let adopted_endpoint = out.contains(key.endpoint.resource(), key.endpoint.name());
        let known = |resource, name: &str| {
            out.contains(resource, name) || declared.contains(resource, name)
        };
        if (adopted_topic || adopted_endpoint)
            && known(ResourceKind::Topic, &key.topic)
            && known(key.endpoint.resource(), key.endpoint.name())
        {
            subscriptions.insert(key.clone(), s.clone());
        }
    }
    out.subscriptions = subscriptions;
    // the dead-letter queues of adopted queues and subscriptions come along
    loop {
        let needed: BTreeSet<String> = out
            .dead_letter_queues()
            .into_iter()
            .filter(|q| !out.queues.contains_key(*q) && !declared.queues.contains_key(*q))
            .map(str::to_owned)
            .collect();
        let found: Vec<Queue> = needed
            .iter()
            .filter_map(|q| live.queues.get(q).cloned())
            .collect();
        if found.is_empty() {
            break;
        }
        for q in found {
            out.queues.insert(q.name.clone(), q);
        }
    }
    // a dead-letter queue that is nowhere to be found cannot be declared
    for q in out.queues.values_mut() {
        let gone = q.attributes.dead_letter.as_ref().is_some_and(|d| {
            !live.queues.contains_key(&d.queue) && !declared.queues.contains_key(&d.queue)
        });
        if gone {
            q.attributes.dead_letter = None;
        }
    }
    out
}

/// A TOML value, written inline.
fn value(v: impl Into<toml::Value>) -> String {
    v.into().to_string()
}

/// The key/value pairs naming a resource: its parts when it follows the naming rule of this
/// instance, else `name`.
fn identity(
    resource: ResourceKind,
    name: &str,
    naming: &ParsedName,
    instance: &str,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    match naming {
        ParsedName::Standard(p) if p.instance == instance => {
            out.push(("type", value(p.message_type.as_str())));
            out.push(("publisher", value(p.publisher.as_str())));
            if p.kind == Kind::Command {
                out.push(("kind", value("command")));
            }
            if let (ResourceKind::Queue, Some(dest)) = (resource, &p.dest) {
                out.push(("dest", value(dest.as_str())));
            }
            if p.fifo {
                out.push(("fifo", value(true)));
            }
        }
        _ => out.push(("name", value(name))),
    }
    out
}

fn inline(pairs: &[(&'static str, String)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{{ {} }}", inner.join(", "))
}

fn reference(resource: ResourceKind, name: &str, instance: &str) -> String {
    inline(&identity(
        resource,
        name,
        &naming::parse(resource, name),
        instance,
    ))
}

/// The user tags: what AWS has, without the tags lariat itself puts on what it creates.
fn user_tags(naming: &ParsedName, live: &BTreeMap<String, String>) -> Option<String> {
    let own = crate::calls::resource_tags(naming, &BTreeMap::new());
    let user: toml::Table = live
        .iter()
        .filter(|(k, v)| k.as_str() != "managed_by" && own.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
        .collect();
    (!user.is_empty()).then(|| value(user))
}

fn section(out: &mut String, table: &str, pairs: &[(&'static str, String)]) {
    out.push_str(&format!("\n[[{table}]]\n"));
    for (k, v) in pairs {
        out.push_str(&format!("{k} = {v}\n"));
    }
}

fn topic_pairs(t: &Topic, instance: &str) -> Vec<(&'static str, String)> {
    let mut pairs = identity(ResourceKind::Topic, &t.name, &t.naming, instance);
    let a = &t.attributes;
    if t.fifo() && a.content_based_deduplication == Some(true) {
        pairs.push(("content_based_deduplication", value(true)));
    }
    if let Some(name) = a.display_name.as_deref().filter(|n| !n.is_empty()) {
        pairs.push(("display_name", value(name)));
    }
    if let Some(key) = a.kms_master_key_id.as_deref().filter(|k| !k.is_empty()) {
        pairs.push(("kms_master_key_id", value(key)));
    }
    if let Some(tags) = user_tags(&t.naming, &t.tags) {
        pairs.push(("tags", tags));
    }
    pairs
}

fn queue_pairs(q: &Queue, instance: &str) -> Vec<(&'static str, String)> {
    let mut pairs = identity(ResourceKind::Queue, &q.name, &q.naming, instance);
    let a = &q.attributes;
    let mut number = |key: &'static str, v: Option<u32>, default: Option<u32>| {
        if let Some(v) = v.filter(|v| Some(*v) != default) {
            pairs.push((key, value(i64::from(v))));
        }
    };
    number("visibility_timeout", a.visibility_timeout, Some(30));
    number(
        "message_retention_period",
        a.message_retention_period,
        Some(345_600),
    );
    // AWS changed this default over time: keep what the queue has
    number("maximum_message_size", a.maximum_message_size, None);
    number("delay_seconds", a.delay_seconds, Some(0));
    number(
        "receive_message_wait_time",
        a.receive_message_wait_time,
        Some(0),
    );
    if let Some(d) = &a.dead_letter {
        pairs.push((
            "dead_letter_queue",
            reference(ResourceKind::Queue, &d.queue, instance),
        ));
        pairs.push(("max_receive_count", value(i64::from(d.max_receive_count))));
    }
    match &a.redrive_allow {
        Some(RedriveAllow::DenyAll) => pairs.push(("redrive_allow_policy", value("denyAll"))),
        Some(RedriveAllow::ByQueue(sources)) => {
            pairs.push(("redrive_allow_policy", value("byQueue")));
            let refs: Vec<String> = sources
                .iter()
                .map(|s| reference(ResourceKind::Queue, s, instance))
                .collect();
            pairs.push((
                "redrive_allow_source_queues",
                format!("[{}]", refs.join(", ")),
            ));
        }
        Some(RedriveAllow::AllowAll) | None => {}
    }
    if q.fifo() {
        if a.content_based_deduplication == Some(true) {
            pairs.push(("content_based_deduplication", value(true)));
        }
        if let Some(scope) = a
            .deduplication_scope
            .as_ref()
            .filter(|s| **s != DeduplicationScope::Queue)
        {
            pairs.push(("deduplication_scope", value(scope.as_aws())));
        }
        if let Some(limit) = a
            .fifo_throughput_limit
            .as_ref()
            .filter(|l| **l != FifoThroughputLimit::PerQueue)
        {
            pairs.push(("fifo_throughput_limit", value(limit.as_aws())));
        }
    }
    if let Some(key) = a.kms_master_key_id.as_deref().filter(|k| !k.is_empty()) {
        pairs.push(("kms_master_key_id", value(key)));
        if let Some(period) = a.kms_data_key_reuse_period.filter(|p| *p != 300) {
            pairs.push(("kms_data_key_reuse_period", value(i64::from(period))));
        }
    } else if a.sqs_managed_sse == Some(true) {
        pairs.push(("sqs_managed_sse", value(true)));
    }
    if let Some(tags) = user_tags(&q.naming, &q.tags) {
        pairs.push(("tags", tags));
    }
    pairs
}

fn subscription_pairs(s: &Subscription, instance: &str) -> Vec<(&'static str, String)> {
    let mut pairs = vec![(
        "topic",
        reference(ResourceKind::Topic, &s.key.topic, instance),
    )];
    match &s.key.endpoint {
        Endpoint::Queue(q) => pairs.push(("queue", reference(ResourceKind::Queue, q, instance))),
        Endpoint::Topic(t) => {
            pairs.push(("target_topic", reference(ResourceKind::Topic, t, instance)))
        }
    }
    let a = &s.attributes;
    if a.raw_message_delivery == Some(true) {
        pairs.push(("raw_message_delivery", value(true)));
    }
    if let Some(policy) = &a.filter_policy {
        pairs.push(("filter_policy", value(policy.to_string())));
        if let Some(scope) = a
            .filter_policy_scope
            .as_ref()
            .filter(|s| **s != FilterPolicyScope::MessageAttributes)
        {
            pairs.push(("filter_policy_scope", value(scope.as_aws())));
        }
    }
    if let Some(dlq) = &a.dead_letter_queue {
        pairs.push((
            "dead_letter_queue",
            reference(ResourceKind::Queue, dlq, instance),
        ));
    }
    pairs
}

/// The migration file declaring `selected`.
pub fn render(selected: &Topology, instance: &str, now: DateTime<Utc>) -> String {
    let mut out = format!(
        "# Written by `lariat import` on {}: what the account held for instance `{instance}`.\n\
         # It was recorded as applied without any AWS call. Rolling it back deletes these\n\
         # resources, so `lariat rollback` refuses it without --delete-imported.\n\n\
         description = \"resources adopted from the account\"\n\
         imported = true\n",
        now.format("%Y-%m-%d %H:%M:%S UTC")
    );
    for t in selected.topics.values() {
        section(&mut out, "create_topic", &topic_pairs(t, instance));
    }
    for q in selected.queues.values() {
        section(&mut out, "create_queue", &queue_pairs(q, instance));
    }
    for s in selected.subscriptions.values() {
        section(&mut out, "subscribe", &subscription_pairs(s, instance));
    }
    out
}

impl Migrator {
    /// Reads the account, writes one migration declaring what `filter` selects of this
    /// instance (and the files do not declare yet), and records it as applied. The only AWS
    /// calls are reads.
    pub async fn import(
        &self,
        filter: &Filter,
        file_name: &str,
        now: DateTime<Utc>,
    ) -> Result<Imported, Error> {
        if !is_snake_case(file_name) {
            return Err(Error::Import(format!(
                "`{file_name}` is not a snake_case migration name: use e.g. --as import_legacy"
            )));
        }
        let statuses = self.status().await?;
        if let Some(open) = statuses.iter().find(|s| s.state != State::Applied) {
            return Err(Error::Import(format!(
                "migration {} ({}) is {}: import records a version newer than every file, so \
                 run `lariat migrate` (or resolve it) first",
                open.version, open.name, open.state
            )));
        }
        let defaults = self.config.naming()?;
        let instance = defaults.instance.clone();
        let declared = self.project.topology_at(None);
        let aws = self.aws().await?;
        let describe = |resource: ResourceKind, name: &str| {
            let naming = naming::parse(resource, name);
            wanted(name, &naming, &instance, filter)
                || declared.contains(resource, name)
                || naming.parts().is_some_and(|p| p.instance == instance)
        };
        let request = InventoryRequest {
            lists: Lists::ALL,
            queue_name_prefix: None,
            attributes: true,
            tags: true,
            describe: &describe,
            concurrency: DEFAULT_CONCURRENCY,
        };
        let inventory = aws.inventory(&request, &Progress::default()).await?;
        let live = inspect::live(&inventory, aws.arns());
        let selected = select(&live.topology, &declared, &instance, filter);
        if selected.topics.is_empty()
            && selected.queues.is_empty()
            && selected.subscriptions.is_empty()
        {
            return Err(Error::Import(format!(
                "nothing to import: the account holds no topic, queue or subscription of instance \
                 `{instance}` that the filters select and the migrations do not declare already"
            )));
        }
        let newest = self.project.migrations.last().map_or(0, |m| m.version);
        let stamp: i64 = now
            .format("%Y%m%d%H%M%S")
            .to_string()
            .parse()
            .map_err(|_| Error::Import("the clock gives no usable version".into()))?;
        let version = stamp.max(crate::migration::next_version(newest));
        let path = self
            .config
            .migrations
            .join(format!("{version}_{file_name}.toml"));
        let text = render(&selected, &instance, now);
        write_new(&path, &text)?;
        let project = match load_project(&self.config.migrations, &defaults) {
            Ok(project) => project,
            Err(diagnostics) => {
                // never leave a file behind that breaks the folder
                let _ = fs::remove_file(&path);
                return Err(Error::Invalid(diagnostics));
            }
        };
        let checksum = project
            .get(version)
            .map(|m| m.checksum.clone())
            .unwrap_or_else(|| migration::checksum(text.as_bytes()));
        let store = self.store().await?;
        let recorded = async {
            store.lock(Duration::from_secs(60)).await?;
            store
                .mark(version, file_name, &checksum, VersionState::Applied)
                .await
        }
        .await;
        let unlocked = store.unlock().await;
        store.close().await;
        recorded?;
        unlocked?;
        Ok(Imported {
            path,
            version,
            topics: selected.topics.len(),
            queues: selected.queues.len(),
            subscriptions: selected.subscriptions.len(),
        })
    }
}

fn write_new(path: &std::path::Path, text: &str) -> Result<(), Error> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::Import(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| Error::Import(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Topology {
        let mut t = Topology::default();
        for name in [
            "test-event-fanout-auth-user_created",
            "test-command-fanout-billing-charge",
            "prod-event-fanout-auth-user_created",
            "legacy_topic",
        ] {
            t.topics.insert(
                name.into(),
                Topic {
                    name: name.into(),
                    naming: naming::parse(ResourceKind::Topic, name),
                    attributes: Default::default(),
                    tags: Default::default(),
                    external: None,
                },
            );
        }
        t
    }

    fn selected(filter: &Filter) -> Vec<String> {
        select(&live(), &Topology::default(), "test", filter)
            .topics
            .into_keys()
            .collect()
    }

    #[test]
    fn filters_pick_the_instance_a_publisher_a_kind_or_a_glob() {
        assert_eq!(
            selected(&Filter::default()),
            [
                "test-command-fanout-billing-charge",
                "test-event-fanout-auth-user_created"
            ]
        );
        let auth = Filter {
            publisher: Some("auth".into()),
            ..Filter::default()
        };
        assert_eq!(selected(&auth), ["test-event-fanout-auth-user_created"]);
        let commands = Filter {
            kind: Some(Kind::Command),
            ..Filter::default()
        };
        assert_eq!(selected(&commands), ["test-command-fanout-billing-charge"]);
        let legacy = Filter {
            name: Some("legacy_*".into()),
            ..Filter::default()
        };
        assert_eq!(selected(&legacy), ["legacy_topic"]);
    }

    #[test]
    fn standard_names_become_parts_and_others_names() {
        let text = render(&live(), "test", Utc::now());
        assert!(
            text.contains("type = \"charge\"\npublisher = \"billing\"\nkind = \"command\""),
            "{text}"
        );
        assert!(text.contains("name = \"legacy_topic\""), "{text}");
        assert!(
            text.contains("name = \"prod-event-fanout-auth-user_created\""),
            "{text}"
        );
        assert!(text.contains("imported = true"), "{text}");
    }

    #[test]
    fn globs() {
        assert!(glob_match(
            "test-*-auth-*",
            "test-event-fanout-auth-user_created"
        ));
        assert!(glob_match("legacy_?obs", "legacy_jobs"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("test-*", "prod-event-fanout-auth-x"));
        assert!(!glob_match("a?c", "ac"));
    }

    #[test]
    fn a_toml_table_renders_inline() {
        let mut t = toml::Table::new();
        t.insert("team".into(), toml::Value::String("a \"b\"".into()));
        let rendered = value(t.clone());
        assert!(
            rendered.starts_with("{ ") && rendered.ends_with(" }"),
            "{rendered}"
        );
        let parsed: toml::Table = toml::from_str(&format!("tags = {rendered}")).unwrap();
        assert_eq!(parsed["tags"], toml::Value::Table(t));
    }
}
