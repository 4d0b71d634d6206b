//! Reading a marketplace's rate-limit headers: how long to wait before calling again.
//!
//! Marketplaces say it differently: `Retry-After` (seconds or an HTTP date, RFC 9110),
//! Wildberries' `X-Ratelimit-Retry` / `X-Ratelimit-Reset` (seconds), Yandex Market's
//! `X-RateLimit-Resource-Until` (an RFC 822 date). [`retry_after_secs`] reads whichever is there.

use std::time::{Duration, SystemTime};

/// Headers read for a wait, in order of preference.
pub const WAIT_HEADERS: [&str; 4] =
    ["retry-after", "x-ratelimit-retry", "x-ratelimit-reset", "x-ratelimit-resource-until"];

/// The seconds to wait that the headers give, read at `now`; `None` when none says.
///
/// A value is seconds (`"3"`, `"1.5"` rounded up) or an HTTP date (`"Thu, 10 Jul 2018 00:42:42
/// GMT"`, also the RFC 850 and asctime forms); a date in the past means no wait (0).
pub fn retry_after_secs(headers: &[(String, String)], now: SystemTime) -> Option<u64> {
    WAIT_HEADERS.iter().find_map(|name| header(headers, name).and_then(|v| parse_wait(v, now)))
}

/// The remaining budget a response reports (`X-RateLimit-Resource-Remaining`,
/// `X-Ratelimit-Remaining`), if any.
pub fn remaining(headers: &[(String, String)]) -> Option<u64> {
    ["x-ratelimit-resource-remaining", "x-ratelimit-remaining"]
        .iter()
        .find_map(|name| header(headers, name).and_then(|v| v.trim().parse().ok()))
}

/// One wait value: seconds, or a date.
pub fn parse_wait(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| secs.ceil().min(u64::MAX as f64) as u64);
    }
    let at = parse_date(value)?;
    Some(at.duration_since(now).map(round_up).unwrap_or(0))
}

/// An HTTP date; a day name that does not match the date (Yandex Market's own documentation
/// shows `Thu, 10 Jul 2018`, a Tuesday) is forgiven: the date is what counts.
fn parse_date(value: &str) -> Option<SystemTime> {
    if let Ok(at) = httpdate::parse_http_date(value) {
        return Some(at);
    }
    let rest = value.get(3..).filter(|r| r.starts_with(", "))?;
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .iter()
        .find_map(|day| httpdate::parse_http_date(&format!("{day}{rest}")).ok())
}

fn round_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn seconds_dates_and_precedence() {
        let now = httpdate::parse_http_date("Tue, 10 Jul 2018 00:42:00 GMT").unwrap();
        assert_eq!(retry_after_secs(&h(&[("Retry-After", "7")]), now), Some(7));
        assert_eq!(retry_after_secs(&h(&[("X-Ratelimit-Retry", "1.2")]), now), Some(2));
        assert_eq!(
            retry_after_secs(&h(&[("X-RateLimit-Resource-Until", "Thu, 10 Jul 2018 00:42:42 GMT")]), now),
            Some(42)
        );
        // A date already past: call again now.
        assert_eq!(retry_after_secs(&h(&[("retry-after", "Wed, 09 Jul 2018 00:00:00 GMT")]), now), Some(0));
        // Retry-After wins over the others; garbage is ignored, not read as zero.
        assert_eq!(retry_after_secs(&h(&[("x-ratelimit-reset", "9"), ("retry-after", "3")]), now), Some(3));
        assert_eq!(retry_after_secs(&h(&[("retry-after", "soon"), ("x-ratelimit-reset", "9")]), now), Some(9));
        assert_eq!(retry_after_secs(&h(&[("retry-after", "-1")]), now), None);
        assert_eq!(retry_after_secs(&h(&[]), now), None);
    }

    #[test]
    fn remaining_budget() {
        assert_eq!(remaining(&h(&[("X-RateLimit-Resource-Remaining", "12")])), Some(12));
        assert_eq!(remaining(&h(&[("X-Ratelimit-Remaining", " 0 ")])), Some(0));
        assert_eq!(remaining(&h(&[])), None);
    }
}
