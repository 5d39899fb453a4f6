//! The `sent_at` forms a lenient reader accepts: the ISO-like subset of what Ruby's
//! `Time.parse` reads, which is what the gem's message classes use.
//!
//! `YYYY-MM-DD`, optionally followed by `T`, `t` or spaces and `HH:MM[:SS[.fraction]]`
//! (`,` also starts a fraction), optionally followed by a zone: `Z`, `UTC`, `GMT`, `+HH`,
//! `+HHMM` or `+HH:MM` (with an optional space before it). No zone means UTC (Ruby takes the
//! process's local zone, which is UTC on servers and containers); a date alone means midnight.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};

/// Parses `text` in one of the forms above; `None` when it is not one of them or names a
/// date or time that does not exist.
pub(super) fn parse_lenient(text: &str) -> Option<DateTime<FixedOffset>> {
    let mut cursor = Cursor(text.trim().as_bytes());
    let year = cursor.digits(4, 4)?;
    cursor.expect(b'-')?;
    let month = cursor.digits(1, 2)?;
    cursor.expect(b'-')?;
    let day = cursor.digits(1, 2)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let time = if cursor.time_separator() {
        cursor.time()?
    } else {
        NaiveTime::MIN
    };
    let offset = cursor.zone()?;
    if !cursor.0.is_empty() {
        return None;
    }
    offset.from_local_datetime(&date.and_time(time)).single()
}

/// The unread rest of the text.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    fn bump(&mut self) {
        self.0 = &self.0[1..];
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn skip_spaces(&mut self) -> bool {
        let before = self.0.len();
        while self.eat(b' ') {}
        self.0.len() != before
    }

    /// Reads `min..=max` ASCII digits as a number.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let count = self
            .0
            .iter()
            .take(max)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if count < min {
            return None;
        }
        let value = self.0[..count]
            .iter()
            .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
        self.0 = &self.0[count..];
        Some(value)
    }

    /// Consumes `T`, `t` or spaces when a time follows.
    fn time_separator(&mut self) -> bool {
        if self.eat(b'T') || self.eat(b't') {
            return true;
        }
        let rest = self.0;
        if self.skip_spaces() && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return true;
        }
        self.0 = rest;
        false
    }

    fn time(&mut self) -> Option<NaiveTime> {
        let hour = self.digits(1, 2)?;
        self.expect(b':')?;
        let minute = self.digits(2, 2)?;
        let second = if self.eat(b':') {
            self.digits(2, 2)?
        } else {
            0
        };
        let nanos = if self.eat(b'.') || self.eat(b',') {
            self.fraction()?
        } else {
            0
        };
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
    }

    /// Reads the digits of a fraction of a second as nanoseconds; digits past the ninth are
    /// dropped, as Ruby keeps nanoseconds at most.
    fn fraction(&mut self) -> Option<u32> {
        let count = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if count == 0 {
            return None;
        }
        let nanos = self.0[..count]
            .iter()
            .chain(std::iter::repeat(&b'0'))
            .take(9)
            .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
        self.0 = &self.0[count..];
        Some(nanos)
    }

    /// Reads the zone, UTC when there is none.
    fn zone(&mut self) -> Option<FixedOffset> {
        self.skip_spaces();
        let utc = FixedOffset::east_opt(0);
        if self.0.is_empty() {
            return utc;
        }
        for name in [&b"Z"[..], b"z", b"UTC", b"GMT"] {
            if self.0.eq_ignore_ascii_case(name) {
                self.0 = &[];
                return utc;
            }
        }
        let sign = match self.peek()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        self.bump();
        let hours = self.digits(2, 2)?;
        let minutes = if self.eat(b':') || self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.digits(2, 2)?
        } else {
            0
        };
        if minutes > 59 {
            return None;
        }
        let seconds = i32::try_from(hours * 3600 + minutes * 60).ok()?;
        FixedOffset::east_opt(sign * seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> String {
        parse_lenient(text)
            .unwrap_or_else(|| panic!("refused {text:?}"))
            .to_rfc3339()
    }

    #[test]
    fn reads_the_forms_ruby_time_parse_reads() {
        let cases = [
            ("2024-01-01T10:00:00", "2024-01-01T10:00:00+00:00"),
            ("1970-01-01 16:40:00", "1970-01-01T16:40:00+00:00"),
            (
                "2022-11-09T11:42:18.203+01:00",
                "2022-11-09T11:42:18.203+01:00",
            ),
            (
                "2022-11-09T11:42:18.203456789Z",
                "2022-11-09T11:42:18.203456789+00:00",
            ),
            (
                "2022-11-09T11:42:18.2034567891Z",
                "2022-11-09T11:42:18.203456789+00:00",
            ),
            ("2024-01-01T10:00:00+0200", "2024-01-01T10:00:00+02:00"),
            ("2024-01-01T10:00:00+02", "2024-01-01T10:00:00+02:00"),
            ("2024-01-01T10:00:00-05:30", "2024-01-01T10:00:00-05:30"),
            ("2024-01-01 10:00:00 +02:00", "2024-01-01T10:00:00+02:00"),
            ("2024-01-01 10:00:00 UTC", "2024-01-01T10:00:00+00:00"),
            ("2024-01-01t10:00:00z", "2024-01-01T10:00:00+00:00"),
            ("2024-01-01T10:00", "2024-01-01T10:00:00+00:00"),
            ("2024-01-01T10:00:00,5", "2024-01-01T10:00:00.500+00:00"),
            ("2024-01-01", "2024-01-01T00:00:00+00:00"),
            ("  2024-1-2 3:04:05  ", "2024-01-02T03:04:05+00:00"),
            (
                "2024-02-29T23:59:59.999999",
                "2024-02-29T23:59:59.999999+00:00",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(at(text), expected, "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_iso_like_time() {
        for text in [
            "",
            "yesterday",
            "1668000000",
            "2022-13-09T11:42:18+01:00",
            "2023-02-29T00:00:00Z",
            "2022-11-09T24:00:00Z",
            "2022-11-09T11:60:00Z",
            "2022-11-09T11:42:61Z",
            "2022-11-09T11:42:18.Z",
            "2022-11-09T11:42:18+25:00",
            "2022-11-09T11:42:18+01:99",
            "2022-11-09T11:42:18 Europe/Berlin",
            "2022-11-09T11:42:18+01:00 trailing",
            "22-11-09",
            "2022/11/09",
            "\u{1F980}",
        ] {
            assert_eq!(parse_lenient(text), None, "{text}");
        }
    }
}
