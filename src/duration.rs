//! Durations as people write them in options and in `lariat.toml`: `500ms`, `30s`, `5m`, `2h`,
//! `7d`, or a plain number of seconds; and back, in the largest exact unit.

use std::time::Duration;

/// Parses `500ms`, `30s`, `5m`, `2h`, `7d`, or a plain number of seconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let not_a_duration = || {
        format!("`{text}` is not a duration: write a whole number and a unit (ms, s, m, h or d), e.g. 30s, 500ms or 5m")
    };
    if number.is_empty() {
        return Err(not_a_duration());
    }
    let too_long = || format!("`{text}` is too long a duration");
    let n: u64 = number.parse().map_err(|_| too_long())?;
    let seconds = |factor: u64| n.checked_mul(factor).map(Duration::from_secs);
    let duration = match unit {
        "" | "s" => Some(Duration::from_secs(n)),
        "ms" => Some(Duration::from_millis(n)),
        "m" => seconds(60),
        "h" => seconds(3600),
        "d" => seconds(86_400),
        _ => return Err(not_a_duration()),
    };
    duration.ok_or_else(too_long)
}

/// `1s`, `500ms`, `5m`, `7d`: the largest unit that shows `d` exactly.
pub fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    match s {
        0 => "0s".to_owned(),
        s if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("3h"), Ok(Duration::from_secs(3 * 3600)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse("7"), Ok(Duration::from_secs(7)));
        for bad in ["soon", "5w", "", "s", "1.5s", "-1s", "ms"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    /// Regression: `99999999999999999h` overflowed the multiplication (a panic in debug builds).
    #[test]
    fn huge_numbers_are_errors_not_overflows() {
        assert!(parse("99999999999999999h")
            .unwrap_err()
            .contains("too long"));
        assert!(parse("99999999999999999999999s")
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn shown_in_the_largest_exact_unit() {
        assert_eq!(show(Duration::from_millis(10)), "10ms");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
        assert_eq!(show(Duration::ZERO), "0s");
        assert_eq!(show(Duration::from_secs(90)), "90s");
        assert_eq!(show(Duration::from_secs(3600)), "1h");
        assert_eq!(show(Duration::from_secs(86_400 * 3650)), "3650d");
    }
}
