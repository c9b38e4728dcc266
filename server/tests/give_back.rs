//! `memory::give_back` in a process of its own: a test beside it whose store checkpoints would
//! give the freed blocks back first.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn freed_blocks_below_a_live_one_leave_the_rss() {
    use warroom_server::memory::give_back;

    // Arrange: 64 MB in 4 KB blocks (under glibc's mmap threshold, so on the heap), then
    // all but the last freed: the live last block keeps the heap's top where it was.
    let rss = || {
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .expect("VmRSS");
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .expect("kb")
            .parse()
            .expect("number");
        kb * 1024
    };
    let mut blocks: Vec<Vec<u8>> = (0..16_384).map(|i| vec![i as u8 | 1; 4096]).collect();
    let last = blocks.pop().expect("a block");
    drop(blocks);
    let before = rss();

    // Act
    let gave = give_back();

    // Assert: most of the 64 MB left the RSS; the live block is intact.
    let after = rss();
    assert!(gave, "nothing given back");
    assert!(
        before.saturating_sub(after) > 32 << 20,
        "RSS went from {before} to {after} bytes"
    );
    assert!(last.iter().all(|&b| b == last[0]));
}
