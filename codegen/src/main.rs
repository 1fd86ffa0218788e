//! `mizan-codegen --manifest <file or http:// URL> --out <dir>`: writes the
//! TypeScript client of a Mizan server.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Generates TypeScript (types, Zod schemas, calls, React hooks) from a Mizan manifest.
#[derive(Parser)]
#[command(name = "mizan-codegen", version)]
struct Args {
    /// The manifest: a JSON file, or a running server's `http://HOST:PORT/api/mizan/manifest`
    /// (an origin or the mount alone is enough).
    #[arg(long, value_name = "FILE|URL")]
    manifest: String,
    /// The directory to write `types.ts`, `schemas.ts`, `api.ts`, `hooks.ts` and `index.ts` into
    /// (and `forms.ts` when the server has forms).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = || -> Result<usize, mizan_codegen::Error> {
        let manifest = mizan_codegen::load_manifest(&args.manifest)?;
        let files = mizan_codegen::generate(&manifest)?;
        mizan_codegen::write_files(&args.out, &files)?;
        Ok(files.len())
    };
    match run() {
        Ok(n) => {
            println!("mizan-codegen: wrote {n} files to {}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mizan-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}
