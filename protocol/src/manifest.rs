//! The schema manifest (protocol section 7): everything a client generator
//! needs, and nothing else.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a server offers, with JSON Schemas for every type. Deterministic:
/// maps are sorted, so the same server code gives the same bytes;
/// `version` is a hash of the rest.
///
/// ```
/// use mizan_protocol::Manifest;
/// let m = Manifest::default().with_version();
/// let text = m.to_json();
/// assert!(text.starts_with(r#"{"protocol":1,"version":""#));
/// assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The protocol version (1).
    pub protocol: u32,
    /// A hash of everything else: changes whenever the API does.
    pub version: String,
    /// Server functions by name.
    pub functions: BTreeMap<String, FunctionManifest>,
    /// Contexts by name.
    pub contexts: BTreeMap<String, ContextManifest>,
    /// Channels by name.
    pub channels: BTreeMap<String, ChannelManifest>,
    /// Forms by name (section 13); absent when there are none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub forms: BTreeMap<String, FormManifest>,
    /// Named schemas the others refer to as `#/definitions/<name>`.
    pub definitions: BTreeMap<String, Value>,
}

/// One server function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionManifest {
    /// Schema of the args object.
    pub args: Value,
    /// Schema of the result.
    pub output: Value,
    /// Access level: `public`, `user`, `staff`, `superuser` or `custom`.
    pub auth: String,
    /// The context it reads for, if any.
    pub context: Option<String>,
    /// Declared `affects` targets.
    pub affects: Vec<String>,
    /// Declared `merge` targets.
    pub merge: Vec<String>,
    /// How it can be called: `ws`, `http`.
    pub transport: Vec<String>,
    /// Its doc comment, when it has one (the generated client's JSDoc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextManifest {
    /// Schema of the params object.
    pub params: Value,
    /// Its functions (the bundle's slots), sorted.
    pub functions: Vec<String>,
    /// The strictest access level of its functions (`user` at least for a
    /// per-user context).
    pub auth: String,
    /// Whether its data depends on who asks (an extension of section 7).
    #[serde(default)]
    pub per_user: bool,
}

/// One channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelManifest {
    /// Schema of the subscribe params.
    pub params: Value,
    /// Schema of what clients send.
    pub client_message: Value,
    /// Schema of what subscribers receive.
    pub server_message: Value,
    /// Whether its topics track presence (section 10).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub presence: bool,
    /// Schema of the `info` its presence members carry, when they carry one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_info: Option<Value>,
}

/// One form (section 13): its description as `F.schema` answers it, and
/// the schema of its fields (`F.submit`'s args).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormManifest {
    /// Its title.
    pub title: String,
    /// The submit button's label.
    pub submit_label: String,
    /// Its fields in declaration order: `name`, `label`, `kind`,
    /// `required`, and the rules a client can show (`min_length`,
    /// `max_length`, `minimum`, `maximum`, `pattern`) and `help`.
    pub fields: Vec<Value>,
    /// Schema of the fields object.
    pub args: Value,
}

impl Default for Manifest {
    fn default() -> Self {
        Self {
            protocol: crate::PROTOCOL_VERSION,
            version: String::new(),
            functions: BTreeMap::new(),
            contexts: BTreeMap::new(),
            channels: BTreeMap::new(),
            forms: BTreeMap::new(),
            definitions: BTreeMap::new(),
        }
    }
}

impl Manifest {
    /// Sets `version` to a hash (64-bit FNV-1a, hex) of the manifest without it.
    #[must_use]
    pub fn with_version(mut self) -> Self {
        self.version.clear();
        let text = self.to_json();
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        self.version = format!("{hash:016x}");
        self
    }

    /// The manifest as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a manifest always encodes")
    }
}
