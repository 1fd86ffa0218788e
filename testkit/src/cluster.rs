//! A Redis Cluster of a test's own: `redis-server --cluster-enabled yes`
//! nodes on free loopback ports, joined with `redis-cli --cluster create`
//! (masters and replicas), each killed by PID when dropped or asked.

use super::{Redis, Resp, START, free_port};
use std::process::Command;
use std::time::{Duration, Instant};

/// A cluster's node timeout: how soon a dead master's replica takes over
/// (a little more than this).
const NODE_TIMEOUT_MS: u64 = 2000;

/// A Redis Cluster (see the module docs).
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Redis>,
}

impl RedisCluster {
    /// Starts `masters` masters with `replicas` replicas each, and waits
    /// until every node says `cluster_state:ok`; panics when it cannot.
    pub fn start(masters: usize, replicas: usize) -> Self {
        Self::try_start(masters, replicas).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`start`](Self::start), or why not.
    pub fn try_start(masters: usize, replicas: usize) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("mizan-cluster-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        let mut nodes = Vec::new();
        for _ in 0..masters * (1 + replicas) {
            let port = free_node_port();
            // A directory each: a replica's full sync writes an RDB file
            // there, which nodes sharing one would overwrite.
            let own = dir.join(port.to_string());
            std::fs::create_dir_all(&own).map_err(|e| format!("cannot make {}: {e}", own.display()))?;
            let extra = [
                "--dir",
                &own.display().to_string(),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &NODE_TIMEOUT_MS.to_string(),
                // A replica syncs at once, not after the default 5 s wait.
                "--repl-diskless-sync-delay",
                "0",
            ]
            .map(str::to_owned)
            .to_vec();
            nodes.push(Redis::start_with("redis-server", port, extra)?);
        }
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port())).collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .map_err(|e| format!("cannot run `redis-cli` ({e}); install it (`apt-get install redis-tools`)"))?;
        if !created.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed:\n{}{}",
                String::from_utf8_lossy(&created.stdout),
                String::from_utf8_lossy(&created.stderr)
            ));
        }
        let cluster = Self { nodes };
        cluster.wait_ok(START)?;
        // Replicas show as such once the nodes' gossip has spread it, and
        // can take over once they hold their master's data.
        let deadline = Instant::now() + START;
        let synced = |node: &Redis| {
            let info = node
                .try_command(&["INFO", "replication"])
                .map(|i| i.text())
                .unwrap_or_default();
            !info.contains("role:slave") || info.contains("master_link_status:up")
        };
        while cluster.masters().len() != masters
            || cluster.replicas().len() != masters * replicas
            || !cluster.nodes.iter().all(synced)
        {
            if Instant::now() >= deadline {
                return Err("the cluster's replicas did not show, or did not sync".to_owned());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(cluster)
    }

    /// `host:port` of every node, the seeds a client is given.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect()
    }

    /// The ports of the nodes that are masters now, by `CLUSTER NODES` as a
    /// live node sees it.
    pub fn masters(&self) -> Vec<u16> {
        self.nodes_with_flag("master")
    }

    /// The ports of the nodes that are replicas now.
    pub fn replicas(&self) -> Vec<u16> {
        self.nodes_with_flag("slave")
    }

    /// The port of the master serving `key`'s slot.
    pub fn master_of(&self, key: &str) -> u16 {
        let live = self.live();
        let slot = live.command(&["CLUSTER", "KEYSLOT", key]);
        let Resp::Int(slot) = slot else {
            panic!("CLUSTER KEYSLOT answered {slot:?}")
        };
        let nodes = live.command(&["CLUSTER", "NODES"]).text();
        nodes
            .lines()
            .filter(|line| line.contains("master") && !line.contains("fail"))
            .find(|line| {
                line.split(' ').skip(8).any(|range| {
                    let (from, to) = range.split_once('-').unwrap_or((range, range));
                    from.parse::<i64>().is_ok_and(|f| f <= slot) && to.parse::<i64>().is_ok_and(|t| slot <= t)
                })
            })
            .and_then(port_of)
            .unwrap_or_else(|| panic!("no master serves slot {slot}:\n{nodes}"))
    }

    /// Kills the node on `port` (SIGKILL, like a crash).
    pub fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port() == port) {
            node.kill();
        }
    }

    /// Waits until the master that was on `dead` (killed) is replaced by
    /// one of its replicas and the cluster is ok again, within `limit`.
    pub fn wait_failover(&self, dead: u16, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let masters = self.masters().len();
        loop {
            let now = self.masters();
            if !now.contains(&dead) && now.len() == masters.max(1) {
                break;
            }
            if Instant::now() >= deadline {
                let nodes = self.live().command(&["CLUSTER", "NODES"]).text();
                return Err(format!(
                    "no replica took over from {dead} within {limit:?}: masters {now:?}\n{nodes}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_ok(deadline.saturating_duration_since(Instant::now()))
    }

    /// Waits until every live node says `cluster_state:ok`, within `limit`.
    pub fn wait_ok(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            let ok = self.nodes.iter().filter(|n| n.is_running()).all(|n| {
                n.try_command(&["CLUSTER", "INFO"])
                    .is_ok_and(|i| i.text().contains("cluster_state:ok"))
            });
            if ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("the cluster is not ok after {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn live(&self) -> &Redis {
        self.nodes
            .iter()
            .find(|n| n.is_running())
            .expect("a live node in the cluster")
    }

    fn nodes_with_flag(&self, flag: &str) -> Vec<u16> {
        let nodes = self.live().command(&["CLUSTER", "NODES"]).text();
        let mut ports: Vec<u16> = nodes
            .lines()
            .filter(|line| {
                let flags = line.split(' ').nth(2).unwrap_or("");
                flags.split(',').any(|f| f == flag) && !flags.contains("fail")
            })
            .filter_map(port_of)
            .collect();
        ports.sort_unstable();
        ports
    }
}

/// A free port whose cluster bus port (the port + 10000) is free too (when
/// asked: another process may take either a moment later).
fn free_node_port() -> u16 {
    loop {
        let port = free_port();
        let bus = u32::from(port) + 10_000;
        if let Ok(bus) = u16::try_from(bus)
            && std::net::TcpListener::bind(("127.0.0.1", bus)).is_ok()
        {
            return port;
        }
    }
}

/// The port in a `CLUSTER NODES` line (`<id> 127.0.0.1:PORT@BUS …`).
fn port_of(line: &str) -> Option<u16> {
    line.split(' ')
        .nth(1)?
        .split('@')
        .next()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Six `redis-server`s, and a failover: about 6 s.
    #[test]
    fn a_cluster_starts_and_fails_over() {
        let mut cluster = RedisCluster::start(3, 1);
        assert_eq!((cluster.masters().len(), cluster.replicas().len()), (3, 3));
        let master = cluster.master_of("{mizan}:c:user");
        cluster.kill(master);
        cluster.wait_failover(master, Duration::from_secs(30)).unwrap();
        assert_eq!(cluster.masters().len(), 3, "a replica took over");
        assert_ne!(cluster.master_of("{mizan}:c:user"), master);
    }
}
