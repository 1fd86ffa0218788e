//! The generated TypeScript for committed manifests, compared byte for byte
//! with `tests/snapshots/<name>/`. `UPDATE_SNAPSHOTS=1` rewrites them.

use mizan_codegen::{generate, load_manifest};
use std::path::Path;

fn check(manifest_path: &str, snapshot_dir: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = load_manifest(root.join(manifest_path).to_str().unwrap()).unwrap();
    let files = generate(&manifest).unwrap();
    // Stable: generating twice gives the same bytes.
    assert_eq!(files, generate(&manifest).unwrap());
    let dir = root.join(snapshot_dir);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        mizan_codegen::write_files(&dir, &files).unwrap();
        return;
    }
    for f in &files {
        let path = dir.join(f.name);
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)", path.display()));
        assert!(
            expected == f.contents,
            "{} differs from the generated code; if the change is intended, run\n  UPDATE_SNAPSHOTS=1 cargo test -p mizan-codegen\n--- generated ---\n{}",
            path.display(),
            f.contents
        );
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let generated: Vec<&str> = files.iter().map(|f| f.name).collect();
    assert_eq!(on_disk, generated, "stale files in {}", dir.display());
}

#[test]
fn fixture_manifest() {
    check("../tests/snapshots/fixture.manifest.json", "tests/snapshots/fixture");
}

/// Every schema shape the generator knows, in one manifest.
#[test]
fn shapes_manifest() {
    check("tests/manifests/shapes.json", "tests/snapshots/shapes");
}

#[test]
fn the_cli_writes_the_files() {
    let out = std::env::temp_dir().join(format!("mizan-codegen-cli-{}", std::process::id()));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_mizan-codegen"))
        .args([
            "--manifest",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/snapshots/fixture.manifest.json"),
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let expected =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/fixture/hooks.ts"))
            .unwrap();
    assert_eq!(std::fs::read_to_string(out.join("hooks.ts")).unwrap(), expected);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_manifests_name_the_problem() {
    let mut m: mizan_protocol::Manifest = serde_json::from_str(
        r##"{"protocol":1,"version":"x","functions":{"f":{"args":{"$ref":"#/definitions/Gone"},"output":true,"auth":"public","context":null,"affects":[],"merge":[],"transport":["ws"]}},"contexts":{},"channels":{},"definitions":{}}"##,
    )
    .unwrap();
    let err = generate(&m).unwrap_err().to_string();
    assert_eq!(
        err,
        "function `f` args: `$ref` `#/definitions/Gone` names no definition of the manifest"
    );
    m.protocol = 2;
    assert_eq!(
        generate(&m).unwrap_err().to_string(),
        "the manifest is for protocol 2; this generator knows protocol 1"
    );
}

#[test]
fn a_missing_file_is_an_error() {
    let err = load_manifest("/nonexistent/manifest.json").unwrap_err().to_string();
    assert!(
        err.starts_with("cannot read the manifest /nonexistent/manifest.json"),
        "{err}"
    );
}

/// A presence channel gets `use<Channel>Presence`, typed with its member
/// info when it has one; a channel without presence gets neither.
#[test]
fn presence_hooks_and_their_names() {
    let manifest = |channels: &str, functions: &str| -> mizan_protocol::Manifest {
        serde_json::from_str(&format!(
            r#"{{"protocol":1,"version":"x","functions":{{{functions}}},"contexts":{{}},"channels":{{{channels}}},"definitions":{{}}}}"#
        ))
        .unwrap()
    };
    let file = |files: &[mizan_codegen::OutputFile], name: &str| {
        files.iter().find(|f| f.name == name).unwrap().contents.clone()
    };
    let plain = r#""room":{"params":{"type":"object"},"client_message":true,"server_message":true}"#;
    let files = generate(&manifest(plain, "")).unwrap();
    assert!(!file(&files, "hooks.ts").contains("Presence"));
    assert!(!file(&files, "types.ts").contains("MemberInfo"));

    let with_info = r#""room":{"params":{"type":"object"},"client_message":true,"server_message":true,"presence":true,"member_info":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}"#;
    let files = generate(&manifest(with_info, "")).unwrap();
    let hooks = file(&files, "hooks.ts");
    assert!(
        hooks.contains("export function useRoomPresence(params: { [key: string]: unknown } = {}): M.PresenceResult<T.RoomMemberInfo> {"),
        "{hooks}"
    );
    assert!(file(&files, "types.ts").contains("export type RoomMemberInfo = {\n  name: string;\n};"));
    assert!(file(&files, "schemas.ts").contains("    memberInfo: z.object({\n      name: z.string(),\n    }),\n"));
    assert!(file(&files, "api.ts").contains("M.ChannelSubscription<unknown, unknown, T.RoomMemberInfo>"));

    let without_info =
        r#""room":{"params":{"type":"object"},"client_message":true,"server_message":true,"presence":true}"#;
    let files = generate(&manifest(without_info, "")).unwrap();
    assert!(file(&files, "hooks.ts").contains("M.usePresence<undefined>(\"room\", params)"));
    assert!(!file(&files, "types.ts").contains("MemberInfo"));

    // A function of the same name gets `use<Name>Call`, as beside a context hook.
    let function = r#""room_presence":{"args":true,"output":true,"auth":"public","context":null,"affects":[],"merge":[],"transport":["ws"]}"#;
    let files = generate(&manifest(without_info, function)).unwrap();
    assert!(file(&files, "hooks.ts").contains("export function useRoomPresenceCall("));
    // A context of the same name is a clash.
    let mut m = manifest(without_info, "");
    m.contexts.insert(
        "room_presence".into(),
        serde_json::from_str(r#"{"params":{"type":"object"},"functions":[],"auth":"public","per_user":false}"#)
            .unwrap(),
    );
    assert_eq!(
        generate(&m).unwrap_err().to_string(),
        "context `room_presence` and channel `room` both generate `useRoomPresence`: rename one of them on the server"
    );
}
