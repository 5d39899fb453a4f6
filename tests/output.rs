//! What a person sees when something fails: every error case these tests can make (a refused
//! endpoint, one that accepts connections and never answers, an error AWS answers with, no
//! credentials, a database that refuses) prints one readable line naming the action, the
//! resource and the cause; never the SDK's Debug dump (`ServiceError(`, `DispatchFailure(`),
//! and never a colour escape when stderr is not a terminal.
//!
//! Runs on either emulator (`LARIAT_TEST_EMULATOR`); no case depends on timing, only on the
//! message and exit code a run ends with.

// a test that cannot set up its fixture should panic, loudly
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;

use common::project::{Db, Project};
use common::Emulator;

/// What must never reach a person's screen by default.
const FORBIDDEN: [&str; 4] = [
    "ServiceError(",
    "DispatchFailure(",
    "TimeoutError(",
    "raw: Response",
];

/// One finished run: exit code, stdout and stderr.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `lariat ARGS` in `project` against `endpoint` with `env`, as from a pipe (not a
/// terminal, no NO_COLOR), and checks the output is clean.
fn run(
    project: &Project,
    emulator: &Emulator,
    args: &[&str],
    env: &[(&str, &str)],
    remove: &[&str],
) -> Run {
    let mut cmd = project.lariat(emulator);
    cmd.env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("LARIAT_LOG")
        .env_remove("RUST_LOG");
    for key in remove {
        cmd.env_remove(key);
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = cmd.args(args).output().unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for (stream, text, bytes) in [
        ("stdout", &run.stdout, &out.stdout),
        ("stderr", &run.stderr, &out.stderr),
    ] {
        for bad in FORBIDDEN {
            assert!(
                !text.contains(bad),
                "lariat {args:?}: {stream} holds the SDK's Debug form ({bad}):\n{text}"
            );
        }
        assert!(
            !bytes.contains(&0x1b),
            "lariat {args:?}: {stream} holds an escape byte though it is not a terminal:\n{text:?}"
        );
    }
    run
}

/// The first line of stderr that starts with `error:`.
fn error_line(run: &Run) -> &str {
    run.stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in:\n{}", run.stderr))
}

fn with_topic(project: &Project) {
    project.write(
        "20240101000000_user_created.toml",
        "[[create_topic]]\ntype = \"user_created\"\n",
    );
}

#[test]
fn a_refused_endpoint_is_named_once_on_one_line() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    with_topic(&project);
    let endpoint = format!("http://127.0.0.1:{}", common::closed_port());
    let env = [("AWS_ENDPOINT_URL", endpoint.as_str())];

    // without an account id, STS is asked first: its message names the real cause
    let sts = run(&project, &emulator, &["list", "topics"], &env, &[]);
    assert_eq!(sts.code, Some(1), "{}", sts.stderr);
    assert_eq!(
        error_line(&sts),
        format!(
            "error: cannot find the AWS account id: sts:GetCallerIdentity: could not connect to {endpoint}: connection refused; check the endpoint (--endpoint-url, AWS_ENDPOINT_URL or `endpoint_url` under [aws]) and that the service behind it is running"
        )
    );
    assert!(
        !sts.stderr.contains("check your AWS credentials"),
        "{}",
        sts.stderr
    );

    let account = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("LARIAT_AWS_ACCOUNT_ID", "123456789012"),
    ];
    let list = run(&project, &emulator, &["list", "topics"], &account, &[]);
    assert_eq!(list.code, Some(1), "{}", list.stderr);
    assert!(
        error_line(&list).starts_with(&format!(
            "error: sns:ListTopics (all topics): could not connect to {endpoint}: connection refused; "
        )),
        "{}",
        list.stderr
    );
    for args in [
        &["migrate"][..],
        &["drift"],
        &["status"],
        &["publish", "event", "user_created", "--data", "{}"],
    ] {
        let other = run(&project, &emulator, args, &account, &[]);
        if args == ["status"] {
            // status reads only the version table
            assert_eq!(other.code, Some(2), "{}", other.stderr);
            continue;
        }
        assert_eq!(other.code, Some(1), "lariat {args:?}: {}", other.stderr);
        assert!(
            error_line(&other).contains(&format!(
                "could not connect to {endpoint}: connection refused"
            )),
            "lariat {args:?}: {}",
            other.stderr
        );
    }
}

/// Regression (issue 11): an endpoint that accepts connections and never answers kept `list`
/// waiting for 244 s, silently, and the message blamed the credentials.
#[test]
fn an_endpoint_that_never_answers_times_out_and_says_what_it_waits_for() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    // the kernel completes the handshake of queued connections; nothing ever reads them
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("LARIAT_AWS_ACCOUNT_ID", "123456789012"),
        // above the 5 s after which lariat says what it waits for
        ("LARIAT_AWS_OPERATION_TIMEOUT", "6s"),
    ];
    let list = run(&project, &emulator, &["list", "topics"], &env, &[]);
    assert_eq!(list.code, Some(1), "{}", list.stderr);
    assert!(
        list.stderr.contains(&format!(
            "waiting for sns:ListTopics at {endpoint}: no answer after 5s; lariat gives up after 6s"
        )),
        "{}",
        list.stderr
    );
    assert!(
        error_line(&list).starts_with(&format!(
            "error: sns:ListTopics (all topics): timed out: {endpoint} did not answer within 6s"
        )),
        "{}",
        list.stderr
    );
    assert!(
        error_line(&list).contains("operation_timeout"),
        "{}",
        list.stderr
    );
    drop(silent);
}

#[test]
fn a_short_operation_timeout_fails_the_sts_call_with_its_cause() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let run = run(
        &project,
        &emulator,
        &["--operation-timeout", "300ms", "list", "queues"],
        &[("AWS_ENDPOINT_URL", endpoint.as_str())],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        error_line(&run).starts_with(&format!(
            "error: cannot find the AWS account id: sts:GetCallerIdentity: timed out: {endpoint} did not answer within 300ms"
        )),
        "{}",
        run.stderr
    );
    drop(silent);
}

#[test]
fn an_error_aws_answers_with_shows_its_code_and_message() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    project.write(
        "20240101000000_user_created.toml",
        r#"
[[create_topic]]
type = "user_created"

[[create_queue]]
type = "user_created"
dest = "mailer"

[[subscribe]]
topic = { type = "user_created" }
queue = { type = "user_created", dest = "mailer" }
filter_policy = { source = [{ no_such_operator = 1 }] }
"#,
    );
    let migrate = run(&project, &emulator, &["migrate"], &[], &[]);
    assert_eq!(migrate.code, Some(1), "{}", migrate.stderr);
    let topic = project.name("event-fanout-registration-user_created");
    let queue = project.name("event-queue-registration-user_created-mailer");
    let line = error_line(&migrate);
    assert!(
        line.contains(&format!(
            "sns:Subscribe {topic} -> {queue}: InvalidParameter: "
        )),
        "{}",
        migrate.stderr
    );
    assert!(line.contains("FilterPolicy"), "{}", migrate.stderr);

    // -v adds the SDK's full form, as a log line of its own
    let verbose = project
        .lariat(&emulator)
        .args(["-v", "migrate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(stderr.contains("ServiceError"), "{stderr}");
}

#[test]
fn missing_credentials_are_named_not_guessed() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    let home = tempfile::tempdir().unwrap();
    let run = run(
        &project,
        &emulator,
        &["list", "topics"],
        &[
            ("HOME", home.path().to_str().unwrap()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
        &[
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        error_line(&run).starts_with(
            "error: cannot find the AWS account id: sts:GetCallerIdentity: no AWS credentials were found"
        ),
        "{}",
        run.stderr
    );
    assert!(
        error_line(&run).contains("AWS_ACCESS_KEY_ID"),
        "{}",
        run.stderr
    );
}

#[test]
fn database_errors_carry_the_servers_message() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    with_topic(&project);
    // a folder where a file is: the SQLite file can be neither found nor created
    let under_a_file = project.dir.path().join("lariat.toml/versions.db");
    let mut cases = vec![(
        format!("sqlite://{}", under_a_file.display()),
        "File exists",
    )];
    if let Some(url) = common::postgres_url() {
        let (base, _) = url.rsplit_once('/').unwrap();
        cases.push((
            format!("{base}/lariat_no_such_database"),
            "database \"lariat_no_such_database\" does not exist",
        ));
    }
    if let Some(url) = common::mysql_url() {
        let rest = url.split_once("://").unwrap().1;
        let host = rest.split_once('@').map_or(rest, |(_, h)| h);
        cases.push((
            format!("mysql://lariat_nobody:wrong@{host}"),
            "Access denied for user 'lariat_nobody'",
        ));
    }
    for (url, cause) in cases {
        for args in [&["status"][..], &["migrate"]] {
            let out = run(
                &project,
                &emulator,
                args,
                &[("LARIAT_DATABASE_URL", url.as_str())],
                &[],
            );
            assert_eq!(out.code, Some(1), "{args:?} {url}: {}", out.stderr);
            let line = error_line(&out);
            assert!(line.contains(cause), "{args:?} {url}: {}", out.stderr);
            assert_eq!(
                out.stderr.matches(cause).count(),
                1,
                "{args:?} {url}: the cause once:\n{}",
                out.stderr
            );
            assert!(!line.contains(":wrong@"), "password leaked: {line}");
        }
    }
}

#[test]
fn log_lines_carry_no_colour_into_a_pipe() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    // -vv logs the SDK's debug lines in every run; `run` checks they are plain
    let out = run(&project, &emulator, &["-vv", "list", "topics"], &[], &[]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains(" DEBUG "), "{}", out.stderr);
    let forced = project
        .lariat(&emulator)
        .env_remove("NO_COLOR")
        .env("CLICOLOR_FORCE", "1")
        .args(["-vv", "list", "topics"])
        .output()
        .unwrap();
    assert!(
        forced.stderr.contains(&0x1b),
        "CLICOLOR_FORCE keeps colour in a pipe: {}",
        String::from_utf8_lossy(&forced.stderr)
    );
}

/// Regression (issue 12): `drift` printed each validation warning twice; every command that
/// reads the files prints each once.
#[test]
fn validation_warnings_are_printed_once() {
    let emulator = Emulator::start();
    let project = Project::new(Db::Sqlite);
    project.write(
        "20240101000000_user_created.toml",
        "[[create_topic]]\ntype = \"user_created\"\ntags = { managed_by = \"me\" }\n",
    );
    project.write("20240102000000_nothing.toml", "");
    let warnings = [
        "warning: tag `managed_by` is one lariat sets itself",
        "warning: migration has no operations",
    ];
    for (args, code) in [
        (&["validate"][..], 0),
        (&["migrate"], 0),
        (&["drift"], 0),
        (&["drift", "--json"], 0),
    ] {
        let out = run(&project, &emulator, args, &[], &[]);
        assert_eq!(out.code, Some(code), "{args:?}: {}", out.stderr);
        for warning in warnings {
            assert_eq!(
                out.stderr.matches(warning).count(),
                1,
                "{args:?} prints `{warning}` once:\n{}",
                out.stderr
            );
        }
    }
}
