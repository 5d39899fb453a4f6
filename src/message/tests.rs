//! Unit tests of envelopes: golden bodies from the gem's README, building, strict and
//! lenient reading, and robustness against any input.

use super::read::Rules;
use super::*;
use serde_json::json;

/// "Scheme: version 1" from the gem's README, comments included.
const README_V1: &str = r#"// Scheme: version 1
{
  "uuid": "f2ce3813-0905-4d81-a60e-f289f2431f50", // Uniq message identificator
  "publisher": "sample_app", // Publisher application name
  "request_id": "51285005-8a06-4181-b5fd-bf29f3b1a45a", // Optional: X-Request-Id
  "type": "event_note_created", // Type of Event or Command
  "version": 1, // Version of data structure
  "data": {
    "id": 12,
    "text": "Sample of published data",
    "attributes": ["one", "two", "three"]
  },
  "sent_at": "2022-11-09T11:42:18.203+01:00" // Time when message was sended in ISO8601 Standard
}"#;

/// "Scheme: version 2" from the gem's README, comments included.
const README_V2: &str = r#"// Scheme: version 2
{
  "uuid": "f2ce3813-0905-4d81-a60e-f289f2431f50", // Uniq message identificator
  "publisher": "sample_app", // Publisher application name
  "request_id": "51285005-8a06-4181-b5fd-bf29f3b1a45a", // Optional: X-Request-Id
  "type": "event_note_created", // Type of Event or Command
  "version": 2, // Version of data structure
  "subject": {
    "type": "user", // Subject type
    "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" // Subject uuid
  },
  "object": {
    "type": "note", // Object type
    "uuid": "f46e74db-3335-4c5e-b476-c2a87660a942" // Object uuid
  },
  "data": {
    "id": 12,
    "text": "Sample of published data",
    "attributes": ["one", "two", "three"]
  },
  "sent_at": "2022-11-09T11:42:18.203+01:00" // Time when message was sended in ISO8601 Standard
}"#;

/// The body the README says `publish_command('register_user', ...)` generates.
const README_REGISTER_USER: &str = r#"{
  "uuid": "f2ce3813-0905-4d81-a60e-f289f2431f50",
  "publisher": "auth",
  "type": "command_register_user",
  "version": 1,
  "data": {
    "first_name": "John",
    "last_name": "Doe",
    "mail": "john.doe@example.com"
  },
  "sent_at": "2022-11-09T11:42:18.203+01:00" // The time the message was sent. ISO8601 standard.
}"#;

/// Removes `//` comments (outside strings) so README examples become JSON.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut in_string = false;
            let mut escaped = false;
            let bytes = line.as_bytes();
            for (i, &b) in bytes.iter().enumerate() {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' if in_string => escaped = true,
                    b'"' => in_string = !in_string,
                    b'/' if !in_string && bytes.get(i + 1) == Some(&b'/') => {
                        return line[..i].trim_end();
                    }
                    _ => {}
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).expect("test uuid")
}

fn time(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("test time")
}

fn parse(text: &str) -> Envelope {
    Envelope::from_json(&strip_comments(text)).expect("valid envelope")
}

fn as_value(json: &str) -> Value {
    serde_json::from_str(json).expect("valid json")
}

fn readme_data() -> Value {
    json!({ "id": 12, "text": "Sample of published data", "attributes": ["one", "two", "three"] })
}

/// The README v1 body with one top-level field replaced (or removed with `None`).
fn v1_with(field: &str, value: Option<Value>) -> String {
    with_field(README_V1, field, value)
}

fn v2_with(field: &str, value: Option<Value>) -> String {
    with_field(README_V2, field, value)
}

fn with_field(text: &str, field: &str, value: Option<Value>) -> String {
    let mut body = as_value(&strip_comments(text));
    let map = body.as_object_mut().expect("object");
    match value {
        Some(v) => map.insert(field.to_owned(), v),
        None => map.remove(field),
    };
    body.to_string()
}

/// What the strict rules (the publisher's) say about `json`: the first reason.
fn rejected(json: &str) -> MessageError {
    match read::read_json(json, Rules::Strict).map_err(read::Refusal::into_first) {
        Ok(envelope) => panic!("accepted {json}: {envelope:?}"),
        Err(e) => e,
    }
}

#[test]
fn golden_readme_v1() {
    let envelope = parse(README_V1);
    assert_eq!(
        envelope.uuid(),
        uuid("f2ce3813-0905-4d81-a60e-f289f2431f50")
    );
    assert_eq!(envelope.publisher(), "sample_app");
    assert_eq!(
        envelope.request_id(),
        Some(uuid("51285005-8a06-4181-b5fd-bf29f3b1a45a"))
    );
    assert_eq!(envelope.message_type().to_string(), "event_note_created");
    assert_eq!(envelope.kind(), Kind::Event);
    assert_eq!(envelope.name(), "note_created");
    assert!(envelope.is_event());
    assert!(!envelope.is_command());
    assert_eq!(envelope.version(), 1);
    assert_eq!(envelope.subject(), None);
    assert_eq!(envelope.object(), None);
    assert_eq!(envelope.data(), &readme_data());
    assert_eq!(
        envelope.sent_at(),
        Some(time("2022-11-09T11:42:18.203+01:00"))
    );
    assert_eq!(
        envelope.sent_at().map(|at| at.offset().local_minus_utc()),
        Some(3600)
    );

    assert_eq!(
        as_value(&envelope.to_json()),
        as_value(&strip_comments(README_V1))
    );
}

#[test]
fn golden_readme_v2() {
    let envelope = parse(README_V2);
    assert_eq!(
        envelope.uuid(),
        uuid("f2ce3813-0905-4d81-a60e-f289f2431f50")
    );
    assert_eq!(envelope.publisher(), "sample_app");
    assert_eq!(
        envelope.request_id(),
        Some(uuid("51285005-8a06-4181-b5fd-bf29f3b1a45a"))
    );
    assert_eq!(envelope.kind(), Kind::Event);
    assert_eq!(envelope.name(), "note_created");
    assert_eq!(envelope.version(), 2);
    assert_eq!(
        envelope.subject(),
        Some(&EntityRef::new(
            "user",
            uuid("a27c29e2-bbd3-490a-8f1b-caa4f8d902ef")
        ))
    );
    assert_eq!(
        envelope.object(),
        Some(&EntityRef::new(
            "note",
            uuid("f46e74db-3335-4c5e-b476-c2a87660a942")
        ))
    );
    assert_eq!(envelope.data(), &readme_data());
    assert_eq!(
        envelope.sent_at(),
        Some(time("2022-11-09T11:42:18.203+01:00"))
    );

    assert_eq!(
        as_value(&envelope.to_json()),
        as_value(&strip_comments(README_V2))
    );
}

#[test]
fn golden_readme_publish_command_register_user() {
    let built = Command::new(
        "register_user",
        json!({ "first_name": "John", "last_name": "Doe", "mail": "john.doe@example.com" }),
    )
    .publisher("auth")
    .uuid(uuid("f2ce3813-0905-4d81-a60e-f289f2431f50"))
    .sent_at(time("2022-11-09T11:42:18.203+01:00"))
    .build()
    .expect("valid command");

    let parsed = parse(README_REGISTER_USER);
    assert_eq!(parsed, built);
    assert_eq!(parsed.kind(), Kind::Command);
    assert_eq!(parsed.name(), "register_user");
    assert_eq!(parsed.publisher(), "auth");
    assert_eq!(parsed.request_id(), None);
    assert_eq!(parsed.version(), 1);

    // Byte for byte: field order as in the README, no `request_id`, millisecond time.
    let expected: String = strip_comments(README_REGISTER_USER)
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("")
        .replace("\": ", "\":")
        .replace(", ", ",");
    assert_eq!(built.to_json(), expected);
}

#[test]
fn v2_field_order_matches_the_readme() {
    let json = parse(README_V2).to_json();
    let positions: Vec<usize> = [
        "\"uuid\"",
        "\"publisher\"",
        "\"request_id\"",
        "\"type\":\"event_",
        "\"version\"",
        "\"subject\"",
        "\"object\"",
        "\"data\"",
        "\"sent_at\"",
    ]
    .iter()
    .map(|key| {
        json.find(key)
            .unwrap_or_else(|| panic!("{key} missing in {json}"))
    })
    .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
}

#[test]
fn round_trip_v1() {
    let envelope = Event::new(
        "user_created",
        json!({ "mail": "a@b.c", "n": [1, 2.5, null] }),
    )
    .publisher("auth")
    .request_id(Uuid::new_v4())
    .build()
    .expect("valid event");
    assert_eq!(envelope.version(), 1);
    assert_eq!(envelope.uuid().get_version_num(), 4);
    let back = Envelope::from_json(&envelope.to_json()).expect("round trip");
    assert_eq!(back, envelope);
    assert_eq!(back.to_json(), envelope.to_json());
}

#[test]
fn round_trip_v2_via_serde() {
    let (subject, object) = (Uuid::new_v4(), Uuid::new_v4());
    let envelope = Event::new("sign_up", json!({ "first_name": "John" }))
        .publisher("auth")
        .subject("user", subject)
        .object("user", object)
        .build()
        .expect("valid event");
    assert_eq!(envelope.version(), 2);
    assert_eq!(envelope.subject(), Some(&EntityRef::new("user", subject)));
    assert_eq!(envelope.object(), Some(&EntityRef::new("user", object)));
    let text = serde_json::to_string(&envelope).expect("serialize");
    let back: Envelope = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, envelope);
    assert_eq!(as_value(&text)["version"], json!(2));
}

#[test]
fn sent_at_is_written_with_milliseconds_and_offset() {
    let at = time("2024-02-29T23:59:59.123456+05:30");
    let envelope = Event::new("x", json!(null))
        .publisher("p")
        .sent_at(at)
        .build()
        .expect("valid");
    assert_eq!(
        as_value(&envelope.to_json())["sent_at"],
        json!("2024-02-29T23:59:59.123+05:30")
    );

    let whole = Event::new("x", json!(null))
        .publisher("p")
        .sent_at(time("2024-01-01T00:00:00Z"))
        .build()
        .expect("valid");
    assert_eq!(
        as_value(&whole.to_json())["sent_at"],
        json!("2024-01-01T00:00:00.000+00:00")
    );
}

#[test]
fn accepts_utc_z_and_keeps_inbox_fields() {
    let mut body = as_value(&v1_with("sent_at", Some(json!("2022-11-09T10:42:18.203Z"))));
    body["received_at"] = json!("2022-11-09T10:42:19.000Z");
    body["client_error"] = json!(null);
    for rules in [Rules::Lenient, Rules::Strict] {
        let envelope = read::read_json(&body.to_string(), rules).expect("valid");
        assert_eq!(
            envelope.sent_at(),
            Some(time("2022-11-09T11:42:18.203+01:00"))
        );
        assert_eq!(envelope.extra().len(), 2);
        assert_eq!(
            as_value(&envelope.to_json())["received_at"],
            json!("2022-11-09T10:42:19.000Z")
        );
    }
}

/// One lenient form: the README v1 body with `field` set to `value`, read both ways.
fn lenient_only(field: &str, value: Value) -> Envelope {
    let body = v1_with(field, Some(value.clone()));
    assert!(
        read::read_json(&body, Rules::Strict).is_err(),
        "strict rules accepted {field} = {value}"
    );
    read::read_json(&body, Rules::Lenient)
        .unwrap_or_else(|e| panic!("lenient rules refused {field} = {value}: {e}"))
}

#[test]
fn lenient_reading_accepts_a_version_given_as_a_string() {
    assert_eq!(lenient_only("version", json!("1")).version(), 1);
    assert_eq!(lenient_only("version", json!(" 1 ")).version(), 1);
    assert_eq!(lenient_only("version", json!(1.0)).version(), 1);
    let v2 = as_value(&v2_with("version", Some(json!("2"))));
    let envelope = Envelope::from_value(v2).expect("valid");
    assert_eq!(envelope.version(), 2);
    assert_eq!(as_value(&envelope.to_json())["version"], json!(2));
    for (bad, reason) in [
        (
            json!("one"),
            "field `version` is invalid: `one` is not an integer",
        ),
        (
            json!("1.0"),
            "field `version` is invalid: `1.0` is not an integer",
        ),
        (
            json!(""),
            "field `version` is invalid: `` is not an integer",
        ),
        (
            json!("3"),
            "field `version` is 3, but only versions 1 and 2 are supported",
        ),
        (
            json!(1.5),
            "field `version` must be an integer, found a floating-point number",
        ),
        (
            json!(true),
            "field `version` must be an integer or a numeric string, found a boolean",
        ),
    ] {
        let err = Envelope::from_json(&v1_with("version", Some(bad.clone()))).expect_err("refused");
        assert_eq!(err.to_string(), reason, "{bad}");
    }
}

#[test]
fn lenient_reading_accepts_sent_at_without_offset_as_utc() {
    for (text, expected) in [
        ("2024-01-01T10:00:00", "2024-01-01T10:00:00+00:00"),
        ("1970-01-01 16:40:00", "1970-01-01T16:40:00+00:00"),
        (
            "2024-01-01T10:00:00.123456",
            "2024-01-01T10:00:00.123456+00:00",
        ),
        ("2024-01-01T10:00:00+0200", "2024-01-01T10:00:00+02:00"),
    ] {
        let envelope = lenient_only("sent_at", json!(text));
        assert_eq!(envelope.sent_at(), Some(time(expected)), "{text}");
    }
    for text in ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00.5+02:00"] {
        let envelope = Envelope::from_json(&v1_with("sent_at", Some(json!(text)))).expect(text);
        assert_eq!(envelope.sent_at(), Some(time(text)));
    }
    // The gem's middleware spec sends no sent_at at all.
    for absent in [None, Some(json!(null))] {
        let body = v1_with("sent_at", absent);
        let envelope = Envelope::from_json(&body).expect("valid");
        assert_eq!(envelope.sent_at(), None);
        assert!(!envelope.to_json().contains("sent_at"));
        assert!(read::read_json(&body, Rules::Strict).is_err());
    }
    let err = Envelope::from_json(&v1_with("sent_at", Some(json!("yesterday")))).expect_err("bad");
    assert_eq!(err.field(), Some("sent_at"));
    let err =
        Envelope::from_json(&v1_with("sent_at", Some(json!(1_668_000_000)))).expect_err("bad");
    assert!(matches!(
        err,
        MessageError::WrongType {
            field: "sent_at",
            ..
        }
    ));
}

#[test]
fn lenient_reading_defaults_missing_data_to_an_empty_object() {
    let body = v1_with("data", None);
    let envelope = Envelope::from_json(&body).expect("valid");
    assert_eq!(envelope.data(), &json!({}));
    assert!(read::read_json(&body, Rules::Strict).is_err());
}

#[test]
fn lenient_reading_accepts_any_name_after_the_prefix() {
    for (text, kind, name) in [
        ("event_user-created", Kind::Event, "user-created"),
        ("command_register user", Kind::Command, "register user"),
        ("event_caf\u{e9}", Kind::Event, "caf\u{e9}"),
    ] {
        let envelope = lenient_only("type", json!(text));
        assert_eq!((envelope.kind(), envelope.name()), (kind, name));
        assert_eq!(envelope.message_type().to_string(), text);
    }
    for bad in ["note_created", "Event_x", "event", "event_", "command_", ""] {
        let err = Envelope::from_json(&v1_with("type", Some(json!(bad)))).expect_err(bad);
        assert!(
            matches!(err, MessageError::InvalidType { .. }),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn lenient_reading_accepts_uuids_in_any_form() {
    let upper = Envelope::from_json(&v1_with(
        "uuid",
        Some(json!("F2CE3813-0905-4D81-A60E-F289F2431F50")),
    ))
    .expect("valid");
    assert_eq!(upper.uuid(), uuid("f2ce3813-0905-4d81-a60e-f289f2431f50"));
    let simple = lenient_only("uuid", json!("f2ce381309054d81a60ef289f2431f50"));
    assert_eq!(simple.uuid(), upper.uuid());
    for bad in ["", "sample", "f2ce3813-0905-4d81-a60e"] {
        let err = Envelope::from_json(&v1_with("uuid", Some(json!(bad)))).expect_err(bad);
        assert!(matches!(
            err,
            MessageError::InvalidField { field: "uuid", .. }
        ));
    }
}

#[test]
fn lenient_reading_keeps_unknown_fields_and_odd_request_ids() {
    let mut body = as_value(&v1_with("request_id", Some(json!("X-123"))));
    body["trace_id"] = json!({ "span": 7 });
    let envelope = read::read_value(body.clone(), Rules::Lenient).expect("valid");
    assert_eq!(envelope.request_id(), None);
    assert_eq!(envelope.extra()["request_id"], json!("X-123"));
    assert_eq!(envelope.extra()["trace_id"], json!({ "span": 7 }));
    assert_eq!(as_value(&envelope.to_json()), body);
    assert!(read::read_value(body, Rules::Strict).is_err());
    let numeric = lenient_only("request_id", json!(42));
    assert_eq!(numeric.extra()["request_id"], json!(42));
}

#[test]
fn refusals_list_every_reason() {
    let mut body = as_value(&v1_with("uuid", None));
    body["type"] = json!("note_created");
    body["subject"] = json!({ "type": "user", "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" });
    body["sent_at"] = json!("yesterday");
    let refusal = read::read_value(body, Rules::Lenient).expect_err("refused");
    let fields: Vec<_> = refusal.errors.iter().map(MessageError::field).collect();
    assert_eq!(
        fields,
        [Some("uuid"), Some("type"), Some("subject"), Some("sent_at")]
    );
    assert!(refusal
        .to_string()
        .starts_with("missing required field `uuid`; field `type`"));
}

#[test]
fn received_keeps_the_envelope_text_as_it_arrived() {
    let text = strip_comments(README_V2);
    let raw = read::read_sqs_body(&text, Rules::Lenient).expect("valid");
    assert_eq!(raw.text, text);
    assert!(!raw.sns_wrapped);
    let wrapped = json!({ "Type": "Notification", "Message": text }).to_string();
    let unwrapped = read::read_sqs_body(&wrapped, Rules::Lenient).expect("valid");
    assert_eq!(unwrapped.text, text);
    assert!(unwrapped.sns_wrapped);
    assert_eq!(unwrapped.envelope, raw.envelope);
}

#[test]
fn null_request_id_counts_as_absent() {
    let envelope = Envelope::from_json(&v1_with("request_id", Some(json!(null)))).expect("valid");
    assert_eq!(envelope.request_id(), None);
    assert!(!envelope.to_json().contains("request_id"));
}

#[test]
fn any_json_value_is_accepted_as_data() {
    for data in [
        json!(null),
        json!(1),
        json!("s"),
        json!([1, {"a": []}]),
        json!({}),
    ] {
        for rules in [Rules::Lenient, Rules::Strict] {
            let envelope =
                read::read_json(&v1_with("data", Some(data.clone())), rules).expect("valid");
            assert_eq!(envelope.data(), &data);
        }
    }
}

#[test]
fn from_sqs_body_accepts_raw_delivery() {
    let envelope = Envelope::from_sqs_body(&strip_comments(README_V2)).expect("valid");
    assert_eq!(envelope, parse(README_V2));
}

#[test]
fn from_sqs_body_unwraps_sns_notification() {
    let inner = parse(README_V1).to_json();
    let body = json!({
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:prod-event-fanout-sample_app-note_created",
        "Message": inner,
        "Timestamp": "2022-11-09T10:42:18.300Z",
        "SignatureVersion": "1",
    })
    .to_string();
    assert_eq!(
        Envelope::from_sqs_body(&body).expect("valid"),
        parse(README_V1)
    );
}

#[test]
fn from_sqs_body_reports_problems_in_the_wrapper_and_inside_it() {
    let no_message = json!({ "Type": "Notification" }).to_string();
    assert!(matches!(
        Envelope::from_sqs_body(&no_message),
        Err(MessageError::MissingField { field: "Message" })
    ));
    let object_message = json!({ "Type": "Notification", "Message": {} }).to_string();
    assert!(matches!(
        Envelope::from_sqs_body(&object_message),
        Err(MessageError::WrongType {
            field: "Message",
            expected: "a string",
            found: "an object"
        })
    ));
    let bad_inner = json!({ "Type": "Notification", "Message": v1_with("uuid", None) }).to_string();
    assert!(matches!(
        Envelope::from_sqs_body(&bad_inner),
        Err(MessageError::MissingField { field: "uuid" })
    ));
    let not_json_inner = json!({ "Type": "Notification", "Message": "hello" }).to_string();
    assert!(matches!(
        Envelope::from_sqs_body(&not_json_inner),
        Err(MessageError::Json { .. })
    ));
}

#[test]
fn rejects_text_that_is_not_a_json_object() {
    assert!(matches!(rejected("not json"), MessageError::Json { .. }));
    assert!(matches!(rejected(""), MessageError::Json { .. }));
    assert!(matches!(
        rejected("[1]"),
        MessageError::NotAnObject { found: "an array" }
    ));
    assert!(matches!(
        rejected("\"s\""),
        MessageError::NotAnObject { found: "a string" }
    ));
}

#[test]
fn rejects_missing_required_fields() {
    for field in ["uuid", "publisher", "type", "version", "data", "sent_at"] {
        let err = rejected(&v1_with(field, None));
        assert!(
            matches!(err, MessageError::MissingField { field: f } if f == field),
            "{field}: {err:?}"
        );
        assert_eq!(err.field(), Some(field));
        assert_eq!(err.to_string(), format!("missing required field `{field}`"));
    }
}

#[test]
fn rejects_fields_of_the_wrong_type() {
    let cases = [
        ("uuid", json!(12), "a string", "a number"),
        ("publisher", json!(null), "a string", "null"),
        ("request_id", json!(5), "a string", "a number"),
        ("type", json!(["event_x"]), "a string", "an array"),
        ("version", json!("1"), "an integer", "a string"),
        (
            "version",
            json!(1.5),
            "an integer",
            "a floating-point number",
        ),
        (
            "version",
            json!(1e300),
            "an integer",
            "a floating-point number",
        ),
        ("sent_at", json!(1_668_000_000), "a string", "a number"),
    ];
    for (field, value, expected, found) in cases {
        let err = rejected(&v1_with(field, Some(value.clone())));
        assert!(
            matches!(err, MessageError::WrongType { field: f, expected: e, found: g }
                if f == field && e == expected && g == found),
            "{field} = {value}: {err:?}"
        );
    }
}

#[test]
fn rejects_bad_uuids() {
    for bad in [
        "",
        "not-a-uuid",
        "f2ce38130905-4d81-a60e-f289f2431f50x",
        "f2ce38130905 4d81a60ef289f2431f50",
    ] {
        let err = rejected(&v1_with("uuid", Some(json!(bad))));
        assert!(
            matches!(err, MessageError::InvalidField { field: "uuid", .. }),
            "{bad}: {err:?}"
        );
    }
    // Other forms the uuid crate knows are not what the gem writes or accepts.
    let simple = rejected(&v1_with(
        "uuid",
        Some(json!("f2ce381309054d81a60ef289f2431f50")),
    ));
    assert!(matches!(
        simple,
        MessageError::InvalidField { field: "uuid", .. }
    ));
    let err = rejected(&v1_with("request_id", Some(json!("X-123"))));
    assert!(matches!(
        err,
        MessageError::InvalidField {
            field: "request_id",
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "field `request_id` is invalid: `X-123` is not a uuid like f2ce3813-0905-4d81-a60e-f289f2431f50"
    );
}

#[test]
fn rejects_bad_types() {
    let cases = [
        "note_created",
        "Event_note_created",
        "event",
        "event_",
        "command_",
        "event_note-created",
        "command_register user",
        "event_caf\u{e9}",
        "",
    ];
    for bad in cases {
        let err = rejected(&v1_with("type", Some(json!(bad))));
        assert!(
            matches!(err, MessageError::InvalidType { .. }),
            "{bad}: {err:?}"
        );
        assert_eq!(err.field(), Some("type"));
    }
    assert_eq!(
        rejected(&v1_with("type", Some(json!("note_created")))).to_string(),
        "field `type` has invalid value `note_created`: it must start with `event_` or `command_`"
    );
    let upper =
        Envelope::from_json(&v1_with("type", Some(json!("command_RegisterUser2")))).expect("valid");
    assert_eq!(
        (upper.kind(), upper.name()),
        (Kind::Command, "RegisterUser2")
    );
}

#[test]
fn rejects_unsupported_versions() {
    for (version, shown) in [
        (json!(0), "0"),
        (json!(3), "3"),
        (json!(-1), "-1"),
        (json!(u64::MAX), "18446744073709551615"),
    ] {
        let err = rejected(&v1_with("version", Some(version)));
        assert!(
            matches!(&err, MessageError::UnsupportedVersion { found } if found == shown),
            "{err:?}"
        );
    }
    assert_eq!(
        rejected(&v1_with("version", Some(json!(3)))).to_string(),
        "field `version` is 3, but only versions 1 and 2 are supported"
    );
}

#[test]
fn version_1_must_not_have_subject_or_object() {
    let subject = json!({ "type": "user", "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" });
    for field in ["subject", "object"] {
        let err = rejected(&v1_with(field, Some(subject.clone())));
        assert!(
            matches!(err, MessageError::NotInVersion1 { field: f } if f == field),
            "{err:?}"
        );
    }
}

#[test]
fn version_2_needs_subject_and_object() {
    for field in ["subject", "object"] {
        let err = rejected(&v2_with(field, None));
        assert!(
            matches!(err, MessageError::MissingField { field: f } if f == field),
            "{err:?}"
        );
        let err = rejected(&v2_with(field, Some(json!("user"))));
        assert!(
            matches!(err, MessageError::WrongType { field: f, .. } if f == field),
            "{err:?}"
        );
    }
    let cases = [
        (
            json!({ "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" }),
            "subject.type",
        ),
        (json!({ "type": "user" }), "subject.uuid"),
        (
            json!({ "type": "", "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" }),
            "subject.type",
        ),
        (
            json!({ "type": 1, "uuid": "a27c29e2-bbd3-490a-8f1b-caa4f8d902ef" }),
            "subject.type",
        ),
        (json!({ "type": "user", "uuid": "42" }), "subject.uuid"),
        (json!({ "type": "user", "uuid": 42 }), "subject.uuid"),
    ];
    for (subject, field) in cases {
        let err = rejected(&v2_with("subject", Some(subject.clone())));
        assert_eq!(err.field(), Some(field), "{subject}: {err:?}");
    }
}

#[test]
fn rejects_bad_sent_at() {
    for bad in [
        "",
        "yesterday",
        "2022-11-09",
        "2022-11-09T11:42:18.203",
        "2022-13-09T11:42:18+01:00",
    ] {
        let err = rejected(&v1_with("sent_at", Some(json!(bad))));
        assert!(
            matches!(
                err,
                MessageError::InvalidField {
                    field: "sent_at",
                    ..
                }
            ),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn rejects_empty_publisher() {
    let err = rejected(&v1_with("publisher", Some(json!(""))));
    assert!(matches!(
        err,
        MessageError::InvalidField {
            field: "publisher",
            ..
        }
    ));
}

#[test]
fn builders_make_distinct_kinds() {
    let event = Event::new("user_created", json!({}))
        .publisher("auth")
        .build()
        .expect("valid");
    let command = Command::new("create_user", json!({}))
        .publisher("auth")
        .build()
        .expect("valid");
    assert_eq!(event.message_type().to_string(), "event_user_created");
    assert_eq!(command.message_type().to_string(), "command_create_user");
    assert!(event.is_event() && command.is_command());
    let via_try_from = Envelope::try_from(Event::new("a", json!(1)).publisher("p")).expect("valid");
    assert_eq!(via_try_from.name(), "a");
}

#[test]
fn builders_validate() {
    let no_publisher = Event::new("user_created", json!({})).build();
    assert!(matches!(
        no_publisher,
        Err(MessageError::MissingField { field: "publisher" })
    ));
    let empty_publisher = Event::new("user_created", json!({})).publisher("").build();
    assert!(matches!(
        empty_publisher,
        Err(MessageError::InvalidField {
            field: "publisher",
            ..
        })
    ));
    for bad in ["", "user-created", "user created", "\u{fc}ber"] {
        let err = Command::new(bad, json!({})).publisher("p").build();
        assert!(
            matches!(err, Err(MessageError::InvalidName { .. })),
            "{bad}: {err:?}"
        );
    }
    let hyphen = Event::new("user-created", json!({})).publisher("p").build();
    assert!(hyphen.is_err_and(|e| e.to_string().contains("use `_`")));
    let only_subject = Event::new("x", json!({}))
        .publisher("p")
        .subject("user", Uuid::new_v4())
        .build();
    assert!(matches!(
        only_subject,
        Err(MessageError::MissingField { field: "object" })
    ));
    let only_object = Event::new("x", json!({}))
        .publisher("p")
        .object("user", Uuid::new_v4())
        .build();
    assert!(matches!(
        only_object,
        Err(MessageError::MissingField { field: "subject" })
    ));
    let empty_type = Event::new("x", json!({}))
        .publisher("p")
        .subject("user", Uuid::new_v4())
        .object("", Uuid::new_v4())
        .build();
    assert!(matches!(
        empty_type,
        Err(MessageError::InvalidField {
            field: "object.type",
            ..
        })
    ));
}

#[test]
fn message_type_parses_and_prints() {
    let t: MessageType = "command_register_user".parse().expect("valid");
    assert_eq!((t.kind(), t.name()), (Kind::Command, "register_user"));
    assert_eq!(
        t,
        MessageType::new(Kind::Command, "register_user").expect("valid")
    );
    assert_eq!(t.to_string(), "command_register_user");
    assert_eq!(Kind::Event.to_string(), "event");
    assert_eq!(Kind::Command.prefix(), "command_");
    // The first `_` after the kind ends the prefix; the rest is the name.
    let t: MessageType = "event_command_x".parse().expect("valid");
    assert_eq!((t.kind(), t.name()), (Kind::Event, "command_x"));
}

#[test]
fn long_rejected_values_are_shortened_in_errors() {
    let long = format!("event_{}", "\u{e9}".repeat(10_000));
    let err = rejected(&v1_with("type", Some(json!(long))));
    assert!(err.to_string().len() < 300, "{err}");
}

#[test]
fn never_panics_on_truncated_json() {
    for text in [README_V1, README_V2, README_REGISTER_USER] {
        let full = strip_comments(text);
        for (end, _) in full.char_indices() {
            let prefix = &full[..end];
            assert!(
                Envelope::from_json(prefix).is_err(),
                "accepted truncated {prefix}"
            );
            assert!(
                Envelope::from_sqs_body(prefix).is_err(),
                "accepted truncated {prefix}"
            );
        }
    }
}

#[test]
fn never_panics_on_any_value_in_any_field() {
    let values = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1.0),
        json!(-0.0),
        json!(f64::MAX),
        json!(""),
        json!("\u{0}"),
        json!("\u{1F980}"),
        json!([]),
        json!({}),
        json!({ "type": null, "uuid": null }),
    ];
    let fields = [
        "uuid",
        "publisher",
        "request_id",
        "type",
        "version",
        "subject",
        "object",
        "data",
        "sent_at",
        "Type",
        "Message",
    ];
    for base in [README_V1, README_V2] {
        for field in fields {
            for value in &values {
                let body = with_field(base, field, Some(value.clone()));
                let _ = Envelope::from_json(&body);
                let _ = Envelope::from_sqs_body(&body);
            }
        }
    }
    for raw in [
        "{\"version\": 1e400}",
        "{\"version\": 123456789012345678901234567890}",
        "{\"version\": -123456789012345678901234567890}",
        "{\"uuid\": \"\\ud800\"}",
        "{\"Type\": \"Notification\", \"Message\": \"{\\\"Type\\\": \\\"Notification\\\"}\"}",
    ] {
        assert!(Envelope::from_json(raw).is_err(), "{raw}");
        assert!(Envelope::from_sqs_body(raw).is_err(), "{raw}");
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(rejected(&deep), MessageError::Json { .. }));
    let deep_data = format!(
        "{{\"data\": {}1{}}}",
        "{\"a\":".repeat(100_000),
        "}".repeat(100_000)
    );
    assert!(matches!(rejected(&deep_data), MessageError::Json { .. }));
}

#[test]
fn never_panics_on_binary_garbage() {
    // xorshift: deterministic, no extra dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let valid = strip_comments(README_V2).into_bytes();
    for round in 0..2_000 {
        let len = (next() % 512) as usize;
        let bytes: Vec<u8> = if round % 2 == 0 {
            (0..len).map(|_| next() as u8).collect()
        } else {
            // Mutate a valid body so the parser gets deep before failing.
            let mut b = valid.clone();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % b.len();
                b[i] = next() as u8;
            }
            b
        };
        let text = String::from_utf8_lossy(&bytes);
        let _ = Envelope::from_json(&text);
        let _ = Envelope::from_sqs_body(&text);
    }
}
