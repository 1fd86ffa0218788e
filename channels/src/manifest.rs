//! Building the schema manifest from a registry.

use crate::access::Access;
use crate::registry::Registry;
use mizan_protocol::{ChannelManifest, ContextManifest, FormManifest, FunctionManifest, Manifest};
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::Value;
use std::collections::BTreeMap;

/// Where named schemas live in the manifest.
const DEFINITIONS: &str = "#/definitions/";

/// A generator for what clients send (the deserialize contract) or what
/// they receive (serialize), with refs to `#/definitions/<name>`.
pub(crate) fn generator(inputs: bool) -> SchemaGenerator {
    let settings = SchemaSettings::draft07();
    let settings = if inputs {
        settings.for_deserialize()
    } else {
        settings.for_serialize()
    };
    settings.into_generator()
}

impl Registry {
    /// The manifest of everything registered: deterministic, versioned.
    ///
    /// Inputs (args, params, client messages) are described as the server
    /// reads them, outputs (results, server messages) as it writes them; a
    /// type whose two descriptions differ appears twice, the output one
    /// named `<Name>Output`.
    ///
    /// ```
    /// use mizan_channels::{Cx, Error, Function, Registry};
    /// # use schemars::JsonSchema; use serde::Deserialize;
    /// #[derive(Deserialize, JsonSchema)] struct Args { text: String }
    /// let echo = Function::new("echo", |_cx: Cx, a: Args| async move { Ok::<_, Error>(a.text) });
    /// let manifest = Registry::builder().function(echo).build().unwrap().manifest();
    /// assert_eq!(manifest.functions["echo"].args, serde_json::json!({"$ref": "#/definitions/Args"}));
    /// assert_eq!(manifest.definitions["Args"]["required"], serde_json::json!(["text"]));
    /// assert_eq!(manifest.version.len(), 16);
    /// ```
    pub fn manifest(&self) -> Manifest {
        let mut inputs = generator(true);
        let mut outputs = generator(false);
        let mut manifest = Manifest::default();
        for function in self.functions().into_iter().filter(|f| f.route_path().is_none()) {
            manifest.functions.insert(
                function.name().to_owned(),
                FunctionManifest {
                    args: function.args_schema(&mut inputs).to_value(),
                    output: function.output_schema(&mut outputs).to_value(),
                    auth: function.access_level().name().to_owned(),
                    context: function.context_name().map(str::to_owned),
                    affects: function.affects_targets().to_vec(),
                    merge: function.merge_targets().to_vec(),
                    transport: vec!["ws".to_owned(), "http".to_owned()],
                    description: function.description().map(str::to_owned),
                },
            );
        }
        for context in self.contexts() {
            let levels = context
                .slots()
                .iter()
                .filter_map(|slot| self.function(slot))
                .map(super::function::Function::access_level);
            let auth = strictest(levels, context.is_per_user());
            manifest.contexts.insert(
                context.name().to_owned(),
                ContextManifest {
                    params: context.params_schema(),
                    functions: context.slots().to_vec(),
                    auth: auth.to_owned(),
                    per_user: context.is_per_user(),
                },
            );
        }
        for channel in self.channels() {
            let [params, client_message] = channel.input_schemas(&mut inputs).map(schemars::Schema::to_value);
            let server_message = channel.output_schema(&mut outputs).to_value();
            let member_info = channel.member_info_schema(&mut outputs).map(schemars::Schema::to_value);
            manifest.channels.insert(
                channel.name().to_owned(),
                ChannelManifest {
                    params,
                    client_message,
                    server_message,
                    presence: channel.presence(),
                    member_info,
                },
            );
        }
        for (name, form) in self.forms() {
            let args = manifest.functions[&format!("{name}.submit")].args.clone();
            let fields = form
                .fields
                .iter()
                .map(|f| serde_json::to_value(f).expect("fields always encode"))
                .collect();
            manifest.forms.insert(
                name.to_owned(),
                FormManifest {
                    title: form.title.clone(),
                    submit_label: form.submit_label.clone(),
                    fields,
                    args,
                },
            );
        }
        manifest.definitions = merge_definitions(&mut inputs, &mut outputs, &mut manifest);
        manifest.with_version()
    }
}

/// The strictest level among a context's functions.
fn strictest<'a>(levels: impl Iterator<Item = &'a Access>, per_user: bool) -> &'static str {
    let rank = |name: &str| {
        ["public", "user", "staff", "superuser", "custom"]
            .iter()
            .position(|l| *l == name)
    };
    let floor = if per_user { "user" } else { "public" };
    levels
        .map(Access::name)
        .fold(floor, |a, b| if rank(b) > rank(a) { b } else { a })
}

/// Both generators' definitions in one map. An output definition that
/// clashes with a different input one is renamed `<name>Output`, and the
/// output schemas' refs follow it.
fn merge_definitions(
    inputs: &mut SchemaGenerator,
    outputs: &mut SchemaGenerator,
    manifest: &mut Manifest,
) -> BTreeMap<String, Value> {
    let mut all: BTreeMap<String, Value> = inputs.take_definitions(true).into_iter().collect();
    let outs: BTreeMap<String, Value> = outputs.take_definitions(true).into_iter().collect();
    let renamed: Vec<String> = outs
        .iter()
        .filter(|(name, schema)| all.get(*name).is_some_and(|s| s != *schema))
        .map(|(name, _)| name.clone())
        .collect();
    let rename = |value: &mut Value| {
        for name in &renamed {
            rewrite_ref(
                value,
                &format!("{DEFINITIONS}{name}"),
                &format!("{DEFINITIONS}{name}Output"),
            );
        }
    };
    for (name, mut schema) in outs {
        rename(&mut schema);
        let key = if renamed.contains(&name) {
            format!("{name}Output")
        } else {
            name
        };
        all.insert(key, schema);
    }
    for function in manifest.functions.values_mut() {
        rename(&mut function.output);
    }
    for channel in manifest.channels.values_mut() {
        rename(&mut channel.server_message);
    }
    all
}

fn rewrite_ref(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref" && v.as_str() == Some(from) {
                    *v = Value::from(to);
                } else {
                    rewrite_ref(v, from, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_ref(v, from, to)),
        _ => {}
    }
}
