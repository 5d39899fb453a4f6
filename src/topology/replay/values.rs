//! How a table's values land on a resource: a value set when given, numbers within AWS's
//! ranges, and tags, with AWS's rules for them and the keys lariat keeps for itself.

use std::collections::BTreeMap;

use super::problem::{Checked, Problem};
use super::Replay;
use crate::topology::Operation;

impl Replay<'_> {
    /// Warns about user tags whose keys lariat sets itself on the resource (`managed_by`,
    /// `kind`, ...): lariat's value wins, so the user's would be dropped without a word.
    pub(super) fn warn_lariat_tags(
        &mut self,
        line: usize,
        tags: Option<&BTreeMap<String, String>>,
        result: &Checked<Operation>,
        is_up: bool,
    ) {
        let naming = match result {
            Ok(Operation::CreateTopic(t) | Operation::ChangeTopic { after: t, .. }) => &t.naming,
            Ok(Operation::CreateQueue(q) | Operation::ChangeQueue { after: q, .. }) => &q.naming,
            _ => return,
        };
        let (Some(tags), true) = (tags, is_up) else {
            return;
        };
        let lariat = crate::calls::resource_tags(naming, &BTreeMap::new());
        for (key, value) in tags {
            if let Some(own) = lariat.get(key) {
                self.warn(
                    line,
                    Problem::new(format!(
                        "tag `{key}` is one lariat sets itself (to `{own}` here): your value `{}` is dropped",
                        value.escape_debug()
                    ))
                    .help(format!("rename the tag (e.g. `team_{key}`), or remove it; lariat's tags are {}", crate::calls::LARIAT_TAGS.join(", "))),
                );
            }
        }
    }
}

/// AWS's tag rules (SNS `TagResource`, SQS `TagQueue`): keys of 1 to 128 and values of at
/// most 256 Unicode characters, made of letters, digits, white space and `_ . : / = + - @`; keys
/// starting with `aws:` (any case) are AWS's own; at most 50 tags, lariat's included.
pub(super) fn check_tags(tags: &BTreeMap<String, String>) -> Checked<()> {
    if tags.len() > MAX_USER_TAGS {
        return Err(Problem::new(format!(
            "{} tags; lariat adds up to 8 of its own and AWS allows 50",
            tags.len()
        ))
        .help("remove some tags"));
    }
    for (key, value) in tags {
        let key_chars = key.chars().count();
        if key_chars == 0 || key_chars > 128 {
            return Err(Problem::new(format!(
                "tag key `{}` has {key_chars} characters; AWS allows 1 to 128",
                key.escape_debug()
            ))
            .help("shorten the tag key"));
        }
        let value_chars = value.chars().count();
        if value_chars > 256 {
            return Err(Problem::new(format!(
                "the value of tag `{}` has {value_chars} characters; AWS allows at most 256",
                key.escape_debug()
            ))
            .help("shorten the tag value"));
        }
        if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return Err(Problem::new(format!(
                "tag `{}`: the `aws:` prefix is reserved by AWS",
                key.escape_debug()
            ))
            .help("rename the tag key"));
        }
        for (what, text) in [("key", key), ("value", value)] {
            if let Some(bad) = text.chars().find(|&c| !is_tag_char(c)) {
                return Err(Problem::new(format!(
                    "tag {what} `{}` contains `{}`, which AWS does not allow in tags",
                    text.escape_debug(),
                    bad.escape_debug()
                ))
                .help("use letters, digits, spaces and _ . : / = + - @ only"));
            }
        }
    }
    Ok(())
}

/// The most user tags a resource may have: AWS allows 50, lariat adds up to 8.
const MAX_USER_TAGS: usize = 42;

/// A character AWS accepts in tag keys and values.
fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

/// Adds a table's tags, overwriting those of the same key.
pub(super) fn overlay_tags(
    tags: &mut BTreeMap<String, String>,
    new: Option<&BTreeMap<String, String>>,
) {
    if let Some(new) = new {
        tags.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

/// Sets `slot` when the table gives a value; leaves it as it is otherwise.
pub(super) fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

/// [`set`] for a number AWS accepts from `min` to `max`.
pub(super) fn set_ranged(
    slot: &mut Option<u32>,
    value: Option<u32>,
    key: &str,
    min: u32,
    max: u32,
) -> Checked<()> {
    if let Some(v) = value {
        check_range(key, v, min, max)?;
        *slot = Some(v);
    }
    Ok(())
}

/// Refuses `key = value` outside `min` to `max`.
pub(super) fn check_range(key: &str, value: u32, min: u32, max: u32) -> Checked<()> {
    if value < min || value > max {
        return Err(Problem::new(format!("`{key} = {value}` is out of range"))
            .help(format!("AWS accepts {min} to {max}")));
    }
    Ok(())
}
