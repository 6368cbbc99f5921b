//! Values as JSON, and nothing lost on the way: events, aggregate states and saga outputs
//! are kept as JSON, and `serde_json` would store a float that is not finite (NaN or an
//! infinity) as `null` without a word, which the value's type then cannot read back.
//! Such a value is an error here, before anything is stored. (An integer beyond 64 bits
//! is an error of `serde_json` itself; the crate's docs say to send those as strings.)

use serde::Serialize;
use serde::ser;
use serde_json::Value;

/// `value` as JSON, or an error when part of it cannot be stored as JSON and read back.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    let json = serde_json::to_value(value)?;
    // A non-finite float shows as `null`: only then is the value looked at again.
    if has_null(&json) {
        value.serialize(FiniteFloats)?;
    }
    Ok(json)
}

fn has_null(json: &Value) -> bool {
    match json {
        Value::Null => true,
        Value::Array(items) => items.iter().any(has_null),
        Value::Object(fields) => fields.values().any(has_null),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => false,
    }
}

fn not_finite(value: f64) -> serde_json::Error {
    ser::Error::custom(format!(
        "the float {value} cannot be stored: JSON has no NaN or infinity (it would be read back as `null`); keep it in an `Option` or check it before sending"
    ))
}

/// A serializer that writes nothing and fails on a float that is not finite.
struct FiniteFloats;

type Check = Result<(), serde_json::Error>;

impl ser::Serializer for FiniteFloats {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_f32(self, v: f32) -> Check {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Check {
        match v.is_finite() {
            true => Ok(()),
            false => Err(not_finite(v)),
        }
    }
    fn serialize_bool(self, _: bool) -> Check {
        Ok(())
    }
    fn serialize_i8(self, _: i8) -> Check {
        Ok(())
    }
    fn serialize_i16(self, _: i16) -> Check {
        Ok(())
    }
    fn serialize_i32(self, _: i32) -> Check {
        Ok(())
    }
    fn serialize_i64(self, _: i64) -> Check {
        Ok(())
    }
    fn serialize_i128(self, _: i128) -> Check {
        Ok(())
    }
    fn serialize_u8(self, _: u8) -> Check {
        Ok(())
    }
    fn serialize_u16(self, _: u16) -> Check {
        Ok(())
    }
    fn serialize_u32(self, _: u32) -> Check {
        Ok(())
    }
    fn serialize_u64(self, _: u64) -> Check {
        Ok(())
    }
    fn serialize_u128(self, _: u128) -> Check {
        Ok(())
    }
    fn serialize_char(self, _: char) -> Check {
        Ok(())
    }
    fn serialize_str(self, _: &str) -> Check {
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Check {
        Ok(())
    }
    fn serialize_none(self) -> Check {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Check {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Check {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Check {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Check {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Check {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Check {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self, serde_json::Error> {
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self, serde_json::Error> {
        Ok(self)
    }
}

/// Every part of a compound value is checked the same way.
macro_rules! check_parts {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl ser::$trait for FiniteFloats {
            type Ok = ();
            type Error = serde_json::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Check {
                value.serialize(FiniteFloats)
            }
            fn end(self) -> Check {
                Ok(())
            }
        }
    )*};
}

check_parts!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for FiniteFloats {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Check {
        key.serialize(FiniteFloats)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Check {
        value.serialize(FiniteFloats)
    }
    fn end(self) -> Check {
        Ok(())
    }
}

impl ser::SerializeStruct for FiniteFloats {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Check {
        value
            .serialize(FiniteFloats)
            .map_err(|e| ser::Error::custom(format!("field `{key}`: {e}")))
    }
    fn end(self) -> Check {
        Ok(())
    }
}

impl ser::SerializeStructVariant for FiniteFloats {
    type Ok = ();
    type Error = serde_json::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Check {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Check {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Reading {
        at: u64,
        value: f64,
        maybe: Option<f64>,
        list: Vec<f32>,
    }

    #[test]
    fn finite_floats_and_nulls_pass() {
        let reading = Reading {
            at: u64::MAX,
            value: -0.0,
            maybe: None,
            list: vec![1.5, f32::MIN_POSITIVE],
        };
        assert_eq!(to_value(&reading).unwrap()["at"], u64::MAX);
    }

    #[test]
    fn a_float_that_is_not_finite_is_an_error_naming_its_field() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let reading = Reading {
                at: 1,
                value: 1.0,
                maybe: Some(bad),
                list: Vec::new(),
            };
            let error = to_value(&reading).unwrap_err().to_string();
            assert!(error.starts_with("field `maybe`: the float"), "{error}");
        }
        let nested = Reading {
            at: 1,
            value: 1.0,
            maybe: None,
            list: vec![f32::NAN],
        };
        assert!(
            to_value(&nested)
                .unwrap_err()
                .to_string()
                .contains("`list`")
        );
    }

    #[test]
    fn integers_beyond_64_bits_are_an_error() {
        assert!(to_value(&(u128::from(u64::MAX) + 1)).is_err());
        assert!(to_value(&(i128::from(i64::MIN) - 1)).is_err());
        assert_eq!(to_value(&u128::from(u64::MAX)).unwrap(), u64::MAX);
    }
}

/// JSON text that does not decode as the type asked for: where, and what serde said.
///
/// ```
/// # use herald_doc_fixtures::*;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let herald = herald().await;
/// let err = herald.dispatch_json("OpenAccount", br#"{"account_id": "seven"}"#).err().unwrap();
/// let herald::ErrorKind::BadCommand { json, .. } = err.kind() else { panic!("{err}") };
/// assert_eq!(json.path(), "account_id");
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", at_path(path))]
pub struct BadJson {
    path: String,
    message: String,
    line: usize,
    column: usize,
    syntax: bool,
}

fn at_path(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("at `{path}`: ")
    }
}

impl BadJson {
    /// Where in the value it went wrong, as serde names it (`address.city`,
    /// `lines[2].amount`); empty for the value as a whole (a missing field, or text that
    /// is not JSON).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What serde said, with the line and column.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The line and column (from 1) where decoding stopped.
    pub fn line_column(&self) -> (usize, usize) {
        (self.line, self.column)
    }

    /// Whether the text is not JSON at all (or ends early), rather than JSON of another
    /// shape.
    pub fn is_syntax(&self) -> bool {
        self.syntax
    }
}

/// `json` decoded as a `T`, with trailing text an error too; the error names the path.
pub(crate) fn from_slice<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, BadJson> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let bad = |path: String, error: serde_json::Error| BadJson {
        path,
        line: error.line(),
        column: error.column(),
        syntax: error.is_syntax() || error.is_eof(),
        message: error.to_string(),
    };
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        bad(
            if path == "." { String::new() } else { path },
            error.into_inner(),
        )
    })?;
    deserializer
        .end()
        .map_err(|error| bad(String::new(), error))?;
    Ok(value)
}

#[cfg(test)]
mod decode_tests {
    use super::from_slice;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only decoded")]
    struct Order {
        id: u64,
        lines: Vec<Line>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code, reason = "only decoded")]
    struct Line {
        amount: u32,
    }

    #[test]
    fn names_the_path_of_a_wrong_value() {
        let err = from_slice::<Order>(br#"{"id": 1, "lines": [{"amount": 1}, {"amount": -1}]}"#)
            .unwrap_err();
        assert_eq!(err.path(), "lines[1].amount");
        assert!(!err.is_syntax());
        assert!(
            err.to_string()
                .starts_with("at `lines[1].amount`: invalid value"),
            "{err}"
        );
    }

    #[test]
    fn names_unknown_and_missing_fields() {
        let unknown = from_slice::<Order>(br#"{"id": 1, "lines": [], "idd": 2}"#).unwrap_err();
        assert!(
            unknown.message().contains("unknown field `idd`"),
            "{unknown}"
        );
        let missing = from_slice::<Order>(br#"{"id": 1}"#).unwrap_err();
        assert_eq!(missing.path(), "");
        assert!(
            missing.message().contains("missing field `lines`"),
            "{missing}"
        );
    }

    #[test]
    fn text_that_is_not_json_or_has_more_after_it_is_a_syntax_error() {
        assert!(from_slice::<Order>(b"{\"id\": ").unwrap_err().is_syntax());
        let trailing = from_slice::<Order>(br#"{"id": 1, "lines": []} x"#).unwrap_err();
        assert!(trailing.is_syntax(), "{trailing}");
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(from_slice::<Order>(deep.as_bytes()).is_err());
    }
}
