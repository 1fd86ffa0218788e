//! Server settings.

/// Settings of a node. Every field has a default that runs.
///
/// ```
/// use mizan_server::ServerConfig;
/// let config = ServerConfig { base_path: "/rt".into(), ..ServerConfig::default() };
/// assert_eq!(config.max_frame_bytes, 64 * 1024);
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the protocol's endpoints are mounted (default `/api/mizan`).
    pub base_path: String,
    /// The largest frame (and HTTP body) accepted, in bytes; a larger
    /// WebSocket frame closes the socket with 1009 (default 64 KiB).
    pub max_frame_bytes: usize,
    /// Frames a connection may have waiting to be written before it is
    /// closed as too slow with 4008 (default 1024).
    pub outbound_queue_frames: usize,
    /// `send`s one socket may have queued for one topic before further ones
    /// are refused with `limit` (default 256).
    pub pending_sends_per_topic: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            base_path: "/api/mizan".to_owned(),
            max_frame_bytes: 64 * 1024,
            outbound_queue_frames: 1024,
            pending_sends_per_topic: 256,
        }
    }
}
