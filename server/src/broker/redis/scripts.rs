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

/// The cluster variant of a script that publishes with `publish` (e.g.
/// `'PUBLISH', ARGV[1],`): it `SPUBLISH`es to `KEYS[3]` instead, so that
/// the shard channel is declared with the keys (it must share their slot).
pub(super) fn sharded(source: &str, publish: &str) -> Script {
    assert!(source.contains(publish), "the script does not publish with {publish}");
    Script::new(&source.replace(publish, "'SPUBLISH', KEYS[3],"))
}

/// The first key of an `EVALSHA` made by [`call`] (none without keys).
fn first_key(call: &Cmd) -> Vec<u8> {
    let key = call.args_iter().nth(3).and_then(|arg| match arg {
        ::redis::Arg::Simple(bytes) => Some(bytes.to_vec()),
        _ => None,
    });
    key.unwrap_or_default()
}

/// Sends `calls` (each an `EVALSHA` of `script`: see [`call`]) as one
/// pipeline, in order, within the command timeout; one answer per call.
/// When Redis lost the script (it restarted), loads it and sends the calls
/// again once. On a cluster, the calls go as one pipeline per hash tag of
/// their first key (a pipeline may not span slots), all at once; calls on
/// one stream or topic keep their order.
pub(super) async fn pipeline(
    shared: &Shared,
    script: &Script,
    calls: &[Cmd],
) -> Result<Vec<RedisResult<Value>>, StoreError> {
    if !shared.names.cluster() || calls.len() <= 1 {
        return pipeline_one(shared, script, calls).await;
    }
    let mut groups: Vec<(Vec<usize>, Vec<Cmd>)> = Vec::new();
    let mut by_tag: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    for (at, call) in calls.iter().enumerate() {
        let key = first_key(call);
        let group = *by_tag.entry(super::wire::hash_tag(&key).to_vec()).or_insert_with(|| {
            groups.push((Vec::new(), Vec::new()));
            groups.len() - 1
        });
        groups[group].0.push(at);
        groups[group].1.push(call.clone());
    }
    let sends = groups.iter().map(|(_, calls)| pipeline_one(shared, script, calls));
    let answers = futures_util::future::join_all(sends).await;
    let mut out: Vec<Option<RedisResult<Value>>> = (0..calls.len()).map(|_| None).collect();
    let mut first_error = None;
    for ((positions, _), answer) in groups.iter().zip(answers) {
        match answer {
            Ok(values) => {
                for (&at, value) in positions.iter().zip(values) {
                    out[at] = Some(value);
                }
            }
            Err(e) => {
                for &at in positions {
                    out[at] = Some(Err(::redis::RedisError::from((
                        ::redis::ErrorKind::Io,
                        "a pipeline of the cluster failed",
                        e.0.clone(),
                    ))));
                }
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error
        && out.iter().all(|a| a.as_ref().is_none_or(Result::is_err))
    {
        return Err(e);
    }
    Ok(out
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(::redis::RedisError::from((::redis::ErrorKind::Io, "no answer")))))
        .collect())
}

/// [`pipeline`] over one pipeline.
async fn pipeline_one(shared: &Shared, script: &Script, calls: &[Cmd]) -> Result<Vec<RedisResult<Value>>, StoreError> {
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
