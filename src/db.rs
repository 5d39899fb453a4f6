//! Database plumbing shared by the version [`store`](crate::store), the
//! [`outbox`](crate::outbox) and the [`inbox`](crate::inbox): which backend a URL names, the
//! URL forms the drivers want, redaction of passwords, the table-name rules, the clock and the
//! errors they have in common.
//!
//! Each of the three keeps one file per backend for its SQL, as sqlx keeps one driver per
//! database; what does not depend on the table's job lives here, written once.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};

/// The URL forms lariat accepts, for error messages.
pub const SUPPORTED_URLS: &str =
    "sqlite:<path>, sqlite::memory:, postgres://, postgresql://, mysql://, mariadb://";

/// The databases lariat supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL 8 or MariaDB 10.6+ (one driver).
    MySql,
}

impl Backend {
    /// `Sqlite`, `Postgres` or `MySql`, the name of sqlx's type for the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "Sqlite",
            Self::Postgres => "Postgres",
            Self::MySql => "MySql",
        }
    }

    /// The backend a database URL names, by its scheme (any case): `sqlite:` (with or
    /// without `//`), `postgres://`/`postgresql://`, `mysql://`/`mariadb://`.
    ///
    /// A server URL without `//` (`postgres:db`) is refused: it names no host, and the
    /// error lists the forms that work.
    pub fn from_url(url: &str) -> Result<Self, DbError> {
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(DbError::unsupported_url(url));
        };
        let server = rest.starts_with("//");
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" if server => Ok(Self::Postgres),
            "mysql" | "mariadb" if server => Ok(Self::MySql),
            _ => Err(DbError::unsupported_url(url)),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
            Self::MySql => "MySQL/MariaDB",
        })
    }
}

/// What a table is for: decides the longest name it may have and how errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TableKind {
    /// lariat's version table (and the `<name>_records` table beside it).
    Version,
    /// The transactional outbox.
    Outbox,
    /// The inbox.
    Inbox,
}

impl TableKind {
    /// The longest name a table of this kind may have: PostgreSQL cuts identifiers at 63
    /// characters, and the outbox and inbox add suffixes of up to 15 for their indexes.
    pub fn max_len(self) -> usize {
        match self {
            Self::Version => 63,
            Self::Outbox | Self::Inbox => 48,
        }
    }
}

impl fmt::Display for TableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Version => "version",
            Self::Outbox => "outbox",
            Self::Inbox => "inbox",
        })
    }
}

/// A table name that is safe to write into SQL text: `^[A-Za-z_][A-Za-z0-9_]*$`, at most
/// [`TableKind::max_len`] characters.
///
/// It is the only identifier lariat ever writes into SQL; every value is a bound parameter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName(String);

impl TableName {
    /// Checks `name` for a table of `kind`.
    pub fn new(kind: TableKind, name: &str) -> Result<Self, DbError> {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if first_ok && rest_ok && name.len() <= kind.max_len() {
            Ok(Self(name.to_owned()))
        } else {
            Err(DbError::InvalidTableName {
                kind,
                name: name.to_owned(),
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TableName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<TableName> for String {
    fn from(name: TableName) -> Self {
        name.0
    }
}

/// The errors the store, the outbox and the inbox have in common: a bad table name, a URL
/// lariat cannot use, a database it cannot reach.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The table name is not a plain SQL identifier of the allowed length.
    #[error(
        "invalid {kind} table name `{name}`: use 1 to {max} ASCII letters, digits or \
         underscores, not starting with a digit",
        max = .kind.max_len()
    )]
    InvalidTableName {
        /// What the table is for.
        kind: TableKind,
        /// The rejected name.
        name: String,
    },

    /// The database URL has a scheme lariat does not support, or a server scheme without
    /// `//`.
    #[error("unsupported database url `{url}`: use one of {SUPPORTED_URLS}")]
    UnsupportedUrl {
        /// The URL, with any password already replaced by `***`.
        url: String,
    },

    /// The database could not be reached.
    #[error(
        "could not connect to `{url}`: {source}; check the database url and that the server \
         is running"
    )]
    Connect {
        /// The URL, with any password already replaced by `***`.
        url: String,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
}

impl DbError {
    /// [`DbError::UnsupportedUrl`] for `url`, redacted.
    pub fn unsupported_url(url: &str) -> Self {
        Self::UnsupportedUrl {
            url: redact_url(url),
        }
    }

    /// [`DbError::Connect`] for `url`, redacted.
    pub fn connect(url: &str, source: sqlx::Error) -> Self {
        Self::Connect {
            url: redact_url(url),
            source,
        }
    }
}

/// Turns a driver error into [`DbError::Connect`] for `url`, for `map_err`.
pub(crate) fn connect_error(url: &str) -> impl FnOnce(sqlx::Error) -> DbError + '_ {
    move |source| DbError::connect(url, source)
}

/// What follows the scheme of a `sqlite:` URL, without a leading `//`: the file (or
/// `:memory:`) and any `?` parameters.
pub(crate) fn sqlite_path(url: &str) -> &str {
    let rest = url.split_once(':').map_or("", |(_, rest)| rest);
    rest.strip_prefix("//").unwrap_or(rest)
}

/// `url` in the form sqlx's MySQL driver reads: `mariadb://…` becomes `mysql://…` (MariaDB
/// speaks the same protocol; sqlx knows only the `mysql` scheme).
pub(crate) fn mysql_url(url: &str) -> Cow<'_, str> {
    match url.split_once(':') {
        Some((scheme, rest)) if !scheme.eq_ignore_ascii_case("mysql") => {
            Cow::Owned(format!("mysql:{rest}"))
        }
        _ => Cow::Borrowed(url),
    }
}

/// Returns `url` with any password replaced by `***`, safe to print or log.
///
/// `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`; a `password=`
/// query parameter is masked the same way. URLs without credentials are returned unchanged.
pub fn redact_url(url: &str) -> String {
    // The userinfo starts after `scheme:` and an optional `//` (a refused `postgres:u:p@h`
    // is still printed); a SQLite path has none.
    let start = match url.split_once(':') {
        Some((scheme, _)) if !scheme.eq_ignore_ascii_case("sqlite") => {
            let after_colon = scheme.len() + 1;
            after_colon
                + if url[after_colon..].starts_with("//") {
                    2
                } else {
                    0
                }
        }
        _ => return redact_query(url),
    };
    let (head, rest) = url.split_at(start);
    // The userinfo ends at the last `@` before the query: a password may hold `@` or `/`.
    let before_query = rest.find('?').unwrap_or(rest.len());
    let redacted = match rest[..before_query].rfind('@') {
        Some(at) if rest[..at].contains(':') => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{head}{user}:***{}", &rest[at..])
        }
        _ => url.to_owned(),
    };
    redact_query(&redacted)
}

/// Masks the values of password-like query parameters.
fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
            _ => param.to_owned(),
        })
        .collect();
    format!("{base}?{}", params.join("&"))
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password") || key == "pass" || key == "pwd" || key.contains("secret")
}

/// Now, truncated to microseconds, the precision every backend stores.
pub(crate) fn now_micros() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scheme() {
        let cases = [
            ("sqlite:lariat.db", Backend::Sqlite),
            ("sqlite://lariat.db", Backend::Sqlite),
            ("sqlite::memory:", Backend::Sqlite),
            ("SQLite:x.db?mode=rwc", Backend::Sqlite),
            ("postgres://u@h/db", Backend::Postgres),
            ("postgresql://u@h:5432/db", Backend::Postgres),
            ("POSTGRES://h/db", Backend::Postgres),
            ("mysql://root@h/db", Backend::MySql),
            ("mariadb://root@h/db", Backend::MySql),
            ("MariaDB://h/db", Backend::MySql),
        ];
        for (url, backend) in cases {
            assert_eq!(Backend::from_url(url).ok(), Some(backend), "{url}");
        }
    }

    #[test]
    fn unsupported_urls_are_refused_with_the_forms_that_work() {
        for url in [
            "postgres:x",
            "postgresql:db",
            "mysql:db",
            "mariadb:h/db",
            "oracle://x",
            "http://h",
            "lariat.db",
            "",
        ] {
            let err = Backend::from_url(url).expect_err(url);
            assert!(matches!(err, DbError::UnsupportedUrl { .. }), "{url}");
            let text = err.to_string();
            assert!(text.contains("postgres://"), "{text}");
            assert!(text.contains("sqlite:<path>"), "{text}");
        }
    }

    #[test]
    fn mariadb_is_read_as_mysql() {
        assert_eq!(mysql_url("mariadb://u:p@h/db"), "mysql://u:p@h/db");
        assert_eq!(mysql_url("MariaDB://h/db"), "mysql://h/db");
        assert_eq!(mysql_url("mysql://h/db"), "mysql://h/db");
        assert_eq!(mysql_url("MYSQL://h/db"), "MYSQL://h/db");
        assert!(matches!(mysql_url("mysql://h/db"), Cow::Borrowed(_)));
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(sqlite_path("sqlite:lariat.db"), "lariat.db");
        assert_eq!(sqlite_path("sqlite://dir/lariat.db"), "dir/lariat.db");
        assert_eq!(sqlite_path("sqlite::memory:"), ":memory:");
        assert_eq!(sqlite_path("sqlite:x.db?mode=ro"), "x.db?mode=ro");
    }

    #[test]
    fn table_names() {
        for ok in ["lariat_versions", "_x", "A", "a1_B2", &"a".repeat(63)] {
            assert!(TableName::new(TableKind::Version, ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a b",
            "a;drop table x",
            "\"a\"",
            "schema.table",
            "tablé",
            &"a".repeat(64),
        ] {
            assert!(
                matches!(
                    TableName::new(TableKind::Version, bad),
                    Err(DbError::InvalidTableName { .. })
                ),
                "{bad}"
            );
        }
        for kind in [TableKind::Outbox, TableKind::Inbox] {
            assert!(TableName::new(kind, &"a".repeat(48)).is_ok());
            let err = TableName::new(kind, &"a".repeat(49)).expect_err("too long");
            assert!(err.to_string().contains("use 1 to 48"), "{err}");
        }
        let err = TableName::new(TableKind::Inbox, "bad-name").expect_err("bad");
        assert_eq!(
            err.to_string(),
            "invalid inbox table name `bad-name`: use 1 to 48 ASCII letters, digits or \
             underscores, not starting with a digit"
        );
    }

    #[test]
    fn redaction() {
        let cases = [
            (
                "postgres://user:secret@host:5432/db",
                "postgres://user:***@host:5432/db",
            ),
            (
                "mysql://root:p%40ss@127.0.0.1/test",
                "mysql://root:***@127.0.0.1/test",
            ),
            (
                "mysql://root:pa@ss/word@host/db",
                "mysql://root:***@host/db",
            ),
            (
                "mariadb://root:secret@host/db",
                "mariadb://root:***@host/db",
            ),
            ("postgres://user@host/db", "postgres://user@host/db"),
            ("postgres://host/db", "postgres://host/db"),
            ("sqlite:./lariat.db", "sqlite:./lariat.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            (
                "postgres://u@h/db?sslmode=require&password=hunter2",
                "postgres://u@h/db?sslmode=require&password=***",
            ),
            ("postgres:x?pwd=hunter2", "postgres:x?pwd=***"),
            ("postgres:u:hunter2@h/db", "postgres:u:***@h/db"),
            ("sqlite:a:b@c.db", "sqlite:a:b@c.db"),
            ("postgres://u:@h/db", "postgres://u:***@h/db"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_url(input), expected, "redacting {input}");
        }
    }

    #[test]
    fn errors_never_show_the_password() {
        for url in [
            "oracle://scott:tiger@db/x",
            "postgres:scott:tiger@db/x?password=tiger",
            "mysql:x?secret=tiger",
        ] {
            let err = Backend::from_url(url).expect_err(url);
            let text = format!("{err} {err:?}");
            assert!(!text.contains("tiger"), "{text}");
        }
        let err = DbError::unsupported_url("oracle://scott:tiger@db/x");
        assert!(err.to_string().contains("oracle://scott:***@db/x"), "{err}");
        let err = DbError::connect(
            "postgres://u:tiger@h/db",
            sqlx::Error::Protocol("refused".into()),
        );
        let text = format!("{err} {err:?}");
        assert!(!text.contains("tiger"), "{text}");
    }
}
