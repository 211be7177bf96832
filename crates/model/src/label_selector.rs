//! Label selectors in Kubernetes' syntax, as Ververica's `labelSelector` query parameter takes them.
//!
//! A selector is a comma-separated list of requirements, all of which must hold:
//! `key=value` and `key==value` (the label is there with that value), `key!=value` (absent, or another
//! value), `key in (v1,v2)`, `key notin (v1,v2)` (absent, or none of them), `key` (present) and `!key`
//! (absent). White space around tokens is ignored; the empty selector matches everything. Keys are
//! Kubernetes qualified names (an optional DNS-subdomain prefix and `/`, then at most 63 letters,
//! digits, `-`, `_`, `.`, starting and ending with a letter or digit); values the same without a
//! prefix, and may be empty. These are the rules of `k8s.io/apimachinery/pkg/labels`; a selector that
//! breaks them is refused with a message saying where, never silently matched.

use crate::StringMap;

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value`, `key==value`
    Equals(String, String),
    /// `key!=value`: absent or another value
    NotEquals(String, String),
    /// `key in (a,b)`
    In(String, Vec<String>),
    /// `key notin (a,b)`: absent or none of them
    NotIn(String, Vec<String>),
    /// `key`
    Exists(String),
    /// `!key`
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &StringMap) -> bool {
        match self {
            Self::Equals(k, v) => labels.get(k) == Some(v),
            Self::NotEquals(k, v) => labels.get(k) != Some(v),
            Self::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Self::NotIn(k, vs) => !labels.get(k).is_some_and(|l| vs.contains(l)),
            Self::Exists(k) => labels.contains_key(k),
            Self::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

/// Tokens of the selector language.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Comma,
    /// `=` or `==`
    Equals,
    NotEquals,
    Bang,
    Open,
    Close,
}

fn describe(t: Option<&Token>) -> String {
    match t {
        None => "the end".into(),
        Some(Token::Word(w)) => format!("'{w}'"),
        Some(Token::Comma) => "','".into(),
        Some(Token::Equals) => "'='".into(),
        Some(Token::NotEquals) => "'!='".into(),
        Some(Token::Bang) => "'!'".into(),
        Some(Token::Open) => "'('".into(),
        Some(Token::Close) => "')'".into(),
    }
}

fn tokens(s: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            ',' => out.push(Token::Comma),
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '=' => {
                if chars.peek() == Some(&'=') {
                    chars.next();
                }
                out.push(Token::Equals);
            }
            '!' => {
                if chars.peek() == Some(&'=') {
                    chars.next();
                    out.push(Token::NotEquals);
                } else {
                    out.push(Token::Bang);
                }
            }
            c => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, ',' | '(' | ')' | '=' | '!') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    out
}

/// A name part: at most 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit.
fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A DNS subdomain: dot-separated lower-case labels, at most 253 characters.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn check_key(k: &str) -> Result<(), String> {
    let ok = match k.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_name(name),
        None => is_name(k),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{k}' is not a label key: at most 63 letters, digits, '-', '_' or '.', starting and ending \
             with a letter or digit, optionally after a DNS prefix and '/' (e.g. team or example.com/team)"
        ))
    }
}

fn check_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_name(v) {
        Ok(())
    } else {
        Err(format!(
            "'{v}' is not a label value: at most 63 letters, digits, '-', '_' or '.', starting and \
             ending with a letter or digit"
        ))
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn key(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(k)) => check_key(&k).map(|()| k),
            other => Err(format!(
                "expected a label key, found {}",
                describe(other.as_ref())
            )),
        }
    }

    /// A value after `=`, `==` or `!=`: a word, or nothing (the empty value).
    fn value(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Token::Word(v)) => {
                let v = v.clone();
                self.at += 1;
                check_value(&v).map(|()| v)
            }
            None | Some(Token::Comma) => Ok(String::new()),
            other => Err(format!("expected a value, found {}", describe(other))),
        }
    }

    /// `(v1, v2, …)`: at least one value.
    fn set(&mut self) -> Result<Vec<String>, String> {
        if self.next() != Some(Token::Open) {
            return Err("expected '(' after in/notin, e.g. env in (prod,staging)".into());
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Some(Token::Word(v)) => {
                    check_value(&v)?;
                    values.push(v);
                }
                other => {
                    return Err(format!(
                        "expected a value in the set, found {}",
                        describe(other.as_ref())
                    ))
                }
            }
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::Close) => return Ok(values),
                other => {
                    return Err(format!(
                        "expected ',' or ')' in the set, found {}",
                        describe(other.as_ref())
                    ))
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.peek() == Some(&Token::Bang) {
            self.next();
            return Ok(Requirement::DoesNotExist(self.key()?));
        }
        let key = self.key()?;
        match self.peek() {
            None | Some(Token::Comma) => Ok(Requirement::Exists(key)),
            Some(Token::Equals) => {
                self.next();
                Ok(Requirement::Equals(key, self.value()?))
            }
            Some(Token::NotEquals) => {
                self.next();
                Ok(Requirement::NotEquals(key, self.value()?))
            }
            Some(Token::Word(op)) if op == "in" => {
                self.next();
                Ok(Requirement::In(key, self.set()?))
            }
            Some(Token::Word(op)) if op == "notin" => {
                self.next();
                Ok(Requirement::NotIn(key, self.set()?))
            }
            other => Err(format!(
                "expected =, ==, !=, in, notin, ',' or the end after '{key}', found {}",
                describe(other)
            )),
        }
    }
}

impl LabelSelector {
    /// Parses a selector; the error says what is wrong, for a person.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut p = Parser {
            tokens: tokens(s),
            at: 0,
        };
        let mut requirements = Vec::new();
        if p.peek().is_none() {
            return Ok(Self { requirements });
        }
        loop {
            requirements.push(p.requirement()?);
            match p.next() {
                None => return Ok(Self { requirements }),
                Some(Token::Comma) => {}
                other => {
                    return Err(format!(
                        "expected ',' between requirements, found {}",
                        describe(other.as_ref())
                    ))
                }
            }
        }
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &StringMap) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The requirements, in the order written.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Requirement::*;

    fn labels(pairs: &[(&str, &str)]) -> StringMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn parses_every_form() {
        let cases: &[(&str, Vec<Requirement>)] = &[
            ("", vec![]),
            ("  ", vec![]),
            ("team=a", vec![Equals(s("team"), s("a"))]),
            ("team==a", vec![Equals(s("team"), s("a"))]),
            ("team = a", vec![Equals(s("team"), s("a"))]),
            ("team!=a", vec![NotEquals(s("team"), s("a"))]),
            ("team=", vec![Equals(s("team"), s(""))]),
            ("team", vec![Exists(s("team"))]),
            ("!team", vec![DoesNotExist(s("team"))]),
            ("! team", vec![DoesNotExist(s("team"))]),
            (
                "env in (prod, staging)",
                vec![In(s("env"), vec![s("prod"), s("staging")])],
            ),
            ("env notin (dev)", vec![NotIn(s("env"), vec![s("dev")])]),
            (
                "example.com/team=a,tier,!legacy,env in (a,b)",
                vec![
                    Equals(s("example.com/team"), s("a")),
                    Exists(s("tier")),
                    DoesNotExist(s("legacy")),
                    In(s("env"), vec![s("a"), s("b")]),
                ],
            ),
            ("in=x", vec![Equals(s("in"), s("x"))]),
            ("a_b.c-d=V_1.2", vec![Equals(s("a_b.c-d"), s("V_1.2"))]),
        ];
        for (text, want) in cases {
            let got = LabelSelector::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got.requirements(), want.as_slice(), "{text}");
        }
    }

    #[test]
    fn refuses_malformed_selectors_saying_why() {
        let cases = [
            ("=b", "label key"),
            ("a=b=c", "between requirements"),
            ("a=b,", "label key"),
            (",a", "label key"),
            ("a b", "after 'a'"),
            ("a in b", "'('"),
            ("a in (", "value in the set"),
            ("a in ()", "value in the set"),
            ("a in (x", "',' or ')'"),
            ("a in (x y)", "',' or ')'"),
            ("a notin", "'('"),
            ("!", "label key"),
            ("!a=b", "between requirements"),
            ("-a=b", "not a label key"),
            ("a=-b", "not a label value"),
            ("Bad Key=x", "after 'Bad'"),
            ("a/b/c=x", "not a label key"),
            ("UPPER.example/x=y", "not a label key"),
            ("a=(b)", "expected a value"),
            ("a==", ""),
        ];
        for (text, why) in cases {
            match LabelSelector::parse(text) {
                Err(e) => assert!(e.contains(why), "{text}: {e}"),
                Ok(sel) if why.is_empty() => {
                    assert_eq!(sel.requirements(), &[Equals(s("a"), s(""))])
                }
                Ok(sel) => panic!("{text} parsed as {sel:?}"),
            }
        }
        let long = format!("{}=x", "a".repeat(64));
        assert!(LabelSelector::parse(&long).is_err());
        let long = format!("a={}", "b".repeat(64));
        assert!(LabelSelector::parse(&long).is_err());
    }

    #[test]
    fn matches_as_kubernetes_does() {
        let l = labels(&[("team", "a"), ("env", "prod")]);
        let none = StringMap::new();
        let cases: &[(&str, bool, bool)] = &[
            // selector, matches l, matches no labels
            ("", true, true),
            ("team=a", true, false),
            ("team=b", false, false),
            ("team!=b", true, true),
            ("team!=a", false, true),
            ("team", true, false),
            ("!team", false, true),
            ("!owner", true, true),
            ("env in (prod,dev)", true, false),
            ("env in (dev)", false, false),
            ("env notin (dev)", true, true),
            ("env notin (prod)", false, true),
            ("team=a,env=prod", true, false),
            ("team=a,env=dev", false, false),
            ("team=", false, false),
        ];
        for (text, with, without) in cases {
            let sel = LabelSelector::parse(text).unwrap();
            assert_eq!(sel.matches(&l), *with, "{text} on {l:?}");
            assert_eq!(sel.matches(&none), *without, "{text} on no labels");
        }
        let empty_value = labels(&[("team", "")]);
        assert!(LabelSelector::parse("team=").unwrap().matches(&empty_value));
    }
}
