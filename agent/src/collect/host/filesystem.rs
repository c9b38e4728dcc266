//! Filesystem space and inodes per mount (`node_filesystem_*`), with node_exporter's default
//! exclusions of pseudo filesystems and container-runtime mount points.

use std::path::{Path, PathBuf};

use super::statfs::Statfs;
use crate::collect::kept::KeptFile;
use crate::collect::{CollectError, Collector, Cx, Roots, procfs};
use crate::labels;

/// node_exporter's default `--collector.filesystem.fs-types-exclude`.
const IGNORED_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tracefs",
];

/// node_exporter's default `--collector.filesystem.mount-points-exclude`.
fn ignored_mount_point(mp: &str) -> bool {
    let under = |p: &str| mp == p || mp.starts_with(&format!("{p}/"));
    under("/dev")
        || under("/proc")
        || under("/sys")
        || mp.starts_with("/run/credentials/")
        || mp.starts_with("/var/lib/docker/")
        || mp.starts_with("/var/lib/containers/storage/")
}

/// Reads the host's mount table and `statvfs`es each real filesystem.
pub struct Filesystem {
    mounts: [KeptFile; 2],
    /// Which of `mounts` the table in `buf` came from.
    source: usize,
    /// Prefix that turns a host mount point into a path this process can reach.
    reach: Option<PathBuf>,
    buf: String,
    /// `statvfs` that a dead NFS server cannot hang.
    statfs: Statfs,
}

impl Filesystem {
    /// A collector reading `{proc}/1/mounts` (the host's), falling back to `{proc}/self/mounts`.
    /// With a non-default proc root the mount points are reached through `{proc}/1/root`.
    pub fn new(roots: &Roots) -> Self {
        let reach = (roots.proc != Path::new("/proc")).then(|| roots.proc("1/root"));
        Self {
            mounts: [roots.proc("1/mounts"), roots.proc("self/mounts")].map(KeptFile::new),
            reach,
            source: 0,
            buf: String::new(),
            statfs: Statfs::default(),
        }
    }

    /// Reads the host's mount table, or this process's when the host's cannot be read.
    fn read_mounts(&mut self) -> Result<(), CollectError> {
        self.source = 0;
        if self.mounts[0].read_into(&mut self.buf).is_ok() {
            return Ok(());
        }
        self.source = 1;
        let fallback = self.mounts[1].read_into(&mut self.buf);
        if fallback.is_err() {
            self.buf.clear();
        }
        fallback
    }

    fn reachable(&self, mount_point: &str) -> PathBuf {
        match &self.reach {
            Some(prefix) => prefix.join(mount_point.trim_start_matches('/')),
            None => PathBuf::from(mount_point),
        }
    }
}

impl Collector for Filesystem {
    fn name(&self) -> &'static str {
        "filesystem"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        // The mount table is read again only when the kernel says it changed.
        if self.buf.is_empty() || self.mounts[self.source].changed() {
            self.read_mounts()?;
        }
        let mut seen: Vec<&str> = Vec::new();
        for line in self.buf.lines() {
            let mut f = line.split_ascii_whitespace();
            let (Some(device), Some(mp), Some(fstype), Some(opts)) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                continue;
            };
            let mp = procfs::unescape_octal(mp);
            if IGNORED_TYPES.contains(&fstype)
                || ignored_mount_point(&mp)
                || seen.contains(&device) && mp != "/"
            {
                continue;
            }
            seen.push(device);
            let path = self.reachable(&mp);
            match self.statfs.statvfs(&path, fstype) {
                Ok(st) => write(
                    cx,
                    &labels!["device" => device, "fstype" => fstype, "mountpoint" => mp],
                    &st,
                    opts,
                ),
                Err(e) => cx.partial(CollectError::read(&path, e)),
            }
        }
        Ok(())
    }
}

/// Writes one filesystem's figures.
fn write(cx: &mut Cx<'_>, labels: &crate::metrics::Labels, st: &rustix::fs::StatVfs, opts: &str) {
    let block = st.f_frsize as f64;
    let readonly = opts.split(',').any(|o| o == "ro");
    let rows: [(&'static str, &'static str, f64); 6] = [
        (
            "node_filesystem_size_bytes",
            "Filesystem size in bytes.",
            st.f_blocks as f64 * block,
        ),
        (
            "node_filesystem_free_bytes",
            "Filesystem free space in bytes.",
            st.f_bfree as f64 * block,
        ),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users in bytes.",
            st.f_bavail as f64 * block,
        ),
        (
            "node_filesystem_files",
            "Filesystem total file nodes.",
            st.f_files as f64,
        ),
        (
            "node_filesystem_files_free",
            "Filesystem total free file nodes.",
            st.f_ffree as f64,
        ),
        (
            "node_filesystem_readonly",
            "Filesystem read-only status.",
            f64::from(u8::from(readonly)),
        ),
    ];
    for (name, help, v) in rows {
        cx.out.gauge(name, help).push(labels.clone(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};

    #[test]
    fn real_filesystems_are_measured_and_pseudo_ones_skipped() {
        let mounts = "proc /proc proc rw 0 0\n/dev/vda / ext4 rw,relatime 0 0\n\
                      tmpfs /run tmpfs rw,nosuid 0 0\n/dev/vdb /data\\040dir ext4 ro 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
        let (dir, roots) = fixture_roots(&[("proc/1/mounts", mounts)]);
        for mp in ["", "run", "data dir"] {
            std::fs::create_dir_all(dir.path().join("proc/1/root").join(mp)).unwrap();
        }
        let buf = run_one(&mut Filesystem::new(&roots)).unwrap();
        let root = [
            ("mountpoint", "/"),
            ("fstype", "ext4"),
            ("device", "/dev/vda"),
        ];
        assert!(buf.value("node_filesystem_size_bytes", &root).unwrap() > 0.0);
        assert_eq!(
            buf.value("node_filesystem_readonly", &[("mountpoint", "/data dir")]),
            Some(1.0)
        );
        assert_eq!(
            buf.value("node_filesystem_readonly", &[("mountpoint", "/run")]),
            Some(0.0)
        );
        assert_eq!(
            buf.value("node_filesystem_size_bytes", &[("mountpoint", "/proc")]),
            None
        );
        assert_eq!(
            buf.value("node_filesystem_size_bytes", &[("fstype", "cgroup2")]),
            None
        );
    }

    #[test]
    fn a_missing_mount_point_is_a_partial_error_and_the_rest_goes_on() {
        let mounts = "/dev/vdc /gone ext4 rw 0 0\n/dev/vda / ext4 rw 0 0\n";
        let (dir, roots) = fixture_roots(&[("proc/1/mounts", mounts)]);
        std::fs::create_dir_all(dir.path().join("proc/1/root")).unwrap();
        let (mut out, mut inv) = (
            crate::metrics::Buffer::new(),
            crate::collect::Inventory::default(),
        );
        let mut cx = crate::collect::Cx::new(&mut out, &mut inv);
        Filesystem::new(&roots).collect(&mut cx).unwrap();
        let partial = cx.take_partial();
        assert_eq!(partial.len(), 1);
        assert!(partial[0].to_string().contains("/gone"), "{}", partial[0]);
        assert!(
            out.value("node_filesystem_size_bytes", &[("mountpoint", "/")])
                .is_some()
        );
    }

    #[test]
    fn octal_escapes_in_mount_points_are_decoded() {
        assert_eq!(procfs::unescape_octal("/mnt/a\\040b\\011c"), "/mnt/a b\tc");
        assert_eq!(procfs::unescape_octal("/plain"), "/plain");
    }
}
