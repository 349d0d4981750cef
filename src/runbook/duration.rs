//! Durations as authors write them: `500ms`, `10s`, `5m`, `1h`, `1h30m`.

use std::time::Duration;

/// Parses `1h30m`-style durations: one or more `<digits><unit>` with units `h`, `m`, `s`, `ms`
/// in that order, each at most once.
pub fn parse(text: &str) -> Option<Duration> {
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut millis: u64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let (index, unit_len, scale) = [3usize, 0, 1, 2]
            .into_iter()
            .filter(|&i| i >= next_unit)
            .find_map(|i| rest.starts_with(UNITS[i].0).then_some((i, UNITS[i].0.len(), UNITS[i].1)))?;
        // `5m` followed by `s` would have matched `ms` above only if allowed by order.
        rest = &rest[unit_len..];
        millis = millis.checked_add(number.checked_mul(scale)?)?;
        next_unit = index + 1;
    }
    Some(Duration::from_millis(millis))
}

/// Formats a duration the way authors write it, for messages and the UI.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("2s500ms"), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in
            ["", "10", "s", "10 s", "1.5s", "10sec", "5m1h", "1s1s", "-1s", "10S", "99999999999999999999h"]
        {
            assert_eq!(parse(bad), None, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in ["500ms", "10s", "5m", "1h30m", "1h"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
