//! What can go wrong while reading a manifest or generating from it.

/// A generator error; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest file could not be read.
    #[error("cannot read the manifest {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The manifest could not be fetched over HTTP.
    #[error("cannot fetch the manifest from {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The manifest is not valid JSON of the expected shape.
    #[error("the manifest is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    /// The manifest speaks another protocol version.
    #[error("the manifest is for protocol {0}; this generator knows protocol 1")]
    Protocol(u32),
    /// A schema could not be turned into TypeScript.
    #[error("{place}: {reason}")]
    Schema {
        /// Where the schema is (e.g. `function \`echo\` args`).
        place: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two names of the manifest give the same TypeScript identifier.
    #[error("{first} and {second} both generate `{ident}`: rename one of them on the server")]
    Collision {
        /// The first item.
        first: String,
        /// The second item.
        second: String,
        /// The identifier they share.
        ident: String,
    },
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}
