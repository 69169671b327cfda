//! A protobuf wire reader and writer of this suite's own, and the original's message definitions as
//! tables: field numbers, wire types and nesting as the original's `.proto` files declare them.
//!
//! Nothing here uses warnkit's message types: every published byte is walked against these tables,
//! and a field number the original does not declare, a wrong wire type, an int32 out of range or
//! bytes left over fail the walk.

use std::collections::BTreeMap;

/// What a field holds, as far as the wire and its range are concerned.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int32,
    Int64,
    UInt32,
    Bool,
    Enum,
    SInt32,
    Fixed64,
    Double,
    Str,
    Bytes,
    Msg(&'static Schema),
    /// A message the original declares whose content this suite does not check (later additions
    /// warnkit leaves out; present only if warnkit starts sending it).
    Opaque,
}

/// One message: its name and its fields (number, name, kind, repeated).
#[derive(Debug)]
pub struct Schema {
    pub name: &'static str,
    pub fields: &'static [(u32, &'static str, Kind, bool)],
}

/// A decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Msg(Fields),
}

/// A decoded message: values by field name, in wire order.
pub type Fields = BTreeMap<&'static str, Vec<Value>>;

/// Accessors for the tests.
pub trait Get {
    fn int(&self, name: &str) -> Option<i64>;
    fn ints(&self, name: &str) -> Vec<i64>;
    fn float(&self, name: &str) -> Option<f64>;
    fn text(&self, name: &str) -> Option<&str>;
    fn texts(&self, name: &str) -> Vec<&str>;
    fn bytes(&self, name: &str) -> Option<&[u8]>;
    fn msg(&self, name: &str) -> Option<&Fields>;
    fn msgs(&self, name: &str) -> Vec<&Fields>;
}

impl Get for Fields {
    fn int(&self, name: &str) -> Option<i64> {
        self.ints(name).last().copied()
    }
    fn ints(&self, name: &str) -> Vec<i64> {
        self.get(name)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::Int(i) => Some(*i),
                _ => None,
            })
            .collect()
    }
    fn float(&self, name: &str) -> Option<f64> {
        self.get(name)?.iter().rev().find_map(|v| match v {
            Value::Float(f) => Some(*f),
            _ => None,
        })
    }
    fn text(&self, name: &str) -> Option<&str> {
        self.texts(name).last().copied()
    }
    fn texts(&self, name: &str) -> Vec<&str> {
        self.get(name)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
    fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.get(name)?.iter().rev().find_map(|v| match v {
            Value::Bytes(b) => Some(b.as_slice()),
            _ => None,
        })
    }
    fn msg(&self, name: &str) -> Option<&Fields> {
        self.msgs(name).last().copied()
    }
    fn msgs(&self, name: &str) -> Vec<&Fields> {
        self.get(name)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::Msg(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *bytes.get(*at).ok_or("varint runs past the end")?;
        *at += 1;
        if shift == 63 && b > 1 {
            return Err("varint longer than 64 bits".into());
        }
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".into())
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let end = at.checked_add(n).filter(|e| *e <= bytes.len());
    let end = end.ok_or("field runs past the end")?;
    let out = &bytes[*at..end];
    *at = end;
    Ok(out)
}

fn int32(raw: u64, what: &str) -> Result<i64, String> {
    let v = raw as i64;
    if i32::try_from(v).is_err() {
        return Err(format!("{what}: varint {raw} does not fit an int32"));
    }
    Ok(v)
}

fn scalar(kind: Kind, wire: u8, bytes: &[u8], at: &mut usize, what: &str) -> Result<Value, String> {
    let expect = |w: u8| {
        if wire == w {
            Ok(())
        } else {
            Err(format!(
                "{what}: wire type {wire}, the original declares {w}"
            ))
        }
    };
    Ok(match kind {
        Kind::Int32 | Kind::Enum => {
            expect(0)?;
            Value::Int(int32(varint(bytes, at)?, what)?)
        }
        Kind::Int64 => {
            expect(0)?;
            Value::Int(varint(bytes, at)? as i64)
        }
        Kind::UInt32 => {
            expect(0)?;
            let v = varint(bytes, at)?;
            u32::try_from(v).map_err(|_| format!("{what}: {v} does not fit a uint32"))?;
            Value::Int(v as i64)
        }
        Kind::Bool => {
            expect(0)?;
            match varint(bytes, at)? {
                v @ (0 | 1) => Value::Int(v as i64),
                v => return Err(format!("{what}: bool {v}")),
            }
        }
        Kind::SInt32 => {
            expect(0)?;
            let v = varint(bytes, at)?;
            let v = u32::try_from(v).map_err(|_| format!("{what}: sint32 {v} too large"))?;
            Value::Int(i64::from((v >> 1) as i32 ^ -((v & 1) as i32)))
        }
        Kind::Fixed64 => {
            expect(1)?;
            let b: [u8; 8] = take(bytes, at, 8)?.try_into().expect("8 bytes");
            Value::Int(u64::from_le_bytes(b) as i64)
        }
        Kind::Double => {
            expect(1)?;
            let b: [u8; 8] = take(bytes, at, 8)?.try_into().expect("8 bytes");
            Value::Float(f64::from_le_bytes(b))
        }
        Kind::Str | Kind::Bytes | Kind::Msg(_) | Kind::Opaque => {
            expect(2)?;
            let n = varint(bytes, at)? as usize;
            let body = take(bytes, at, n)?;
            match kind {
                Kind::Str => Value::Text(
                    String::from_utf8(body.to_vec()).map_err(|_| format!("{what}: not UTF-8"))?,
                ),
                Kind::Msg(schema) => Value::Msg(walk(schema, body)?),
                _ => Value::Bytes(body.to_vec()),
            }
        }
    })
}

/// Decodes `bytes` as `schema`, refusing anything the original's definition does not allow.
pub fn walk(schema: &'static Schema, bytes: &[u8]) -> Result<Fields, String> {
    let mut fields = Fields::new();
    let mut at = 0;
    while at < bytes.len() {
        let tag = varint(bytes, &mut at)?;
        let (number, wire) = ((tag >> 3) as u32, (tag & 7) as u8);
        let Some(&(_, name, kind, repeated)) = schema.fields.iter().find(|f| f.0 == number) else {
            return Err(format!(
                "{}: field {number} (wire type {wire}) is not in the original's definition",
                schema.name
            ));
        };
        let what = format!("{}.{name}", schema.name);
        let packable = !matches!(kind, Kind::Str | Kind::Bytes | Kind::Msg(_) | Kind::Opaque);
        let values = fields.entry(name).or_default();
        if repeated && packable && wire == 2 {
            // A packed repeated scalar (proto3's default for numbers).
            let n = varint(bytes, &mut at)? as usize;
            let body = take(bytes, &mut at, n)?;
            let element_wire = if matches!(kind, Kind::Fixed64 | Kind::Double) {
                1
            } else {
                0
            };
            let mut i = 0;
            while i < body.len() {
                values.push(scalar(kind, element_wire, body, &mut i, &what)?);
            }
        } else {
            values.push(scalar(kind, wire, bytes, &mut at, &what)?);
        }
        if !repeated && values.len() > 1 && !matches!(kind, Kind::Msg(_)) {
            return Err(format!("{what}: a singular field appears twice"));
        }
    }
    Ok(fields)
}

/// Writes protobuf by hand, from field numbers: how this suite builds what the app sends.
#[derive(Default)]
pub struct Writer(pub Vec<u8>);

impl Writer {
    fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn tag(&mut self, field: u32, wire: u8) {
        self.raw_varint(u64::from(field) << 3 | u64::from(wire));
    }
    /// An int32, int64, bool or enum field (negative int32s sign-extended to ten bytes).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.tag(field, 0);
        self.raw_varint(v as u64);
        self
    }
    /// A raw varint, whatever its size: for hostile input.
    pub fn varint(&mut self, field: u32, v: u64) -> &mut Self {
        self.tag(field, 0);
        self.raw_varint(v);
        self
    }
    /// An sint32 field.
    pub fn sint(&mut self, field: u32, v: i32) -> &mut Self {
        self.tag(field, 0);
        self.raw_varint(u64::from(((v << 1) ^ (v >> 31)) as u32));
        self
    }
    /// A string, bytes or message field.
    pub fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.tag(field, 2);
        self.raw_varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
}

/// Declares one message table: `(field number, name, kind, repeated)` as the `.proto` file has them.
macro_rules! schema {
    ($name:ident, $label:literal, [$(($n:literal, $f:literal, $k:expr, $r:literal)),* $(,)?]) => {
        pub static $name: Schema = Schema { name: $label, fields: &[$(($n, $f, $k, $r)),*] };
    };
}

mod config_v1;
mod config_v2;
mod export;

pub use config_v1::APP_CONFIG_V1;
pub use config_v2::{APP_CONFIG_ANDROID, APP_CONFIG_IOS};
use export::TEK;
pub use export::{TEK_EXPORT, TEK_SIGNATURE_LIST};

/// A map field as pairs.
pub fn int_map(fields: &Fields, name: &str) -> BTreeMap<i64, i64> {
    fields
        .msgs(name)
        .into_iter()
        .map(|e| (e.int("key").unwrap_or(0), e.int("value").unwrap_or(0)))
        .collect()
}

#[test]
fn the_walker_refuses_what_the_definition_lacks() {
    // Field 8 (`revised_keys` in Google's later definition) is not the original's.
    let mut w = Writer::default();
    w.bytes(3, b"DE").bytes(8, b"");
    let err = walk(&TEK_EXPORT, &w.0).unwrap_err();
    assert!(err.contains("field 8"), "{err}");
    // A wrong wire type, an int32 out of range, a truncated message.
    let mut w = Writer::default();
    w.int(3, 1);
    assert!(walk(&TEK_EXPORT, &w.0).unwrap_err().contains("wire type"));
    let mut w = Writer::default();
    w.varint(3, 1 << 32);
    assert!(walk(&TEK, &w.0).unwrap_err().contains("int32"));
    assert!(walk(&TEK, &[0x0a, 5, 1]).is_err());
    // And it reads what it writes.
    let mut w = Writer::default();
    w.bytes(1, &[7; 16]).int(2, 6).int(3, 2_000_000).sint(6, -3);
    let key = walk(&TEK, &w.0).unwrap();
    assert_eq!(key.int("transmission_risk_level"), Some(6));
    assert_eq!(key.int("days_since_onset_of_symptoms"), Some(-3));
    assert_eq!(key.bytes("key_data"), Some(&[7u8; 16][..]));
}
