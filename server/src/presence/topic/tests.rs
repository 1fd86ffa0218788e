use super::*;
use crate::outbox::{OutboxReceiver, outbox, tests::drain};
use std::sync::Arc;

fn m(session: &str, user: Option<&str>) -> Member {
    Member::new(session, user.map(str::to_owned))
}

fn diff(flushed: &Flushed) -> (Vec<String>, Vec<String>, Vec<ConnId>) {
    match &flushed.diff {
        Some((ServerFrame::PresenceDiff { joins, leaves, .. }, not_to)) => {
            let sessions = |list: &[Member]| {
                let mut s: Vec<String> = list.iter().map(|m| m.session.clone()).collect();
                s.sort();
                s
            };
            let mut not_to: Vec<ConnId> = not_to.iter().copied().collect();
            not_to.sort_unstable();
            (sessions(joins), sessions(leaves), not_to)
        }
        Some(_) => panic!("a flush's diff is a presence_diff"),
        None => (vec![], vec![], vec![]),
    }
}

fn asker(conn: ConnId, stats: bool) -> (Asker, OutboxReceiver) {
    let (outbox, rx) = outbox(16, 1 << 20, Arc::default());
    let asker = Asker {
        conn,
        id: RequestId::new(1).unwrap(),
        outbox,
        stats,
    };
    (asker, rx)
}

fn answer_sessions(t: &mut Topic, conn: ConnId) -> Vec<String> {
    let (a, _rx) = asker(conn, false);
    t.ask(a);
    let flushed = t.flush("room");
    let [(_, ServerFrame::Presence { members, .. })] = &flushed.answers[..] else {
        panic!("one presence answer, got {}", flushed.answers.len());
    };
    let mut sessions: Vec<String> = members.iter().map(|m| m.session.clone()).collect();
    sessions.sort();
    sessions
}

/// Another node's diff number `seq`.
fn news(seq: u64, joins: Vec<Member>, leaves: Vec<Member>) -> News {
    News::Diff { seq, joins, leaves }
}

fn s(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn joins_within_a_batch_are_one_diff_not_sent_to_the_joiners() {
    let mut t = Topic::new(false);
    t.join(1, m("a", Some("ann")));
    assert_eq!(diff(&t.flush("room")), (s(&["a"]), vec![], vec![1]));
    t.join(2, m("b", Some("ann")));
    t.join(3, m("c", None));
    assert_eq!(diff(&t.flush("room")), (s(&["b", "c"]), vec![], vec![2, 3]));
    assert_eq!(t.stats(), Some((3, 1)));
    // Joined and left within one batch: in neither list.
    t.join(4, m("d", None));
    t.leave(4);
    t.leave(2);
    assert_eq!(diff(&t.flush("room")), (vec![], s(&["b"]), vec![]));
    assert!(t.flush("room").diff.is_none(), "nothing changed");
    assert_eq!(t.stats(), Some((2, 1)));
}

#[test]
fn an_asker_gets_the_members_after_the_batch_and_not_its_diff() {
    let mut t = Topic::new(false);
    t.join(1, m("a", None));
    t.flush("room");
    t.join(2, m("b", None));
    let (a, rx) = asker(1, false);
    t.ask(a);
    let flushed = t.flush("room");
    assert_eq!(diff(&flushed), (s(&["b"]), vec![], vec![1, 2]));
    let [(outbox, answer)] = &flushed.answers[..] else {
        panic!()
    };
    outbox.send(answer);
    let sent = drain(&rx);
    assert!(
        sent[0].contains(r#""session":"a""#) && sent[0].contains(r#""session":"b""#),
        "{sent:?}"
    );
    // A stats asker is not left out of the diff.
    let (a, _rx) = asker(1, true);
    t.ask(a);
    t.join(3, m("c", None));
    assert_eq!(diff(&t.flush("room")), (s(&["c"]), vec![], vec![3]));
}

#[test]
fn the_first_news_is_a_reset_then_diffs_follow_in_sequence() {
    let mut t = Topic::new(true);
    assert!(t.flush("room").news.is_none(), "no member, no news");
    t.join(1, m("a", None));
    t.join(2, m("b", None));
    let Some(News::Reset { seq: 1, members }) = t.flush("room").news else {
        panic!("a reset first")
    };
    assert_eq!(members.len(), 2);
    t.join(3, m("c", None));
    t.leave(1);
    let Some(News::Diff { seq: 2, joins, leaves }) = t.flush("room").news else {
        panic!("then a diff")
    };
    assert_eq!((joins[0].session.as_str(), leaves[0].session.as_str()), ("c", "a"));
    // A lost write: the next news is a reset, sent by the heartbeat.
    t.lost();
    t.join(4, m("d", None));
    assert!(t.flush("room").news.is_none());
    let Some(News::Reset { seq: 3, members }) = t.pending_reset() else {
        panic!("a reset")
    };
    assert_eq!(members.len(), 3);
    assert!(t.pending_reset().is_none());
    // Everyone left while a reset was pending: the flush says so at once.
    t.lost();
    for conn in [2, 3, 4] {
        t.leave(conn);
    }
    let Some(News::Reset { seq: 4, members }) = t.flush("room").news else {
        panic!("an empty reset")
    };
    assert!(members.is_empty());
    assert!(t.is_abandoned());
}

#[test]
fn other_nodes_news_reaches_the_batch_and_gaps_ask_for_a_read() {
    let mut t = Topic::new(true);
    t.join(1, m("a", Some("ann")));
    assert_eq!(t.stats(), None, "not ready before the read");
    assert!(t.begin_read());
    // Heard while reading: applied after the snapshot, when newer.
    t.hear("me", "n2", news(1, vec![m("old", None)], vec![]));
    t.hear("me", "n2", news(3, vec![m("y", Some("ann"))], vec![]));
    let read = vec![
        NodeMembers {
            node: "n2".into(),
            seq: 2,
            members: vec![m("x", Some("bob"))],
        },
        NodeMembers {
            node: "me".into(),
            seq: 1,
            members: vec![m("a", Some("ann"))],
        },
    ];
    assert_eq!(t.end_read("me", Some(read)), Heard::Done);
    assert_eq!(t.stats(), Some((3, 2)));
    t.flush("room");
    assert_eq!(answer_sessions(&mut t, 1), s(&["a", "x", "y"]));
    // An old news is ignored; a gap asks for a read.
    assert_eq!(t.hear("me", "n2", news(3, vec![], vec![m("x", None)])), Heard::Done);
    assert_eq!(t.hear("me", "n2", news(9, vec![], vec![])), Heard::Reread);
    assert_eq!(t.hear("me", "n3", news(5, vec![], vec![])), Heard::Reread);
    // This node's own news is not applied again.
    assert_eq!(t.hear("me", "me", news(2, vec![m("z", None)], vec![])), Heard::Done);
    assert_eq!(t.stats(), Some((3, 2)));
    // In sequence: joins and leaves go to the local subscribers.
    t.hear("me", "n2", news(4, vec![m("w", None)], vec![m("x", Some("bob"))]));
    assert_eq!(diff(&t.flush("room")), (s(&["w"]), s(&["x"]), vec![]));
    assert_eq!(t.stats(), Some((3, 1)));
}

#[test]
fn a_reset_or_a_sweep_replaces_what_a_node_said() {
    let mut t = Topic::new(true);
    t.join(1, m("a", None));
    t.begin_read();
    t.end_read("me", Some(vec![]));
    t.hear(
        "me",
        "n2",
        News::Reset {
            seq: 1,
            members: vec![m("x", None), m("y", None)],
        },
    );
    t.flush("room");
    t.hear(
        "me",
        "n2",
        News::Reset {
            seq: 7,
            members: vec![m("y", None), m("z", None)],
        },
    );
    assert_eq!(diff(&t.flush("room")), (s(&["z"]), s(&["x"]), vec![]));
    t.hear("me", "n2", news(8, vec![m("v", None)], vec![]));
    // Swept by any node: every member of n2 leaves.
    t.hear("me", "n3", News::Gone { node: "n2".into() });
    assert_eq!(diff(&t.flush("room")), (vec![], s(&["y", "z"]), vec![]));
    assert_eq!(answer_sessions(&mut t, 1), s(&["a"]));
    // This node swept while alive: it writes its members again.
    t.flush("room");
    t.hear("me", "n3", News::Gone { node: "me".into() });
    assert!(matches!(t.pending_reset(), Some(News::Reset { .. })));
}

#[test]
fn a_failed_read_leaves_what_is_known_and_asks_for_another() {
    let mut t = Topic::new(true);
    t.join(1, m("a", None));
    t.begin_read();
    assert!(!t.begin_read(), "one read at a time");
    assert_eq!(t.end_read("me", None), Heard::Reread);
    assert!(t.read_failed());
    assert_eq!(t.stats(), Some((1, 0)), "ready: answered with what is known");
    t.begin_read();
    t.end_read(
        "me",
        Some(vec![NodeMembers {
            node: "n2".into(),
            seq: 1,
            members: vec![m("x", None)],
        }]),
    );
    assert!(!t.read_failed());
    assert_eq!(t.stats(), Some((2, 0)));
}
