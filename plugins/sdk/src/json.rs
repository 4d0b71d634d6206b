//! Finding the elements of a JSON array in bytes that arrive in pieces, without parsing them: a
//! report that holds a whole catalogue in one array is read element by element (each parsed
//! with `serde_json::from_slice`, borrowing), never held whole. Pure functions, tested natively.

/// What [`next_element`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// An element at `buf[start..end]`; the next scan starts at `end`.
    Element { start: usize, end: usize },
    /// The array's closing `]`; nothing follows in it (`after` is past the bracket).
    End { after: usize },
    /// The bytes end inside the next element (or before it): read more and scan again from the
    /// same position.
    NeedMore,
}

/// The next element of an array in `buf` from `at`. `at_start`: `buf[at..]` begins before the
/// array's `[` (otherwise `at` is just after an element, or after the `[`).
pub fn next_element(buf: &[u8], mut at: usize, at_start: bool) -> Result<Found, String> {
    let mut need_open = at_start;
    loop {
        let Some(&b) = buf.get(at) else { return Ok(Found::NeedMore) };
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => at += 1,
            b'[' if need_open => {
                need_open = false;
                at += 1;
            }
            _ if need_open => return Err(format!("expected a JSON array, found `{}`", b as char)),
            b',' => at += 1,
            b']' => return Ok(Found::End { after: at + 1 }),
            _ => break,
        }
    }
    Ok(match element_end(buf, at)? {
        Some(end) => Found::Element { start: at, end },
        None => Found::NeedMore,
    })
}

/// Where the value starting at `buf[start]` ends (exclusive), or `None` if `buf` ends first.
fn element_end(buf: &[u8], start: usize) -> Result<Option<usize>, String> {
    let first = buf[start];
    if !matches!(first, b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') {
        return Err(format!("unexpected `{}` in a JSON array", first as char));
    }
    if !matches!(first, b'{' | b'[' | b'"') {
        // A number, `true`, `false` or `null`: up to the next delimiter.
        return Ok(buf[start..]
            .iter()
            .position(|b| matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
            .map(|n| start + n));
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (n, &b) in buf[start..].iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                if depth == 0 {
                    return Ok(Some(start + n + 1));
                }
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1).ok_or("unbalanced brackets in a JSON array")?;
                if depth == 0 {
                    return Ok(Some(start + n + 1));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element of `text` fed `piece` bytes at a time, as the spool reader does.
    fn elements(text: &str, piece: usize) -> Vec<String> {
        let bytes = text.as_bytes();
        let (mut buf, mut fed, mut at, mut at_start, mut out) = (Vec::new(), 0, 0, true, Vec::new());
        loop {
            match next_element(&buf, at, at_start).unwrap() {
                Found::Element { start, end } => {
                    out.push(String::from_utf8(buf[start..end].to_vec()).unwrap());
                    (at, at_start) = (end, false);
                }
                Found::End { .. } => return out,
                Found::NeedMore => {
                    assert!(fed < bytes.len(), "ran out of input in {text:?}");
                    let next = (fed + piece).min(bytes.len());
                    buf.extend_from_slice(&bytes[fed..next]);
                    fed = next;
                }
            }
        }
    }

    #[test]
    fn elements_are_found_whatever_the_pieces() {
        let text = r#" [ {"a":"x]}\"y","b":[1,{"c":2}]} , 12 ,"s,]" ,true,[],{} ] "#;
        let expected = [r#"{"a":"x]}\"y","b":[1,{"c":2}]}"#, "12", r#""s,]""#, "true", "[]", "{}"];
        for piece in [1, 2, 3, 7, 1000] {
            assert_eq!(elements(text, piece), expected, "pieces of {piece}");
        }
        assert!(elements("[]", 1).is_empty());
    }

    #[test]
    fn not_an_array_is_an_error() {
        assert!(next_element(br#"{"data":1}"#, 0, true).is_err());
        assert!(next_element(b"[}]", 0, true).is_err());
    }
}
