//! Prices as marketplaces send them (decimal strings, JSON numbers) into minor units (kopecks).

/// Minor units (hundredths) of a decimal string such as `"1299.50"` or `"1299"`; `None` when it
/// is not a plain non-negative decimal with at most two fractional digits' worth of precision
/// (more digits are rounded half up).
pub fn minor_from_str(value: &str) -> Option<i64> {
    let value = value.trim();
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits = frac.bytes().map(|b| i64::from(b - b'0'));
    let cents = digits.next().unwrap_or(0) * 10 + digits.next().unwrap_or(0);
    let round = i64::from(digits.next().is_some_and(|d| d >= 5));
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents + round)
}

/// Minor units of a JSON number of major units (`1299.5` → 129950), rounded to the nearest.
pub fn minor_from_f64(value: f64) -> Option<i64> {
    let minor = (value * 100.0).round();
    (value.is_finite() && value >= 0.0 && minor < i64::MAX as f64).then_some(minor as i64)
}

/// A price from a selling price and the price before the discount (minor units; `before` 0 or
/// not higher: no discount): the base is the higher one, the selling one its discounted price.
pub fn price(selling: i64, before: i64, currency_code: &str) -> crate::Price {
    let currency = currency(currency_code);
    if before > selling && selling > 0 {
        let percent = ((before - selling) * 100 + before / 2) / before;
        crate::Price {
            base_minor: before,
            discounted_minor: Some(selling),
            discount_percent: Some(percent as u32),
            currency,
        }
    } else {
        crate::Price { base_minor: selling, discounted_minor: None, discount_percent: None, currency }
    }
}

/// ISO 4217 from a marketplace's currency code (Yandex Market says `RUR` for roubles).
pub fn currency(code: &str) -> String {
    match code.trim() {
        "" | "RUR" => "RUB".into(),
        other => other.to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings() {
        assert_eq!(minor_from_str("1299.50"), Some(129_950));
        assert_eq!(minor_from_str("1299"), Some(129_900));
        assert_eq!(minor_from_str("0.5"), Some(50));
        assert_eq!(minor_from_str("10.005"), Some(1001));
        assert_eq!(minor_from_str(""), None);
        assert_eq!(minor_from_str("-1"), None);
        assert_eq!(minor_from_str("1e3"), None);
    }

    #[test]
    fn prices_with_and_without_a_discount() {
        let discounted = price(100_000, 125_000, "RUR");
        assert_eq!(
            (discounted.base_minor, discounted.discounted_minor, discounted.discount_percent),
            (125_000, Some(100_000), Some(20))
        );
        assert_eq!(discounted.currency, "RUB");
        assert_eq!(price(100_000, 0, "").discounted_minor, None);
        assert_eq!(price(100_000, 90_000, "RUB").base_minor, 100_000, "a lower earlier price is no discount");
    }

    #[test]
    fn numbers_and_currency() {
        assert_eq!(minor_from_f64(1299.5), Some(129_950));
        assert_eq!(minor_from_f64(0.29), Some(29));
        assert_eq!(minor_from_f64(-1.0), None);
        assert_eq!(minor_from_f64(f64::NAN), None);
        assert_eq!(currency("RUR"), "RUB");
        assert_eq!(currency("usd"), "USD");
    }
}
