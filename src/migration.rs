//! Migration files: finding them, naming them, and reading their TOML.
//!
//! A migration is `<version>_<snake_name>.toml` in the migrations folder, `version` a UTC
//! timestamp `YYYYMMDDHHMMSS`. This module reads the files into raw specs; checking them against
//! the topology they apply to is the job of [`crate::topology`].

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::diagnostic::{line_of, Diagnostic, Diagnostics};
use crate::naming::Kind;

/// The largest migration file lariat reads; anything bigger is surely not a migration.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A migration file found on disk, not yet parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// The version, from the file name.
    pub version: i64,
    /// The snake_case name after the version.
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its text.
    pub source: String,
    /// Hex SHA-256 of its bytes: an applied file that changes is detected by it.
    pub checksum: String,
}

/// Reads every `*.toml` migration in `dir`, ordered by version.
///
/// Bad file names, duplicate versions, unreadable and oversized files become diagnostics; the
/// good files are still returned so that one run reports everything.
pub fn discover(dir: &Path) -> (Vec<MigrationFile>, Diagnostics) {
    let mut diagnostics = Diagnostics::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            diagnostics.push(
                Diagnostic::error(dir, None, format!("cannot read the migrations folder: {err}"))
                    .with_help("create it with `lariat generate migration NAME`, or point --dir / `migrations` in lariat.toml at the right folder"),
            );
            return (Vec::new(), diagnostics);
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();

    let mut files: Vec<MigrationFile> = Vec::new();
    let mut seen: BTreeMap<i64, PathBuf> = BTreeMap::new();
    for path in paths {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some((version, name)) = parse_file_name(&file_name) else {
            diagnostics.push(
                Diagnostic::error(&path, None, format!("`{file_name}` is not a migration file name"))
                    .with_help("name it `YYYYMMDDHHMMSS_snake_case_name.toml` (14-digit UTC timestamp), e.g. with `lariat generate migration NAME`"),
            );
            continue;
        };
        if let Some(problem) = version_problem(version) {
            diagnostics.push(
                Diagnostic::error(
                    &path,
                    None,
                    format!("version {version:014} is not a UTC date and time: {problem}"),
                )
                .with_help("versions are UTC timestamps YYYYMMDDHHMMSS: rename the file with a real one (`lariat generate migration NAME` takes the current time)"),
            );
            continue;
        }
        if let Some(first) = seen.get(&version) {
            diagnostics.push(
                Diagnostic::error(
                    &path,
                    None,
                    format!(
                        "version {version} is used twice: also by {}",
                        first.display()
                    ),
                )
                .with_help("give one of the files a new timestamp; versions must be unique"),
            );
            continue;
        }
        match read_source(&path) {
            Ok(source) => {
                seen.insert(version, path.clone());
                files.push(MigrationFile {
                    version,
                    name,
                    checksum: checksum(source.as_bytes()),
                    path,
                    source,
                });
            }
            Err(d) => diagnostics.push(d),
        }
    }
    files.sort_by_key(|f| f.version);
    (files, diagnostics)
}

/// Reads a migration file: a regular file (after following symlinks) of at most
/// [`MAX_FILE_BYTES`]. A named pipe would block the read and a device such as `/dev/zero` never
/// ends, so both are refused before they are opened, and the read stops after the limit
/// whatever the metadata said.
fn read_source(path: &Path) -> Result<String, Diagnostic> {
    let cannot_read =
        |err: std::io::Error| Diagnostic::error(path, None, format!("cannot read the file: {err}"));
    let metadata = fs::metadata(path).map_err(cannot_read)?;
    if !metadata.is_file() {
        return Err(not_a_regular_file(path, &metadata.file_type()));
    }
    let file = fs::File::open(path).map_err(cannot_read)?;
    // the file may have been swapped between the check and the open
    let opened = file.metadata().map_err(cannot_read)?;
    if !opened.is_file() {
        return Err(not_a_regular_file(path, &opened.file_type()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(Diagnostic::error(
            path,
            None,
            format!("file is larger than {MAX_FILE_BYTES} bytes, the most a migration may have"),
        )
        .with_help("split it into several migrations"));
    }
    String::from_utf8(bytes).map_err(|err| {
        Diagnostic::error(
            path,
            None,
            format!(
                "file is not UTF-8 text (invalid byte at offset {})",
                err.utf8_error().valid_up_to()
            ),
        )
        .with_help("migration files are TOML text; restore the file from version control")
    })
}

fn not_a_regular_file(path: &Path, file_type: &fs::FileType) -> Diagnostic {
    let link = fs::read_link(path)
        .map(|target| format!(" (a symbolic link to {})", target.display()))
        .unwrap_or_default();
    Diagnostic::error(
        path,
        None,
        format!(
            "is {}{link}, not a regular file; migrations are read only from regular files",
            describe(file_type)
        ),
    )
    .with_help("replace it with the migration's TOML file, or move it out of the migrations folder")
}

fn describe(file_type: &fs::FileType) -> &'static str {
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_fifo() {
            return "a named pipe";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "something else"
}

/// Splits `20240101120000_user_created.toml` into its version and name.
pub fn parse_file_name(file_name: &str) -> Option<(i64, String)> {
    let stem = file_name.strip_suffix(".toml")?;
    let (version, name) = stem.split_once('_')?;
    if version.len() != 14 || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !is_snake_case(name) {
        return None;
    }
    Some((version.parse().ok()?, name.to_owned()))
}

/// The version `00000000000000`: accepted beside timestamps, it sorts before all of them.
pub const BASELINE_VERSION: i64 = 0;

/// Why `version` is not a UTC timestamp `YYYYMMDDHHMMSS` (`month 13 does not exist`), or
/// `None` when it is one or [`BASELINE_VERSION`].
pub fn version_problem(version: i64) -> Option<String> {
    if version == BASELINE_VERSION {
        return None;
    }
    if !(0..=99_999_999_999_999).contains(&version) {
        return Some("it does not have 14 digits".to_owned());
    }
    let part = |divisor: i64| u32::try_from(version / divisor % 100).unwrap_or(u32::MAX);
    let year = i32::try_from(version / 10_000_000_000).unwrap_or(i32::MAX);
    let (month, day) = (part(100_000_000), part(1_000_000));
    let (hour, minute, second) = (part(10_000), part(100), part(1));
    if !(1..=12).contains(&month) {
        return Some(format!("month {month} does not exist"));
    }
    if NaiveDate::from_ymd_opt(year, month, day).is_none() {
        return Some(format!("day {day} does not exist in {year:04}-{month:02}"));
    }
    if hour > 23 {
        return Some(format!("hour {hour} does not exist"));
    }
    if minute > 59 {
        return Some(format!("minute {minute} does not exist"));
    }
    if second > 59 {
        return Some(format!("second {second} does not exist"));
    }
    None
}

/// The version one second after `version`: what to rename a file to so that it sorts right
/// after it. For a version that is not a timestamp, the next number.
pub fn next_version(version: i64) -> i64 {
    NaiveDateTime::parse_from_str(&format!("{version:014}"), "%Y%m%d%H%M%S")
        .ok()
        .and_then(|time| time.checked_add_signed(TimeDelta::seconds(1)))
        .and_then(|time| time.format("%Y%m%d%H%M%S").to_string().parse().ok())
        .unwrap_or(version + 1)
}

/// `[a-z][a-z0-9_]*`, no double or trailing underscore.
pub fn is_snake_case(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.contains("__")
        && !name.ends_with('_')
}

/// Hex SHA-256.
pub fn checksum(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses a migration's TOML; a syntax or type error becomes one diagnostic with its line.
pub fn parse(file: &MigrationFile) -> Result<RawMigration, Diagnostic> {
    toml::from_str::<RawMigration>(&file.source).map_err(|err| {
        let raw_message = err.message().trim();
        let line = match err.span() {
            Some(span) => Some(line_of(&file.source, span.start)),
            None => first_failing_line(&file.source, raw_message),
        };
        let message = match raw_message {
            "recursion limit" => {
                "tables or keys are nested too deeply: TOML is read to 80 levels at most".to_owned()
            }
            other => other.to_owned(),
        };
        Diagnostic::error(&file.path, line, message)
            .with_help("see the migration file format in the README, or the commented template that `lariat generate migration` writes")
    })
}

/// The line of an error the TOML parser reports without a position (its nesting limit): the
/// first line whose prefix of the file fails with the same message.
fn first_failing_line(source: &str, message: &str) -> Option<usize> {
    let ends: Vec<usize> = source
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .chain(std::iter::once(source.len()))
        .collect();
    let fails = |end: &usize| {
        toml::from_str::<toml::Table>(&source[..*end])
            .err()
            .is_some_and(|e| e.span().is_none() && e.message().trim() == message)
    };
    let index = ends.partition_point(|end| !fails(end));
    (index < ends.len()).then_some(index + 1)
}

/// The operations of a migration file as written; `down` has the same shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMigration {
    /// Free text for reviewers.
    pub description: Option<String>,
    /// Written by `lariat import`: the migration declares resources that already existed, so
    /// rolling it back (which deletes them) needs `--delete-imported`.
    #[serde(default)]
    pub imported: bool,
    /// `[[external_topic]]` tables: topics another service owns.
    #[serde(default)]
    pub external_topic: Vec<Spanned<ExternalSpec>>,
    /// `[[external_queue]]` tables: queues another service owns.
    #[serde(default)]
    pub external_queue: Vec<Spanned<ExternalSpec>>,
    /// `[[create_topic]]` tables.
    #[serde(default)]
    pub create_topic: Vec<Spanned<TopicSpec>>,
    /// `[[create_queue]]` tables.
    #[serde(default)]
    pub create_queue: Vec<Spanned<QueueSpec>>,
    /// `[[subscribe]]` tables.
    #[serde(default)]
    pub subscribe: Vec<Spanned<SubscriptionSpec>>,
    /// `[[change_topic]]` tables.
    #[serde(default)]
    pub change_topic: Vec<Spanned<TopicSpec>>,
    /// `[[change_queue]]` tables.
    #[serde(default)]
    pub change_queue: Vec<Spanned<QueueSpec>>,
    /// `[[change_subscription]]` tables.
    #[serde(default)]
    pub change_subscription: Vec<Spanned<SubscriptionSpec>>,
    /// `[[unsubscribe]]` tables.
    #[serde(default)]
    pub unsubscribe: Vec<Spanned<SubscriptionSpec>>,
    /// `[[delete_queue]]` tables.
    #[serde(default)]
    pub delete_queue: Vec<Spanned<QueueSpec>>,
    /// `[[delete_topic]]` tables.
    #[serde(default)]
    pub delete_topic: Vec<Spanned<TopicSpec>>,
    /// An explicit `down`, replacing the derived one.
    pub down: Option<Spanned<Box<RawMigration>>>,
}

/// A reference to a topic or queue: a custom `name`, or the parts of a standard name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    /// Custom name, bypassing the naming rule.
    pub name: Option<String>,
    /// `event` (default) or `command`.
    pub kind: Option<Kind>,
    /// Publisher; defaults to the configured publisher; `any` for many.
    pub publisher: Option<String>,
    /// Message type; `all` for every type.
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    /// Consuming service (queues only).
    pub dest: Option<String>,
    /// FIFO (default false).
    pub fifo: Option<bool>,
}

/// A topic or queue another service owns, in `external_topic` or `external_queue`: this folder
/// refers to it, checks that it exists, and never creates, changes or deletes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalSpec {
    /// Custom name.
    pub name: Option<String>,
    /// `event` or `command`.
    pub kind: Option<Kind>,
    /// Publisher (for a topic, usually the owner).
    pub publisher: Option<String>,
    /// Message type.
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    /// Consuming service (queues only).
    pub dest: Option<String>,
    /// FIFO.
    pub fifo: Option<bool>,
    /// The service whose migrations create it (default: the publisher of a standard name).
    pub owner: Option<String>,
    /// Its AWS account, when not this one (12 digits).
    pub account: Option<String>,
    /// Its AWS region, when not this one.
    pub region: Option<String>,
}

/// A topic in `create_topic`, `change_topic` or `delete_topic`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    /// Custom name.
    pub name: Option<String>,
    /// `event` or `command`.
    pub kind: Option<Kind>,
    /// Publisher.
    pub publisher: Option<String>,
    /// Message type.
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    /// Rejected for topics with a clear message; accepted here so the message can be clear.
    pub dest: Option<String>,
    /// FIFO.
    pub fifo: Option<bool>,
    /// FIFO only.
    pub content_based_deduplication: Option<bool>,
    /// Display name.
    pub display_name: Option<String>,
    /// KMS key.
    pub kms_master_key_id: Option<String>,
    /// Tags to add or overwrite.
    pub tags: Option<BTreeMap<String, String>>,
    /// Attributes (or `tags.KEY`) to return to the AWS default, in `change_topic`.
    #[serde(default)]
    pub unset: Vec<String>,
    /// In `delete_topic`: a topic this folder never created; its state is recorded when it is
    /// deleted, and rollback recreates it from that record.
    #[serde(default)]
    pub legacy: bool,
}

/// `allowAll`, `denyAll` or `byQueue` (with `redrive_allow_source_queues`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum RedriveAllowSpec {
    /// Any source queue.
    #[serde(rename = "allowAll")]
    AllowAll,
    /// No source queue.
    #[serde(rename = "denyAll")]
    DenyAll,
    /// The queues in `redrive_allow_source_queues`.
    #[serde(rename = "byQueue")]
    ByQueue,
}

/// An attribute whose values AWS spells as words: the known ones as variants, and
/// `Other` for a value AWS reports that lariat does not know (never read from a migration
/// file), so that `lariat drift` still shows it.
macro_rules! aws_word {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)*
            /// A value AWS reported that lariat does not know.
            #[serde(skip)]
            Other(String),
        }

        impl $name {
            /// The value as AWS spells it.
            pub fn as_aws(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(text) => text,
                }
            }

            /// A value as AWS reports it.
            pub fn from_aws(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_aws())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_aws())
            }
        }
    };
}

aws_word! {
    /// `messageGroup` or `queue`.
    DeduplicationScope {
        /// Per message group.
        MessageGroup = "messageGroup",
        /// Per queue (AWS default).
        Queue = "queue",
    }
}

aws_word! {
    /// `perQueue` or `perMessageGroupId`.
    FifoThroughputLimit {
        /// Per queue (AWS default).
        PerQueue = "perQueue",
        /// Per message group (high throughput mode).
        PerMessageGroupId = "perMessageGroupId",
    }
}

aws_word! {
    /// `MessageAttributes` or `MessageBody`.
    FilterPolicyScope {
        /// Filter on message attributes (AWS default).
        MessageAttributes = "MessageAttributes",
        /// Filter on the JSON body.
        MessageBody = "MessageBody",
    }
}

/// A queue in `create_queue`, `change_queue` or `delete_queue`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Custom name.
    pub name: Option<String>,
    /// `event` or `command`.
    pub kind: Option<Kind>,
    /// Publisher.
    pub publisher: Option<String>,
    /// Message type (default `all`).
    #[serde(rename = "type")]
    pub message_type: Option<String>,
    /// Consuming service.
    pub dest: Option<String>,
    /// FIFO.
    pub fifo: Option<bool>,
    /// Seconds (0–43200).
    pub visibility_timeout: Option<u32>,
    /// Seconds (60–1209600).
    pub message_retention_period: Option<u32>,
    /// Bytes (1024–1048576).
    pub maximum_message_size: Option<u32>,
    /// Seconds (0–900).
    pub delay_seconds: Option<u32>,
    /// Seconds (0–20).
    pub receive_message_wait_time: Option<u32>,
    /// The dead-letter queue.
    pub dead_letter_queue: Option<ResourceRef>,
    /// Receives before dead-lettering (1–1000), with `dead_letter_queue`.
    pub max_receive_count: Option<u32>,
    /// Who may use this queue as a dead-letter queue.
    pub redrive_allow_policy: Option<RedriveAllowSpec>,
    /// With `redrive_allow_policy = "byQueue"`: the allowed source queues (at most 10).
    pub redrive_allow_source_queues: Option<Vec<ResourceRef>>,
    /// FIFO only.
    pub content_based_deduplication: Option<bool>,
    /// FIFO only.
    pub deduplication_scope: Option<DeduplicationScope>,
    /// FIFO only.
    pub fifo_throughput_limit: Option<FifoThroughputLimit>,
    /// KMS key.
    pub kms_master_key_id: Option<String>,
    /// Seconds (60–86400), with KMS.
    pub kms_data_key_reuse_period: Option<u32>,
    /// SSE-SQS.
    pub sqs_managed_sse: Option<bool>,
    /// Tags to add or overwrite.
    pub tags: Option<BTreeMap<String, String>>,
    /// Attributes (or `tags.KEY`) to return to the AWS default, in `change_queue`.
    #[serde(default)]
    pub unset: Vec<String>,
    /// In `delete_queue`: a queue this folder never created; its state is recorded when it is
    /// deleted, and rollback recreates it from that record.
    #[serde(default)]
    pub legacy: bool,
}

/// A subscription in `subscribe`, `change_subscription` or `unsubscribe`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    /// The topic that delivers.
    pub topic: Option<ResourceRef>,
    /// The queue it delivers to.
    pub queue: Option<ResourceRef>,
    /// Or the topic it delivers to (fanout-to-fanout).
    pub target_topic: Option<ResourceRef>,
    /// Deliver the body as published, without the SNS envelope.
    pub raw_message_delivery: Option<bool>,
    /// Filter policy, as a TOML table (or a JSON string).
    pub filter_policy: Option<toml::Value>,
    /// What the filter policy looks at.
    pub filter_policy_scope: Option<FilterPolicyScope>,
    /// Queue for undeliverable messages (subscription redrive policy).
    pub dead_letter_queue: Option<ResourceRef>,
    /// Attributes to return to the AWS default, in `change_subscription`.
    #[serde(default)]
    pub unset: Vec<String>,
    /// In `unsubscribe`: a subscription this folder never created; its attributes are
    /// recorded when it is removed, and rollback subscribes again from that record.
    #[serde(default)]
    pub legacy: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(
            parse_file_name("20240101120000_user_created.toml"),
            Some((20240101120000, "user_created".into()))
        );
        for bad in [
            "2024_user.toml",
            "20240101120000-user.toml",
            "20240101120000_User.toml",
            "20240101120000_.toml",
            "20240101120000_user-created.toml",
            "x20240101120000_user.toml",
            "20240101120000_user.yaml",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
    }

    /// Regression (issue 11): `20241399000000` (month 13, day 99) was accepted as a version.
    #[test]
    fn versions_are_real_utc_timestamps() {
        for good in [
            20240101120000,
            20241231235959,
            20240229000000,
            BASELINE_VERSION,
        ] {
            assert_eq!(version_problem(good), None, "{good}");
        }
        for (bad, why) in [
            (20241399000000, "month 13 does not exist"),
            (20240001000000, "month 0 does not exist"),
            (20240230000000, "day 30 does not exist in 2024-02"),
            (20230229000000, "day 29 does not exist in 2023-02"),
            (20240100000000, "day 0 does not exist in 2024-01"),
            (20240101240000, "hour 24 does not exist"),
            (20240101006000, "minute 60 does not exist"),
            (20240101000060, "second 60 does not exist"),
        ] {
            assert_eq!(version_problem(bad).as_deref(), Some(why), "{bad}");
        }
    }

    /// `Other` holds what an account reports; a migration file can only name the known words.
    #[test]
    fn aws_words_read_from_files_and_accounts() {
        let spec: QueueSpec =
            toml::from_str("deduplication_scope = \"messageGroup\"").expect("a known word");
        assert_eq!(
            spec.deduplication_scope,
            Some(DeduplicationScope::MessageGroup)
        );
        let err = toml::from_str::<QueueSpec>("deduplication_scope = \"Other\"")
            .expect_err("`Other` is not a word of the file format")
            .to_string();
        assert!(err.contains("expected `messageGroup` or `queue`"), "{err}");
        assert_eq!(
            FifoThroughputLimit::from_aws("perQueue"),
            FifoThroughputLimit::PerQueue
        );
        let unknown = FilterPolicyScope::from_aws("MessageHeaders");
        assert_eq!(unknown, FilterPolicyScope::Other("MessageHeaders".into()));
        assert_eq!(unknown.as_aws(), "MessageHeaders");
    }

    #[test]
    fn the_next_version_is_the_next_second() {
        assert_eq!(next_version(20240101000059), 20240101000100);
        assert_eq!(next_version(20241231235959), 20250101000000);
    }

    #[test]
    fn snake_case() {
        assert!(is_snake_case("user_created2"));
        for bad in ["", "User", "2user", "user__x", "user_", "user-x", "usér"] {
            assert!(!is_snake_case(bad), "{bad}");
        }
    }

    #[test]
    fn checksum_is_sha256_hex() {
        assert_eq!(
            checksum(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    fn file(source: &str) -> MigrationFile {
        MigrationFile {
            version: 1,
            name: "x".into(),
            path: "m/1_x.toml".into(),
            source: source.into(),
            checksum: String::new(),
        }
    }

    #[test]
    fn unknown_keys_name_the_line() {
        let src = "[[create_queue]]\ntype = \"a\"\nvisibility = 30\n";
        let d = parse(&file(src)).unwrap_err();
        assert_eq!(d.line, Some(3), "{d}");
        assert!(d.message.contains("unknown field `visibility`"), "{d}");
    }

    #[test]
    fn wrong_types_name_the_line() {
        let src = "\n[[create_queue]]\ntype = \"a\"\nfifo = \"yes\"\n";
        let d = parse(&file(src)).unwrap_err();
        assert_eq!(d.line, Some(4), "{d}");
    }

    /// Regression (issue 11): a 2,000-deep `[down.down...]` said only "recursion limit".
    #[test]
    fn deep_nesting_names_its_line() {
        let deep = format!(
            "description = \"x\"\n\n[{}]\n",
            vec!["down"; 2000].join(".")
        );
        let d = parse(&file(&deep)).unwrap_err();
        assert_eq!(d.line, Some(3), "{d}");
        assert!(d.message.contains("nested too deeply"), "{d}");
        let inline = format!(
            "description = \"x\"\nx = {}1{}\n",
            "{a = ".repeat(100),
            "}".repeat(100)
        );
        let d = parse(&file(&inline)).unwrap_err();
        assert_eq!(d.line, Some(2), "{d}");
    }

    #[test]
    fn spans_point_at_the_table() {
        let src = "description = \"x\"\n\n[[create_topic]]\ntype = \"a\"\n\n[[create_topic]]\ntype = \"b\"\n";
        let raw = parse(&file(src)).unwrap();
        let lines: Vec<usize> = raw
            .create_topic
            .iter()
            .map(|t| line_of(src, t.span().start))
            .collect();
        assert_eq!(
            lines,
            vec![3, 6],
            "the line of each `[[create_topic]]` header"
        );
    }
}
