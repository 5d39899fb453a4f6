use std::fs;

use super::*;
use crate::naming::NamingDefaults;
use crate::topology::load_project;

pub(crate) const V1: &str = r#"
[[create_topic]]
type = "user_created"

[[create_queue]]
type = "user_created"
dest = "dead"

[[create_queue]]
type = "user_created"
dest = "mailer"
visibility_timeout = 60
dead_letter_queue = { type = "user_created", dest = "dead" }
max_receive_count = 4

[[subscribe]]
topic = { type = "user_created" }
queue = { type = "user_created", dest = "mailer" }
raw_message_delivery = true
"#;

pub(crate) const V2: &str = r#"
[[change_queue]]
type = "user_created"
dest = "mailer"
visibility_timeout = 90
tags = { team = "growth" }
"#;

pub(crate) fn project() -> (tempfile::TempDir, Project) {
    project_of(&[
        ("20240101000000_v1.toml", V1),
        ("20240102000000_v2.toml", V2),
    ])
}

/// A project of these files (name, text).
pub(crate) fn project_of(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        fs::write(dir.path().join(name), text).expect("write");
    }
    let defaults = NamingDefaults {
        instance: "test".into(),
        publisher: "auth".into(),
    };
    let project = load_project(dir.path(), &defaults).expect("valid project");
    (dir, project)
}

pub(crate) fn row(project: &Project, version: i64, state: VersionState) -> AppliedVersion {
    let m = project.get(version).expect("migration");
    AppliedVersion {
        version,
        name: m.name.clone(),
        checksum: m.checksum.clone(),
        state,
        applied_at: chrono::Utc::now(),
        duration_ms: 1,
    }
}

#[test]
fn status_covers_every_state() {
    let (_dir, p) = project();
    let mut modified = row(&p, 20240101000000, VersionState::Applied);
    modified.checksum = "0".repeat(64);
    let missing = AppliedVersion {
        version: 20230101000000,
        name: "gone".into(),
        ..modified.clone()
    };
    let states: Vec<State> = status(&p, &[modified, missing])
        .iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(states, [State::Missing, State::Modified, State::Pending]);

    let interrupted = row(&p, 20240101000000, VersionState::Applying);
    assert_eq!(status(&p, &[interrupted])[0].state, State::Interrupted);
}

#[test]
fn migrate_plans_pending_and_interrupted_in_order() {
    let (_dir, p) = project();
    let plan = plan_migrate(&p, &[], None, Checks::default()).expect("plan");
    assert_eq!(
        plan.steps.iter().map(|s| s.version).collect::<Vec<_>>(),
        [20240101000000, 20240102000000]
    );

    let plan = plan_migrate(&p, &[], Some(20240101000000), Checks::default()).expect("plan");
    assert_eq!(plan.steps.len(), 1);

    let interrupted = row(&p, 20240101000000, VersionState::Applying);
    let plan = plan_migrate(&p, &[interrupted], None, Checks::default()).expect("plan");
    assert_eq!(plan.steps.len(), 2, "the interrupted migration runs again");

    let applied = row(&p, 20240101000000, VersionState::Applied);
    let plan = plan_migrate(&p, &[applied], None, Checks::default()).expect("plan");
    assert_eq!(
        plan.steps.iter().map(|s| s.version).collect::<Vec<_>>(),
        [20240102000000]
    );
}

#[test]
fn migrate_refuses_modified_missing_and_out_of_order() {
    let (_dir, p) = project();
    let mut modified = row(&p, 20240101000000, VersionState::Applied);
    modified.checksum = "0".repeat(64);
    let err = plan_migrate(&p, &[modified.clone()], None, Checks::default()).unwrap_err();
    assert!(matches!(
        err,
        PlanError::Modified {
            version: 20240101000000,
            ..
        }
    ));
    assert!(err.to_string().contains("20240101000000_v1.toml"), "{err}");
    let allowed = Checks {
        allow_modified: true,
        ..Checks::default()
    };
    assert!(plan_migrate(&p, &[modified], None, allowed).is_ok());

    let missing = AppliedVersion {
        version: 20230101000000,
        name: "gone".into(),
        ..row(&p, 20240101000000, VersionState::Applied)
    };
    let err = plan_migrate(&p, &[missing], None, Checks::default()).unwrap_err();
    assert!(matches!(err, PlanError::Missing { .. }), "{err}");

    let newer = row(&p, 20240102000000, VersionState::Applied);
    let err = plan_migrate(&p, &[newer], None, Checks::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("rename it to 20240102000001_v1.toml"),
        "{err}"
    );

    let err = plan_migrate(&p, &[], Some(42), Checks::default()).unwrap_err();
    assert_eq!(err, PlanError::UnknownVersion(42));
}

/// The versions `plan_rollback` undoes, in order.
fn rollback_versions(p: &Project, applied: &[AppliedVersion], t: RollbackTarget) -> Vec<i64> {
    plan_rollback(p, applied, t, Checks::default())
        .expect("plan")
        .steps
        .iter()
        .map(|s| s.version)
        .collect()
}

#[test]
fn rollback_targets() {
    let (_dir, p) = project();
    let applied = [
        row(&p, 20240101000000, VersionState::Applied),
        row(&p, 20240102000000, VersionState::Applied),
    ];
    let versions = |t| rollback_versions(&p, &applied, t);
    assert_eq!(versions(RollbackTarget::Last), [20240102000000]);
    assert_eq!(
        versions(RollbackTarget::To(20240101000000)),
        [20240102000000],
        "the target stays applied"
    );
    assert_eq!(
        versions(RollbackTarget::To(0)),
        [20240102000000, 20240101000000],
        "newest first"
    );
    assert_eq!(
        versions(RollbackTarget::All),
        [20240102000000, 20240101000000]
    );
}

/// Regression (issue 11): `rollback --all` kept version `00000000000000`, since it meant
/// "newer than 0".
#[test]
fn rollback_all_undoes_version_zero() {
    let (_dir, p) = project_of(&[
        ("00000000000000_v0.toml", V1),
        ("20240102000000_v2.toml", V2),
    ]);
    let applied = [
        row(&p, 0, VersionState::Applied),
        row(&p, 20240102000000, VersionState::Applied),
    ];
    let versions = |t| rollback_versions(&p, &applied, t);
    assert_eq!(versions(RollbackTarget::All), [20240102000000, 0]);
    assert_eq!(
        versions(RollbackTarget::To(0)),
        [20240102000000],
        "`rollback 0` keeps version 0, as any `rollback VERSION` keeps VERSION"
    );
}

/// A rollback that stopped midway may have started an older migration (whose operations
/// touch other resources) before a newer one was done: `rollback` undoes everything down to the
/// oldest interrupted version, newest first, never an older one while a newer stays applied.
#[test]
fn rollback_finishes_an_interrupted_rollback_first() {
    let (_dir, p) = project();
    let versions =
        |applied: &[AppliedVersion]| rollback_versions(&p, applied, RollbackTarget::Last);
    let (v1, v2) = (20240101000000, 20240102000000);
    for (states, want) in [
        (
            (VersionState::RollingBack, VersionState::Applied),
            vec![v2, v1],
        ),
        (
            (VersionState::RollingBack, VersionState::RollingBack),
            vec![v2, v1],
        ),
        ((VersionState::Applied, VersionState::RollingBack), vec![v2]),
        (
            (VersionState::Applying, VersionState::RollingBack),
            vec![v2],
        ),
        (
            (VersionState::RollingBack, VersionState::Applying),
            vec![v2, v1],
        ),
        ((VersionState::Applied, VersionState::Applying), vec![v2]),
        ((VersionState::Applied, VersionState::Applied), vec![v2]),
    ] {
        let applied = [row(&p, v1, states.0), row(&p, v2, states.1)];
        assert_eq!(versions(&applied), want, "{states:?}");
    }
    assert_eq!(
        versions(&[row(&p, v1, VersionState::RollingBack)]),
        [v1],
        "v2 was undone and its row removed before the run stopped"
    );
}

/// Regression (issue 11): after a killed `rollback --all`, `migrate` re-applied the rows left
/// `rolling_back` oldest first; the older one's `change_subscription` needed the subscription
/// that only the newer one's unfinished undo restores, so every run failed. Now the rollback is
/// finished first, newest first, and everything it undid is applied again, oldest first.
#[test]
fn migrate_finishes_an_interrupted_rollback_then_applies_in_order() {
    let (_dir, p) = project_of(&[
        (
            "00000000000000_resources.toml",
            "[[create_topic]]\ntype = \"t\"\n\n[[create_queue]]\ntype = \"t\"\ndest = \"w\"\n",
        ),
        (
            "20240101000000_subscribe.toml",
            "[[subscribe]]\ntopic = { type = \"t\" }\nqueue = { type = \"t\", dest = \"w\" }\n",
        ),
        (
            "20240102000000_raw.toml",
            "[[change_subscription]]\ntopic = { type = \"t\" }\nqueue = { type = \"t\", dest = \"w\" }\nraw_message_delivery = true\n",
        ),
        (
            "20240103000000_unsubscribe.toml",
            "[[unsubscribe]]\ntopic = { type = \"t\" }\nqueue = { type = \"t\", dest = \"w\" }\n",
        ),
    ]);
    let (v0, v1, v2, v3) = (0, 20240101000000, 20240102000000, 20240103000000);
    let versions = |plan: &Plan| plan.steps.iter().map(|s| s.version).collect::<Vec<_>>();
    let rows = |states: [Option<VersionState>; 4]| -> Vec<AppliedVersion> {
        [v0, v1, v2, v3]
            .into_iter()
            .zip(states)
            .filter_map(|(v, s)| s.map(|s| row(&p, v, s)))
            .collect()
    };
    use VersionState::{Applied as A, Applying as I, RollingBack as R};
    // (rows of v0..v3, what migrate undoes first, then what it applies)
    type Rows = [Option<VersionState>; 4];
    let cases: [(Rows, Vec<i64>, Vec<i64>); 8] = [
        // the issue's reproduction: the two newest rows left rolling_back
        (
            [Some(A), Some(A), Some(R), Some(R)],
            vec![v3, v2],
            vec![v2, v3],
        ),
        ([Some(A), Some(A), Some(A), Some(R)], vec![v3], vec![v3]),
        // v3 was undone and removed, v2 still rolling back
        ([Some(A), Some(A), Some(R), None], vec![v2], vec![v2, v3]),
        // an older migration started while a newer one was still being undone
        (
            [Some(A), Some(R), Some(A), Some(R)],
            vec![v3, v2, v1],
            vec![v1, v2, v3],
        ),
        (
            [Some(R), Some(R), Some(R), Some(R)],
            vec![v3, v2, v1, v0],
            vec![v0, v1, v2, v3],
        ),
        // a migrate that stopped, then a rollback that stopped
        ([Some(A), Some(A), Some(I), Some(R)], vec![v3], vec![v2, v3]),
        (
            [Some(A), Some(A), Some(R), Some(I)],
            vec![v3, v2],
            vec![v2, v3],
        ),
        // no rollback was interrupted: nothing is undone
        ([Some(A), Some(A), Some(I), None], vec![], vec![v2, v3]),
    ];
    for (states, undo, apply) in cases {
        let applied = rows(states);
        let finish = plan_finish_rollback(&p, &applied, Checks::default()).expect("plan");
        assert_eq!(
            finish.as_ref().map(versions).unwrap_or_default(),
            undo,
            "{states:?}"
        );
        if let Some(finish) = &finish {
            assert_eq!(finish.direction, Direction::Down);
            let rollback =
                plan_rollback(&p, &applied, RollbackTarget::Last, Checks::default()).expect("plan");
            assert_eq!(&rollback, finish, "`rollback` finishes it the same way");
        }
        let plan = plan_migrate(&p, &applied, None, Checks::default()).expect("plan");
        assert_eq!(versions(&plan), apply, "{states:?}");
        // `rollback --all` undoes every recorded row, version 0 included
        let all =
            plan_rollback(&p, &applied, RollbackTarget::All, Checks::default()).expect("plan");
        let recorded: Vec<i64> = applied.iter().rev().map(|r| r.version).collect();
        assert_eq!(versions(&all), recorded, "{states:?}");
    }

    // a target that would keep a version the interrupted rollback was undoing is refused
    let applied = rows([Some(A), Some(R), Some(R), Some(R)]);
    let err = plan_rollback(&p, &applied, RollbackTarget::To(v2), Checks::default())
        .expect_err("refused");
    assert!(
        matches!(err, PlanError::InterruptedBelowTarget { version, target, .. } if version == v1 && target == v2),
        "{err}"
    );
    let plan =
        plan_rollback(&p, &applied, RollbackTarget::To(v0), Checks::default()).expect("plan");
    assert_eq!(versions(&plan), [v3, v2, v1]);
}
