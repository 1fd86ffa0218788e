//! Checking the annotated fn: `async`, `&Cx` first, then plain named args.

use crate::Errors;
use syn::{Attribute, FnArg, Ident, ItemFn, Pat, PatType, ReturnType, Type};

/// What a server function should look like, quoted in errors.
const SHAPE: &str = "`async fn name(cx: &Cx, arg: Type, ..) -> Result<Output, mizan::Error>`";

/// One arg after the context: a field of the generated args struct.
pub(crate) struct Arg {
    /// The parameter's name, which is the field's name on the wire.
    pub(crate) ident: Ident,
    /// Its type, decoded from JSON.
    pub(crate) ty: Type,
    /// Attributes moved from the parameter to the field (doc comments,
    /// `#[serde(..)]`, `#[schemars(..)]`).
    pub(crate) attrs: Vec<Attribute>,
}

/// Checks `item` and returns its args (all parameters but the context).
/// Attributes meant for the args struct are removed from the parameters.
pub(crate) fn check(item: &mut ItemFn) -> syn::Result<Vec<Arg>> {
    let mut errors = Errors::default();
    let sig = &mut item.sig;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            format!("`#[mizan::function]` needs an `async fn`: write {SHAPE}"),
        ));
    }
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(constness.span, "a server function cannot be `const`"));
    }
    if let Some(unsafety) = &sig.unsafety {
        errors.push(syn::Error::new(
            unsafety.span,
            "a server function cannot be `unsafe`: it is called with args decoded from any client",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "a server function cannot have an `extern` ABI",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a server function cannot be generic: its args are decoded from JSON into concrete types, \
             so remove the `<..>` and name the types",
        ));
    }
    if let Some(where_clause) = &sig.generics.where_clause {
        errors.push(syn::Error::new_spanned(
            where_clause,
            "a server function cannot have a `where` clause: its args and output are concrete types",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            variadic,
            "a server function cannot be variadic",
        ));
    }
    if let ReturnType::Default = sig.output {
        errors.push(syn::Error::new(
            sig.paren_token.span.close(),
            "missing return type: a server function returns `Result<T, mizan::Error>` \
             where `T: Serialize + JsonSchema`, e.g. `-> Result<Profile, Error>`",
        ));
    }

    // `self` is refused wherever it is; the context is the first of the
    // other parameters.
    let paren = sig.paren_token.span.join();
    let mut params = Vec::new();
    for input in &mut sig.inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(self_error(receiver)),
            FnArg::Typed(param) => params.push(param),
        }
    }
    let mut params = params.into_iter();
    match params.next() {
        None => errors.push(syn::Error::new(
            paren,
            format!("the first parameter must be the request context `cx: &Cx`: write {SHAPE}"),
        )),
        Some(first) => {
            // A context further down gets its own "move it first" error.
            let later_cx = params.as_slice().iter().any(|p| is_cx_ref(&p.ty));
            match check_cx(first) {
                Err(_) if later_cx => {}
                Err(e) => errors.push(e),
                Ok(()) => {}
            }
        }
    }

    let mut args = Vec::new();
    for param in params {
        match arg(param) {
            Ok(arg) => args.push(arg),
            Err(e) => errors.push(e),
        }
    }
    errors.finish(args)
}

fn self_error(receiver: &syn::Receiver) -> syn::Error {
    syn::Error::new_spanned(
        receiver,
        format!(
            "a server function cannot take `self`: write a free function {SHAPE} \
             and reach shared state through a `static` or the context"
        ),
    )
}

/// The context parameter: a plain name (or `_`) of type `&Cx`.
fn check_cx(param: &PatType) -> syn::Result<()> {
    if !matches!(&*param.pat, Pat::Ident(p) if p.subpat.is_none()) && !matches!(&*param.pat, Pat::Wild(_)) {
        return Err(syn::Error::new_spanned(
            &param.pat,
            "name the request context with a plain identifier: `cx: &Cx`",
        ));
    }
    match &*param.ty {
        ty if is_cx_ref(ty) => Ok(()),
        ty if is_cx_path(ty) => Err(syn::Error::new_spanned(
            ty,
            "take the request context by reference: `cx: &Cx`",
        )),
        ty => Err(syn::Error::new_spanned(
            ty,
            format!("the first parameter must be the request context `cx: &Cx`, then the args: write {SHAPE}"),
        )),
    }
}

/// `&Cx` (not `&mut`).
fn is_cx_ref(ty: &Type) -> bool {
    matches!(ty, Type::Reference(r) if r.mutability.is_none() && is_cx_path(&r.elem))
}

/// `Cx`, `mizan::Cx`, ...: types cannot be resolved here, so any path
/// ending in `Cx` counts.
fn is_cx_path(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == "Cx"),
        _ => false,
    }
}

/// An arg: a plain name and an owned type. Its doc comments and serde or
/// schemars attributes move to the args struct's field; lint attributes
/// stay on the parameter.
fn arg(param: &mut PatType) -> syn::Result<Arg> {
    let ident = match &*param.pat {
        Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => p.ident.clone(),
        other => {
            return Err(syn::Error::new_spanned(
                other,
                "write each arg as `name: Type`: the name is the arg's field in the JSON args object; \
                 destructure it inside the body instead",
            ));
        }
    };
    match &*param.ty {
        ty if is_cx_ref(ty) => {
            return Err(syn::Error::new_spanned(
                &param.ty,
                "the request context must be the first parameter: move `cx: &Cx` before the args",
            ));
        }
        Type::Reference(_) => {
            return Err(syn::Error::new_spanned(
                &param.ty,
                "args are decoded from JSON into owned values: use an owned type \
                 (`String` instead of `&str`, `Vec<T>` instead of `&[T]`)",
            ));
        }
        Type::ImplTrait(_) => {
            return Err(syn::Error::new_spanned(
                &param.ty,
                "args are decoded from JSON into concrete types: name the type instead of `impl Trait`",
            ));
        }
        _ => {}
    }
    let mut moved = Vec::new();
    let mut kept = Vec::new();
    for attr in param.attrs.drain(..) {
        if attr.path().is_ident("cfg") {
            return Err(syn::Error::new_spanned(
                attr,
                "`#[cfg]` on an arg is not supported: the arg is a field of the args object in every build",
            ));
        }
        if crate::is_lint_attr(&attr) {
            kept.push(attr);
        } else {
            moved.push(attr);
        }
    }
    param.attrs = kept;
    Ok(Arg {
        ident,
        ty: (*param.ty).clone(),
        attrs: moved,
    })
}
