//! Shipping as a real process: the agent pushes OTLP batches to a local receiver, spools them to
//! disk while the receiver is down, and replays them in order, exactly once, when it is back —
//! also across an agent restart.

use std::path::Path;
use std::time::{Duration, Instant};

use warroom_tests::agent::{Agent, Shipping};
use warroom_tests::http::free_addr;
use warroom_tests::receiver::Receiver;

fn start_agent(server: std::net::SocketAddr, spool: &Path, token_file: &Path) -> Agent {
    let url = format!("http://{server}");
    let shipping = Shipping {
        server: &url,
        token_file,
        spool,
    };
    Agent::start("target", "spool-test", "200ms", Some(shipping))
}

fn spooled_batches(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "batch")
        })
        .count()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_consecutive_once(seqs: &[u64]) {
    for pair in seqs.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "sequences not consecutive and unique: {seqs:?}"
        );
    }
}

#[test]
fn batches_spooled_while_the_receiver_is_down_arrive_once_in_order_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, token_file) = (dir.path().join("spool"), dir.path().join("token"));
    std::fs::write(&token_file, "s3cret-agent-token\n").unwrap();
    let addr = free_addr();

    // Receiver down: batches pile up in the spool.
    let agent = start_agent(addr, &spool, &token_file);
    wait_for("4 spooled batches", || {
        spool.exists() && spooled_batches(&spool) >= 4
    });
    drop(agent);
    let spooled_before_restart = spooled_batches(&spool);

    // Receiver up, agent restarted on the same spool: the backlog drains, then new batches follow.
    let receiver = Receiver::start(addr, "s3cret-agent-token").unwrap();
    let _agent = start_agent(addr, &spool, &token_file);
    wait_for("backlog plus 3 new batches", || {
        receiver.received().seqs.len() >= spooled_before_restart + 3
    });

    let seqs = receiver.received().seqs;
    assert_eq!(
        seqs[0], 1,
        "the first batch ever made (sequences start at 1) arrives first: {seqs:?}"
    );
    assert_consecutive_once(&seqs);
    wait_for("an empty spool", || spooled_batches(&spool) == 0);
    let batch = &receiver.received().batches[0];
    let resource = batch.resource_metrics[0].resource.as_ref().unwrap();
    let keys: Vec<&str> = resource.attributes.iter().map(|a| a.key.as_str()).collect();
    for key in [
        "node",
        "cluster",
        "env",
        "warroom.agent.id",
        "warroom.batch.seq",
    ] {
        assert!(keys.contains(&key), "resource lacks {key}: {keys:?}");
    }
}
