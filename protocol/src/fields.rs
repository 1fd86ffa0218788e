//! The field-by-field reader shared by both frame decoders.
//!
//! A frame is first read into [`RawFields`], which borrows every known field
//! as raw JSON and ignores unknown ones. Each field is then decoded on its
//! own, so an error can name the field, and the `id` can still be reported
//! when some other field is wrong.

use crate::values::{Params, Payload, Position, RequestId};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

/// Every field either side of the protocol uses, borrowed as raw JSON.
#[derive(Deserialize)]
pub(crate) struct RawFields<'a> {
    #[serde(rename = "type", borrow, default, deserialize_with = "present")]
    pub(crate) kind: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) token: Option<&'a RawValue>,
    #[serde(rename = "fn", borrow, default, deserialize_with = "present")]
    pub(crate) function: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) args: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) context: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) channel: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) topic: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) data: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) protocol: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) node: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) session: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) user: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) invalidate: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) merge: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) code: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) message: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) details: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) slot: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) value: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) since: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) history: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) epoch: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) offset: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) recovered: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) members: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) sessions: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) users: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) joins: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub(crate) leaves: Option<&'a RawValue>,
}

impl<'a> RawFields<'a> {
    /// Reads the top level of a frame: valid UTF-8 JSON, and an object.
    pub(crate) fn read(bytes: &'a [u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "frame is not valid UTF-8".to_owned())?;
        let fields = serde_json::from_str(text).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => {
                if e.to_string().starts_with("duplicate field") {
                    format!("frame has a {e}")
                } else {
                    "frame must be a JSON object".to_owned()
                }
            }
            _ => format!("frame is not valid JSON: {e}"),
        })?;
        // A derived struct also accepts a JSON array, read positionally.
        if !text.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('{') {
            return Err("frame must be a JSON object".to_owned());
        }
        Ok(fields)
    }

    /// The `type` field, which every frame needs.
    pub(crate) fn kind(&self) -> Result<String, String> {
        required("type", self.kind)
    }

    /// The `id`, `Ok(None)` when absent.
    pub(crate) fn id(&self) -> Result<Option<RequestId>, String> {
        let Some(raw) = self.id else { return Ok(None) };
        serde_json::from_str::<u64>(raw.get())
            .ok()
            .and_then(RequestId::new)
            .map(Some)
            .ok_or_else(|| "`id` must be an integer from 0 to 2^53-1".to_owned())
    }
}

/// Reads a field that is present, `null` included: a plain `Option` would
/// turn `"data":null` into an absent field.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Decodes a field that must be present.
pub(crate) fn required<T: DeserializeOwned>(name: &str, raw: Option<&RawValue>) -> Result<T, String> {
    let raw = raw.ok_or_else(|| format!("missing field `{name}`"))?;
    decode(name, raw)
}

/// Decodes a field that may be absent (or `null`).
pub(crate) fn optional<T: DeserializeOwned>(name: &str, raw: Option<&RawValue>) -> Result<Option<T>, String> {
    match raw {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => decode(name, raw).map(Some),
    }
}

/// A field that must be a JSON object, `{}` when absent.
pub(crate) fn object_payload(name: &str, raw: Option<&RawValue>) -> Result<Payload, String> {
    match raw {
        None => Ok(Payload::empty_object()),
        Some(raw) if raw.get().starts_with('{') => Ok(Payload::from_raw(raw)),
        Some(_) => Err(format!("`{name}` must be an object")),
    }
}

/// A field holding any JSON value, which must be present.
pub(crate) fn any_payload(name: &str, raw: Option<&RawValue>) -> Result<Payload, String> {
    raw.map(Payload::from_raw)
        .ok_or_else(|| format!("missing field `{name}`"))
}

/// A stream position given as top-level `epoch` and `offset` fields (as
/// `subscribed`, `bundle` and `unchanged` carry it): both or neither.
pub(crate) fn position(epoch: Option<&RawValue>, offset: Option<&RawValue>) -> Result<Option<Position>, String> {
    match (optional::<String>("epoch", epoch)?, optional::<u64>("offset", offset)?) {
        (Some(epoch), Some(offset)) => Ok(Some(Position { epoch, offset })),
        (None, None) => Ok(None),
        _ => Err("`epoch` and `offset` go together".to_owned()),
    }
}

/// A params object, `{}` when absent.
pub(crate) fn params(raw: Option<&RawValue>) -> Result<Params, String> {
    match raw {
        None => Ok(Params::new()),
        Some(raw) if !raw.get().starts_with('{') => Err("`params` must be an object".to_owned()),
        Some(raw) => {
            serde_json::from_str(raw.get()).map_err(|e| format!("`params` could not be read: {}", strip_position(&e)))
        }
    }
}

fn decode<T: DeserializeOwned>(name: &str, raw: &RawValue) -> Result<T, String> {
    serde_json::from_str(raw.get()).map_err(|e| format!("field `{name}` has the wrong type: {}", strip_position(&e)))
}

/// The error's text without its position.
fn strip_position(e: &serde_json::Error) -> String {
    crate::without_position(&e.to_string()).to_owned()
}
