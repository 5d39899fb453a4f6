//! The SQL pieces every backend shares: the split-key and resend filters, the columns of a
//! claimed row and how it is read back, stats rows, and the cut of a stored error text.

use super::{OutboxError, ResendFilter, Row, SplitKey, Target, TargetStats};
use crate::naming::ResourceKind;

/// The longest `last_error` text kept in a row.
const MAX_ERROR_LEN: usize = 2000;

fn parse_resource(table: &str, id: i64, text: &str) -> Result<ResourceKind, OutboxError> {
    match text {
        "topic" => Ok(ResourceKind::Topic),
        "queue" => Ok(ResourceKind::Queue),
        other => Err(OutboxError::CorruptRow {
            id,
            table: table.to_owned(),
            detail: format!("unknown target kind `{other}`"),
        }),
    }
}

/// Cuts an error text to what a row keeps.
pub(super) fn cut_error(text: &str) -> String {
    if text.len() <= MAX_ERROR_LEN {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Appends `AND (target_name = ? OR (target_name = ? AND group_id = ?) …)` for split keys.
pub(super) fn push_split_filter<'a, DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<'a, DB>,
    alias: &str,
    keys: &'a [SplitKey],
) where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if keys.is_empty() {
        return;
    }
    query.push(" AND (");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            query.push(" OR ");
        }
        query.push(format!("({alias}target_name = "));
        query.push_bind(key.target_name.clone());
        if let Some(group) = &key.group_id {
            query.push(format!(" AND {alias}group_id = "));
            query.push_bind(group.clone());
        }
        query.push(")");
    }
    query.push(")");
}

/// Appends `AND target_name = ? AND group_id = ? AND id IN (…)` for a resend filter.
pub(super) fn push_resend_filter<'a, DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<'a, DB>,
    filter: &'a ResendFilter,
) where
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    if let Some(name) = &filter.target_name {
        query.push(" AND target_name = ");
        query.push_bind(name.clone());
    }
    if let Some(group) = &filter.group_id {
        query.push(" AND group_id = ");
        query.push_bind(group.clone());
    }
    if !filter.ids.is_empty() {
        query.push(" AND id IN ");
        push_id_list(query, &filter.ids);
    }
}

/// Appends `(?, ?, …)`; `ids` must not be empty.
pub(super) fn push_id_list<'a, DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<'a, DB>,
    ids: &[i64],
) where
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query.push("(");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
}

/// The columns a claim returns, in [`Row`] order.
pub(super) const ROW_COLUMNS: &str =
    "id, target_kind, target_name, group_id, dedup_id, message, attributes, attempts";

pub(super) type RawRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    i32,
);

pub(super) fn row_from(table: &str, raw: RawRow) -> Result<Row, OutboxError> {
    let (id, kind, name, group_id, deduplication_id, message, attributes, attempts) = raw;
    Ok(Row {
        id,
        target: Target {
            resource: parse_resource(table, id, &kind)?,
            name,
        },
        group_id,
        deduplication_id,
        message,
        attributes,
        attempts,
    })
}

pub(super) type RawStats = (String, String, i64, i64, i64, i64, Option<f64>);

pub(super) fn stats_from(raw: Vec<RawStats>) -> Vec<TargetStats> {
    raw.into_iter()
        .map(
            |(kind, target, pending, retrying, in_flight, dead, age)| TargetStats {
                kind: if kind == "queue" {
                    ResourceKind::Queue
                } else {
                    ResourceKind::Topic
                },
                target,
                pending,
                retrying,
                in_flight,
                dead,
                oldest_age_seconds: age.map(|a| a.max(0.0)),
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let text = "é".repeat(MAX_ERROR_LEN);
        let cut = cut_error(&text);
        assert!(cut.len() <= MAX_ERROR_LEN + "…".len());
        assert_eq!(cut_error("short"), "short");
    }
}
