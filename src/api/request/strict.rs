//! The strict JSON reader under every merchant body. serde reads the bytes
//! straight into the request structs, and this module owns what serde_json
//! lets through or reports without a place: duplicate keys (its maps keep
//! the last one), unknown parameters, wrong types, and nesting deeper than
//! [`MAX_DEPTH`]. Each is refused naming the dotted `param` it concerns.
//!
//! serde's error type cannot carry that `param`, and its derive cannot tell
//! where in a body it failed, so objects are read through [`Object`] impls
//! and a refusal is recorded in a [`Sink`]; serde's own error then only
//! unwinds the parse.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use crate::api::error::ApiError;
use crate::domain::sensitive::Sensitive;

/// Deepest nesting a body may have; the body itself is level 1. Merchant
/// bodies need 3. serde_json's own bound (128) answers an error naming
/// nothing, and recursion that deep costs stack for nothing.
pub const MAX_DEPTH: usize = 32;

/// Why a body could not be read into its request struct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body is not valid JSON: {0}")]
    Syntax(String),
    #[error("request body must be a JSON object")]
    NotObject,
    #[error("request body nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("unknown parameter `{0}`")]
    Unknown(String),
    #[error("`{0}` is given more than once")]
    Duplicate(String),
    #[error("{message}")]
    WrongType { param: String, message: String },
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> ApiError {
        let message = e.to_string();
        match e {
            BodyError::Syntax(_) | BodyError::NotObject => {
                ApiError::invalid("invalid_json", "body", message)
            }
            BodyError::TooDeep => ApiError::invalid("nesting_too_deep", "body", message),
            BodyError::Unknown(p) => ApiError::invalid("parameter_unknown", &p, message),
            BodyError::Duplicate(p) => ApiError::invalid("duplicate_key", &p, message),
            BodyError::WrongType { param, .. } => {
                ApiError::invalid("parameter_invalid", &param, message)
            }
        }
    }
}

/// Reads a whole body into `T`. A blank body is `{}`: capture, cancel and
/// refund are often sent without one.
pub(super) fn parse<T: Object>(body: &[u8]) -> Result<T, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    check_depth(body)?;
    let mut sink = Sink::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = ObjectSeed::<T>::new(&mut sink)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match read {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(BodyError::NotObject),
        Err(e) => Err(sink.0.unwrap_or_else(|| BodyError::Syntax(e.to_string()))),
    }
}

fn check_depth(body: &[u8]) -> Result<(), BodyError> {
    // Counting openers is cheap and vectorizes; only a body with more of
    // them than the bound needs the walk that skips strings.
    let openers = body.iter().filter(|&&b| b == b'{' || b == b'[').count();
    if openers <= MAX_DEPTH {
        return Ok(());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' if depth == MAX_DEPTH => return Err(BodyError::TooDeep),
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Where the first refusal of a parse is kept while serde unwinds.
#[derive(Default)]
pub(super) struct Sink(Option<BodyError>);

impl Sink {
    fn refuse<E: de::Error>(&mut self, e: BodyError) -> E {
        let unwind = E::custom(&e);
        self.0 = Some(e);
        unwind
    }
}

fn dotted(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// A JSON object of a request body with a fixed set of parameters.
pub(super) trait Object: Default {
    /// Where the object sits in a body, dotted (`payment_method.card`);
    /// empty for the body itself. Every object type has one place.
    const AT: &'static str;
    /// Reads `field`'s value into `self`; `Ok(false)` when its key is not a
    /// parameter of this object.
    fn read<'de, A: MapAccess<'de>>(&mut self, field: Field<'_, 'de, A>) -> Result<bool, A::Error>;
}

/// One key of an object being read, its value not yet read.
pub(super) struct Field<'a, 'de, A> {
    map: &'a mut A,
    sink: &'a mut Sink,
    at: &'static str,
    pub(super) key: &'a str,
    de: PhantomData<&'de ()>,
}

impl<'de, A: MapAccess<'de>> Field<'_, 'de, A> {
    pub(super) fn int(self) -> Result<Option<i64>, A::Error> {
        self.scalar("an integer")
    }

    /// An integer whose refusal reminds that amounts are minor units.
    pub(super) fn amount(self) -> Result<Option<i64>, A::Error> {
        self.scalar("an integer (amounts are in the currency's minor unit)")
    }

    pub(super) fn string(self) -> Result<Option<String>, A::Error> {
        self.scalar("a string")
    }

    pub(super) fn secret(self) -> Result<Option<Sensitive>, A::Error> {
        Ok(self.string()?.map(Sensitive))
    }

    pub(super) fn object<T: Object>(self) -> Result<Option<T>, A::Error> {
        self.map.next_value_seed(ObjectSeed::<T>::new(self.sink))
    }

    /// A map of free keys to strings (`metadata`, `tokens`); `wrong` says
    /// what a value that is not a string breaks.
    pub(super) fn strings<V>(
        self,
        wrap: fn(String) -> V,
        wrong: fn(&str) -> String,
    ) -> Result<Option<BTreeMap<String, V>>, A::Error> {
        let seed = MapSeed {
            sink: self.sink,
            param: dotted(self.at, self.key),
            wrap,
            wrong,
        };
        self.map.next_value_seed(seed)
    }

    fn scalar<T: Scalar>(self, what: &str) -> Result<Option<T>, A::Error> {
        match self.map.next_value::<Leaf<T>>()? {
            Leaf::Null => Ok(None),
            Leaf::Got(v) => Ok(Some(v)),
            Leaf::Wrong => {
                let param = dotted(self.at, self.key);
                let message = format!("`{param}` must be {what}");
                Err(self.sink.refuse(BodyError::WrongType { param, message }))
            }
        }
    }
}

/// The JSON types a body can hold that are not objects: each is refused
/// where an object is expected.
macro_rules! refuse_non_objects {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(self.not_object())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(self.not_object())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(self.not_object())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(self.not_object())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(self.not_object())
        }
        fn visit_seq<S: SeqAccess<'de>>(self, _: S) -> Result<Self::Value, S::Error> {
            Err(self.not_object())
        }
    };
}

struct ObjectSeed<'s, T> {
    sink: &'s mut Sink,
    object: PhantomData<T>,
}

impl<'s, T: Object> ObjectSeed<'s, T> {
    fn new(sink: &'s mut Sink) -> Self {
        ObjectSeed {
            sink,
            object: PhantomData,
        }
    }

    fn not_object<E: de::Error>(self) -> E {
        let refusal = if T::AT.is_empty() {
            BodyError::NotObject
        } else {
            BodyError::WrongType {
                param: T::AT.to_string(),
                message: format!("`{}` must be an object", T::AT),
            }
        };
        self.sink.refuse(refusal)
    }
}

impl<'de, T: Object> DeserializeSeed<'de> for ObjectSeed<'_, T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Object> Visitor<'de> for ObjectSeed<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    /// `null` is taken as absent, as it always was.
    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Option<T>, M::Error> {
        let mut object = T::default();
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key_seed(Key)? {
            if seen.contains(&key) {
                return Err(self.sink.refuse(BodyError::Duplicate(dotted(T::AT, &key))));
            }
            let field = Field {
                map: &mut map,
                sink: &mut *self.sink,
                at: T::AT,
                key: &key,
                de: PhantomData,
            };
            if !object.read(field)? {
                return Err(self.sink.refuse(BodyError::Unknown(dotted(T::AT, &key))));
            }
            seen.push(key);
        }
        Ok(Some(object))
    }

    refuse_non_objects!();
}

/// An object key, borrowed from the body when it holds no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// A map of free keys to strings; serde_json's own maps would keep the last
/// of two equal keys.
struct MapSeed<'s, V> {
    sink: &'s mut Sink,
    param: String,
    wrap: fn(String) -> V,
    wrong: fn(&str) -> String,
}

impl<V> MapSeed<'_, V> {
    fn not_object<E: de::Error>(self) -> E {
        let message = format!("`{}` must be an object", self.param);
        let param = self.param;
        self.sink.refuse(BodyError::WrongType { param, message })
    }
}

impl<'de, V> DeserializeSeed<'de> for MapSeed<'_, V> {
    type Value = Option<BTreeMap<String, V>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, V> Visitor<'de> for MapSeed<'_, V> {
    type Value = Option<BTreeMap<String, V>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let param = format!("{}.{key}", self.param);
                return Err(self.sink.refuse(BodyError::Duplicate(param)));
            }
            let Leaf::Got(value) = map.next_value::<Leaf<String>>()? else {
                let message = (self.wrong)(&key);
                let param = self.param;
                return Err(self.sink.refuse(BodyError::WrongType { param, message }));
            };
            out.insert(key, (self.wrap)(value));
        }
        Ok(Some(out))
    }

    refuse_non_objects!();
}

/// A scalar parameter as read: `null`, the wanted type, or anything else.
enum Leaf<T> {
    Null,
    Got(T),
    Wrong,
}

/// The scalar types parameters have.
trait Scalar: Sized {
    fn from_int(_: i64) -> Option<Self> {
        None
    }
    fn from_text(_: &str) -> Option<Self> {
        None
    }
}

impl Scalar for i64 {
    fn from_int(v: i64) -> Option<i64> {
        Some(v)
    }
}

impl Scalar for String {
    fn from_text(v: &str) -> Option<String> {
        Some(v.to_owned())
    }
}

impl<'de, T: Scalar> Deserialize<'de> for Leaf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Leaf<T>, D::Error> {
        d.deserialize_any(LeafVisitor(PhantomData))
    }
}

struct LeafVisitor<T>(PhantomData<T>);

fn got<T>(v: Option<T>) -> Leaf<T> {
    v.map_or(Leaf::Wrong, Leaf::Got)
}

impl<'de, T: Scalar> Visitor<'de> for LeafVisitor<T> {
    type Value = Leaf<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Leaf<T>, E> {
        Ok(Leaf::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Leaf<T>, E> {
        Ok(Leaf::Wrong)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Leaf<T>, E> {
        Ok(got(T::from_int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Leaf<T>, E> {
        Ok(got(i64::try_from(v).ok().and_then(T::from_int)))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Leaf<T>, E> {
        Ok(Leaf::Wrong)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Leaf<T>, E> {
        Ok(got(T::from_text(v)))
    }
    // A compound is read to its end (bounded by MAX_DEPTH) so that the
    // refusal names this parameter rather than a syntax error.
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<Leaf<T>, S::Error> {
        IgnoredAny.visit_seq(seq).map(|_| Leaf::Wrong)
    }
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Leaf<T>, M::Error> {
        IgnoredAny.visit_map(map).map(|_| Leaf::Wrong)
    }
}
