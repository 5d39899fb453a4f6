//! Queue policies: the statement that lets a topic send to a queue, added or removed without
//! touching the policy's other statements.

/// The key of the queue-policy statement that lets `topic_arn` send to a queue; the AWS
/// console names its statements the same way.
pub fn policy_statement_id(topic_arn: &str) -> String {
    format!("topic-subscription-{topic_arn}")
}

/// Adds (or replaces) the statement letting `topic_arn` send to `queue_arn` in a queue policy.
/// Returns `None` when the policy already has exactly that statement.
pub fn policy_with_topic(
    policy: Option<&str>,
    queue_arn: &str,
    topic_arn: &str,
) -> Result<Option<String>, serde_json::Error> {
    let (mut doc, mut statements) = parse_policy(policy, queue_arn)?;
    let sid = policy_statement_id(topic_arn);
    let statement = serde_json::json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": { "Service": "sns.amazonaws.com" },
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } },
    });
    if statements.contains(&statement) {
        return Ok(None);
    }
    statements.retain(|s| statement_id(s) != Some(sid.as_str()));
    statements.push(statement);
    doc.insert("Statement".into(), serde_json::Value::Array(statements));
    Ok(Some(serde_json::Value::Object(doc).to_string()))
}

/// Removes the statement for `topic_arn`. Returns `None` when there is none; `Some("")` when
/// the policy is left empty (which removes it).
pub fn policy_without_topic(
    policy: Option<&str>,
    queue_arn: &str,
    topic_arn: &str,
) -> Result<Option<String>, serde_json::Error> {
    let (mut doc, mut statements) = parse_policy(policy, queue_arn)?;
    let sid = policy_statement_id(topic_arn);
    let before = statements.len();
    statements.retain(|s| statement_id(s) != Some(sid.as_str()));
    if statements.len() == before {
        return Ok(None);
    }
    if statements.is_empty() {
        return Ok(Some(String::new()));
    }
    doc.insert("Statement".into(), serde_json::Value::Array(statements));
    Ok(Some(serde_json::Value::Object(doc).to_string()))
}

type PolicyDocument = serde_json::Map<String, serde_json::Value>;

/// The policy document and its statements (a single statement object becomes a list).
fn parse_policy(
    policy: Option<&str>,
    queue_arn: &str,
) -> Result<(PolicyDocument, Vec<serde_json::Value>), serde_json::Error> {
    let mut doc: PolicyDocument = match policy.filter(|p| !p.trim().is_empty()) {
        Some(text) => serde_json::from_str(text)?,
        None => {
            let mut doc = PolicyDocument::new();
            doc.insert("Version".into(), "2012-10-17".into());
            doc.insert("Id".into(), format!("{queue_arn}/SQSDefaultPolicy").into());
            doc
        }
    };
    let statements = match doc.remove("Statement") {
        Some(serde_json::Value::Array(list)) => list,
        Some(single) => vec![single],
        None => Vec::new(),
    };
    Ok((doc, statements))
}

fn statement_id(statement: &serde_json::Value) -> Option<&str> {
    statement.get("Sid").and_then(|v| v.as_str())
}
