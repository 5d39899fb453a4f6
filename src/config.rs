//! Configuration: `lariat.toml` at the project root, overridden by `LARIAT_*` environment
//! variables and command-line flags (the binary maps both onto [`Overrides`]).
//!
//! Precedence, highest first: flag, `LARIAT_*` variable, the generic variable where one exists
//! (`DATABASE_URL`, `AWS_ENDPOINT_URL`), `lariat.toml`, built-in default.

use std::fmt;
use std::fs;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::db::redact_url;
use crate::naming::{self, NamingDefaults};

/// The config file looked for in the current directory.
pub const DEFAULT_CONFIG_FILE: &str = "lariat.toml";
/// Where migrations live, relative to the project root.
pub const DEFAULT_MIGRATIONS_DIR: &str = "lariat/migrate";
/// The version table.
pub const DEFAULT_VERSIONS_TABLE: &str = "lariat_versions";
/// How long opening a connection to AWS may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt of an AWS call may wait for its answer, by default.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(20);
/// The values `connect_timeout` accepts.
pub const CONNECT_TIMEOUTS: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(300);
/// The values `operation_timeout` accepts.
pub const OPERATION_TIMEOUTS: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(3600);

/// A problem with the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A required setting has no value.
    #[error(
        "`{key}` is not set: add `{key} = \"...\"` to lariat.toml, set {env}, or pass --{flag}"
    )]
    Missing {
        /// Key in lariat.toml.
        key: &'static str,
        /// Environment variable.
        env: &'static str,
        /// Command-line flag.
        flag: &'static str,
    },
    /// A setting has a value the naming rules refuse.
    #[error("`{key}`: {source}")]
    Invalid {
        /// Key in lariat.toml.
        key: &'static str,
        /// Why.
        #[source]
        source: naming::NameError,
    },
}

/// `lariat.toml` as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Deployment instance: the first part of every standard name.
    pub instance: Option<String>,
    /// Default publisher of declared topics and queues.
    pub publisher: Option<String>,
    /// Migrations folder, relative to the file.
    pub migrations: Option<PathBuf>,
    /// Version store URL.
    pub database_url: Option<String>,
    /// Version table name.
    pub versions_table: Option<String>,
    /// AWS settings.
    #[serde(default)]
    pub aws: AwsFile,
}

/// The `[aws]` table of `lariat.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsFile {
    /// Region; otherwise the AWS configuration chain decides.
    pub region: Option<String>,
    /// Account id; otherwise asked once from STS when an ARN must be built.
    pub account_id: Option<String>,
    /// Endpoint override, for local emulators.
    pub endpoint_url: Option<String>,
    /// Named profile from `~/.aws/config`.
    pub profile: Option<String>,
    /// How long opening a connection may take, e.g. `"3s"`.
    #[serde(default, deserialize_with = "connect_timeout")]
    pub connect_timeout: Option<Duration>,
    /// How long one attempt of a call may wait for its answer, e.g. `"20s"`.
    #[serde(default, deserialize_with = "operation_timeout")]
    pub operation_timeout: Option<Duration>,
}

fn connect_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    timeout_in(d, CONNECT_TIMEOUTS)
}

fn operation_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    timeout_in(d, OPERATION_TIMEOUTS)
}

/// A duration written as text (`"500ms"`, `"3s"`), within `range`.
fn timeout_in<'de, D: Deserializer<'de>>(
    d: D,
    range: RangeInclusive<Duration>,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    let duration = crate::duration::parse(&text).map_err(serde::de::Error::custom)?;
    check_range(duration, &range).map_err(serde::de::Error::custom)?;
    Ok(Some(duration))
}

/// `Ok` when `duration` is within `range`, else what the range is.
pub fn check_range(duration: Duration, range: &RangeInclusive<Duration>) -> Result<(), String> {
    use crate::duration::show;
    if range.contains(&duration) {
        return Ok(());
    }
    Err(format!(
        "`{}` is out of range: write {} to {}",
        show(duration),
        show(*range.start()),
        show(*range.end())
    ))
}

/// Values given on the command line or through `LARIAT_*` variables; `None` = not given.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Path of the config file.
    pub config: Option<PathBuf>,
    /// Instance.
    pub instance: Option<String>,
    /// Publisher.
    pub publisher: Option<String>,
    /// Migrations folder.
    pub migrations: Option<PathBuf>,
    /// Version store URL.
    pub database_url: Option<String>,
    /// Version table.
    pub versions_table: Option<String>,
    /// AWS region.
    pub region: Option<String>,
    /// AWS account id.
    pub account_id: Option<String>,
    /// Endpoint override.
    pub endpoint_url: Option<String>,
    /// AWS profile.
    pub profile: Option<String>,
    /// Connect timeout of AWS calls.
    pub connect_timeout: Option<Duration>,
    /// Timeout of one attempt of an AWS call.
    pub operation_timeout: Option<Duration>,
}

/// AWS settings after merging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region, if fixed by configuration.
    pub region: Option<String>,
    /// Account id, if fixed by configuration.
    pub account_id: Option<String>,
    /// Endpoint override.
    pub endpoint_url: Option<String>,
    /// Named profile.
    pub profile: Option<String>,
    /// How long opening a connection may take; [`DEFAULT_CONNECT_TIMEOUT`] when `None`.
    pub connect_timeout: Option<Duration>,
    /// How long one attempt of a call may wait for its answer; [`DEFAULT_OPERATION_TIMEOUT`]
    /// when `None`. The SDK retries an attempt that timed out, so a call gives up after at
    /// most [`crate::aws::TIMEOUT_ATTEMPTS`] times this.
    pub operation_timeout: Option<Duration>,
}

/// The merged configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// The folder holding `lariat.toml` (or the current directory without one).
    pub root: PathBuf,
    /// Instance, if set.
    pub instance: Option<String>,
    /// Default publisher, if set.
    pub publisher: Option<String>,
    /// Migrations folder.
    pub migrations: PathBuf,
    /// Version store URL, if set; see [`Config::database_url`].
    database_url: Option<String>,
    /// Version table.
    pub versions_table: String,
    /// AWS settings.
    pub aws: AwsSettings,
}

impl fmt::Debug for Config {
    /// Never prints the database URL: it may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("root", &self.root)
            .field("instance", &self.instance)
            .field("publisher", &self.publisher)
            .field("migrations", &self.migrations)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("versions_table", &self.versions_table)
            .field("aws", &self.aws)
            .finish()
    }
}

impl Config {
    /// Reads `lariat.toml` (the given path, or `./lariat.toml` when present) and applies
    /// `overrides`, then `DATABASE_URL` and `AWS_ENDPOINT_URL` from `env`.
    pub fn load(
        overrides: Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let (path, required) = match &overrides.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let file = if required || path.exists() {
            read_file(&path)?
        } else {
            ConfigFile::default()
        };
        let root = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let migrations = overrides
            .migrations
            .or_else(|| file.migrations.map(|m| root.join(m)))
            .unwrap_or_else(|| root.join(DEFAULT_MIGRATIONS_DIR));
        let config = Config {
            instance: overrides.instance.or(file.instance),
            publisher: overrides.publisher.or(file.publisher),
            migrations,
            database_url: overrides
                .database_url
                .or_else(|| env("DATABASE_URL"))
                .or(file.database_url),
            versions_table: overrides
                .versions_table
                .or(file.versions_table)
                .unwrap_or_else(|| DEFAULT_VERSIONS_TABLE.to_owned()),
            aws: AwsSettings {
                region: overrides.region.or(file.aws.region),
                account_id: overrides.account_id.or(file.aws.account_id),
                endpoint_url: overrides
                    .endpoint_url
                    .or_else(|| env("AWS_ENDPOINT_URL"))
                    .or(file.aws.endpoint_url)
                    .filter(|url| !url.is_empty()),
                profile: overrides.profile.or(file.aws.profile),
                connect_timeout: overrides.connect_timeout.or(file.aws.connect_timeout),
                operation_timeout: overrides.operation_timeout.or(file.aws.operation_timeout),
            },
            root,
        };
        if let Some(instance) = &config.instance {
            naming::check_part("instance", instance).map_err(|source| ConfigError::Invalid {
                key: "instance",
                source,
            })?;
        }
        if let Some(publisher) = &config.publisher {
            naming::check_part("publisher", publisher).map_err(|source| ConfigError::Invalid {
                key: "publisher",
                source,
            })?;
        }
        Ok(config)
    }

    /// Instance and default publisher, which every standard name needs.
    pub fn naming(&self) -> Result<NamingDefaults, ConfigError> {
        let instance = self.instance.clone().ok_or(ConfigError::Missing {
            key: "instance",
            env: "LARIAT_INSTANCE",
            flag: "instance",
        })?;
        let publisher = self.publisher.clone().ok_or(ConfigError::Missing {
            key: "publisher",
            env: "LARIAT_PUBLISHER",
            flag: "publisher",
        })?;
        Ok(NamingDefaults {
            instance,
            publisher,
        })
    }

    /// The version store URL: the configured one, or a SQLite file per instance under
    /// `.lariat/` in the project root.
    pub fn database_url(&self) -> String {
        if let Some(url) = &self.database_url {
            return url.clone();
        }
        let instance = self.instance.as_deref().unwrap_or("default");
        let path = self
            .root
            .join(".lariat")
            .join(format!("{instance}.versions.db"));
        format!("sqlite://{}", path.display())
    }

    /// The database URL given by flag, `LARIAT_DATABASE_URL`, `DATABASE_URL` or lariat.toml;
    /// `None` when only the default would apply. The outbox lives in the application's own
    /// database, so it has no default.
    pub fn configured_database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }
}

fn read_file(path: &Path) -> Result<ConfigFile, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|err| ConfigError::Parse {
        path: path.to_owned(),
        line: err
            .span()
            .map(|s| crate::diagnostic::line_of(&text, s.start))
            .unwrap_or(1),
        message: err.message().trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn file_then_env_then_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lariat.toml");
        fs::write(
            &path,
            "instance = \"test\"\npublisher = \"auth\"\ndatabase_url = \"sqlite::memory:\"\n[aws]\nregion = \"eu-west-1\"\n",
        )
        .unwrap();
        let base = Overrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        let c = Config::load(base.clone(), env_none).unwrap();
        assert_eq!(c.instance.as_deref(), Some("test"));
        assert_eq!(c.database_url(), "sqlite::memory:");
        assert_eq!(c.migrations, dir.path().join("lariat/migrate"));
        assert_eq!(c.aws.region.as_deref(), Some("eu-west-1"));

        let env = |key: &str| (key == "DATABASE_URL").then(|| "postgres://u:p@h/db".to_owned());
        let c = Config::load(base.clone(), env).unwrap();
        assert_eq!(c.database_url(), "postgres://u:p@h/db");
        assert!(
            !format!("{c:?}").contains(":p@"),
            "password leaked into Debug"
        );

        let flags = Overrides {
            instance: Some("staging".into()),
            database_url: Some("sqlite://x.db".into()),
            ..base
        };
        let c = Config::load(flags, env).unwrap();
        assert_eq!(c.instance.as_deref(), Some("staging"));
        assert_eq!(c.database_url(), "sqlite://x.db");
    }

    #[test]
    fn unknown_keys_are_errors_with_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lariat.toml");
        fs::write(&path, "instance = \"test\"\ninstanse = \"x\"\n").unwrap();
        let err = Config::load(
            Overrides {
                config: Some(path),
                ..Default::default()
            },
            env_none,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(":2: unknown field `instanse`"),
            "{err}"
        );
    }

    #[test]
    fn aws_timeouts_from_the_file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lariat.toml");
        fs::write(
            &path,
            "[aws]\nconnect_timeout = \"500ms\"\noperation_timeout = \"2m\"\n",
        )
        .unwrap();
        let base = Overrides {
            config: Some(path.clone()),
            ..Default::default()
        };
        let c = Config::load(base.clone(), env_none).unwrap();
        assert_eq!(c.aws.connect_timeout, Some(Duration::from_millis(500)));
        assert_eq!(c.aws.operation_timeout, Some(Duration::from_secs(120)));
        let flags = Overrides {
            operation_timeout: Some(Duration::from_secs(5)),
            ..base
        };
        let c = Config::load(flags, env_none).unwrap();
        assert_eq!(c.aws.operation_timeout, Some(Duration::from_secs(5)));

        for (text, expect) in [
            (
                "connect_timeout = \"0s\"",
                ":2: `0s` is out of range: write 100ms to 5m",
            ),
            (
                "operation_timeout = \"soon\"",
                ":2: `soon` is not a duration",
            ),
        ] {
            fs::write(&path, format!("[aws]\n{text}\n")).unwrap();
            let err = Config::load(
                Overrides {
                    config: Some(path.clone()),
                    ..Default::default()
                },
                env_none,
            )
            .unwrap_err();
            assert!(err.to_string().contains(expect), "{text}: {err}");
        }
    }

    #[test]
    fn missing_instance_says_how_to_set_it() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("lariat.toml");
        fs::write(&empty, "").unwrap();
        let c = Config::load(
            Overrides {
                config: Some(empty),
                publisher: Some("p".into()),
                migrations: Some("x".into()),
                ..Default::default()
            },
            env_none,
        )
        .unwrap();
        let err = c.naming().unwrap_err().to_string();
        assert!(
            err.contains("LARIAT_INSTANCE") && err.contains("--instance"),
            "{err}"
        );
    }

    #[test]
    fn hyphenated_instance_is_rejected() {
        let err = Config::load(
            Overrides {
                instance: Some("prod-eu".into()),
                ..Default::default()
            },
            env_none,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no hyphen"), "{err}");
    }

    #[test]
    fn default_database_is_a_sqlite_file_per_instance() {
        let c = Config::load(
            Overrides {
                config: Some("tests/fixtures/empty.toml".into()),
                instance: Some("test".into()),
                ..Default::default()
            },
            env_none,
        )
        .unwrap();
        assert_eq!(
            c.database_url(),
            "sqlite://tests/fixtures/.lariat/test.versions.db"
        );
    }
}
