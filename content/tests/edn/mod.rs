//! A small parser for the EDN (CBOR extended diagnostic notation) the draft's examples are
//! written in: `#` and `/…/` comments, `h'…'` hex with spaces, `'…'` byte strings with escapes,
//! `"…"` text, `+` concatenation, integers, `null`/`true`/`false`, tags `n(…)`, arrays and maps,
//! commas optional. It gives the tests an expected value that does not come from the hex files.

use mimi_content::Value;

pub fn parse(src: &str) -> Value {
    let mut p = Parser { s: src.as_bytes(), i: 0 };
    let v = p.value();
    p.ws();
    assert_eq!(p.i, p.s.len(), "trailing EDN input at {}", p.i);
    v
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b' ' | b'\n' | b'\r' | b'\t' | b',' => self.i += 1,
                b'#' => {
                    while self.i < self.s.len() && self.s[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                b'/' => {
                    self.i += 1;
                    while self.s[self.i] != b'/' {
                        self.i += 1;
                    }
                    self.i += 1;
                }
                _ => break,
            }
        }
    }

    fn peek(&mut self) -> u8 {
        self.ws();
        self.s.get(self.i).copied().unwrap_or(0)
    }

    fn value(&mut self) -> Value {
        let v = self.single();
        // `+` concatenates strings of the same kind.
        if self.peek() == b'+' {
            self.i += 1;
            let rest = self.value();
            return match (v, rest) {
                (Value::Bytes(mut a), Value::Bytes(b)) => {
                    a.extend(b);
                    Value::Bytes(a)
                }
                (Value::Text(a), Value::Text(b)) => Value::Text(a + &b),
                (a, b) => panic!("cannot concatenate {a:?} and {b:?}"),
            };
        }
        v
    }

    fn single(&mut self) -> Value {
        match self.peek() {
            b'[' => {
                self.i += 1;
                let mut items = vec![];
                while self.peek() != b']' {
                    items.push(self.value());
                }
                self.i += 1;
                Value::Array(items)
            }
            b'{' => {
                self.i += 1;
                let mut entries = vec![];
                while self.peek() != b'}' {
                    let k = self.value();
                    assert_eq!(self.peek(), b':');
                    self.i += 1;
                    entries.push((k, self.value()));
                }
                self.i += 1;
                Value::Map(entries)
            }
            b'h' if self.s[self.i + 1] == b'\'' => {
                self.i += 2;
                // Hex digits with white space and `#` comments in between.
                let mut digits = String::new();
                while self.s[self.i] != b'\'' {
                    match self.s[self.i] {
                        b'#' => {
                            while self.s[self.i] != b'\n' {
                                self.i += 1;
                            }
                        }
                        c if c.is_ascii_hexdigit() => digits.push(c as char),
                        _ => {}
                    }
                    self.i += 1;
                }
                self.i += 1;
                Value::Bytes(hex::decode(digits).unwrap())
            }
            q @ (b'\'' | b'"') => {
                self.i += 1;
                let mut out = Vec::new();
                while self.s[self.i] != q {
                    if self.s[self.i] == b'\\' {
                        self.i += 1;
                        out.push(match self.s[self.i] {
                            b'n' => b'\n',
                            b't' => b'\t',
                            other => other,
                        });
                    } else {
                        out.push(self.s[self.i]);
                    }
                    self.i += 1;
                }
                self.i += 1;
                if q == b'"' {
                    Value::Text(String::from_utf8(out).unwrap())
                } else {
                    Value::Bytes(out)
                }
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'-') {
                    self.i += 1;
                }
                let word = std::str::from_utf8(&self.s[start..self.i]).unwrap();
                match word {
                    "null" => Value::Null,
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    n => {
                        let n: i128 = n.parse().unwrap_or_else(|_| panic!("bad EDN token {n:?}"));
                        if self.i < self.s.len() && self.s[self.i] == b'(' {
                            self.i += 1;
                            let inner = self.value();
                            assert_eq!(self.peek(), b')');
                            self.i += 1;
                            Value::Tag(n as u64, Box::new(inner))
                        } else {
                            Value::Integer(n)
                        }
                    }
                }
            }
        }
    }
}
