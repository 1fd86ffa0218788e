//! The schema manifest: served, deterministic, and as committed.
//!
//! `tests/snapshots/fixture.manifest.json` is the fixture's manifest; the
//! TypeScript generator's tests read it. After an intended change, rewrite
//! it with `UPDATE_SNAPSHOTS=1 cargo test --test manifest`.

mod support;

use mizan::protocol::Manifest;
use serde_json::json;
use support::Server;

const SNAPSHOT: &str = "tests/snapshots/fixture.manifest.json";

#[tokio::test]
async fn the_manifest_is_served_deterministic_and_as_committed() {
    let server = Server::fixture().await;
    let served = server.get_text("/api/mizan/manifest").await;
    let built = server.app.manifest().to_json();
    assert_eq!(served, built);
    let again = support::fixture::builder(support::SECRET)
        .build()
        .unwrap()
        .manifest()
        .to_json();
    assert_eq!(built, again, "the same code gives the same bytes");

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, format!("{built}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        committed.trim_end(),
        built,
        "the fixture's manifest changed: review, then UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn the_fixture_manifest_describes_section_8() {
    let m: Manifest = support::fixture::builder(support::SECRET).build().unwrap().manifest();
    assert_eq!(m.protocol, 1);
    let echo = &m.functions["echo"];
    assert_eq!((echo.auth.as_str(), echo.context.as_deref()), ("public", None));
    assert_eq!(echo.transport, ["ws", "http"]);
    assert_eq!(m.functions["whoami"].auth, "user");
    assert_eq!(m.functions["staff_only"].auth, "staff");
    assert_eq!(m.functions["update_name"].affects, ["user_profile"]);
    assert_eq!(m.functions["rename_user"].merge, ["user"]);
    assert_eq!(m.functions["user_profile"].context.as_deref(), Some("user"));
    let user = &m.contexts["user"];
    assert_eq!(user.functions, ["user_orders", "user_profile"]);
    assert_eq!(user.params["properties"]["user_id"]["type"], "integer");
    assert_eq!(m.contexts["global"].functions, ["current_user"]);
    let chat = &m.channels["chat"];
    let said = &chat.server_message["$ref"];
    let said = &m.definitions[said.as_str().unwrap().trim_start_matches("#/definitions/")];
    assert_eq!(said["properties"]["text"], json!({"type": "string"}));
    assert_eq!(said["required"], json!(["text", "user"]));
    // Every ref points at a definition.
    let text = m.to_json();
    for piece in text.split("\"#/definitions/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(m.definitions.contains_key(name), "dangling ref {name}");
    }
}

/// Building a node to print its manifest (for the generator) is not running
/// it: the insecure-setup banner is for a node that serves.
#[test]
fn the_insecure_banner_is_for_serving_not_for_printing_the_manifest() {
    let printed = std::process::Command::new(support::processes::fixture_binary())
        .arg("--print-manifest")
        .output()
        .expect("the fixture runs");
    assert!(printed.status.success());
    let stderr = String::from_utf8_lossy(&printed.stderr);
    assert!(!stderr.contains("INSECURE SETUP"), "{stderr}");
    let manifest: Manifest = serde_json::from_slice(&printed.stdout).expect("the manifest is JSON");
    assert!(manifest.functions.contains_key("echo"));

    let serving = support::processes::Node::start(&[]);
    assert!(serving.log().contains("INSECURE SETUP"), "{}", serving.log());
}
