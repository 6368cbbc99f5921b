//! JSON Schemas of commands and events, for the HTTP door's OpenAPI document. With the
//! `http` feature they come from schemars (the macros derive `JsonSchema` through
//! Herald's re-export); without it every type "has" one and none is built, so the same
//! generated code compiles either way.

/// Collects the schemas of the types it is asked for, and those they refer to.
pub struct Schemas {
    #[cfg(feature = "http")]
    generator: schemars::SchemaGenerator,
}

impl Schemas {
    /// A collector whose references point into an OpenAPI document's
    /// `#/components/schemas/`.
    #[cfg_attr(
        not(feature = "http"),
        allow(dead_code, reason = "only the HTTP door builds schemas")
    )]
    pub(crate) fn for_openapi() -> Self {
        Schemas {
            #[cfg(feature = "http")]
            generator: schemars::generate::SchemaSettings::draft2020_12()
                .with(|s| {
                    s.definitions_path = "#/components/schemas/".into();
                    s.meta_schema = None;
                })
                .into_generator(),
        }
    }

    /// The schemas referred to so far, by name.
    #[cfg(feature = "http")]
    pub(crate) fn definitions(&self) -> serde_json::Map<String, serde_json::Value> {
        self.generator.definitions().clone()
    }
}

/// A type whose JSON Schema Herald can describe: with the `http` feature, one that
/// implements `JsonSchema`; without it, every type.
#[cfg(feature = "http")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no JSON Schema, which Herald's `http` feature needs for its OpenAPI document",
    note = "derive it with `#[derive(herald::JsonSchema)]` and `#[schemars(crate = \"herald::schemars\")]` (a no-op without the `http` feature)"
)]
pub trait Described: schemars::JsonSchema {}
#[cfg(feature = "http")]
impl<T: schemars::JsonSchema + ?Sized> Described for T {}

/// A type whose JSON Schema Herald can describe: with the `http` feature, one that
/// implements `JsonSchema`; without it, every type.
#[cfg(not(feature = "http"))]
pub trait Described {}
#[cfg(not(feature = "http"))]
impl<T: ?Sized> Described for T {}

/// The schema of `T`: a reference into the collector's definitions, or the schema
/// itself for a type that is not named (`null` without the `http` feature).
pub fn schema_of<T: Described>(schemas: &mut Schemas) -> serde_json::Value {
    #[cfg(feature = "http")]
    {
        schemas.generator.subschema_for::<T>().to_value()
    }
    #[cfg(not(feature = "http"))]
    {
        let _ = schemas;
        serde_json::Value::Null
    }
}
