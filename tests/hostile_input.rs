//! The command line against hostile or broken input (issue 11): duration options out of range,
//! named pipes and devices named like migrations, invalid table names, control characters in
//! stored rows, database errors and refusals that must come before any AWS call. No emulator:
//! where AWS would be asked, the endpoint is a closed port, so an AWS call shows as an error.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use assert_cmd::Command as Cmd;
use predicates::prelude::*;
use predicates::str::contains;

/// Long enough for any of these commands; a command that hangs (a named pipe, a pool that
/// retries for 30 s) fails the test instead of blocking the run.
const HANG: Duration = Duration::from_secs(20);

/// `lariat` in `dir`, isolated from the caller's environment, with AWS pointed at a closed
/// port: a command that talks to AWS fails with a connection error.
fn lariat(dir: &Path) -> Cmd {
    let mut cmd = Cmd::cargo_bin("lariat").unwrap();
    cmd.current_dir(dir).timeout(HANG);
    for (key, _) in std::env::vars() {
        if key.starts_with("LARIAT_") || key.starts_with("AWS_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd.env(
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", common::closed_port()),
    )
    .env("AWS_ACCESS_KEY_ID", "test")
    .env("AWS_SECRET_ACCESS_KEY", "test")
    .env("AWS_REGION", "us-east-1")
    .env("AWS_EC2_METADATA_DISABLED", "true")
    .env("LARIAT_INSTANCE", "test")
    .env("LARIAT_PUBLISHER", "pub");
    cmd
}

/// A project folder with one valid migration.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("lariat/migrate");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("20240101000000_fine.toml"),
        "[[create_topic]]\ntype = \"fine\"\n",
    )
    .unwrap();
    dir
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

/// Regression (issue 11): `outbox relay --lease 0` panicked in the lease keeper and
/// `--lease 1ms` was accepted. Every duration option has a range; outside it is exit 64.
#[test]
fn duration_options_out_of_range_are_usage_errors() {
    let dir = project();
    let db = sqlite_url(dir.path(), "app.db");
    let relay = |option: &str, value: &str| {
        let mut cmd = lariat(dir.path());
        cmd.args(["outbox", "relay", "--database-url", &db, option, value]);
        cmd
    };
    for (option, value, why) in [
        ("--lease", "0", "too short: the least is 1s"),
        ("--lease", "1ms", "too short: the least is 1s"),
        ("--lease", "2h", "too long: the most is 1h"),
        ("--sleep-on-empty", "0", "too short: the least is 10ms"),
        ("--backoff", "0s", "too short: the least is 10ms"),
        ("--max-backoff", "5ms", "too short: the least is 10ms"),
        ("--report-every", "0", "too short: the least is 1s"),
        ("--cleanup-dead-after", "1s", "too short: the least is 1m"),
        ("--lease", "99999999999999999h", "too long a duration"),
        ("--lease", "soon", "is not a duration"),
    ] {
        relay(option, value)
            .assert()
            .code(64)
            .stderr(contains(option).and(contains(why)));
    }
    lariat(dir.path())
        .args(["migrate", "--lock-timeout", "2d"])
        .assert()
        .code(64)
        .stderr(contains("--lock-timeout").and(contains("too long: the most is 1d")));
    // `7d` is what the README shows for --cleanup-dead-after
    relay("--cleanup-dead-after", "7d")
        .args(["--log-level", "nonsense"])
        .assert()
        .code(64)
        .stderr(contains("--log-level").and(contains("nonsense")));
}

/// Regression (issue 11): a named pipe named like a migration hung `validate`, and a symlink
/// to /dev/zero read until memory ran out.
#[test]
fn pipes_and_devices_named_like_migrations_are_refused() {
    let dir = project();
    let migrations = dir.path().join("lariat/migrate");
    let status = Command::new("mkfifo")
        .arg(migrations.join("20240101000001_pipe.toml"))
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo");
    std::os::unix::fs::symlink("/dev/zero", migrations.join("20240101000002_zero.toml")).unwrap();
    std::fs::create_dir(migrations.join("20240101000003_folder.toml")).unwrap();
    lariat(dir.path()).arg("validate").assert().code(3).stderr(
        contains("20240101000001_pipe.toml")
            .and(contains("is a named pipe, not a regular file"))
            .and(contains("20240101000002_zero.toml"))
            .and(contains(
                "is a device (a symbolic link to /dev/zero), not a regular file",
            ))
            .and(contains("20240101000003_folder.toml"))
            .and(contains("is a directory, not a regular file"))
            .and(contains("3 errors")),
    );
}

/// Regression (issue 11): an invalid table name exited 1 for `--versions-table` and
/// `outbox install --table`, 3 for `inbox install --table`. It is a configuration error: 3.
#[test]
fn invalid_table_names_exit_3_everywhere() {
    let dir = project();
    let db = sqlite_url(dir.path(), "app.db");
    lariat(dir.path())
        .args([
            "--database-url",
            &db,
            "--versions-table",
            "bad-name",
            "status",
        ])
        .assert()
        .code(3)
        .stderr(contains("invalid version table name `bad-name`"));
    lariat(dir.path())
        .args([
            "--database-url",
            &db,
            "--versions-table",
            "bad;name",
            "migrate",
        ])
        .assert()
        .code(3)
        .stderr(contains("invalid version table name `bad;name`"));
    lariat(dir.path())
        .args([
            "outbox",
            "install",
            "--database-url",
            &db,
            "--table",
            "bad-name",
        ])
        .assert()
        .code(3)
        .stderr(contains("invalid outbox table name `bad-name`"));
    lariat(dir.path())
        .args([
            "outbox",
            "install",
            "--print",
            "--backend",
            "sqlite",
            "--table",
            "bad-name",
        ])
        .assert()
        .code(3)
        .stderr(contains("invalid outbox table name `bad-name`"));
    lariat(dir.path())
        .args([
            "inbox",
            "--table",
            "bad-name",
            "install",
            "--database-url",
            &db,
        ])
        .assert()
        .code(3)
        .stderr(contains("invalid inbox table name `bad-name`"));
}

/// Regression (issue 11): `inbox list` printed a stored `type` and error message raw, so an
/// escape sequence reached the terminal and a newline forged a table row. JSON is unchanged.
#[test]
fn inbox_list_escapes_control_characters() {
    let dir = project();
    let db = sqlite_url(dir.path(), "service.db");
    lariat(dir.path())
        .args(["inbox", "install", "--database-url", &db])
        .assert()
        .success();
    let evil_type = "event_x\u{1b}[2J\u{1b}[31m";
    let evil_error =
        "boom\n00000000-0000-0000-0000-000000000000  event_forged  2024-01-01  processed  -";
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
        sqlx::query(
            "INSERT INTO lariat_inbox (uuid, type, version, publisher, data, message, queue,
                 client_error_message, received_at)
             VALUES ('6a1f6a56-27b5-4f4e-9d3c-3d4b7e0c9a11', ?, 1, 'p', '{}', '{}', 'q', ?,
                 '2024-01-01T00:00:00.000000Z')",
        )
        .bind(evil_type)
        .bind(evil_error)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
    let out = lariat(dir.path())
        .args(["inbox", "list", "--client-errors", "--database-url", &db])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains('\u{1b}'), "no raw escape byte:\n{text:?}");
    assert!(text.contains("event_x\\x1b[2J\\x1b[31m"), "{text}");
    assert!(text.contains("boom\\n00000000-0000"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("processed")).count(),
        1,
        "the forged row stays inside the error column:\n{text}"
    );
    let json = lariat(dir.path())
        .args([
            "inbox",
            "list",
            "--client-errors",
            "--json",
            "--database-url",
            &db,
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(rows[0]["type"], evil_type);
    assert_eq!(rows[0]["client_error_message"], evil_error);
}

/// Regression (issue 11): refusals asked STS for the account id first, so with AWS out of
/// reach an edited file or an unknown version was reported as a connection error.
#[test]
fn refusals_come_before_any_aws_call() {
    let dir = project();
    let db = sqlite_url(dir.path(), "versions.db");
    let migrations = dir.path().join("lariat/migrate");
    std::fs::write(
        migrations.join("20240101000100_second.toml"),
        "[[create_topic]]\ntype = \"second\"\n",
    )
    .unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = lariat::store::connect(&db, "lariat_versions")
            .await
            .unwrap();
        store.ensure_table().await.unwrap();
        // applied, but not with the file's checksum: the file was edited since
        store
            .mark(
                20240101000000,
                "fine",
                "0000",
                lariat::store::VersionState::Applied,
            )
            .await
            .unwrap();
        store.close().await;
    });
    lariat(dir.path())
        .args(["--database-url", &db, "migrate"])
        .assert()
        .code(4)
        .stderr(contains("20240101000000").and(contains("modified")));
    lariat(dir.path())
        .args([
            "--database-url",
            &db,
            "rollback",
            "20230101000000",
            "--allow-modified",
        ])
        .assert()
        .code(64)
        .stderr(contains("20230101000000"));
    // an older file pending behind an applied newer one
    std::fs::write(
        migrations.join("20231231000000_older.toml"),
        "[[create_topic]]\ntype = \"older\"\n",
    )
    .unwrap();
    lariat(dir.path())
        .args(["--database-url", &db, "migrate", "--allow-modified"])
        .assert()
        .code(4)
        .stderr(contains("20231231000000"));
}

/// Regression (issue 11): `inbox list` against a server that refuses connections retried for
/// 30 s and then said only "pool timed out"; it fails at once with the cause, like the others.
#[test]
fn an_unreachable_inbox_database_fails_at_once_with_its_cause() {
    let dir = project();
    let url = format!(
        "postgres://lariat:s3cret-pw@127.0.0.1:{}/app",
        common::closed_port()
    );
    lariat(dir.path())
        .args(["inbox", "list", "--database-url", &url])
        .assert()
        .failure()
        .stderr(
            contains("could not connect")
                .and(contains("refused"))
                .and(contains("s3cret-pw").not()),
        );
}

/// Regression (issue 11): database errors said only "could not connect ... check the database
/// url"; they carry the server's message once, never the password.
#[test]
fn database_errors_show_the_servers_message_once_and_never_the_password() {
    let dir = project();
    let mut checked = 0;
    if let Some(url) = common::postgres_url() {
        let (base, _) = url.rsplit_once('/').unwrap();
        let base = base.replacen("postgres://postgres@", "postgres://postgres:s3cret-pw@", 1);
        let missing = format!("{base}/lariat_no_such_database");
        for args in [
            vec!["--database-url", missing.as_str(), "status"],
            vec!["outbox", "status", "--database-url", missing.as_str()],
            vec!["inbox", "list", "--database-url", missing.as_str()],
        ] {
            let out = lariat(dir.path())
                .args(&args)
                .assert()
                .code(1)
                .get_output()
                .clone();
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(
                stderr
                    .matches("\"lariat_no_such_database\" does not exist")
                    .count(),
                1,
                "{args:?}: the server's message, once:\n{stderr}"
            );
            assert!(!stderr.contains("s3cret-pw"), "{args:?}: {stderr}");
        }
        checked += 1;
    }
    if let Some(url) = common::mysql_url() {
        let wrong = url.replacen("mysql://root@", "mysql://root:s3cret-pw@", 1);
        for args in [
            vec!["--database-url", wrong.as_str(), "status"],
            vec!["outbox", "status", "--database-url", wrong.as_str()],
            vec!["inbox", "list", "--database-url", wrong.as_str()],
        ] {
            let out = lariat(dir.path())
                .args(&args)
                .assert()
                .code(1)
                .get_output()
                .clone();
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(
                stderr.matches("Access denied for user").count(),
                1,
                "{args:?}: the server's message, once:\n{stderr}"
            );
            assert!(!stderr.contains("s3cret-pw"), "{args:?}: {stderr}");
        }
        checked += 1;
    }
    if checked == 0 {
        eprintln!("skipped: set LARIAT_TEST_POSTGRES_URL or LARIAT_TEST_MYSQL_URL");
    }
}

/// Regression (issue 11): user tags with keys lariat sets itself were dropped without a word;
/// tags AWS refuses (characters, lengths, the `aws:` prefix) failed only at AWS.
#[test]
fn tags_are_checked_against_aws_rules_and_lariats_own() {
    let dir = project();
    let migrations = dir.path().join("lariat/migrate");
    std::fs::write(
        migrations.join("20240101000100_own_tags.toml"),
        "[[create_queue]]\ntype = \"jobs\"\ntags = { managed_by = \"terraform\", team = \"ops\" }\n",
    )
    .unwrap();
    lariat(dir.path())
        .arg("validate")
        .assert()
        .success()
        .stderr(
            contains("warning: tag `managed_by` is one lariat sets itself (to `lariat` here)")
                .and(contains("20240101000100_own_tags.toml:1")),
        );
    for (tags, why) in [
        (
            "{ \"AWS:cost\" = \"x\" }",
            "the `aws:` prefix is reserved by AWS",
        ),
        (
            "{ team = \"a;b\" }",
            "contains `;`, which AWS does not allow",
        ),
        (
            "{ \"bad*key\" = \"x\" }",
            "contains `*`, which AWS does not allow",
        ),
        ("{ \"\" = \"x\" }", "AWS allows 1 to 128"),
    ] {
        std::fs::write(
            migrations.join("20240101000200_bad_tags.toml"),
            format!("[[create_topic]]\ntype = \"tagged\"\ntags = {tags}\n"),
        )
        .unwrap();
        lariat(dir.path())
            .arg("validate")
            .assert()
            .code(3)
            .stderr(contains(why).and(contains("20240101000200_bad_tags.toml:1")));
    }
    // lengths count characters, not bytes: 128 two-byte letters are a valid key
    std::fs::write(
        migrations.join("20240101000200_bad_tags.toml"),
        format!(
            "[[create_topic]]\ntype = \"tagged\"\ntags = {{ \"{}\" = \"{}\" }}\n",
            "é".repeat(128),
            "ü".repeat(256)
        ),
    )
    .unwrap();
    lariat(dir.path()).arg("validate").assert().success();
}
