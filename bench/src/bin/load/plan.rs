//! The comparison: which scenarios run, at which sizes, on which servers.

use crate::cache::{self, ColdStart, RefetchStorm};
use crate::fanout::{Fanout, Pace, Publisher};
use crate::idle::Idle;
use crate::jitter::Jitter;
use crate::node_loss::NodeLoss;
use crate::presence::{PresenceJoin, PresenceStats};
use crate::report::Outcome;
use crate::rpc::Rpc;
use crate::servers::{self, Cpu, Kind, Programs};
use crate::storm::Storm;
use mizan_bench::process::{Redis, Server};
use std::time::Duration;

/// What a step measures.
pub(crate) enum Scenario {
    Fanout(Fanout),
    Idle(Idle),
    Rpc(Rpc),
    /// Mizan only: invalidation pushes.
    Storm(Storm),
    /// Mizan only: subscribers on node B, the publisher on node A, joined
    /// through a `redis-server` of the step's own.
    CrossNode(Fanout),
    /// Subscribers cut off and resuming; not Django (its peer keeps no
    /// history to recover from).
    Jitter(Jitter),
    /// Mizan only: watchers of node A re-watching on node B after A is
    /// killed, the nodes joined through a `redis-server` of the step's own.
    NodeLoss(NodeLoss),
    /// Mizan only: sockets joining one presence topic at once.
    PresenceJoin(PresenceJoin),
    /// Mizan only: `presence_stats` on a topic with members on two nodes,
    /// joined through a `redis-server` of the step's own.
    PresenceStats(PresenceStats),
    /// Mizan only: watchers of one context refetching it on its
    /// invalidation, the bundle cache off or on; on one node, or on two
    /// joined through a `redis-server` of the step's own.
    RefetchStorm(RefetchStorm),
    /// Mizan only: concurrent fetches of a bundle never computed, the
    /// bundle cache off or on.
    ColdStart(ColdStart),
}

/// One row group of the table.
pub(crate) struct Step {
    pub(crate) name: &'static str,
    pub(crate) scenario: Scenario,
}

impl Step {
    /// Whether `kind` can run it (the storms, cross-node, node-loss,
    /// presence and cache steps need Mizan's contexts, presence, Redis
    /// broker and bundle cache).
    pub(crate) fn applies_to(&self, kind: Kind) -> bool {
        match self.scenario {
            Scenario::Storm(_)
            | Scenario::CrossNode(_)
            | Scenario::NodeLoss(_)
            | Scenario::PresenceJoin(_)
            | Scenario::PresenceStats(_)
            | Scenario::RefetchStorm(_)
            | Scenario::ColdStart(_) => kind == Kind::Mizan,
            Scenario::Jitter(_) => kind != Kind::Django,
            Scenario::Fanout(_) | Scenario::Idle(_) | Scenario::Rpc(_) => true,
        }
    }

    /// Whether Mizan and the floor run it `--repeat` times. The jitter
    /// step runs once: what it shows is counts (lost, duplicated,
    /// misordered), and a run takes a minute.
    pub(crate) fn repeats(&self) -> bool {
        !matches!(self.scenario, Scenario::Jitter(_))
    }

    /// The row's label for `kind`: its name, for the jitter step which
    /// recovery Socket.IO runs with, for the cache steps whether the
    /// cache is on.
    pub(crate) fn label(&self, kind: Kind) -> String {
        match (&self.scenario, kind) {
            (Scenario::Jitter(_), Kind::SocketIo) => format!("{} (connectionStateRecovery)", kind.name()),
            _ => match self.cached() {
                Some(cached) => format!("{} ({})", kind.name(), cache::label(cached)),
                None => kind.name().to_owned(),
            },
        }
    }

    /// For the cache steps, whether the server runs with its bundle
    /// cache on.
    fn cached(&self) -> Option<bool> {
        match self.scenario {
            Scenario::RefetchStorm(RefetchStorm { cached, .. }) | Scenario::ColdStart(ColdStart { cached, .. }) => {
                Some(cached)
            }
            _ => None,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match &self.scenario {
            Scenario::Fanout(f) => f.describe(),
            Scenario::CrossNode(f) => format!(
                "{}; subscribers on node B, publisher on node A, through Redis",
                f.describe()
            ),
            Scenario::Idle(i) => i.describe(),
            Scenario::Rpc(r) => r.describe(),
            Scenario::Storm(s) => s.describe(),
            Scenario::NodeLoss(n) => n.describe(),
            Scenario::Jitter(j) => j.describe(),
            Scenario::PresenceJoin(p) => p.describe(),
            Scenario::PresenceStats(p) => p.describe(),
            Scenario::RefetchStorm(r) => r.describe(),
            Scenario::ColdStart(c) => c.describe(),
        }
    }

    /// Starts a fresh `kind` (or, for cross-node, node loss, presence
    /// stats and the two-node refetch storms, Redis and two nodes), runs
    /// the step against it, and stops it.
    pub(crate) async fn run(&self, kind: Kind, programs: &Programs, redis_server: &str) -> anyhow::Result<Outcome> {
        if let Scenario::NodeLoss(node_loss) = &self.scenario {
            let redis = Redis::try_start(redis_server).map_err(anyhow::Error::msg)?;
            let a = programs.start(kind, Some(&redis))?;
            let b = programs.start(kind, Some(&redis))?;
            return node_loss.run(kind, a, b).await;
        }
        if let Scenario::CrossNode(fanout) = &self.scenario {
            let redis = Redis::try_start(redis_server).map_err(anyhow::Error::msg)?;
            let a = programs.start(kind, Some(&redis))?;
            let b = programs.start(kind, Some(&redis))?;
            let cpu = Cpu(vec![&a, &b]);
            return fanout
                .run(&servers::endpoint(kind, &b), &servers::endpoint(kind, &a), &cpu)
                .await;
        }
        if let Scenario::PresenceStats(stats) = &self.scenario {
            let redis = Redis::try_start(redis_server).map_err(anyhow::Error::msg)?;
            let mut a = programs.start(kind, Some(&redis))?;
            let mut b = programs.start(kind, Some(&redis))?;
            let cpu = Cpu(vec![&a, &b]);
            let (on_a, on_b) = (servers::endpoint(kind, &a), servers::endpoint(kind, &b));
            let mut outcome = stats.run(&on_a, &on_b, &cpu).await?;
            drop(cpu);
            exits(&mut outcome, [&mut a, &mut b]);
            return Ok(outcome);
        }
        if let Scenario::RefetchStorm(storm) = &self.scenario
            && storm.two_nodes
        {
            let redis = Redis::try_start(redis_server).map_err(anyhow::Error::msg)?;
            let env = cache::env(storm.cached, true);
            let mut a = programs.start_with_env(kind, Some(&redis), &env)?;
            let mut b = programs.start_with_env(kind, Some(&redis), &env)?;
            let cpu = Cpu(vec![&a, &b]);
            let endpoints = [servers::endpoint(kind, &a), servers::endpoint(kind, &b)];
            let mut outcome = storm.run(&endpoints, &cpu).await?;
            drop(cpu);
            exits(&mut outcome, [&mut a, &mut b]);
            return Ok(outcome);
        }
        let mut server = match (&self.scenario, self.cached()) {
            (Scenario::Jitter(_), _) => programs.start_recovering(kind)?,
            (_, Some(cached)) => programs.start_with_env(kind, None, &cache::env(cached, false))?,
            _ => programs.start(kind, None)?,
        };
        let endpoint = servers::endpoint(kind, &server);
        let cpu = Cpu(vec![&server]);
        let mut outcome = match &self.scenario {
            Scenario::Fanout(f) => f.run(&endpoint, &endpoint, &cpu).await?,
            Scenario::Idle(i) => i.run(&endpoint, &server).await?,
            Scenario::Rpc(r) => r.run(&endpoint, &cpu).await?,
            Scenario::Storm(s) => s.run(&endpoint, &cpu).await?,
            Scenario::Jitter(j) => j.run(&endpoint, kind.recovers()).await?,
            Scenario::PresenceJoin(p) => p.run(&endpoint, &cpu).await?,
            Scenario::RefetchStorm(r) => r.run(std::slice::from_ref(&endpoint), &cpu).await?,
            Scenario::ColdStart(c) => c.run(&endpoint, &cpu).await?,
            Scenario::CrossNode(_) | Scenario::NodeLoss(_) | Scenario::PresenceStats(_) => {
                unreachable!("handled above")
            }
        };
        drop(cpu);
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(status) = server.exited() {
            outcome.problem(format!("the server exited: {status}"));
        }
        Ok(outcome)
    }
}

/// Notes a problem for each of nodes A and B that has exited.
fn exits(outcome: &mut Outcome, nodes: [&mut Server; 2]) {
    for (name, node) in ["A", "B"].into_iter().zip(nodes) {
        if let Some(status) = node.exited() {
            outcome.problem(format!("node {name} exited: {status}"));
        }
    }
}

/// The steps, at full size or tiny (`smoke`, for CI); the jitter step at
/// the sizes given.
pub(crate) fn steps(smoke: bool, jitter: Jitter) -> Vec<Step> {
    let pick = |full: usize, tiny: usize| if smoke { tiny } else { full };
    let seconds = if smoke { 1 } else { 10 };
    let fanout = |sockets, rooms, pace, publisher| Fanout {
        sockets,
        rooms,
        pace,
        publisher,
        window: 200,
    };
    let mut steps = vec![
        Step {
            name: "fan-out burst",
            scenario: Scenario::Fanout(fanout(
                pick(1000, 20),
                1,
                Pace::Burst {
                    messages: pick(300, 10),
                },
                Publisher::Dedicated,
            )),
        },
        Step {
            name: "fan-out at 50/s",
            scenario: Scenario::Fanout(fanout(
                pick(1000, 20),
                1,
                Pace::Rate {
                    per_second: 50,
                    seconds,
                },
                Publisher::Dedicated,
            )),
        },
        Step {
            name: "fan-out at 5/s",
            scenario: Scenario::Fanout(fanout(
                pick(10_000, 30),
                1,
                Pace::Rate { per_second: 5, seconds },
                Publisher::Dedicated,
            )),
        },
        Step {
            name: "many topics",
            scenario: Scenario::Fanout(fanout(
                pick(10_000, 40),
                pick(1000, 4),
                Pace::Rate {
                    per_second: pick(2000, 50) as u64,
                    seconds,
                },
                Publisher::Members,
            )),
        },
        Step {
            name: "RPC echo",
            scenario: Scenario::Rpc(Rpc {
                clients: pick(50, 4),
                seconds,
            }),
        },
        Step {
            name: "idle capacity",
            scenario: Scenario::Idle(Idle {
                sockets: pick(18_000, 100),
                rooms: 100,
            }),
        },
        Step {
            name: "invalidation storm",
            scenario: Scenario::Storm(Storm {
                watchers: pick(10_000, 50),
                rounds: pick(5, 2),
            }),
        },
        Step {
            name: "cross-node",
            scenario: Scenario::CrossNode(fanout(
                pick(10, 3),
                1,
                Pace::Rate {
                    per_second: pick(10_000, 200) as u64,
                    seconds,
                },
                Publisher::Dedicated,
            )),
        },
        Step {
            name: "jitter",
            scenario: Scenario::Jitter(jitter),
        },
        Step {
            name: "node loss",
            scenario: Scenario::NodeLoss(NodeLoss {
                watchers: pick(10_000, 200),
                sockets: pick(10_000, 200),
                changed: pick(100, 5),
            }),
        },
        Step {
            name: "presence join",
            scenario: Scenario::PresenceJoin(PresenceJoin {
                sockets: pick(1000, 50),
                spread: Duration::from_secs(1),
            }),
        },
        Step {
            name: "presence stats",
            scenario: Scenario::PresenceStats(PresenceStats {
                members: pick(10_000, 200),
                requests: pick(2000, 200),
            }),
        },
    ];
    for (two_nodes, cached, name) in [
        (false, false, "refetch storm"),
        (false, true, "refetch storm cached"),
        (true, false, "refetch storm redis"),
        (true, true, "refetch storm redis cached"),
    ] {
        steps.push(Step {
            name,
            scenario: Scenario::RefetchStorm(RefetchStorm {
                watchers: pick(10_000, 50),
                rounds: pick(5, 2),
                cached,
                two_nodes,
            }),
        });
    }
    for cached in [false, true] {
        steps.push(Step {
            name: if cached { "cold start cached" } else { "cold start" },
            scenario: Scenario::ColdStart(ColdStart {
                fetches: pick(1000, 100),
                sockets: pick(100, 10),
                rounds: pick(5, 2),
                cached,
            }),
        });
    }
    steps
}
