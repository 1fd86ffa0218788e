//! Forms (PROTOCOL.md section 13), on the fixture's `contact` form: its
//! schema in declaration order, `validate` on any subset of the fields,
//! `submit` naming every invalid field at once or running the form's
//! handler (with its affects pushed and in the HTTP header), server-only
//! checks, and the manifest's `forms`.

mod support;

use mizan::protocol::ServerFrame;
use mizan::{Cx, Error, Form};
use serde_json::{Value, json};
use support::{Client, Server, error_code, result_json};

async fn call(client: &mut Client, function: &str, args: Value) -> ServerFrame {
    client.call(function, args).await
}

/// The `details.fields` of an `invalid_args` error.
fn field_errors(frame: &ServerFrame) -> Value {
    match frame {
        ServerFrame::Error { details, .. } if error_code(frame) == "invalid_args" => {
            details.as_ref().expect("details")["fields"].clone()
        }
        other => panic!("expected invalid_args, got {other:?}"),
    }
}

#[tokio::test]
async fn the_schema_lists_the_fields_in_declaration_order() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let schema = result_json(&call(&mut client, "contact.schema", json!({})).await);
    assert_eq!(schema["title"], "Contact us");
    assert_eq!(schema["submit_label"], "Send");
    assert_eq!(
        schema["fields"],
        json!([
            {"name": "name", "label": "Name", "kind": "text", "required": true, "min_length": 1, "max_length": 100},
            {"name": "email", "label": "Email", "kind": "email", "required": true},
            {"name": "message", "label": "Message", "kind": "textarea", "required": false, "max_length": 1000},
        ])
    );
}

#[tokio::test]
async fn validate_reports_the_fields_sent_or_every_field_when_none_were() {
    let server = Server::fixture().await;
    let mut client = server.client().await;
    let validate = async |client: &mut Client, args: Value| result_json(&call(client, "contact.validate", args).await);
    // One field sent: only it is reported, though the others are missing.
    let email = validate(&mut client, json!({"email": "not an address"})).await;
    assert_eq!(email["valid"], false);
    assert_eq!(
        email["errors"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["email"]
    );
    let fine = validate(&mut client, json!({"name": "Ann"})).await;
    assert_eq!(fine, json!({"valid": true, "errors": {}}));
    // None sent: every required field.
    let none = validate(&mut client, json!({})).await;
    assert_eq!(none["valid"], false);
    assert_eq!(
        none["errors"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["email", "name"]
    );
    // Every rule: lengths, and the optional field when it is sent.
    let all = validate(
        &mut client,
        json!({"name": "", "email": "a@b.example", "message": "x".repeat(1001)}),
    )
    .await;
    assert_eq!(
        all["errors"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["message", "name"]
    );
    // A value of the wrong type is that field's error, not a failed call.
    let typed = validate(&mut client, json!({"name": 5})).await;
    assert!(
        typed["errors"]["name"][0].as_str().unwrap().contains("invalid type"),
        "{typed}"
    );
}

#[tokio::test]
async fn submit_names_every_invalid_field_or_runs_the_form_and_its_affects() {
    let server = Server::fixture().await;
    let mut watcher = server.client().await;
    let id = watcher
        .request(json!({"type": "watch", "context": "notifications", "params": {}}))
        .await;
    assert!(matches!(watcher.reply(id).await, ServerFrame::Bundle { .. }));
    let mut client = server.client().await;
    let refused = call(&mut client, "contact.submit", json!({"name": "", "email": "nope"})).await;
    let fields = field_errors(&refused);
    assert_eq!(
        fields.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["email", "name"]
    );
    watcher.assert_silent(std::time::Duration::from_millis(100)).await;
    let missing = call(&mut client, "contact.submit", json!({"email": "ann@example.com"})).await;
    assert_eq!(field_errors(&missing)["name"][0], "This field is required.");
    // Valid: the handler runs, its affects reach the watcher.
    let sent = call(
        &mut client,
        "contact.submit",
        json!({"name": "Ann", "email": "ann@example.com", "message": "hello"}),
    )
    .await;
    assert_eq!(result_json(&sent), json!({"sent": true}));
    assert!(matches!(watcher.push().await, ServerFrame::Invalidate(e) if e.context == "notifications"));
    let id = client
        .request(json!({"type": "fetch", "context": "notifications", "params": {}}))
        .await;
    let ServerFrame::Bundle { data, .. } = client.reply(id).await else {
        panic!("a bundle")
    };
    assert!(data.get().contains("contact from Ann"), "{}", data.get());
    // Over HTTP, the same, with the affects in the header.
    let response = support::post(server.http_url("/api/mizan/call/contact.submit"))
        .body(json!({"name": "Bob", "email": "bob@example.com"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = response.headers()["x-mizan-invalidate"].to_str().unwrap().to_owned();
    assert!(header.contains("notifications"), "{header}");
    let refused = support::post(server.http_url("/api/mizan/call/contact.submit"))
        .body(r#"{"name":"","email":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["details"]["fields"].as_object().unwrap().len(), 2, "{body}");
}

/// A sign-up form whose `email` has a rule only the server can check.
#[derive(serde::Deserialize, schemars::JsonSchema, garde::Validate)]
struct Signup {
    #[garde(email)]
    email: String,
    #[garde(length(chars, min = 8))]
    password: String,
}

fn signup() -> Form {
    Form::new(
        "signup",
        |_: Cx, signup: Signup| async move { Ok::<_, Error>(signup.email) },
    )
    .kind("password", mizan::FieldKind::Password)
    .label("email", "E-mail address")
    .check("email", |_: Cx, email: Value| async move {
        Ok((email == "taken@example.com").then(|| "already registered".to_owned()))
    })
}

#[tokio::test]
async fn server_only_checks_run_once_a_field_passes_its_rules() {
    let server = Server::start(mizan::Mizan::builder().form(signup())).await;
    let mut client = server.client().await;
    let validate = result_json(&call(&mut client, "signup.validate", json!({"email": "taken@example.com"})).await);
    assert_eq!(validate["errors"], json!({"email": ["already registered"]}));
    // Not run on a value its rules refuse.
    let invalid = result_json(&call(&mut client, "signup.validate", json!({"email": "nope"})).await);
    assert_eq!(invalid["errors"]["email"].as_array().unwrap().len(), 1);
    assert_ne!(invalid["errors"]["email"][0], "already registered");
    let refused = call(
        &mut client,
        "signup.submit",
        json!({"email": "taken@example.com", "password": "short"}),
    )
    .await;
    let fields = field_errors(&refused);
    assert_eq!(fields["email"], json!(["already registered"]));
    assert_eq!(fields["password"].as_array().unwrap().len(), 1);
    let done = call(
        &mut client,
        "signup.submit",
        json!({"email": "new@example.com", "password": "long enough"}),
    )
    .await;
    assert_eq!(result_json(&done), "new@example.com");
    let schema = result_json(&call(&mut client, "signup.schema", json!({})).await);
    assert_eq!(schema["title"], "signup");
    assert_eq!(schema["submit_label"], "Submit");
    assert_eq!(schema["fields"][0]["label"], "E-mail address");
    assert_eq!(schema["fields"][1]["kind"], "password");
}

#[tokio::test]
async fn the_manifest_lists_forms_with_their_fields_and_schema() {
    let server = Server::fixture().await;
    let manifest: Value = serde_json::from_str(&server.get_text("/api/mizan/manifest").await).unwrap();
    let contact = &manifest["forms"]["contact"];
    assert_eq!(contact["title"], "Contact us");
    assert_eq!(contact["fields"].as_array().unwrap().len(), 3);
    assert_eq!(contact["args"], json!({"$ref": "#/definitions/Contact"}));
    let definition = &manifest["definitions"]["Contact"];
    assert_eq!(definition["properties"]["email"]["format"], "email");
    assert_eq!(definition["properties"]["name"]["maxLength"], 100);
    assert_eq!(definition["required"], json!(["name", "email"]));
    assert!(manifest["functions"]["contact.submit"]["affects"] == json!(["notifications"]));
}

#[test]
fn a_form_with_a_bad_name_is_refused() {
    let form = Form::new("Contact Us", |_: Cx, s: Signup| async move { Ok::<_, Error>(s.email) });
    let err = match mizan::Mizan::builder().form(form).build() {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("Contact Us"), "{err}");
}
