//! Generates TypeScript from a Mizan manifest (PROTOCOL.md section 7):
//! types, Zod schemas, `callX` functions and React hooks over the
//! `@mizan/client` runtime. The output is byte-for-byte stable: the same
//! manifest always gives the same files. See `docs/client.md`.
//!
//! ```
//! let manifest = mizan_protocol::Manifest::default().with_version();
//! let files = mizan_codegen::generate(&manifest).unwrap();
//! let names: Vec<_> = files.iter().map(|f| f.name).collect();
//! assert_eq!(names, ["api.ts", "hooks.ts", "index.ts", "schemas.ts", "types.ts"]);
//! ```
//!
//! # Layout
//!
//! - `source`: reading the manifest (file or `http://`)
//! - `shape`: JSON Schema -> `Shape`, the model both writers read
//! - `typescript`, `zod`: `Shape` -> type text, -> Zod expression
//! - `names`: case rules, safe identifiers, collision checks
//! - `plan`: every name of the output, decided once
//! - `emit`: the five modules (six with forms)

mod emit;
mod error;
mod names;
mod plan;
mod shape;
mod source;
mod typescript;
mod zod;

pub use emit::OutputFile;
pub use error::Error;
pub use source::read_manifest_text;

use mizan_protocol::Manifest;
use std::path::Path;

/// Generates the TypeScript modules for `manifest`.
pub fn generate(manifest: &Manifest) -> Result<Vec<OutputFile>, Error> {
    let plan = plan::Plan::new(manifest)?;
    Ok(emit::emit(&plan))
}

/// Reads a manifest from a file path or an `http://` URL.
pub fn load_manifest(source: &str) -> Result<Manifest, Error> {
    Ok(serde_json::from_str(&read_manifest_text(source)?)?)
}

/// Writes `files` into `dir` (created if missing), replacing files of the same names.
pub fn write_files(dir: &Path, files: &[OutputFile]) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Write {
        path: dir.display().to_string(),
        source: e,
    })?;
    for f in files {
        let path = dir.join(f.name);
        std::fs::write(&path, &f.contents).map_err(|e| Error::Write {
            path: path.display().to_string(),
            source: e,
        })?;
    }
    Ok(())
}
