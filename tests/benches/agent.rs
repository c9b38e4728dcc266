//! The agent's budget against its peer, measured in one run on this machine:
//! node_exporter (Debian's `prometheus-node-exporter`) scraped N times vs. the agent collecting
//! and being scraped N times, both as real processes read from `/proc`; the agent's RSS after
//! 1,000 collections; whether it does any work between collections; what serving `/metrics`
//! alone costs it, plain and gzip'd (no collection due), next to node_exporter's scrape with and
//! without gzip; and 500 containers (fixture trees in the real v1, v2 and hybrid layouts)
//! collected and rendered, in-process.
//!
//! Run: `cargo build --release -p warroom-agent && cargo bench -p warroom-tests --bench agent`
//! (`BENCH_SCRAPES` sets N, default 300; `BENCH_PART=containers` or `BENCH_PART=host` runs one half,
//! e.g. under a profiler; `BENCH_LAYOUT=hybrid` measures one container layout and `BENCH_PASSES`
//! sets its passes, default 50, so a profile of many passes is not mostly the fixture's creation).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use warroom_tests::bins::bin;
use warroom_tests::http;
use warroom_tests::procstat::{cpu_time, rss_bytes};

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One side's figures.
struct Figures {
    cpu_per_scrape: Duration,
    /// node_exporter: CPU per scrape asking for gzip; the agent: CPU per `/metrics` request with
    /// no collection due (serving alone), plain and gzip'd.
    cpu_per_gzip_scrape: Duration,
    serving: Option<(Duration, Duration)>,
    rss: u64,
    series: usize,
    host_series: usize,
}

fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while http::get(addr, "/metrics", &[]).is_err() {
        assert!(Instant::now() < deadline, "{addr} never answered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn count_series(text: &str) -> (usize, usize) {
    let samples: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    // Host coverage: what describes the node, not the exporter itself.
    let host = samples
        .iter()
        .filter(|l| {
            !l.starts_with("go_") && !l.starts_with("process_") && !l.starts_with("promhttp_")
        })
        .filter(|l| !l.starts_with("node_scrape_") && !l.starts_with("node_exporter_"))
        .filter(|l| !l.starts_with("warroom_agent_"))
        .count();
    (samples.len(), host)
}

/// The whole-process CPU per request of `n` `GET /metrics` to `pid` at `addr`, after 5 warm-up
/// requests, with request `headers`; and the last body.
fn cpu_per_request(pid: u32, addr: SocketAddr, n: u32, headers: &[&str]) -> (Duration, String) {
    for _ in 0..5 {
        http::get(addr, "/metrics", headers).expect("warm-up scrape");
    }
    let before = cpu_time(pid).expect("cpu");
    let mut last = String::new();
    for _ in 0..n {
        last = http::get(addr, "/metrics", headers).expect("scrape").body;
    }
    ((cpu_time(pid).expect("cpu") - before) / n, last)
}

const GZIP: &[&str] = &["Accept-Encoding: gzip"];

fn measure_node_exporter(n: u32) -> Figures {
    let addr = http::free_addr();
    let child = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-node-exporter is installed (.ci/run installs it)");
    let proc = Proc(child);
    let pid = proc.0.id();
    wait_ready(addr);
    let (cpu_per_scrape, last) = cpu_per_request(pid, addr, n, &[]);
    let (cpu_per_gzip_scrape, _) = cpu_per_request(pid, addr, n, GZIP);
    let (series, host_series) = count_series(&last);
    Figures {
        cpu_per_scrape,
        cpu_per_gzip_scrape,
        serving: None,
        rss: rss_bytes(pid).expect("rss"),
        series,
        host_series,
    }
}

/// A quiet `warroom-agent` collecting every `interval`, serving on `addr`.
fn spawn_agent(interval: &str, addr: SocketAddr) -> Child {
    Command::new(bin("warroom-agent"))
        .args([
            "--env",
            "source",
            "--interval",
            interval,
            "--listen",
            &addr.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start warroom-agent")
}

/// The agent collecting every `interval`, scraped once after each collection.
fn measure_agent(n: u32) -> Figures {
    let addr = http::free_addr();
    let child = spawn_agent("20ms", addr);
    let proc = Proc(child);
    let pid = proc.0.id();
    wait_ready(addr);
    let collections = |text: &str| {
        warroom_tests::bins::sample(text, "warroom_agent_collections_total", &[]).unwrap_or(0.0)
    };
    let start_text = http::get(addr, "/metrics", &[]).expect("scrape").body;
    let before = cpu_time(pid).expect("cpu");
    let mut last = String::new();
    for _ in 0..n {
        std::thread::sleep(Duration::from_millis(20));
        last = http::get(addr, "/metrics", &[]).expect("scrape").body;
    }
    let cpu = cpu_time(pid).expect("cpu") - before;
    let passes = (collections(&last) - collections(&start_text)).max(1.0);
    // Each pass is one collection; scrapes (n) render; charge both to a pass, as node_exporter
    // collects and renders on every scrape.
    let per = cpu.div_f64(passes.max(f64::from(n)));
    let (series, host_series) = count_series(&last);
    let serving = measure_serving(n);
    Figures {
        cpu_per_scrape: per,
        cpu_per_gzip_scrape: serving.1,
        serving: Some(serving),
        rss: rss_bytes(pid).expect("rss"),
        series,
        host_series,
    }
}

/// CPU per `/metrics` request of an agent with no collection due (it collected at start):
/// serving alone, plain and gzip'd, over `5 * n` requests each.
fn measure_serving(n: u32) -> (Duration, Duration) {
    let addr = http::free_addr();
    let proc = Proc(spawn_agent("1h", addr));
    let pid = proc.0.id();
    wait_ready(addr);
    // 5n requests: one costs about a tenth of a 10 ms clock tick of /proc/<pid>/stat.
    let (plain, _) = cpu_per_request(pid, addr, 5 * n, &[]);
    let (gzip, _) = cpu_per_request(pid, addr, 5 * n, GZIP);
    (plain, gzip)
}

/// RSS after 1,000 collections, and CPU used during 3 s with no collection due.
fn measure_rss_and_idle() -> (u64, f64, Duration) {
    let addr = http::free_addr();
    let child = spawn_agent("5ms", addr);
    let proc = Proc(child);
    let pid = proc.0.id();
    wait_ready(addr);
    let collections = loop {
        let text = http::get(addr, "/metrics", &[]).expect("scrape").body;
        let c = warroom_tests::bins::sample(&text, "warroom_agent_collections_total", &[])
            .unwrap_or(0.0);
        if c >= 1000.0 {
            break c;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let rss = rss_bytes(pid).expect("rss");
    drop(proc);

    let child = spawn_agent("1h", http::free_addr());
    let idle = Proc(child);
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_time(idle.0.id()).expect("cpu");
    std::thread::sleep(Duration::from_secs(3));
    let idle_cpu = cpu_time(idle.0.id()).expect("cpu") - before;
    (rss, collections, idle_cpu)
}

/// One layout's figures: medians of collect + render, of collect alone, and the series count;
/// and of `/metrics` bodies after the collection: the first (rendered), a repeated one (kept),
/// and a gzip'd one, with the plain and gzip'd sizes.
struct ContainerFigures {
    layout: &'static str,
    total: Duration,
    collect: Duration,
    series: usize,
    bodies: [Duration; 3],
    sizes: (usize, usize),
}

/// CPU per collect + render of `n` containers, median of `passes`, for each cgroup layout.
fn measure_containers(n: usize, passes: usize) -> Vec<ContainerFigures> {
    use warroom_agent::agent::Agent;
    use warroom_agent::collect::cgroups::{Cgroups, fixtures};
    use warroom_agent::render::Format;
    type Builder = fn(&std::path::Path, usize) -> std::io::Result<fixtures::Fixture>;
    let layouts: [(&str, Builder); 3] = [
        ("v1", fixtures::v1_cgroupfs),
        ("v2", fixtures::v2_systemd),
        ("hybrid", fixtures::hybrid),
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = warroom_agent::config::load(
        None,
        vec![],
        vec![("env", toml::Value::String("source".into()))],
    )
    .expect("config");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let only = std::env::var("BENCH_LAYOUT").unwrap_or_default();
    let mut rows = Vec::new();
    for (name, build) in layouts {
        if !only.is_empty() && only != name {
            continue;
        }
        let fx = build(&tmp.path().join(name), n).expect("fixture tree");
        let mut agent =
            Agent::with_collectors(&cfg, vec![Box::new(Cgroups::new(fx.roots.clone()))])
                .expect("agent");
        let exposition = agent.exposition();
        let (mut totals, mut collects) = (Vec::new(), Vec::new());
        let mut bodies: [Vec<Duration>; 3] = Default::default();
        let (mut series, mut sizes) = (0, (0, 0));
        for _ in 0..passes {
            let start = warroom_tests::procstat::thread_cpu_time();
            series = runtime.block_on(agent.collect()).series_count();
            let collected = warroom_tests::procstat::thread_cpu_time();
            let text = agent.render();
            totals.push(warroom_tests::procstat::thread_cpu_time() - start);
            collects.push(collected - start);
            assert!(text.len() > series * 50);
        }
        // The bodies in passes of their own, so their work (a 3 MB text, its gzip) does not
        // cool the caches the timed collections above run with.
        for _ in 0..passes {
            runtime.block_on(agent.collect());
            let mut at = warroom_tests::procstat::thread_cpu_time();
            for (i, gzip) in [false, false, true].into_iter().enumerate() {
                let body = exposition.body(Format::Prometheus, gzip);
                let now = warroom_tests::procstat::thread_cpu_time();
                bodies[i].push(now - at);
                at = now;
                if gzip {
                    sizes.1 = body.len();
                } else {
                    sizes.0 = body.len();
                }
            }
        }
        let median = |v: &mut Vec<Duration>| {
            v.sort();
            v[passes / 2]
        };
        rows.push(ContainerFigures {
            layout: name,
            total: median(&mut totals),
            collect: median(&mut collects),
            series,
            bodies: bodies.each_mut().map(median),
            sizes,
        });
    }
    rows
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let n: u32 = std::env::var("BENCH_SCRAPES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let part = std::env::var("BENCH_PART").unwrap_or_default();
    if part != "containers" {
        report_host(n);
    }
    if part != "host" {
        report_containers();
    }
}

fn report_host(n: u32) {
    let peer = measure_node_exporter(n);
    let agent = measure_agent(n);
    let (rss_1000, collections, idle_cpu) = measure_rss_and_idle();
    println!("agent vs node_exporter, {n} scrapes each (whole-process CPU from /proc/<pid>/stat);");
    println!("`/metrics` rows: the agent serving with no collection due, node_exporter collecting");
    println!("{:<28} {:>14} {:>14}", "", "warroom-agent", "node_exporter");
    println!(
        "{:<28} {:>14.3} {:>14.3}",
        "CPU ms per collect+render",
        ms(agent.cpu_per_scrape),
        ms(peer.cpu_per_scrape)
    );
    let (serve_plain, serve_gzip) = agent.serving.unwrap_or_default();
    println!(
        "{:<28} {:>14.3} {:>14.3}",
        "CPU ms per /metrics, plain",
        ms(serve_plain),
        ms(peer.cpu_per_scrape)
    );
    println!(
        "{:<28} {:>14.3} {:>14.3}",
        "CPU ms per /metrics, gzip",
        ms(serve_gzip),
        ms(peer.cpu_per_gzip_scrape)
    );
    println!(
        "{:<28} {:>14} {:>14}",
        "series (all)", agent.series, peer.series
    );
    println!(
        "{:<28} {:>14} {:>14}",
        "series (host, no self)", agent.host_series, peer.host_series
    );
    println!(
        "{:<28} {:>14.1} {:>14.1}",
        "RSS MB",
        agent.rss as f64 / 1e6,
        peer.rss as f64 / 1e6
    );
    let ratio = peer.cpu_per_scrape.as_secs_f64() / agent.cpu_per_scrape.as_secs_f64().max(1e-9);
    println!("CPU ratio node_exporter/agent: {ratio:.1}x (budget: >= 6x)");
    println!(
        "agent RSS after {collections:.0} collections: {:.1} MB (budget: <= 8 MB)",
        rss_1000 as f64 / 1e6
    );
    println!(
        "agent CPU during 3 s between collections: {:.1} ms (budget: no work)",
        ms(idle_cpu)
    );
}

fn report_containers() {
    let passes = std::env::var("BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    for f in measure_containers(500, passes) {
        println!(
            "500 containers, {:>6}: {:.2} ms CPU per collect+render ({:.2} collect), {} series (budget: <= 10 ms)",
            f.layout,
            ms(f.total),
            ms(f.collect),
            f.series
        );
        println!(
            "  /metrics body: first {:.2} ms, again {:.3} ms, gzip'd {:.2} ms ({} KB -> {} KB)",
            ms(f.bodies[0]),
            ms(f.bodies[1]),
            ms(f.bodies[2]),
            f.sizes.0 / 1000,
            f.sizes.1 / 1000
        );
    }
}
