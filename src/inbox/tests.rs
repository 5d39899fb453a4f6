//! Unit tests of the inbox: table names, DDL, malformed bodies, handler errors, and an inbox
//! refusing a URL of another backend.

use super::database::table_name;
use super::*;
use crate::db::TableKind;
use crate::message::read::{read_sqs_body, Rules};

#[test]
fn table_names() {
    assert_eq!(TableKind::Inbox.max_len(), MAX_TABLE_CHARS);
    assert!(table_name(&"a".repeat(MAX_TABLE_CHARS)).is_ok());
    for bad in ["", "1x", "a-b", "x;drop", &"a".repeat(MAX_TABLE_CHARS + 1)] {
        assert!(table_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn malformed_bodies_get_a_stable_uuid() {
    let a = malformed_uuid("not json");
    assert_eq!(a, malformed_uuid("not json"));
    assert_ne!(a, malformed_uuid("not json!"));
    assert_eq!(a.get_version_num(), 8);
    let err = read_sqs_body("not json", Rules::Lenient).err();
    let Some(err) = err else {
        panic!("`not json` parsed");
    };
    let row = InboxMessage::malformed("not json", "q", &err);
    assert_eq!(row.uuid, a);
    assert_eq!(row.message, "not json");
    assert!(row
        .client_error_message
        .as_deref()
        .is_some_and(|m| m.starts_with("malformed message: ")));
}

#[test]
fn handler_errors_convert_and_print() {
    fn fails() -> Result<(), HandlerError> {
        let _: i32 = "x".parse()?;
        Ok(())
    }
    let err = fails().err();
    assert!(matches!(err, Some(HandlerError::Retry(_))));
    assert!(HandlerError::client("no such user").is_client());
    assert_eq!(
        HandlerError::client("no such user").to_string(),
        "client error: no such user"
    );
    assert_eq!(HandlerError::retry("later").to_string(), "later");
}

#[tokio::test]
#[cfg(all(feature = "sqlite", feature = "postgres"))]
async fn an_inbox_refuses_another_backends_url() {
    let err = Inbox::<sqlx::Postgres>::connect("sqlite::memory:", "t")
        .await
        .err();
    assert!(
        matches!(
            err,
            Some(InboxError::WrongBackend {
                expected: "Postgres",
                ..
            })
        ),
        "{err:?}"
    );
    let inbox = Inbox::<sqlx::Sqlite>::connect("sqlite::memory:", "t").await;
    let Ok(inbox) = inbox else {
        panic!("in-memory sqlite: {:?}", inbox.err());
    };
    assert!(inbox.install().await.is_ok());
    assert!(matches!(
        inbox.list(ListFilter::All, 10).await.as_deref(),
        Ok([])
    ));
}

#[test]
#[cfg(all(feature = "sqlite", feature = "postgres", feature = "mysql"))]
fn ddl_names_the_table_and_refuses_bad_names() {
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        let sql = ddl(backend, "my_inbox").unwrap_or_default();
        assert!(sql.contains("my_inbox"), "{sql}");
        assert!(sql.contains("client_error_details"), "{sql}");
        assert!(ddl(backend, "x; drop table y").is_err());
    }
}
