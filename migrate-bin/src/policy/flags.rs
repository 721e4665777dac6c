//! Value parsers for numeric and duration flags, shared by `migrate` and
//! `seed`: every such flag has a range, and a value outside it (or not a
//! number at all, or too big for any integer) is a usage error (exit 2) that
//! names the allowed range. None of them can panic.
//!
//! Use with clap's `value_parser = ...`, and `allow_negative_numbers = true`
//! (integers) or `allow_hyphen_values = true` (durations: `-5s` is not a
//! number to clap) on the flag, so `--steps -1` reaches the parser and gets
//! the range instead of clap's bare "unexpected argument '-1'".

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A parser for a duration between `min` and `max` (inclusive).
///
/// Accepts humantime forms (`500ms`, `5s`, `2m`, `1h`, `1h 30m`) and a plain
/// number of seconds (`30`, `1.5`). Sub-millisecond precision is refused:
/// PostgreSQL's timeouts are in whole milliseconds, so `500us` would silently
/// become 0 (which PostgreSQL reads as "no timeout").
pub fn duration_in(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text: &str| {
        let range = format!("{}..={}", show(min), show(max));
        let d = parse_duration(text).map_err(|why| {
            format!(
                "`{text}` is not a duration ({why}); use e.g. 500ms, 5s, 2m or 1h, between {range}"
            )
        })?;
        if d.subsec_nanos() % 1_000_000 != 0 {
            return Err(format!(
                "`{text}` is finer than a millisecond; use whole milliseconds (e.g. 500ms), between {range}"
            ));
        }
        if d < min || d > max {
            return Err(format!(
                "`{text}` is outside the allowed range {range}; pick a value in it"
            ));
        }
        Ok(d)
    }
}

/// Parses a duration without a range: humantime forms or a plain number of
/// seconds. Never panics (no `Duration::from_secs_f64` on unchecked input).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("it is empty".to_owned());
    }
    if t.starts_with('-') {
        return Err("it is negative".to_owned());
    }
    if t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let seconds: f64 = t.parse().map_err(|_| "not a number".to_owned())?;
        return Duration::try_from_secs_f64(seconds).map_err(|_| "it is too large".to_owned());
    }
    humantime::parse_duration(t).map_err(|e| e.to_string())
}

/// Formats a range bound the way users type durations (`0s`, `24h`, `1h`),
/// in the largest unit that divides it (humantime would say `1day`).
fn show(d: Duration) -> String {
    let ms = d.as_millis();
    match d.as_secs() {
        0 if ms > 0 => format!("{ms}ms"),
        _ if d.subsec_millis() > 0 => format!("{ms}ms"),
        0 => "0s".to_owned(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A parser for an integer between `min` and `max` (inclusive).
///
/// A negative number, a number too large for the type and a non-number all
/// get the same message naming the range.
pub fn int_in<T>(
    min: T,
    max: T,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |text: &str| {
        let outside = || {
            format!(
                "`{text}` is outside the allowed range {min}..={max}; pick a whole number in it"
            )
        };
        let t = text.trim();
        // Only digits with an optional minus: `+5`, `0x10`, `1e3` are not accepted
        // by every integer type's FromStr alike, so refuse them the same way.
        let digits = t.strip_prefix('-').unwrap_or(t);
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "`{text}` is not a whole number; use one between {min} and {max}"
            ));
        }
        // Digits that do not fit the type (overflow, or a negative number for an
        // unsigned type) are outside the range by definition.
        let v: T = t.parse().map_err(|_| outside())?;
        if v < min || v > max {
            return Err(outside());
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3600;

    fn lock_wait(s: &str) -> Result<Duration, String> {
        duration_in(Duration::ZERO, Duration::from_secs(24 * H))(s)
    }

    #[test]
    fn durations_parse_in_every_form() {
        assert_eq!(lock_wait("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(lock_wait("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(lock_wait("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(lock_wait("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(lock_wait("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(lock_wait("30"), Ok(Duration::from_secs(30)));
        assert_eq!(lock_wait("0"), Ok(Duration::ZERO));
        assert_eq!(lock_wait("24h"), Ok(Duration::from_secs(24 * H)));
    }

    #[test]
    fn durations_outside_the_range_name_it() {
        for bad in ["24h 1s", "9999999h", "99999999999999999999", "1e400"] {
            let e = lock_wait(bad).expect_err(bad);
            assert!(e.contains("0s..=24h") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn malformed_durations_are_errors_not_panics() {
        for bad in [
            "",
            "soon",
            "5 parsecs",
            "-1s",
            "-1",
            "NaN",
            "inf",
            ".",
            "1..2",
            "99999999999999999999999999999999999999h",
            "18446744073709551616s",
            "1.7976931348623157e308",
            "340282366920938463463374607431768211456",
        ] {
            let e = lock_wait(bad).expect_err(bad);
            assert!(e.contains("0s..=24h"), "{bad}: {e}");
        }
    }

    #[test]
    fn sub_millisecond_durations_are_refused() {
        let e = lock_wait("500us").expect_err("500us");
        assert!(e.contains("millisecond"), "{e}");
        assert!(lock_wait("0.0001").is_err());
    }

    #[test]
    fn a_minimum_above_zero_is_enforced() {
        let p = duration_in(Duration::from_secs(1), Duration::from_secs(60));
        assert!(p("500ms").unwrap_err().contains("1s..=1m"));
        assert_eq!(p("1m"), Ok(Duration::from_secs(60)));
    }

    #[test]
    fn integers_in_range_parse() {
        let steps = int_in(1usize, 10_000);
        assert_eq!(steps("1"), Ok(1));
        assert_eq!(steps("10000"), Ok(10_000));
        assert_eq!(int_in(0u64, u64::MAX)("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn integers_outside_the_range_name_it() {
        let steps = int_in(1usize, 10_000);
        for bad in [
            "0",
            "10001",
            "-1",
            "-99999999999999999999",
            "99999999999999999999",
        ] {
            let e = steps(bad).expect_err(bad);
            assert!(e.contains("1..=10000") && e.contains(bad), "{bad}: {e}");
        }
        let e = int_in(1i64, 100_000)("-5").expect_err("-5");
        assert!(e.contains("1..=100000"), "{e}");
    }

    #[test]
    fn non_numbers_are_refused_with_the_range() {
        let jobs = int_in(1u32, 64);
        for bad in ["", "x", "1.5", "+5", "0x10", "1e3", "--", "-", " "] {
            let e = jobs(bad).expect_err(bad);
            assert!(e.contains("1 and 64"), "{bad}: {e}");
        }
    }
}
