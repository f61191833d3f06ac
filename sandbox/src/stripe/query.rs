//! The subset of Stripe's Search Query Language the sandbox understands for
//! PaymentIntents, parsed into clauses and matched against stored intents.
//!
//! Supported: clauses `field:value`, joined by spaces or `AND` (all must
//! match) or by `OR` (any must match), never both in one query, at most 10
//! clauses; `-` before a clause negates it. Fields: `metadata['KEY']`
//! (exact, case-sensitive; the value `null` matches intents without the
//! key), `status` and `currency` (exact, case-insensitive), `amount` and
//! `created` (integers, also with `>`, `<`, `>=`, `<=`, `=`). Values are
//! single- or double-quoted with `\` escaping the next character, or bare
//! tokens. Anything else (substring `~`, parentheses, other fields) is
//! refused with a message saying what is supported, rather than guessed at.

use super::objects::Intent;

/// Stripe allows at most this many clauses in one query.
const MAX_CLAUSES: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Metadata(String),
    Status,
    Currency,
    Amount,
    Created,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Lt,
    Ge,
    Le,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Text(String),
    Int(i64),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    negated: bool,
    field: Field,
    op: Op,
    value: Operand,
}

/// A parsed query: clauses combined with AND (`any == false`) or OR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    clauses: Vec<Clause>,
    any: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum QueryError {
    #[error("the query is empty")]
    Empty,
    #[error("a query may have at most {MAX_CLAUSES} clauses")]
    TooManyClauses,
    #[error("AND and OR cannot be combined in one query")]
    MixedAndOr,
    #[error("expected a clause after '{0}'")]
    DanglingConnective(String),
    #[error(
        "unsupported field '{0}': the sandbox searches PaymentIntents by metadata['KEY'], status, currency, amount and created"
    )]
    UnknownField(String),
    #[error("expected a field name at position {0}")]
    ExpectedField(usize),
    #[error("expected a quoted key and ']' after 'metadata[' at position {0}")]
    MetadataKey(usize),
    #[error("expected an operator (':', '>', '<', '>=', '<=', '=') at position {0}")]
    ExpectedOperator(usize),
    #[error(
        "operator '{op}' is not supported on '{field}' (only ':' is; substring '~' is not simulated)"
    )]
    UnsupportedOperator { field: String, op: String },
    #[error("expected a value at position {0}")]
    ExpectedValue(usize),
    #[error("unterminated quoted value starting at position {0}")]
    Unterminated(usize),
    #[error("'{field}' needs an integer value, got '{raw}'")]
    NotInteger { field: String, raw: String },
    #[error("null is only supported as metadata['KEY']:null")]
    MisplacedNull,
}

impl Query {
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let mut clauses = Vec::new();
        let (mut saw_and, mut saw_or) = (false, false);
        loop {
            parser.skip_ws();
            if parser.at_end() {
                break;
            }
            if !clauses.is_empty() {
                match parser.connective() {
                    Some(word) => {
                        if word == "OR" {
                            saw_or = true;
                        } else {
                            saw_and = true;
                        }
                        parser.skip_ws();
                        if parser.at_end() {
                            return Err(QueryError::DanglingConnective(word));
                        }
                    }
                    // Stripe reads a bare space between clauses as AND.
                    None => saw_and = true,
                }
            }
            clauses.push(parser.clause()?);
        }
        if clauses.is_empty() {
            return Err(QueryError::Empty);
        }
        if saw_and && saw_or {
            return Err(QueryError::MixedAndOr);
        }
        if clauses.len() > MAX_CLAUSES {
            return Err(QueryError::TooManyClauses);
        }
        Ok(Query {
            clauses,
            any: saw_or,
        })
    }

    pub fn matches(&self, intent: &Intent) -> bool {
        let hit = |c: &Clause| c.matches(intent) != c.negated;
        if self.any {
            self.clauses.iter().any(hit)
        } else {
            self.clauses.iter().all(hit)
        }
    }
}

impl Clause {
    fn matches(&self, intent: &Intent) -> bool {
        match (&self.field, &self.value) {
            (Field::Metadata(key), Operand::Null) => !intent.metadata.contains_key(key),
            (Field::Metadata(key), Operand::Text(v)) => intent.metadata.get(key) == Some(v),
            (Field::Status, Operand::Text(v)) => intent.status.as_str().eq_ignore_ascii_case(v),
            (Field::Currency, Operand::Text(v)) => intent.currency.eq_ignore_ascii_case(v),
            (Field::Amount, Operand::Int(n)) => compare(intent.amount, self.op, *n),
            (Field::Created, Operand::Int(n)) => compare(intent.created, self.op, *n),
            // The parser pairs each field with its operand kind.
            _ => false,
        }
    }
}

fn compare(actual: i64, op: Op, wanted: i64) -> bool {
    match op {
        Op::Eq => actual == wanted,
        Op::Gt => actual > wanted,
        Op::Lt => actual < wanted,
        Op::Ge => actual >= wanted,
        Op::Le => actual <= wanted,
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// `AND` or `OR` (any case) ending at whitespace or the end, consumed.
    fn connective(&mut self) -> Option<String> {
        for word in ["AND", "OR"] {
            let end = self.pos + word.len();
            let Some(slice) = self.chars.get(self.pos..end) else {
                continue;
            };
            let candidate: String = slice.iter().collect();
            let word_ends = self.chars.get(end).is_none_or(|c| c.is_whitespace());
            if candidate.eq_ignore_ascii_case(word) && word_ends {
                self.pos = end;
                return Some(word.to_string());
            }
        }
        None
    }

    fn clause(&mut self) -> Result<Clause, QueryError> {
        let negated = self.peek() == Some('-');
        if negated {
            self.pos += 1;
        }
        let (field, name) = self.field()?;
        let op = self.operator(&name)?;
        let value = self.operand(&field, &name)?;
        Ok(Clause {
            negated,
            field,
            op,
            value,
        })
    }

    fn field(&mut self) -> Result<(Field, String), QueryError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let field = match name.as_str() {
            "" => return Err(QueryError::ExpectedField(start)),
            "metadata" => Field::Metadata(self.metadata_key()?),
            "status" => Field::Status,
            "currency" => Field::Currency,
            "amount" => Field::Amount,
            "created" => Field::Created,
            _ => return Err(QueryError::UnknownField(name)),
        };
        Ok((field, name))
    }

    fn metadata_key(&mut self) -> Result<String, QueryError> {
        let at = self.pos;
        if self.peek() != Some('[') {
            return Err(QueryError::MetadataKey(at));
        }
        self.pos += 1;
        let key = match self.peek() {
            Some('\'' | '"') => self.quoted()?,
            _ => return Err(QueryError::MetadataKey(at)),
        };
        if self.peek() != Some(']') {
            return Err(QueryError::MetadataKey(at));
        }
        self.pos += 1;
        Ok(key)
    }

    fn operator(&mut self, field: &str) -> Result<Op, QueryError> {
        let at = self.pos;
        let (op, symbol) = match (self.peek(), self.chars.get(at + 1).copied()) {
            (Some(':'), _) => (Op::Eq, ":"),
            (Some('>'), Some('=')) => (Op::Ge, ">="),
            (Some('<'), Some('=')) => (Op::Le, "<="),
            (Some('>'), _) => (Op::Gt, ">"),
            (Some('<'), _) => (Op::Lt, "<"),
            (Some('='), _) => (Op::Eq, "="),
            (Some('~'), _) => {
                return Err(QueryError::UnsupportedOperator {
                    field: field.to_string(),
                    op: "~".into(),
                });
            }
            _ => return Err(QueryError::ExpectedOperator(at)),
        };
        self.pos += symbol.len();
        let numeric = matches!(field, "amount" | "created");
        if symbol != ":" && !numeric {
            return Err(QueryError::UnsupportedOperator {
                field: field.to_string(),
                op: symbol.to_string(),
            });
        }
        Ok(op)
    }

    fn operand(&mut self, field: &Field, name: &str) -> Result<Operand, QueryError> {
        let (raw, quoted) = match self.peek() {
            Some('\'' | '"') => (self.quoted()?, true),
            _ => (self.bare()?, false),
        };
        match field {
            Field::Amount | Field::Created => {
                raw.parse::<i64>()
                    .map(Operand::Int)
                    .map_err(|_| QueryError::NotInteger {
                        field: name.to_string(),
                        raw,
                    })
            }
            Field::Metadata(_) if !quoted && raw == "null" => Ok(Operand::Null),
            _ if !quoted && raw == "null" => Err(QueryError::MisplacedNull),
            _ => Ok(Operand::Text(raw)),
        }
    }

    /// A value up to the next whitespace.
    fn bare(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !c.is_whitespace() && !matches!(c, '\'' | '"' | '(' | ')'))
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(QueryError::ExpectedValue(start));
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    /// A `'...'` or `"..."` string; `\` takes the next character literally.
    fn quoted(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        let Some(quote) = self.peek() else {
            return Err(QueryError::ExpectedValue(start));
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(QueryError::Unterminated(start)),
                Some('\\') => {
                    let escaped = self
                        .chars
                        .get(self.pos + 1)
                        .copied()
                        .ok_or(QueryError::Unterminated(start))?;
                    out.push(escaped);
                    self.pos += 2;
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::objects::IntentStatus;
    use super::*;

    fn intent(order: Option<&str>, status: IntentStatus, amount: i64) -> Intent {
        let mut metadata = BTreeMap::new();
        if let Some(order) = order {
            metadata.insert("order_id".to_string(), order.to_string());
        }
        Intent {
            id: "pi_1".into(),
            amount,
            currency: "eur".into(),
            status,
            capture_method: "automatic".into(),
            amount_capturable: 0,
            amount_received: 0,
            amount_refunded: 0,
            payment_method: None,
            payment_method_types: vec!["card".into()],
            charges: Vec::new(),
            last_payment_error: None,
            metadata,
            description: None,
            created: 1_700_000_000,
            canceled_at: None,
            cancellation_reason: None,
            dispute_on_capture: false,
            account: "sk_test_1".into(),
        }
    }

    fn hits(query: &str, intent: &Intent) -> bool {
        Query::parse(query).unwrap().matches(intent)
    }

    #[test]
    fn metadata_matches_with_either_quote_style() {
        let pi = intent(Some("o-1"), IntentStatus::Succeeded, 100);
        assert!(hits("metadata['order_id']:'o-1'", &pi));
        assert!(hits(r#"metadata["order_id"]:"o-1""#, &pi));
        assert!(!hits("metadata['order_id']:'o-2'", &pi));
        assert!(
            !hits("metadata['order_id']:'O-1'", &pi),
            "metadata is exact"
        );
        assert!(!hits("metadata['other']:'o-1'", &pi));
    }

    #[test]
    fn escaped_quotes_belong_to_the_value() {
        let pi = intent(Some("it's"), IntentStatus::Succeeded, 100);
        assert!(hits(r"metadata['order_id']:'it\'s'", &pi));
    }

    #[test]
    fn and_space_and_or_combine_clauses() {
        let pi = intent(Some("o-1"), IntentStatus::Succeeded, 100);
        assert!(hits(
            "metadata['order_id']:'o-1' AND status:'succeeded'",
            &pi
        ));
        assert!(hits("metadata['order_id']:'o-1' status:'SUCCEEDED'", &pi));
        assert!(!hits(
            "metadata['order_id']:'o-1' and status:'canceled'",
            &pi
        ));
        assert!(hits(
            "metadata['order_id']:'nope' OR status:'succeeded'",
            &pi
        ));
        assert!(!hits(
            "metadata['order_id']:'nope' or status:'canceled'",
            &pi
        ));
    }

    #[test]
    fn negation_numbers_and_null() {
        let pi = intent(None, IntentStatus::RequiresCapture, 1500);
        assert!(hits("-status:'succeeded'", &pi));
        assert!(hits("amount>=1500 amount<2000 currency:'EUR'", &pi));
        assert!(!hits("amount>1500", &pi));
        assert!(hits("metadata['order_id']:null", &pi));
        assert!(!hits("-metadata['order_id']:null", &pi));
        assert!(hits("created>1600000000", &pi));
    }

    #[test]
    fn unsupported_syntax_is_refused_with_a_reason() {
        let cases = [
            ("", QueryError::Empty),
            ("a:'1' AND b:'2'", QueryError::UnknownField("a".into())),
            (
                "status:'x' AND amount:1 OR currency:'eur'",
                QueryError::MixedAndOr,
            ),
            (
                "status~'succ'",
                QueryError::UnsupportedOperator {
                    field: "status".into(),
                    op: "~".into(),
                },
            ),
            (
                "status>'a'",
                QueryError::UnsupportedOperator {
                    field: "status".into(),
                    op: ">".into(),
                },
            ),
            ("metadata['k':'v'", QueryError::MetadataKey(8)),
            (
                "metadata.k:'v'",
                QueryError::UnknownField("metadata.k".into()),
            ),
            ("status:'open", QueryError::Unterminated(7)),
            (
                "amount:'ten'",
                QueryError::NotInteger {
                    field: "amount".into(),
                    raw: "ten".into(),
                },
            ),
            (
                "status:'x' AND",
                QueryError::DanglingConnective("AND".into()),
            ),
            ("status:null", QueryError::MisplacedNull),
            ("(status:'x')", QueryError::ExpectedField(0)),
            ("status", QueryError::ExpectedOperator(6)),
        ];
        for (query, expected) in cases {
            assert_eq!(Query::parse(query), Err(expected), "{query:?}");
        }
    }

    #[test]
    fn more_than_ten_clauses_are_refused() {
        let query = ["amount>1"; 11].join(" AND ");
        assert_eq!(Query::parse(&query), Err(QueryError::TooManyClauses));
        assert!(Query::parse(&["amount>1"; 10].join(" AND ")).is_ok());
    }
}
