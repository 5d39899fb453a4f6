//! `lariat generate migration NAME`: a new, numbered migration file from the template in
//! `templates/migration.toml.hbs`.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use handlebars::Handlebars;

use crate::migration::{self, is_snake_case};

/// The template of a new migration, compiled into the binary.
pub const MIGRATION_TEMPLATE: &str = include_str!("../templates/migration.toml.hbs");

const VERSION_FORMAT: &str = "%Y%m%d%H%M%S";

/// Why a migration could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The name is not snake_case.
    #[error("`{0}` is not a snake_case name\n  use lower-case letters, digits and single underscores, starting with a letter, e.g. `user_created`")]
    BadName(String),
    /// The folder or file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The template failed to render.
    #[error("the migration template does not render: {0}")]
    Template(String),
}

/// Writes `<dir>/<version>_<name>.toml` and returns its path.
///
/// The version is `now` as a UTC timestamp, or one second after the newest existing version
/// when that is later (two runs in the same second never collide, and versions only grow).
/// An existing file is never overwritten.
pub fn generate_migration(
    dir: &Path,
    name: &str,
    now: DateTime<Utc>,
) -> Result<PathBuf, GenerateError> {
    if !is_snake_case(name) {
        return Err(GenerateError::BadName(name.to_owned()));
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| GenerateError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let newest = newest_version(dir).map_err(io(dir))?;
    let mut version = now.naive_utc();
    if let Some(newest) = newest.filter(|n| *n >= version) {
        version = newest + TimeDelta::seconds(1);
    }
    let mut handlebars = Handlebars::new();
    handlebars.set_strict_mode(true);
    handlebars.register_escape_fn(handlebars::no_escape);
    loop {
        let stamp = version.format(VERSION_FORMAT).to_string();
        let path = dir.join(format!("{stamp}_{name}.toml"));
        let text = handlebars
            .render_template(
                MIGRATION_TEMPLATE,
                &serde_json::json!({ "name": name, "version": stamp, "created_at": now.to_rfc3339() }),
            )
            .map_err(|e| GenerateError::Template(e.to_string()))?;
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(text.as_bytes()).map_err(io(&path))?;
                return Ok(path);
            }
            // another process took this second: take the next
            Err(e) if e.kind() == ErrorKind::AlreadyExists => version += TimeDelta::seconds(1),
            Err(e) => return Err(io(&path)(e)),
        }
    }
}

fn newest_version(dir: &Path) -> std::io::Result<Option<NaiveDateTime>> {
    let mut newest = None;
    for entry in fs::read_dir(dir)? {
        let file_name = entry?.file_name();
        let Some((version, _)) = migration::parse_file_name(&file_name.to_string_lossy()) else {
            continue;
        };
        if let Ok(v) = NaiveDateTime::parse_from_str(&version.to_string(), VERSION_FORMAT) {
            newest = newest.max(Some(v));
        }
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::MigrationFile;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn writes_a_parseable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path =
            generate_migration(dir.path(), "user_created", at("2024-05-06T07:08:09Z")).unwrap();
        assert_eq!(
            path.file_name().unwrap(),
            "20240506070809_user_created.toml"
        );
        let source = fs::read_to_string(&path).unwrap();
        let file = MigrationFile {
            version: 20240506070809,
            name: "user_created".into(),
            path,
            checksum: String::new(),
            source,
        };
        let raw = migration::parse(&file).expect("the template parses");
        assert_eq!(raw.description.as_deref(), Some("user_created"));
    }

    #[test]
    fn twice_in_one_second_does_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let now = at("2024-05-06T07:08:59Z");
        let a = generate_migration(dir.path(), "a", now).unwrap();
        let b = generate_migration(dir.path(), "a", now).unwrap();
        let c = generate_migration(dir.path(), "c", now).unwrap();
        assert_eq!(a.file_name().unwrap(), "20240506070859_a.toml");
        assert_eq!(b.file_name().unwrap(), "20240506070900_a.toml");
        assert_eq!(c.file_name().unwrap(), "20240506070901_c.toml");
    }

    #[test]
    fn refuses_names_that_are_not_snake_case() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["UserCreated", "user-created", "", "1st"] {
            assert!(matches!(
                generate_migration(dir.path(), bad, Utc::now()),
                Err(GenerateError::BadName(_))
            ));
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
