//! CBOR diagnostic notation (RFC 8949 §8, the EDN the draft's examples use) for [`Value`].

use std::fmt::Write;

use super::Value;

impl Value {
    /// Renders the value in diagnostic notation on one line, e.g.
    /// `[h'1234', 32("http://example.com")]`.
    pub fn diagnostic(&self) -> String {
        let mut out = String::new();
        self.write_diag(&mut out);
        out
    }

    fn write_diag(&self, out: &mut String) {
        match self {
            Value::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Bytes(b) => {
                let _ = write!(out, "h'{}'", hex::encode(b));
            }
            Value::Text(t) => write_text(out, t),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write_diag(out);
                }
                out.push(']');
            }
            Value::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    k.write_diag(out);
                    out.push_str(": ");
                    v.write_diag(out);
                }
                out.push('}');
            }
            Value::Tag(t, inner) => {
                let _ = write!(out, "{t}(");
                inner.write_diag(out);
                out.push(')');
            }
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Null => out.push_str("null"),
            Value::Undefined => out.push_str("undefined"),
            Value::Simple(v) => {
                let _ = write!(out, "simple({v})");
            }
            Value::Float(f) => {
                if f.is_nan() {
                    out.push_str("NaN");
                } else if f.is_infinite() {
                    out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" });
                } else {
                    let _ = write!(out, "{f:?}");
                }
            }
        }
    }
}

/// Writes a text string as a quoted EDN/JSON-style string with escapes.
pub(crate) fn write_text(out: &mut String, t: &str) {
    out.push('"');
    for c in t.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_drafts_depth_example() {
        let bytes = hex::decode(
            "a20178186d696d693a2f2f612e6578616d706c652f752f616c6963651901008282421234d82072687474703a2f2f6578616d706c652e636f6d8242345619168b",
        )
        .unwrap();
        let v = Value::from_cbor(&bytes, 4).unwrap();
        assert_eq!(
            v.diagnostic(),
            r#"{1: "mimi://a.example/u/alice", 256: [[h'1234', 32("http://example.com")], [h'3456', 5771]]}"#
        );
        assert_eq!(Value::Float(1.5).diagnostic(), "1.5");
        assert_eq!(Value::Float(2.0).diagnostic(), "2.0");
        assert_eq!(Value::Text("a\"\n".into()).diagnostic(), r#""a\"\n""#);
    }
}
