//! What to generate and under which names, decided once for all modules.

use crate::Error;
use crate::names::{Namespace, camel, identifier, pascal};
use crate::shape::{Parser, Shape};
use mizan_protocol::{FormManifest, FunctionManifest, Manifest};
use std::collections::{BTreeMap, BTreeSet};

/// The context whose slots get hooks of their own (`useCurrentUser`).
pub(crate) const GLOBAL: &str = "global";

/// Names the runtime re-exports or the generated modules define besides the API's.
const RESERVED: &[&str] = &[
    "MizanProvider",
    "useMizan",
    "useConnection",
    "manifestVersion",
    "functionArgs",
    "contextParams",
    "channelMessages",
];

/// Whether a function, context or channel hook takes params/args.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Arg {
    /// Nothing to pass (an object with no keys).
    None,
    /// May be omitted (no required keys): `args: T = {}`.
    Optional,
    Required,
}

/// One server function.
pub(crate) struct FunctionPlan<'m> {
    pub(crate) name: &'m str,
    pub(crate) manifest: &'m FunctionManifest,
    pub(crate) args: Shape,
    pub(crate) output: Shape,
    pub(crate) arg: Arg,
    pub(crate) call_ident: String,
    /// `use<Fn>` (a `useCall` hook), for functions outside any context:
    /// a context's read functions are read through its hook, and a
    /// "mutation" hook beside it would only mislead. A form's functions
    /// (`contact.submit`) keep theirs (`useContactSubmit`), for a page that
    /// drives them itself; `use<Form>Form` is the form's own.
    pub(crate) hook_ident: Option<String>,
}

/// One context.
pub(crate) struct ContextPlan<'m> {
    pub(crate) name: &'m str,
    pub(crate) auth: &'m str,
    pub(crate) per_user: bool,
    pub(crate) params: Shape,
    pub(crate) arg: Arg,
    pub(crate) params_type: String,
    pub(crate) data_type: String,
    pub(crate) hook_ident: String,
    pub(crate) fetch_ident: String,
    /// `(slot, output shape, slot hook name for the global context)`.
    pub(crate) slots: Vec<(&'m str, Shape, Option<String>)>,
}

/// One channel.
pub(crate) struct ChannelPlan<'m> {
    pub(crate) name: &'m str,
    pub(crate) params: Shape,
    pub(crate) client_message: Shape,
    pub(crate) server_message: Shape,
    pub(crate) arg: Arg,
    pub(crate) hook_ident: String,
    pub(crate) join_ident: String,
    /// For a channel that tracks presence (PROTOCOL.md section 10).
    pub(crate) presence: Option<PresencePlan>,
}

/// The presence of one channel.
pub(crate) struct PresencePlan {
    /// `use<Channel>Presence`.
    pub(crate) hook_ident: String,
    /// The members' `info` and its type's name (`<Channel>MemberInfo`), when
    /// the channel attaches one.
    pub(crate) member_info: Option<(Shape, String)>,
    /// The member info schema's own `description`.
    pub(crate) member_info_description: Option<String>,
}

/// One form (PROTOCOL.md section 13): the functions `F.schema`,
/// `F.validate` and `F.submit`, used through one hook.
pub(crate) struct FormPlan<'m> {
    pub(crate) name: &'m str,
    pub(crate) manifest: &'m FormManifest,
    /// `F.submit`, whose output is the form's result.
    pub(crate) submit: &'m FunctionManifest,
    /// The fields (`args`).
    pub(crate) fields: Shape,
    /// `F.submit`'s output.
    pub(crate) result: Shape,
    /// `<Form>FormFields`, `<Form>FormResult`.
    pub(crate) fields_type: String,
    pub(crate) result_type: String,
    /// `use<Form>Form`.
    pub(crate) hook_ident: String,
    /// `<form>Form`: its description and Zod schema, for the hook.
    pub(crate) definition_ident: String,
}

/// Everything the module writers need.
pub(crate) struct Plan<'m> {
    pub(crate) version: &'m str,
    /// Definition name -> (shape, description).
    pub(crate) definitions: BTreeMap<&'m str, (Shape, Option<String>)>,
    /// Definition name -> TypeScript type name.
    pub(crate) type_names: BTreeMap<String, String>,
    /// Definition name -> Zod schema constant.
    pub(crate) schema_names: BTreeMap<String, String>,
    pub(crate) functions: Vec<FunctionPlan<'m>>,
    pub(crate) contexts: Vec<ContextPlan<'m>>,
    pub(crate) channels: Vec<ChannelPlan<'m>>,
    pub(crate) forms: Vec<FormPlan<'m>>,
}

impl<'m> Plan<'m> {
    /// Parses every schema and names everything.
    pub(crate) fn new(m: &'m Manifest) -> Result<Self, Error> {
        if m.protocol != 1 {
            return Err(Error::Protocol(m.protocol));
        }
        let def_names: BTreeSet<String> = m.definitions.keys().cloned().collect();
        let parser = Parser {
            definitions: &def_names,
        };
        let parse = |schema: &serde_json::Value, place: String| {
            parser.parse(schema).map_err(|reason| Error::Schema { place, reason })
        };

        let mut ns = Namespace::default();
        for r in RESERVED {
            ns.claim(r, "the generated modules")?;
        }
        let mut definitions = BTreeMap::new();
        let mut type_names = BTreeMap::new();
        for (name, schema) in &m.definitions {
            let shape = parse(schema, format!("definition `{name}`"))?;
            definitions.insert(name.as_str(), (shape, crate::shape::description(schema)));
            type_names.insert(
                name.clone(),
                ns.claim_free(&identifier(name), &format!("definition `{name}`")),
            );
        }
        let resolve = |name: &str| definitions.get(name).map(|(s, _)| s.clone());

        let mut contexts = Vec::new();
        for (name, c) in &m.contexts {
            let owner = format!("context `{name}`");
            let params = parse(&c.params, format!("context `{name}` params"))?;
            let p = pascal(name);
            let params_type = ns.claim_free(&format!("{p}ContextParams"), &owner);
            let data_type = ns.claim_free(&format!("{p}ContextData"), &owner);
            let mut slots = Vec::new();
            for slot in &c.functions {
                let f = m.functions.get(slot).ok_or_else(|| Error::Schema {
                    place: owner.clone(),
                    reason: format!("its function `{slot}` is not in the manifest's functions"),
                })?;
                let output = parse(&f.output, format!("function `{slot}` output"))?;
                slots.push((slot.as_str(), output, None));
            }
            contexts.push(ContextPlan {
                name,
                auth: &c.auth,
                per_user: c.per_user,
                arg: arg_of(&params, &resolve),
                params,
                params_type,
                data_type,
                hook_ident: String::new(),
                fetch_ident: String::new(),
                slots,
            });
        }

        // Presence member info types (`ChatMemberInfo`), named beside the context types.
        let mut member_infos = BTreeMap::new();
        for (name, ch) in &m.channels {
            let Some(schema) = ch.member_info.as_ref().filter(|_| ch.presence) else {
                continue;
            };
            let shape = parse(schema, format!("channel `{name}` member_info"))?;
            let ty = ns.claim_free(&format!("{}MemberInfo", pascal(name)), &format!("channel `{name}`"));
            member_infos.insert(name.as_str(), ((shape, ty), crate::shape::description(schema)));
        }

        let mut schema_names = BTreeMap::new();
        for (name, ty) in &type_names {
            schema_names.insert(
                name.clone(),
                ns.claim_free(&format!("{ty}Schema"), &format!("definition `{name}`")),
            );
        }

        // Hooks: contexts first (they read best as `useUser`), then channels, then functions.
        for c in &mut contexts {
            let owner = format!("context `{}`", c.name);
            c.hook_ident = ns.claim(&format!("use{}", pascal(c.name)), &owner)?;
            if c.name == GLOBAL {
                for (slot, _, hook) in &mut c.slots {
                    *hook = Some(ns.claim(&format!("use{}", pascal(slot)), &format!("slot `{slot}` of `global`"))?);
                }
            }
        }
        let mut channels = Vec::new();
        for (name, ch) in &m.channels {
            let owner = format!("channel `{name}`");
            let params = parse(&ch.params, format!("channel `{name}` params"))?;
            channels.push(ChannelPlan {
                name,
                arg: arg_of(&params, &resolve),
                params,
                client_message: parse(&ch.client_message, format!("channel `{name}` client_message"))?,
                server_message: parse(&ch.server_message, format!("channel `{name}` server_message"))?,
                hook_ident: ns.claim(&format!("use{}Channel", pascal(name)), &owner)?,
                join_ident: String::new(),
                presence: None,
            });
        }
        for ch in &mut channels {
            if m.channels[ch.name].presence {
                let (member_info, member_info_description) = match member_infos.remove(ch.name) {
                    Some((info, description)) => (Some(info), description),
                    None => (None, None),
                };
                ch.presence = Some(PresencePlan {
                    hook_ident: ns.claim(
                        &format!("use{}Presence", pascal(ch.name)),
                        &format!("channel `{}`", ch.name),
                    )?,
                    member_info,
                    member_info_description,
                });
            }
        }
        // Forms: `use<Form>Form` before the functions' hooks (which give way with `Call`).
        let mut forms = Vec::new();
        for (name, form) in &m.forms {
            let owner = format!("form `{name}`");
            let part = |part: &str| {
                let f = format!("{name}.{part}");
                m.functions.get(&f).ok_or_else(|| Error::Schema {
                    place: owner.clone(),
                    reason: format!("its function `{f}` is not in the manifest's functions"),
                })
            };
            part("validate")?;
            let submit = part("submit")?;
            let p = pascal(name);
            forms.push(FormPlan {
                name,
                manifest: form,
                submit,
                fields: parse(&form.args, format!("form `{name}` args"))?,
                result: parse(&submit.output, format!("function `{name}.submit` output"))?,
                fields_type: ns.claim_free(&format!("{p}FormFields"), &owner),
                result_type: ns.claim_free(&format!("{p}FormResult"), &owner),
                hook_ident: ns.claim(&format!("use{p}Form"), &owner)?,
                definition_ident: ns.claim(&identifier(&format!("{}Form", camel(name))), &owner)?,
            });
        }
        let mut functions = Vec::new();
        for (name, f) in &m.functions {
            let owner = format!("function `{name}`");
            let args = parse(&f.args, format!("function `{name}` args"))?;
            let output = parse(&f.output, format!("function `{name}` output"))?;
            let p = pascal(name);
            // A context of the same name keeps `use<Name>`; the function's hook gets `Call`.
            let plain = format!("use{p}");
            let hook_ident = match f.context {
                Some(_) => None,
                None if ns.is_taken(&plain) => Some(ns.claim(&format!("use{p}Call"), &owner)?),
                None => Some(ns.claim(&plain, &owner)?),
            };
            functions.push(FunctionPlan {
                name,
                manifest: f,
                arg: arg_of(&args, &resolve),
                args,
                output,
                call_ident: String::new(),
                hook_ident,
            });
        }
        for f in &mut functions {
            f.call_ident = ns.claim(&format!("call{}", pascal(f.name)), &format!("function `{}`", f.name))?;
        }
        for c in &mut contexts {
            c.fetch_ident = ns.claim(
                &format!("fetch{}Context", pascal(c.name)),
                &format!("context `{}`", c.name),
            )?;
        }
        for ch in &mut channels {
            ch.join_ident = ns.claim(
                &format!("join{}Channel", pascal(ch.name)),
                &format!("channel `{}`", ch.name),
            )?;
        }
        Ok(Plan {
            version: &m.version,
            definitions,
            type_names,
            schema_names,
            functions,
            contexts,
            channels,
            forms,
        })
    }
}

fn arg_of(shape: &Shape, resolve: &dyn Fn(&str) -> Option<Shape>) -> Arg {
    if !shape.has_properties(resolve) {
        Arg::None
    } else if shape.accepts_empty_object(resolve) {
        Arg::Optional
    } else {
        Arg::Required
    }
}
