//! The command line where its output is the product: validation errors, the graph, generated
//! files. No AWS and no database: these commands work from the files alone.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use assert_cmd::Command as Cmd;
use predicates::prelude::*;
use predicates::str::contains;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `lariat` in the repository root, isolated from the caller's environment.
fn lariat() -> Cmd {
    let mut cmd = Cmd::cargo_bin("lariat").unwrap();
    cmd.current_dir(manifest_dir());
    for (key, _) in std::env::vars() {
        if key.starts_with("LARIAT_") || key.starts_with("AWS_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn validate_reports_one_precise_error_per_broken_file() {
    let out = lariat()
        .args([
            "--dir",
            "tests/fixtures/broken",
            "--instance",
            "test",
            "--publisher",
            "pub",
            "validate",
        ])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let mut per_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for block in stderr.split("\n\n").filter(|b| b.starts_with("error:")) {
        let location = block
            .lines()
            .find(|l| l.trim_start().starts_with("-->"))
            .unwrap();
        let file = Path::new(
            location
                .trim_start()
                .trim_start_matches("--> ")
                .split(':')
                .next()
                .unwrap(),
        )
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
        per_file.entry(file).or_default().push(block.to_owned());
    }
    let expect = [
        (
            "20240101000001_unknown_key.toml",
            "unknown field `visibility`",
        ),
        (
            "20240101000002_wrong_type.toml",
            "invalid type: string \"thirty\", expected u32",
        ),
        ("2024_bad_file_name.toml", "is not a migration file name"),
        (
            "20240101000003_first.toml",
            "version 20240101000003 is used twice",
        ),
        (
            "20240101000004_fifo_mismatch.toml",
            "is FIFO but queue test-event-queue-pub-fifo_mismatch is standard",
        ),
        (
            "20240101000005_missing_endpoint.toml",
            "queue test-event-queue-pub-missing_endpoint-nobody does not exist at this version",
        ),
        (
            "20240101000006_delete_never_created.toml",
            "queue test-event-queue-pub-never_created-ghost does not exist",
        ),
        ("20240101000007_name_too_long.toml", "AWS allows at most 80"),
        ("20240101000008_truncated.toml", "unclosed inline table"),
        ("20240101000009_binary_garbage.toml", "not UTF-8"),
        ("20240101000010_hyphen_in_part.toml", "no hyphen"),
        (
            "20240101000011_fifo_only_attribute.toml",
            "applies to FIFO queues only",
        ),
        (
            "20241399000000_month_thirteen.toml",
            "version 20241399000000 is not a UTC date and time: month 13 does not exist",
        ),
    ];
    for (file, message) in expect {
        let errors = per_file
            .get(file)
            .unwrap_or_else(|| panic!("no error for {file}:\n{stderr}"));
        assert_eq!(errors.len(), 1, "{file}: {errors:#?}");
        assert!(
            errors[0].contains(message),
            "{file}: expected {message:?} in\n{}",
            errors[0]
        );
        assert!(
            errors[0].contains("= help:"),
            "{file}: every error says how to fix it:\n{}",
            errors[0]
        );
    }
    assert_eq!(per_file.len(), expect.len(), "{stderr}");
    assert!(stderr.ends_with("13 errors, 0 warnings\n"), "{stderr}");
}

#[test]
fn errors_name_the_line() {
    lariat()
        .args([
            "--dir",
            "tests/fixtures/broken",
            "--instance",
            "test",
            "--publisher",
            "pub",
            "validate",
        ])
        .assert()
        .stderr(contains("20240101000001_unknown_key.toml:3"))
        .stderr(contains("20240101000004_fifo_mismatch.toml:8"));
}

/// Topic-to-topic links used to warn that AWS refuses them; lariat now derives direct
/// subscriptions, counted in the summary and listed with -v.
#[test]
fn the_example_validates_and_lists_its_derived_subscriptions() {
    lariat()
        .arg("validate")
        .assert()
        .success()
        .stdout("5 migrations, 20 operations, 4 derived subscriptions: valid\n")
        .stderr(contains("warning").not());
    lariat()
        .args(["-v", "validate"])
        .assert()
        .success()
        .stdout(contains("derived: topic test-event-fanout-client_panel-client_created -> queue test-event-queue-any-user_created-mailer (via test-event-fanout-any-user_created)"));
}

#[test]
fn a_log_filter_that_does_not_parse_is_named_not_ignored() {
    lariat()
        .arg("validate")
        .env("LARIAT_LOG", "lariat=loud")
        .assert()
        .success()
        .stdout(contains("valid"))
        .stderr(contains(
            "warning: LARIAT_LOG=\"lariat=loud\" is not a log filter",
        ));
    lariat()
        .arg("validate")
        .env("LARIAT_LOG", "lariat=info,aws_config=warn")
        .assert()
        .success()
        .stderr(contains("warning").not());
}

/// The example's DOT, checked in: a change to the graph shows in review. Regenerate with
/// `LARIAT_BLESS=1 cargo test --test cli`.
#[test]
fn graph_of_the_example_is_stable() {
    let dot = lariat().arg("graph").output().unwrap().stdout;
    let dot = String::from_utf8(dot).unwrap();
    let golden = manifest_dir().join("tests/fixtures/example.dot");
    if std::env::var_os("LARIAT_BLESS").is_some() {
        std::fs::write(&golden, &dot).unwrap();
    }
    assert_eq!(dot, std::fs::read_to_string(golden).unwrap());
}

#[test]
fn graphviz_accepts_the_graph() {
    if Command::new("dot").arg("-V").output().is_err() {
        eprintln!("skipped: Graphviz `dot` is not installed (apt-get install graphviz)");
        return;
    }
    for version in [None, Some("20240101000100")] {
        let mut args = vec!["graph"];
        if let Some(v) = version {
            args.extend(["--version", v]);
        }
        let dot = lariat().args(&args).output().unwrap().stdout;
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &dot).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "dot refused the graph: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
    }
}

#[test]
fn graph_at_an_older_version_and_as_mermaid() {
    lariat()
        .args(["graph", "--version", "20240101000000"])
        .assert()
        .success()
        .stdout(contains("test-event-fanout-registration-user_created.fifo"))
        .stdout(contains("queue:").not());
    lariat()
        .args(["graph", "--format", "mermaid"])
        .assert()
        .success()
        .stdout(contains("flowchart LR"));
    lariat()
        .args(["graph", "--version", "42"])
        .assert()
        .code(64)
        .stderr(contains("no migration with version 42"));
}

#[test]
fn generate_twice_in_one_second_does_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        lariat()
            .args([
                "--dir",
                dir.path().to_str().unwrap(),
                "generate",
                "migration",
                "user_created",
            ])
            .assert()
            .success()
            .stdout(contains("created "));
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_ne!(names[0][..14], names[1][..14], "versions differ: {names:?}");
    lariat()
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "--instance",
            "t",
            "--publisher",
            "p",
            "validate",
        ])
        .assert()
        .success()
        .stderr(contains("no operations"));
}

#[test]
fn generate_refuses_a_name_that_is_not_snake_case() {
    lariat()
        .args([
            "--dir",
            "/nonexistent/never-created",
            "generate",
            "migration",
            "UserCreated",
        ])
        .assert()
        .code(64)
        .stderr(contains("`UserCreated` is not a snake_case name"));
}

#[test]
fn missing_instance_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    lariat()
        .current_dir(dir.path())
        .arg("validate")
        .assert()
        .code(3)
        .stderr(contains("`instance` is not set"));
}

#[test]
fn usage_errors_exit_64() {
    lariat().arg("frobnicate").assert().code(64);
    lariat()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Usage: lariat"));
}

/// Regression: `lariat graph | head -1` printed `error: Broken pipe` and failed.
#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    for i in 0..400 {
        let text = format!("[[create_topic]]\ntype = \"t{i}\"\n[[create_queue]]\ntype = \"t{i}\"\ndest = \"worker\"\n[[subscribe]]\ntopic = {{ type = \"t{i}\" }}\nqueue = {{ type = \"t{i}\", dest = \"worker\" }}\n");
        std::fs::write(
            dir.path().join(format!(
                "{}_m{i}.toml",
                20_240_101_000_000_i64 + i / 60 * 100 + i % 60
            )),
            text,
        )
        .unwrap();
    }
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("lariat"))
        .args([
            "--dir",
            dir.path().to_str().unwrap(),
            "--instance",
            "t",
            "--publisher",
            "p",
            "graph",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "digraph lariat {\n");
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(out.status.success(), "{:?}", out.status);
}

/// Regression: without a database URL the inbox used lariat's own version store file.
#[test]
fn the_inbox_and_outbox_need_the_services_database() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        ["inbox", "list", "--unprocessed"],
        ["outbox", "status", "--json"],
    ] {
        lariat()
            .current_dir(dir.path())
            .args(["--instance", "t"])
            .args(args)
            .assert()
            .code(1)
            .stderr(contains("no database url"));
    }
    assert!(
        !dir.path().join(".lariat").exists(),
        "no version store was created"
    );
}
