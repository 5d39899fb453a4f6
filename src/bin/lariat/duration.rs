//! Duration options of the command line: one parser for every `--…` that takes a duration,
//! each option with the range that makes sense for it, so a value such as `--lease 0` is a
//! usage error (exit 64) instead of a panic or a relay that never renews its claims.

use std::time::Duration;

pub use lariat::duration::{parse, show};

/// One millisecond.
pub const MILLISECOND: Duration = Duration::from_millis(1);
/// One second.
pub const SECOND: Duration = Duration::from_secs(1);
/// One minute.
pub const MINUTE: Duration = Duration::from_secs(60);
/// One hour.
pub const HOUR: Duration = Duration::from_secs(3600);
/// One day.
pub const DAY: Duration = Duration::from_secs(86_400);

/// A clap value parser: a duration (see [`parse`]) from `min` to `max`, both included.
pub fn between(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| {
        let duration = parse(text)?;
        if duration < min {
            return Err(format!("too short: the least is {}", show(min)));
        }
        if duration > max {
            return Err(format!("too long: the most is {}", show(max)));
        }
        Ok(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_include_their_ends() {
        let lease = between(SECOND, HOUR);
        assert_eq!(lease("1s"), Ok(SECOND));
        assert_eq!(lease("1h"), Ok(HOUR));
        assert_eq!(lease("0").unwrap_err(), "too short: the least is 1s");
        assert_eq!(lease("999ms").unwrap_err(), "too short: the least is 1s");
        assert_eq!(lease("61m").unwrap_err(), "too long: the most is 1h");
    }
}
