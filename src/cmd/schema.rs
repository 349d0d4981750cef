//! `runbook schema`: the JSON Schema of the format, generated from the serde mirror so the
//! schema and the loader cannot drift.

use crate::cli::SchemaKind;
use crate::runbook::raw::{RawEnvironments, RawRunbook};

pub fn schema(kind: SchemaKind) -> serde_json::Value {
    let schema = match kind {
        SchemaKind::Runbook => schemars::schema_for!(RawRunbook),
        SchemaKind::Environments => schemars::schema_for!(RawEnvironments),
        SchemaKind::Export => crate::export::schema(),
    };
    schema.to_value()
}
