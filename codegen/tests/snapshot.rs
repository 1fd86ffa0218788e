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

/// A form gets `use<Form>Form` and `<form>Form` in `forms.ts`, its types in
/// `types.ts` and `formFields.<form>`; its three functions keep their calls
/// and call hooks; a manifest without forms gets no `forms.ts` at all.
#[test]
fn forms_and_their_names() {
    let part = |args: &str, output: &str| {
        format!(
            r#"{{"args":{args},"output":{output},"auth":"public","context":null,"affects":[],"merge":[],"transport":["ws","http"]}}"#
        )
    };
    let manifest = |forms: &str, functions: &[(&str, String)]| -> mizan_protocol::Manifest {
        let functions: Vec<String> = functions.iter().map(|(n, f)| format!(r#""{n}":{f}"#)).collect();
        serde_json::from_str(&format!(
            r#"{{"protocol":1,"version":"x","functions":{{{}}},"contexts":{{}},"channels":{{}},"forms":{{{forms}}},"definitions":{{}}}}"#,
            functions.join(",")
        ))
        .unwrap()
    };
    let file = |files: &[mizan_codegen::OutputFile], name: &str| {
        files.iter().find(|f| f.name == name).map(|f| f.contents.clone())
    };
    let fields =
        r#"{"type":"object","properties":{"code":{"type":"string","pattern":"^[0-9]{4}$"}},"required":["code"]}"#;
    let form = format!(
        r#""pin":{{"title":"PIN","submit_label":"Go","fields":[{{"required":true,"name":"code","kind":"text","label":"Code","pattern":"^[0-9]{{4}}$"}}],"args":{fields}}}"#
    );
    let parts = [
        ("pin.schema", part("true", "true")),
        ("pin.validate", part(r#"{"type":"object"}"#, "true")),
        ("pin.submit", part(fields, r#"{"type":"boolean"}"#)),
    ];
    let files = generate(&manifest(&form, &parts)).unwrap();
    let forms = file(&files, "forms.ts").unwrap();
    assert!(
        forms.contains("export function usePinForm(options?: M.FormOptions<T.PinFormFields>): M.FormResult<T.PinFormFields, T.PinFormResult> {"),
        "{forms}"
    );
    // The field description in a fixed order, whatever the manifest's.
    assert!(
        forms.contains(r#"{ name: "code", label: "Code", kind: "text", required: true, pattern: "^[0-9]{4}$" },"#),
        "{forms}"
    );
    assert!(forms.contains("  schema: formFields.pin,\n"), "{forms}");
    // Args written inline (not a `$ref`) are a schema of their own in `formFields`.
    let schemas = file(&files, "schemas.ts").unwrap();
    assert!(
        schemas.contains("  pin: z.object({\n    code: z.string().regex(new RegExp(\"^[0-9]{4}$\")),\n  }),\n"),
        "{schemas}"
    );
    let types = file(&files, "types.ts").unwrap();
    assert!(
        types.contains("export type PinFormFields = {\n  code: string;\n};"),
        "{types}"
    );
    assert!(types.contains("export type PinFormResult = boolean;"), "{types}");
    let hooks = file(&files, "hooks.ts").unwrap();
    // The form's hook is in forms.ts only; its functions' hooks stay.
    assert!(
        hooks.contains("export function usePinSubmit(") && !hooks.contains("usePinForm"),
        "{hooks}"
    );
    assert!(
        file(&files, "api.ts")
            .unwrap()
            .contains("export function callPinSubmit(")
    );
    assert!(file(&files, "index.ts").unwrap().contains("`./forms.js`"));

    // Without forms: the five files, and no word of forms in them.
    let files = generate(&manifest("", &parts)).unwrap();
    assert_eq!(files.len(), 5);
    assert!(file(&files, "index.ts").is_some_and(|i| !i.contains("forms")));
    assert!(!file(&files, "types.ts").unwrap().contains("PinForm"));

    // A form without its submit function cannot be generated.
    let err = generate(&manifest(&form, &parts[..2])).unwrap_err().to_string();
    assert_eq!(
        err,
        "form `pin`: its function `pin.submit` is not in the manifest's functions"
    );
    // A function hook of the same name gives way (`Call`); a context is a clash.
    let mut with_fn = parts.to_vec();
    with_fn.push(("pin_form", part("true", "true")));
    let files = generate(&manifest(&form, &with_fn)).unwrap();
    assert!(
        file(&files, "hooks.ts")
            .unwrap()
            .contains("export function usePinFormCall(")
    );
    let mut m = manifest(&form, &parts);
    m.contexts.insert(
        "pin_form".into(),
        serde_json::from_str(r#"{"params":{"type":"object"},"functions":[],"auth":"public","per_user":false}"#)
            .unwrap(),
    );
    assert_eq!(
        generate(&m).unwrap_err().to_string(),
        "context `pin_form` and form `pin` both generate `usePinForm`: rename one of them on the server"
    );
}
