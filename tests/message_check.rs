//! `lariat message check` on the fixture bodies of `tests/fixtures/messages/`: one row per body
//! form with what lariat does and what the Ruby gem does, compared with `verdicts.md` there.
//! Run with `LARIAT_BLESS=1` to rewrite the table after a deliberate change.

use std::path::Path;

use assert_cmd::Command;

/// What the gem does with each fixture, from its message classes and inbox middleware.
const GEM: &[(&str, &str)] = &[
    (
        "garbage",
        "refused: JSON::ParserError, reported to errors_notifier",
    ),
    (
        "gem_middleware_valid",
        "accepted (the middleware spec's body; no sent_at)",
    ),
    (
        "gem_spec_invalid_uuid",
        "refused: `sample` fails the uuid format; no inbox row",
    ),
    (
        "gem_spec_invalid_version",
        "refused: Builder raises `Unknown event message version 3`",
    ),
    (
        "gem_spec_v2_valid",
        "accepted: Time.parse, the process's zone",
    ),
    (
        "invalid_no_uuid",
        "refused: no uuid to store the inbox row under",
    ),
    (
        "invalid_type_prefix",
        "refused: Builder raises `Unknown message type register`",
    ),
    (
        "invalid_v1_subject",
        "refused: a V1 message has no `subject` attribute",
    ),
    ("lenient_data_missing", "accepted: data defaults to {}"),
    (
        "lenient_sent_at_no_offset",
        "accepted: Time.parse, the process's zone",
    ),
    ("lenient_type_hyphen", "accepted: any type after the kind"),
    (
        "lenient_unknown_key",
        "refused: luna_park raises NameError on an unknown attribute",
    ),
    ("lenient_version_string", "accepted: Integer(\"1\")"),
    ("readme_register_user", "accepted"),
    ("readme_v1", "accepted"),
    ("readme_v2", "accepted"),
    ("sns_wrapped", "accepted: the middleware unwraps `Message`"),
];

fn lariat_verdict(file: &Path) -> String {
    let output = Command::cargo_bin("lariat")
        .expect("binary")
        .args(["message", "check"])
        .arg(file)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let code = output.status.code();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    match code {
        Some(0) => {
            assert!(first.contains(": valid: "), "{first}");
            "accepted".to_owned()
        }
        Some(3) => {
            let reasons: Vec<_> = lines.map(|l| l.trim_start_matches("  - ")).collect();
            assert!(
                !reasons.is_empty(),
                "no reason given for {}",
                file.display()
            );
            format!("refused: {}", reasons.join("; "))
        }
        other => panic!("exit {other:?} for {}: {text}", file.display()),
    }
}

#[test]
fn fixtures_table_matches_verdicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let mut table = String::from("| body form | lariat | the gem |\n|---|---|---|\n");
    for (form, gem) in GEM {
        let file = dir.join(format!("{form}.json"));
        assert!(file.exists(), "missing fixture {}", file.display());
        let lariat = lariat_verdict(&file).replace('|', "\\|");
        table.push_str(&format!("| {form} | {lariat} | {gem} |\n"));
    }
    let expected_path = dir.join("verdicts.md");
    if std::env::var_os("LARIAT_BLESS").is_some() {
        std::fs::write(&expected_path, &table).expect("write verdicts.md");
    }
    let expected = std::fs::read_to_string(&expected_path).expect("verdicts.md exists");
    println!("{table}");
    assert_eq!(table, expected);
}
