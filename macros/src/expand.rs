//! The expansion: the user's fn, unchanged (callable from Rust, in tests),
//! and beside it a `const` in upper case holding a `FunctionDecl` that
//! builds the `Function` from the fn and a generated args struct.

use crate::attr::{Auth, FunctionAttr};
use crate::signature::Arg;
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, ReturnType};

/// The declaration's name: `user_profile` -> `USER_PROFILE`.
pub(crate) fn decl_name(name: &Ident) -> Ident {
    format_ident!("{}", name.unraw().to_string().to_uppercase(), span = name.span())
}

/// Expands a checked fn into itself and its declaration.
pub(crate) fn expand(attr: FunctionAttr, item: ItemFn, args: Vec<Arg>) -> syn::Result<TokenStream> {
    let channels = quote!(::mizan::__private::mizan_channels);
    let name = item.sig.ident.clone();
    let wire_name = name.unraw().to_string();
    let decl = decl_name(&name);
    let args_struct = format_ident!("{}Args", pascal_case(&wire_name), span = name.span());
    let vis = &item.vis;
    // Whatever gates the fn gates its declaration too.
    let gates = item.attrs.iter().filter(|a| is_gate(a));
    let doc = match attr.route {
        None => format!(
            " The Mizan declaration of [`{wire_name}`]: register it with \
             `Mizan::builder().functions([{decl}])`."
        ),
        Some(_) => format!(
            " The Mizan view of [`{wire_name}`]: register it with \
             `Mizan::builder().views([{decl}])`."
        ),
    };

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
    let new = match &attr.route {
        None => quote_spanned! {output_span=>
            ::mizan::__private::mizan_channels::Function::new(#wire_name, #handler)
        },
        Some(route) => quote_spanned! {output_span=>
            ::mizan::View::new(#wire_name, #route, #handler)
        },
    };
    // A view's args are also encoded back to JSON: the scope of its affects.
    let (decl_type, serialize) = match &attr.route {
        None => (quote!(#channels::FunctionDecl), quote!()),
        Some(_) => (quote!(::mizan::ViewDecl), quote!(::mizan::__private::serde::Serialize,)),
    };
    let context = attr.context.iter().map(|c| quote!(.context(#c)));
    let per_user = attr.per_user.map(|_| quote!(.per_user()));
    let affects = attr.affects.iter().map(|a| quote!(.affects(#a)));
    let merge = attr.merge.iter().map(|m| quote!(.merge(#m)));
    let broad = attr.broad.map(|_| quote!(.broad()));
    let rev = attr.rev.iter().map(|n| quote!(.rev(#n)));
    let describe = description(&item.attrs).map(|d| quote!(.describe(#d)));
    let access = match &attr.auth {
        None => quote!(#channels::Access::Public),
        Some(Auth::Level(level, span)) => {
            let variant = Ident::new(level, *span);
            quote!(#channels::Access::#variant)
        }
        Some(Auth::Custom(path)) => quote_spanned!(path.span()=> #channels::Access::custom(#path)),
    };

    Ok(quote! {
        #item

        #(#gates)*
        #[doc = #doc]
        #vis const #decl: #decl_type = #decl_type::new(|| {
            #[derive(::mizan::__private::serde::Deserialize, #serialize ::mizan::__private::schemars::JsonSchema)]
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
            #broad
            #(#rev)*
            #describe
            .access(#access)
        });
    })
}

/// The fn's doc comment, its lines joined (the leading space of each
/// `///` line dropped), or `None` when it has none.
fn description(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value: syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s), ..
                }),
                ..
            }) => Some(s.value()),
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').map(str::to_owned).unwrap_or(line))
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// `cfg`s apply to the declaration as they do to the fn.
fn is_gate(attr: &Attribute) -> bool {
    attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr")
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
