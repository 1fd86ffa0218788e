//! The cost of the wire: decoding the client frames a busy socket sends
//! (`send`, `call`), the nesting-depth check every frame passes, and
//! encoding the pushes a fan-out sends (encoded once per event, so this is
//! paid once however many subscribers there are).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mizan_protocol::{ClientFrame, InvalidateEntry, Params, Payload, ServerFrame, exceeds_depth};
use std::hint::black_box;

const SEND: &str =
    r#"{"type":"send","id":1234,"topic":"chat:chat_lobby","data":{"text":"hello everyone in the lobby"}}"#;
const CALL: &str = r#"{"type":"call","id":99,"fn":"update_profile","args":{"user_id":5,"name":"Ann"}}"#;

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, text) in [("send", SEND), ("call", CALL)] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| ClientFrame::decode(black_box(text.as_bytes())).unwrap());
        });
    }
    group.throughput(Throughput::Bytes(SEND.len() as u64));
    group.bench_function("depth_check_send", |b| {
        b.iter(|| exceeds_depth(black_box(SEND.as_bytes()), 32));
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let message = ServerFrame::Message {
        topic: "chat:chat_lobby".into(),
        data: Payload::from_json(r#"{"text":"hello everyone in the lobby","user":"42"}"#).unwrap(),
        offset: Some(1_234_567),
    };
    group.bench_function("message_push", |b| b.iter(|| black_box(&message).encode()));
    let params: Params = serde_json::from_str(r#"{"user_id":5}"#).unwrap();
    let invalidate = ServerFrame::Invalidate(InvalidateEntry::broad("user").with_params(Some(params)));
    group.bench_function("invalidate_push", |b| b.iter(|| black_box(&invalidate).encode()));
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
