//! Loading settings: defaults, overridden by a TOML file, overridden by
//! `MIZAN_*` environment variables.

use super::ServerConfig;
use std::path::Path;

/// Settings an environment variable gives as written, never read as JSON:
/// a key or secret of digits must stay text (and keep every digit).
const VERBATIM: [&str; 2] = ["api_key", "cache_secret"];

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or names an unknown setting.
    #[error("bad settings{origin}: {message}")]
    Invalid {
        /// " in FILE" or " in MIZAN_* variables".
        origin: String,
        /// What is wrong.
        message: String,
    },
}

impl ServerConfig {
    /// Settings from TOML text (unset keys keep their defaults).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Invalid {
            origin: String::new(),
            message: e.to_string(),
        })
    }

    /// Defaults, overridden by `file` (TOML) if given, overridden by
    /// environment variables `MIZAN_<SETTING>` (e.g. `MIZAN_MAX_FRAME_BYTES=1024`,
    /// `MIZAN_HANDLER_TIMEOUT=5s`, `MIZAN_ORIGINS=any`).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, std::env::vars())
    }

    /// [`load`](Self::load) with the environment given.
    pub fn load_with(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut value = serde_json::to_value(Self::default()).expect("settings always encode");
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let overlay: Self = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
                origin: format!(" in {}", path.display()),
                message: e.to_string(),
            })?;
            value = serde_json::to_value(overlay).expect("settings always encode");
        }
        let fields = value.as_object_mut().expect("settings are an object");
        for (name, raw) in env {
            let Some(key) = name.strip_prefix("MIZAN_").map(str::to_ascii_lowercase) else {
                continue;
            };
            if let Some(slot) = fields.get_mut(&key) {
                // Numbers, booleans and lists as JSON; anything else as text.
                *slot = if VERBATIM.contains(&key.as_str()) {
                    serde_json::Value::String(raw)
                } else {
                    serde_json::from_str(&raw).unwrap_or(serde_json::Value::String(raw))
                };
            }
        }
        serde_json::from_value(value).map_err(|e| ConfigError::Invalid {
            origin: " in MIZAN_* variables".to_owned(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OriginPolicy;
    use std::time::Duration;

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("mizan-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("mizan.toml");
        std::fs::write(
            &file,
            "max_frame_bytes = 2048\nping_interval = \"250ms\"\norigins = [\"https://a.example\"]\n",
        )
        .unwrap();
        let env = [
            ("MIZAN_MAX_FRAME_BYTES".to_owned(), "4096".to_owned()),
            ("MIZAN_HANDLER_TIMEOUT".to_owned(), "2m".to_owned()),
            ("MIZAN_PRODUCTION".to_owned(), "true".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let c = ServerConfig::load_with(Some(&file), env).unwrap();
        assert_eq!(c.max_frame_bytes, 4096);
        assert_eq!(c.ping_interval, Duration::from_millis(250));
        assert_eq!(c.handler_timeout, Duration::from_secs(120));
        assert!(c.production);
        assert_eq!(c.origins, OriginPolicy::AllowList(vec!["https://a.example".into()]));
        assert_eq!(c.max_json_depth, 32);
        let any = ServerConfig::load_with(None, [("MIZAN_ORIGINS".to_owned(), "any".to_owned())]).unwrap();
        assert_eq!(any.origins, OriginPolicy::Any);
        assert!(ServerConfig::from_toml("max_frame_bytez = 1").is_err());
        assert!(ServerConfig::load_with(None, [("MIZAN_PING_TIMEOUT".to_owned(), "soon".to_owned())]).is_err());
    }

    #[test]
    fn the_api_key_is_read_as_written() {
        let key = |raw: &str| {
            ServerConfig::load_with(None, [("MIZAN_API_KEY".to_owned(), raw.to_owned())])
                .unwrap()
                .api_key
        };
        let digits = "123456789012345678901234567890";
        assert!(key(digits).unwrap().matches(digits.as_bytes()));
        assert!(key("true").unwrap().matches(b"true"));
        assert!(key("").is_none(), "an empty key is no key");
        let file = ServerConfig::from_toml("api_key = \"from-a-file-0123456789\"").unwrap();
        assert!(file.api_key.unwrap().matches(b"from-a-file-0123456789"));
        assert!(ServerConfig::from_toml("api_key = \"\"").unwrap().api_key.is_none());
        assert!(ServerConfig::default().api_key.is_none());
    }

    #[test]
    fn the_cache_settings_load_from_the_environment() {
        let env = [
            ("MIZAN_CACHE_SECRET", "12345678901234567890123456789012345"),
            ("MIZAN_BUNDLE_CACHE_BYTES", "1048576"),
            ("MIZAN_BUNDLE_CACHE_BACKEND", "redis"),
            ("MIZAN_BUNDLE_CACHE_TTL", "2m"),
            ("MIZAN_CACHE_CONTROL", r#"{"posts":"public, max-age=30"}"#),
        ];
        let config = ServerConfig::load_with(None, env.map(|(k, v)| (k.to_owned(), v.to_owned()))).unwrap();
        assert_eq!(config.cache_secret.as_ref().unwrap().as_bytes(), env[0].1.as_bytes());
        assert_eq!(config.bundle_cache_backend, super::super::BundleCacheBackend::Redis);
        assert_eq!(config.bundle_cache_ttl, std::time::Duration::from_secs(120));
        assert_eq!(config.cache_control["posts"], "public, max-age=30");
        assert_eq!(config.insecure_reason(), None);
        assert!(
            !format!("{config:?}").contains("1234567890"),
            "the secret never shows in Debug"
        );
        let no_secret = ServerConfig {
            cache_secret: None,
            ..config
        };
        assert!(no_secret.insecure_reason().unwrap().contains("development default"));
    }

    #[test]
    fn a_short_api_key_is_insecure() {
        let mut config = ServerConfig::default();
        assert_eq!(config.insecure_reason(), None);
        config.api_key = Some("fixture-api-key".into());
        assert!(config.insecure_reason().unwrap().contains("server API key"));
        config.api_key = Some("a-long-enough-key-0123456789".into());
        assert_eq!(config.insecure_reason(), None);
        assert!(
            !format!("{config:?}").contains("a-long-enough-key"),
            "the key never shows in Debug"
        );
    }
}
