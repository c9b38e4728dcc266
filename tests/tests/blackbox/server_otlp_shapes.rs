//! The agent's wire format read back by the server's decoder: a real collection of this host,
//! encoded by the agent's OTLP encoder and decoded by the server, gives exactly the series names
//! and label sets the agent's own `/metrics` shows for the same collection (a probe histogram
//! added, since no probe is configured here).

use std::collections::BTreeSet;
use std::sync::Arc;

use prost::Message;
use warroom_agent::agent::Agent;
use warroom_agent::config;
use warroom_agent::metrics::{HistogramValue, Kind};
use warroom_agent::otlp::{self, BatchResource};
use warroom_agent::render::{self, Snapshot};
use warroom_server::model::Labels;

/// `name{k="v",..}` of every sample line of OpenMetrics `text`, as the server prints label sets.
fn exposed_series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, rest) = l
                .split_once('{')
                .unwrap_or_else(|| (l.split(' ').next().unwrap(), ""));
            let mut pairs = parse_labels(rest);
            pairs.push(("__name__".into(), name.into()));
            Labels::from_pairs(pairs).to_string()
        })
        .collect()
}

/// `k="v",k2="v2"} value`: the pairs, with `\"`, `\\` and `\n` unescaped.
fn parse_labels(mut rest: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => break after.len(),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => break after.len(),
            }
        };
        pairs.push((key.trim_start_matches(',').to_string(), value));
        rest = &after[(end + 1).min(after.len())..];
        if rest.starts_with('}') {
            break;
        }
    }
    pairs
}

#[test]
fn server_decoding_of_a_real_agent_batch_gives_the_series_the_agent_exposes() {
    let env = vec![("env", toml::Value::String("source".into()))];
    let cfg = config::load(None, vec![], env).unwrap();
    let mut agent = Agent::new(&cfg).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut buf = (*runtime.block_on(agent.collect())).clone();
    // Probes (not configured here) are the agent's histograms: add one as they write it.
    let latency = HistogramValue {
        buckets: vec![(0.005, 1), (0.5, 3), (f64::INFINITY, 4)],
        sum: 1.25,
        count: 4,
    };
    buf.family(
        "warroom_probe_duration_seconds",
        "Probe latency.",
        Kind::Histogram,
    )
    .push_histogram(vec![("probe", "kube-dns".into())], latency);
    let buf = Arc::new(buf);
    let labels = cfg.node_labels();
    let resource = BatchResource {
        labels: &labels,
        agent_id: "shape-test",
        seq: 3,
    };
    let request = otlp::encode(&buf, &resource, 1_700_000_000_000_000_000, 1);

    let decoded =
        warroom_server::ingest::otlp::decode(&request.encode_to_vec(), 10_000_000).unwrap();

    let snapshot = Snapshot::default();
    snapshot.publish(Arc::clone(&buf));
    let registry = render::registry(&cfg.node, &cfg.cluster, cfg.env.as_str());
    let exposition = render::Exposition::new(
        snapshot,
        registry,
        &cfg.node,
        &cfg.cluster,
        cfg.env.as_str(),
    );
    let want = exposed_series(&exposition.render(render::Format::OpenMetrics));
    let got: BTreeSet<String> = decoded
        .batch
        .series
        .iter()
        .map(|s| s.labels.to_string())
        .collect();
    assert!(
        want.len() > 50,
        "a real collection has many series: {want:?}"
    );
    let missing: Vec<_> = want.difference(&got).take(10).collect();
    let extra: Vec<_> = got.difference(&want).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nextra {extra:#?}"
    );
    assert_eq!(
        decoded.batch.id.map(|id| (id.agent, id.seq)),
        Some(("shape-test".into(), 3))
    );
    assert_eq!(decoded.unsupported, 0);
}
