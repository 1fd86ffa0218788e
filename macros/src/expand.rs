//! The expansion: a `const` holding a `FunctionDecl` that builds the
//! `Function` from the user's fn and a generated args struct.

use crate::attr::{Auth, FunctionAttr};
use crate::signature::Arg;
use proc_macro2::{Ident, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, ReturnType, Visibility};

/// Expands a checked fn into its declaration.
pub(crate) fn expand(attr: FunctionAttr, mut item: ItemFn, args: Vec<Arg>) -> syn::Result<TokenStream> {
    let channels = quote!(::mizan::__private::mizan_channels);
    let name = item.sig.ident.clone();
    let wire_name = name.unraw().to_string();
    let args_struct = format_ident!("{}Args", pascal_case(&wire_name), span = name.span());
    refuse_name_clash(&item, &args_struct)?;

    // The const carries what documents or gates it; the nested fn keeps
    // the rest (e.g. `#[tracing::instrument]`), and stays private to the
    // block it lives in.
    let vis = std::mem::replace(&mut item.vis, Visibility::Inherited);
    let (const_attrs, fn_attrs): (Vec<Attribute>, Vec<Attribute>) = item.attrs.drain(..).partition(belongs_on_const);
    item.attrs = fn_attrs;

    let fields = args
        .iter()
        .map(|Arg { ident, ty, attrs }| quote!(#(#attrs)* #ident: #ty));
    let arg_names = args.iter().map(|a| &a.ident);

    // Spanned at the return type, ascribing the call's result puts a wrong
    // error type's mismatch there rather than deep inside `Function::new`'s
    // bounds.
    let output_span = match &item.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => name.span(),
    };
    let handler = quote_spanned! {output_span=>
        |__mizan_cx: #channels::Cx, __mizan_args: #args_struct| async move {
            let __mizan_result = #name(&__mizan_cx, #(__mizan_args.#arg_names),*).await;
            let __mizan_result: ::core::result::Result<_, #channels::Error> = __mizan_result;
            __mizan_result
        }
    };

    // `Function::new` is `#[track_caller]`: spanning the call at the
    // signature makes registry build errors point at the declaration, and
    // its unmet bounds (an output that is not `Serialize`, a future that is
    // not `Send`) at the return type.
    let new = quote_spanned! {output_span=>
        ::mizan::__private::mizan_channels::Function::new(#wire_name, #handler)
    };
    let context = attr.context.iter().map(|c| quote!(.context(#c)));
    let per_user = attr.per_user.map(|_| quote!(.per_user()));
    let affects = attr.affects.iter().map(|a| quote!(.affects(#a)));
    let merge = attr.merge.iter().map(|m| quote!(.merge(#m)));
    let access = match &attr.auth {
        None => quote!(#channels::Access::Public),
        Some(Auth::Level(level, span)) => {
            let variant = Ident::new(level, *span);
            quote!(#channels::Access::#variant)
        }
        Some(Auth::Custom(path)) => quote_spanned!(path.span()=> #channels::Access::custom(#path)),
    };

    Ok(quote! {
        #(#const_attrs)*
        #[allow(non_upper_case_globals)]
        #vis const #name: #channels::FunctionDecl = #channels::FunctionDecl::new(|| {
            #item

            #[derive(::mizan::__private::serde::Deserialize, ::mizan::__private::schemars::JsonSchema)]
            #[serde(crate = "::mizan::__private::serde")]
            #[schemars(crate = "::mizan::__private::schemars")]
            struct #args_struct {
                #(#fields,)*
            }

            #new
            #(#context)*
            #per_user
            #(#affects)*
            #(#merge)*
            .access(#access)
        });
    })
}

/// Doc comments, `cfg`s and lint levels apply to the const (lint levels
/// reach the nested fn through it); anything else is the fn's.
fn belongs_on_const(attr: &Attribute) -> bool {
    let path = attr.path();
    path.is_ident("doc")
        || path.is_ident("cfg")
        || path.is_ident("cfg_attr")
        || path.is_ident("deprecated")
        || crate::is_lint_attr(attr)
}

/// `update_profile` -> `UpdateProfile`.
fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .filter_map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_uppercase().chain(chars))
        })
        .flatten()
        .collect()
}

/// The generated struct sits in the same block as the user's fn, so a type
/// of the same name mentioned in the fn would silently mean the struct.
fn refuse_name_clash(item: &ItemFn, args_struct: &Ident) -> syn::Result<()> {
    fn find(tokens: TokenStream, name: &Ident) -> Option<proc_macro2::Span> {
        tokens.into_iter().find_map(|tree| match tree {
            TokenTree::Ident(ident) if ident == *name => Some(ident.span()),
            TokenTree::Group(group) => find(group.stream(), name),
            _ => None,
        })
    }
    match find(quote!(#item), args_struct) {
        Some(span) => Err(syn::Error::new(
            span,
            format!(
                "`{args_struct}` is the name of the args struct `#[mizan::function]` generates for this fn; \
                 rename this type"
            ),
        )),
        None => Ok(()),
    }
}
