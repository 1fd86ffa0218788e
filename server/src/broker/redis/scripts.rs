//! Running the stores' Lua scripts: pipelines of them (loading a script
//! Redis forgot, once), and reading their answers. Shared by the stream
//! and the presence stores.

use super::Shared;
use super::connection::within;
use crate::broker::store::StoreError;
use ::redis::{Cmd, RedisResult, Script, Value};
use bytes::Bytes;
use std::time::Duration;

/// Why a store call could not even be sent.
pub(super) fn unreachable() -> StoreError {
    StoreError("Redis is unreachable".to_owned())
}

/// A failed script: the publisher checks its connection at once.
pub(super) fn failed(shared: &Shared, error: impl std::fmt::Display) -> StoreError {
    shared.redis_lost.notify_one();
    StoreError(error.to_string())
}

/// An `EVALSHA` of `script` on `keys`; arguments follow.
pub(super) fn call(script: &Script, keys: &[&str]) -> Cmd {
    let mut call = ::redis::cmd("EVALSHA");
    call.arg(script.get_hash()).arg(keys.len());
    for key in keys {
        call.arg(*key);
    }
    call
}

/// Sends `calls` (each an `EVALSHA` of `script`: see [`call`]) as one
/// pipeline, in order, within the command timeout; one answer per call.
/// When Redis lost the script (it restarted), loads it and sends the calls
/// again once.
pub(super) async fn pipeline(
    shared: &Shared,
    script: &Script,
    calls: &[Cmd],
) -> Result<Vec<RedisResult<Value>>, StoreError> {
    let mut conn = shared.commands().ok_or_else(unreachable)?;
    let limit = shared.config.command_timeout;
    let mut loaded = false;
    loop {
        let mut pipe = ::redis::pipe();
        pipe.ignore_errors();
        for call in calls {
            pipe.add_command(call.clone());
        }
        let answers: Vec<RedisResult<Value>> = within(limit, pipe.query_async(&mut conn))
            .await
            .map_err(|e| failed(shared, e))?;
        let unknown = |a: &RedisResult<Value>| {
            a.as_ref()
                .is_err_and(|e| e.kind() == ::redis::ErrorKind::Server(::redis::ServerErrorKind::NoScript))
        };
        if loaded || !answers.iter().any(unknown) {
            return Ok(answers);
        }
        // Redis restarted (its script cache is empty): the calls that
        // answered NOSCRIPT did not run; load the script and send again.
        loaded = true;
        within(limit, script.prepare_invoke().load_async(&mut conn))
            .await
            .map_err(|e| failed(shared, e))?;
        if !answers.iter().all(unknown) {
            return Ok(answers);
        }
    }
}

/// Milliseconds, as the scripts take them.
pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A string answer's bytes.
pub(super) fn bytes(value: Value) -> Option<Bytes> {
    match value {
        Value::BulkString(b) => Some(b.into()),
        Value::SimpleString(s) => Some(s.into_bytes().into()),
        _ => None,
    }
}

/// A string answer.
pub(super) fn text(value: Value) -> Option<String> {
    String::from_utf8(bytes(value)?.to_vec()).ok()
}

/// An integer answer.
pub(super) fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}
