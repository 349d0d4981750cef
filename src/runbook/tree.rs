//! A YAML document as a tree of positioned nodes, and a serde `Deserializer` over it.
//!
//! The typed parse (serde-saphyr straight into the `raw` mirror) is fast but stops at the
//! first problem. When it fails, the file is parsed once more into this tree and the mirror
//! is read from the tree instead: a problem is recorded with its path, the key (or list item)
//! that holds it is taken out, and the read starts over. So every unknown key and wrong value
//! of a file is reported in one pass, and what is left still reaches validation.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

use super::span::Pos;

/// One node with its position and the byte range of its text (for plain scalars).
#[derive(Debug, Clone)]
pub struct Tree {
    pub node: Node,
    pub pos: Pos,
    span: (usize, usize),
}

#[derive(Debug, Clone)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Tree>),
    Map(Vec<(Tree, Tree)>),
    /// A list item taken out: skipped when read, kept so later items keep their index.
    Removed,
}

/// One step of a path from the root: a key of a mapping or an index of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl Tree {
    /// The text of a scalar as written (a plain `1.10` stays `1.10`); `None` for collections.
    pub fn text<'a>(&'a self, src: &'a str) -> Option<std::borrow::Cow<'a, str>> {
        use std::borrow::Cow;
        let written =
            || src.get(self.span.0..self.span.0 + self.span.1).map(str::trim).filter(|s| !s.is_empty());
        match &self.node {
            Node::Str(s) => Some(Cow::Borrowed(s)),
            Node::Null => Some(Cow::Borrowed("")),
            Node::Bool(b) => Some(written().map_or_else(|| Cow::Owned(b.to_string()), Cow::Borrowed)),
            Node::Int(i) => Some(written().map_or_else(|| Cow::Owned(i.to_string()), Cow::Borrowed)),
            Node::UInt(u) => Some(written().map_or_else(|| Cow::Owned(u.to_string()), Cow::Borrowed)),
            Node::Float(f) => Some(written().map_or_else(|| Cow::Owned(f.to_string()), Cow::Borrowed)),
            Node::Seq(_) | Node::Map(_) | Node::Removed => None,
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Tree> {
        match &self.node {
            Node::Map(entries) => {
                entries.iter().find(|(k, _)| matches!(&k.node, Node::Str(s) if s == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The node at `path`.
    pub fn at(&self, path: &[Seg]) -> Option<&Tree> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.node) {
                (Seg::Key(k), _) => node.get(k)?,
                (Seg::Index(i), Node::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Takes out what `path` names: a mapping entry or a list item. False if it is not there.
    pub fn remove(&mut self, path: &[Seg]) -> bool {
        let Some((last, parent)) = path.split_last() else { return false };
        let Some(node) = self.at_mut(parent) else { return false };
        match (last, &mut node.node) {
            (Seg::Key(k), Node::Map(entries)) => {
                let before = entries.len();
                entries.retain(|(key, _)| !matches!(&key.node, Node::Str(s) if s == k));
                entries.len() != before
            }
            // A list item is marked, not removed, so later items keep their index: messages
            // name them as written ("step 4").
            (Seg::Index(i), Node::Seq(items))
                if items.get(*i).is_some_and(|t| !matches!(t.node, Node::Removed)) =>
            {
                items[*i].node = Node::Removed;
                true
            }
            _ => false,
        }
    }

    /// Renames the key `path` ends in (a typo the author clearly meant as `to`).
    pub fn rename(&mut self, path: &[Seg], to: &str) -> bool {
        let Some((Seg::Key(from), parent)) = path.split_last() else { return false };
        let Some(node) = self.at_mut(parent) else { return false };
        let Node::Map(entries) = &mut node.node else { return false };
        match entries.iter_mut().find(|(k, _)| matches!(&k.node, Node::Str(s) if s == from)) {
            Some((k, _)) => {
                k.node = Node::Str(to.to_owned());
                true
            }
            None => false,
        }
    }

    fn at_mut(&mut self, path: &[Seg]) -> Option<&mut Tree> {
        let mut node = self;
        for seg in path {
            node = match (seg, &mut node.node) {
                (Seg::Key(k), Node::Map(entries)) => {
                    &mut entries.iter_mut().find(|(key, _)| matches!(&key.node, Node::Str(s) if s == k))?.1
                }
                (Seg::Index(i), Node::Seq(items)) => items.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Whether this is a mapping with no keys.
    pub fn is_empty_map(&self) -> bool {
        matches!(&self.node, Node::Map(entries) if entries.is_empty())
    }

    /// Finds keys written twice in one mapping and takes out all but the first, calling
    /// `found` with the path of the mapping, the key and its position.
    pub fn remove_duplicates(&mut self, src: &str, found: &mut dyn FnMut(&[Seg], &str, Pos)) {
        fn walk(t: &mut Tree, src: &str, path: &mut Vec<Seg>, found: &mut dyn FnMut(&[Seg], &str, Pos)) {
            match &mut t.node {
                Node::Map(entries) => {
                    let mut seen: Vec<String> = Vec::new();
                    let mut keep = Vec::with_capacity(entries.len());
                    for (k, v) in entries.drain(..) {
                        let name = k.text(src).map(|c| c.into_owned()).unwrap_or_default();
                        if seen.contains(&name) {
                            found(path, &name, k.pos);
                        } else {
                            seen.push(name);
                            keep.push((k, v));
                        }
                    }
                    *entries = keep;
                    for (i, (_, v)) in entries.iter_mut().enumerate() {
                        path.push(Seg::Key(seen[i].clone()));
                        walk(v, src, path, found);
                        path.pop();
                    }
                }
                Node::Seq(items) => {
                    for (i, item) in items.iter_mut().enumerate() {
                        path.push(Seg::Index(i));
                        walk(item, src, path, found);
                        path.pop();
                    }
                }
                _ => {}
            }
        }
        walk(self, src, &mut Vec::new(), found);
    }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Node>::deserialize(deserializer)?;
        let span = spanned.referenced.span();
        let clamp = |n: Option<u64>| n.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        Ok(Tree {
            node: spanned.value,
            pos: spanned.referenced.into(),
            span: (clamp(span.byte_offset()), clamp(span.byte_len())),
        })
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(u64::try_from(v).map_or(Node::Float(v as f64), Node::UInt))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Tree>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Tree>()? {
            let value = map.next_value::<Tree>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// What went wrong while reading the typed mirror from the tree, and where.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub pos: Option<Pos>,
    /// From the root to the node the problem is at (built innermost first, then reversed).
    pub path: Vec<Seg>,
    /// The problem is the key at the end of `path` itself (an unknown key).
    pub at_key: bool,
}

#[derive(Debug)]
pub enum Kind {
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    MissingField(&'static str),
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    /// A value of the wrong type or out of range: what the reader expected.
    Invalid {
        expected: String,
    },
    Custom(String),
}

impl Error {
    fn new(kind: Kind) -> Self {
        Self { kind, pos: None, path: Vec::new(), at_key: false }
    }

    fn at(mut self, pos: Pos) -> Self {
        self.pos.get_or_insert(pos);
        self
    }

    fn within(mut self, seg: Seg) -> Self {
        self.path.push(seg);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::UnknownField { field, .. } => write!(f, "unknown field `{field}`"),
            Kind::MissingField(field) => write!(f, "missing field `{field}`"),
            Kind::UnknownVariant { variant, .. } => write!(f, "unknown variant `{variant}`"),
            Kind::Invalid { expected } => write!(f, "invalid value, expected {expected}"),
            Kind::Custom(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(Kind::Custom(msg.to_string()))
    }
    fn invalid_type(_: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Self::new(Kind::Invalid { expected: exp.to_string() })
    }
    fn invalid_value(_: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Self::new(Kind::Invalid { expected: exp.to_string() })
    }
    fn invalid_length(_: usize, exp: &dyn de::Expected) -> Self {
        Self::new(Kind::Invalid { expected: exp.to_string() })
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(Kind::UnknownVariant { variant: variant.to_owned(), expected })
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Self::new(Kind::UnknownField { field: field.to_owned(), expected })
    }
    fn missing_field(field: &'static str) -> Self {
        Self::new(Kind::MissingField(field))
    }
}

impl Error {
    /// The path from the root, outermost first.
    fn finish(mut self) -> Self {
        self.path.reverse();
        self
    }
}

/// Reads `T` from the tree; the error carries its path from the root.
pub fn read<T: de::DeserializeOwned>(tree: &Tree, src: &str) -> Result<T, Error> {
    T::deserialize(De { t: tree, src }).map_err(Error::finish)
}

/// The name serde-saphyr's `Spanned` asks for; answered with the node's position.
const SPANNED: &str = "__yaml_spanned";
const SPANNED_MARKER: &str = "__serde_saphyr_private_spanned";

struct De<'a> {
    t: &'a Tree,
    src: &'a str,
}

impl<'de> De<'de> {
    fn scalar_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.t.node {
            Node::Str(s) => visitor.visit_borrowed_str(s),
            Node::Bool(_) | Node::Int(_) | Node::UInt(_) | Node::Float(_) => {
                let text = self.t.text(self.src).unwrap_or_default();
                visitor.visit_str(&text)
            }
            _ => self.any(visitor),
        }
    }

    /// Booleans and numbers are read from the text, quoted or not, as serde-saphyr reads them
    /// (`"5"` is a number, `yes` is true).
    fn boolean<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let Some(text) = self.t.text(self.src).filter(|_| !matches!(self.t.node, Node::Null)) else {
            return self.any(visitor);
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "true" | "on" => visitor.visit_bool(true),
            "n" | "no" | "false" | "off" => visitor.visit_bool(false),
            _ => Err(de::Error::invalid_type(de::Unexpected::Str(&text), &visitor)),
        }
    }

    fn number<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let Node::Str(s) = &self.t.node else { return self.any(visitor) };
        let t = s.trim().replace('_', "");
        let (negative, digits) = match t.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, t.strip_prefix('+').unwrap_or(&t)),
        };
        let parsed = if let Some(h) = digits.strip_prefix("0x") {
            i128::from_str_radix(h, 16).ok()
        } else if let Some(o) = digits.strip_prefix("0o") {
            i128::from_str_radix(o, 8).ok()
        } else if let Some(b) = digits.strip_prefix("0b") {
            i128::from_str_radix(b, 2).ok()
        } else {
            digits.parse::<i128>().ok()
        };
        match parsed.map(|n| if negative { -n } else { n }) {
            Some(n) if n < 0 => match i64::try_from(n) {
                Ok(n) => visitor.visit_i64(n),
                Err(_) => Err(de::Error::invalid_type(de::Unexpected::Str(s), &visitor)),
            },
            Some(n) => match u64::try_from(n) {
                Ok(n) => visitor.visit_u64(n),
                Err(_) => Err(de::Error::invalid_type(de::Unexpected::Str(s), &visitor)),
            },
            None => Err(de::Error::invalid_type(de::Unexpected::Str(s), &visitor)),
        }
    }

    fn any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let src = self.src;
        match &self.t.node {
            Node::Null | Node::Removed => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::Int(i) => visitor.visit_i64(*i),
            Node::UInt(u) => visitor.visit_u64(*u),
            Node::Float(f) => visitor.visit_f64(*f),
            Node::Str(s) => visitor.visit_borrowed_str(s),
            Node::Seq(items) => visitor.visit_seq(SeqDe { items: items.iter(), index: 0, src }),
            Node::Map(entries) => {
                visitor.visit_map(MapDe { entries: entries.iter(), value: None, key: String::new(), src })
            }
        }
    }
}

macro_rules! scalar_methods {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.deserialize_any(visitor)
        })*
    };
}

macro_rules! numbers {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let pos = self.t.pos;
            self.number(visitor).map_err(|e| e.at(pos))
        })*
    };
}

impl<'de> Deserializer<'de> for De<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let pos = self.t.pos;
        self.any(visitor).map_err(|e| e.at(pos))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let pos = self.t.pos;
        self.scalar_str(visitor).map_err(|e| e.at(pos))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let pos = self.t.pos;
        match self.t.node {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| e.at(pos))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        let pos = self.t.pos;
        if name == SPANNED {
            visitor.visit_newtype_struct(SpannedDe { t: self.t, src: self.src })
        } else {
            visitor.visit_newtype_struct(self)
        }
        .map_err(|e| e.at(pos))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let pos = self.t.pos;
        match &self.t.node {
            Node::Str(s) => visitor.visit_enum(de::value::StrDeserializer::<Error>::new(s)),
            _ => self.any(visitor),
        }
        .map_err(|e| e.at(pos))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let pos = self.t.pos;
        self.boolean(visitor).map_err(|e| e.at(pos))
    }

    numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
    }

    scalar_methods! {
        deserialize_f32 deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf
        deserialize_unit deserialize_seq deserialize_map
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(visitor)
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Tree>,
    index: usize,
    src: &'a str,
}

impl<'de> SeqAccess<'de> for SeqDe<'de> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Error> {
        let (index, item) = loop {
            let Some(item) = self.items.next() else { return Ok(None) };
            self.index += 1;
            if !matches!(item.node, Node::Removed) {
                break (self.index - 1, item);
            }
        };
        seed.deserialize(De { t: item, src: self.src }).map(Some).map_err(|e| e.within(Seg::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, (Tree, Tree)>,
    value: Option<&'a Tree>,
    key: String,
    src: &'a str,
}

impl<'de> MapAccess<'de> for MapDe<'de> {
    type Error = Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.key = key.text(self.src).map(|t| t.into_owned()).unwrap_or_default();
        self.value = Some(value);
        seed.deserialize(De { t: key, src: self.src }).map(Some).map_err(|e| {
            let mut e = e.at(key.pos).within(Seg::Key(self.key.clone()));
            e.at_key = e.path.len() == 1;
            e
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("value without a key"))?;
        seed.deserialize(De { t: value, src: self.src }).map_err(|e| e.within(Seg::Key(self.key.clone())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Answers serde-saphyr's `Spanned` with the synthetic map it expects: a marker, the
/// position (as `referenced` and `defined`), then the value.
struct SpannedDe<'a> {
    t: &'a Tree,
    src: &'a str,
}

impl<'de> Deserializer<'de> for SpannedDe<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(SpannedMap { t: self.t, src: self.src, state: 0 })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct SpannedMap<'a> {
    t: &'a Tree,
    src: &'a str,
    state: u8,
}

impl<'de> MapAccess<'de> for SpannedMap<'de> {
    type Error = Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, Error> {
        let key = match self.state {
            0 => SPANNED_MARKER,
            1 => "referenced",
            2 => "defined",
            3 => "value",
            _ => return Ok(None),
        };
        seed.deserialize(key.into_deserializer()).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let state = self.state;
        self.state += 1;
        match state {
            0 => seed.deserialize(().into_deserializer()),
            1 | 2 => {
                let fields = [("line", self.t.pos.line), ("column", self.t.pos.col)];
                seed.deserialize(de::value::MapDeserializer::<_, Error>::new(fields.into_iter()))
            }
            _ => seed.deserialize(De { t: self.t, src: self.src }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::span::Sp;

    fn tree(text: &str) -> Tree {
        let mut options = serde_saphyr::options::Options::default();
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
        serde_saphyr::from_str_with_options(text, options).unwrap()
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct S {
        a: Sp<String>,
        b: Option<Sp<u32>>,
        #[serde(default)]
        c: Vec<Sp<String>>,
    }

    #[test]
    fn reads_values_with_their_positions_and_plain_scalars_as_written() {
        let t = tree("a: 1.10\nb: 7\nc: [x, true]\n");
        let s: S = read(&t, "a: 1.10\nb: 7\nc: [x, true]\n").unwrap();
        assert_eq!(s.a.value, "1.10");
        assert_eq!(s.a.pos, Pos::new(1, 4));
        assert_eq!(s.b.unwrap().value, 7);
        assert_eq!(s.c[1].value, "true");
        assert_eq!(s.c[1].pos, Pos::new(3, 8));
    }

    #[test]
    fn errors_carry_their_path_and_position() {
        let src = "a: x\nc: [y, {z: 1}]\n";
        let e = read::<S>(&tree(src), src).unwrap_err();
        assert_eq!(e.path, [Seg::Key("c".into()), Seg::Index(1)]);
        assert_eq!(e.pos, Some(Pos::new(2, 8)));
        let src = "a: x\nd: 1\n";
        let e = read::<S>(&tree(src), src).unwrap_err();
        assert!(e.at_key && matches!(e.kind, Kind::UnknownField { .. }));
        assert_eq!((e.path, e.pos), (vec![Seg::Key("d".into())], Some(Pos::new(2, 1))));
    }
}
