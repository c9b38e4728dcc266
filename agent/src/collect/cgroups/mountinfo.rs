//! Where the cgroup hierarchies are mounted, from `/proc/self/mountinfo`: the v1 controllers this
//! collector reads (`cpu`, `cpuacct`, `memory`, `blkio`, alone or co-mounted) and the cgroup2 tree
//! with the controllers it has enabled. v1, v2 and hybrid hosts all come out as one [`Layout`].

use std::path::{Path, PathBuf};

use crate::collect::{CollectError, Roots, procfs};

/// A mounted hierarchy: where it is under the configured roots and which cgroup it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount point, mapped onto the configured sys root.
    pub path: PathBuf,
    /// The cgroup at the mount point (`/` on a host; a sub-path inside a container's namespace).
    pub root: String,
}

/// The cgroup2 tree and the controllers enabled at its top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unified {
    /// The mount.
    pub mount: Mount,
    /// `memory` is in `cgroup.controllers`.
    pub memory: bool,
    /// `cpu` is in `cgroup.controllers` (CFS throttling in `cpu.stat`).
    pub cpu: bool,
    /// `io` is in `cgroup.controllers` (`io.stat`).
    pub io: bool,
}

/// The hierarchies this collector reads, whatever the cgroup mode of the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// v1 `cpu` (CFS throttling).
    pub cpu: Option<Mount>,
    /// v1 `cpuacct` (usage).
    pub cpuacct: Option<Mount>,
    /// v1 `memory`.
    pub memory: Option<Mount>,
    /// v1 `blkio`.
    pub blkio: Option<Mount>,
    /// The cgroup2 tree (all of v2, or the `unified` tree of a hybrid host).
    pub unified: Option<Unified>,
}

impl Layout {
    /// Reads `{proc}/self/mountinfo` and the cgroup2 `cgroup.controllers`.
    pub fn detect(roots: &Roots) -> Result<Self, CollectError> {
        let path = roots.proc("self/mountinfo");
        let text = procfs::read(&path)?;
        let mut layout = parse(&text, &path, roots)?;
        if let Some(unified) = &mut layout.unified {
            // A dangling cgroup2 mount reads as no controllers; `drop_missing` reports it.
            let path = unified.mount.path.join("cgroup.controllers");
            let controllers = procfs::read(&path).unwrap_or_default();
            for c in controllers.split_ascii_whitespace() {
                match c {
                    "memory" => unified.memory = true,
                    "cpu" => unified.cpu = true,
                    "io" => unified.io = true,
                    _ => {}
                }
            }
        }
        Ok(layout)
    }

    /// Forgets mounts whose mount point is not a directory (a dangling mountinfo entry, a wrong
    /// sys root) and says which, so they are reported instead of read as empty.
    pub fn drop_missing(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |slot: &mut Option<Mount>| {
            if slot.as_ref().is_some_and(|m| !m.path.is_dir()) {
                let m = slot.take().expect("checked");
                problems.push(format!(
                    "cgroup mount {} is not a directory",
                    m.path.display()
                ));
            }
        };
        for slot in [
            &mut self.cpu,
            &mut self.cpuacct,
            &mut self.memory,
            &mut self.blkio,
        ] {
            check(slot);
        }
        if self
            .unified
            .as_ref()
            .is_some_and(|u| !u.mount.path.is_dir())
        {
            let u = self.unified.take().expect("checked");
            problems.push(format!(
                "cgroup mount {} is not a directory",
                u.mount.path.display()
            ));
        }
        problems
    }

    /// The hierarchy walked to find containers: cgroup2 when it carries memory, else the v1
    /// memory, cpuacct or cpu tree, else cgroup2 without controllers.
    pub fn discovery(&self) -> Option<&Mount> {
        let v2_full = self.unified.as_ref().filter(|u| u.memory);
        v2_full
            .map(|u| &u.mount)
            .or(self.memory.as_ref())
            .or(self.cpuacct.as_ref())
            .or(self.cpu.as_ref())
            .or(self.unified.as_ref().map(|u| &u.mount))
    }
}

/// Parses mountinfo text; `path` names it in errors. The first mount of each controller wins.
pub fn parse(text: &str, path: &Path, roots: &Roots) -> Result<Layout, CollectError> {
    let mut layout = Layout::default();
    for (i, line) in text.lines().enumerate() {
        let Some((fields, tail)) = line.split_once(" - ") else {
            return Err(CollectError::parse(path, i + 1, "no ` - ` separator"));
        };
        let mut tail = tail.split_ascii_whitespace();
        let fstype = tail.next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let mut fields = fields.split_ascii_whitespace().skip(3);
        let (Some(root), Some(point)) = (fields.next(), fields.next()) else {
            return Err(CollectError::parse(path, i + 1, "too few fields"));
        };
        let mount = Mount {
            path: roots.host_path(Path::new(&procfs::unescape_octal(point))),
            root: procfs::unescape_octal(root),
        };
        let options = tail.nth(1).unwrap_or("");
        add_mount(&mut layout, fstype, options, mount);
    }
    Ok(layout)
}

/// Files `mount` under the controllers named in its super options.
fn add_mount(layout: &mut Layout, fstype: &str, options: &str, mount: Mount) {
    if fstype == "cgroup2" {
        layout.unified.get_or_insert(Unified {
            mount,
            memory: false,
            cpu: false,
            io: false,
        });
        return;
    }
    for option in options.split(',') {
        let slot = match option {
            "cpu" => &mut layout.cpu,
            "cpuacct" => &mut layout.cpuacct,
            "memory" => &mut layout.memory,
            "blkio" => &mut layout.blkio,
            _ => continue,
        };
        slot.get_or_insert_with(|| mount.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    fn roots() -> Roots {
        Roots {
            proc: "/host/proc".into(),
            sys: "/host/sys".into(),
        }
    }

    #[test]
    fn a_hybrid_host_maps_each_v1_controller_and_the_unified_tree_onto_the_sys_root() {
        // Arrange: this machine's mountinfo, with the host's /sys mounted at /host/sys.
        // Act
        let layout = parse(HYBRID, Path::new("mountinfo"), &roots()).unwrap();

        // Assert
        let path = |m: &Option<Mount>| m.as_ref().map(|m| m.path.clone());
        assert_eq!(path(&layout.cpu), Some("/host/sys/fs/cgroup/cpu".into()));
        assert_eq!(
            path(&layout.cpuacct),
            Some("/host/sys/fs/cgroup/cpuacct".into())
        );
        assert_eq!(
            layout.unified.as_ref().unwrap().mount.path,
            PathBuf::from("/host/sys/fs/cgroup/unified")
        );
        assert_eq!(layout.discovery(), layout.memory.as_ref());
    }

    #[test]
    fn co_mounted_cpu_and_cpuacct_share_one_mount() {
        let text = "25 20 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";

        let layout = parse(text, Path::new("mountinfo"), &Roots::default()).unwrap();

        assert_eq!(layout.cpu, layout.cpuacct);
        assert_eq!(
            layout.cpu.unwrap().path,
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(layout.memory, None);
    }

    #[test]
    fn a_pure_v2_host_walks_the_unified_tree_when_it_has_memory() {
        let text = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let mut layout = parse(text, Path::new("mountinfo"), &Roots::default()).unwrap();
        layout.unified.as_mut().unwrap().memory = true;

        let walked = layout.discovery().unwrap();

        assert_eq!(walked.path, PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(walked.root, "/");
    }

    #[test]
    fn escaped_spaces_in_mount_points_are_decoded() {
        assert_eq!(procfs::unescape_octal("/a\\040b"), "/a b");
        assert_eq!(procfs::unescape_octal("/plain"), "/plain");
        assert_eq!(procfs::unescape_octal("/trailing\\"), "/trailing\\");
    }

    #[test]
    fn a_line_without_separator_is_a_parse_error_naming_the_line() {
        let err = parse(
            "1 2 3 / /x rw\n",
            Path::new("/p/mountinfo"),
            &Roots::default(),
        );

        assert_eq!(
            err.unwrap_err().to_string(),
            "/p/mountinfo:1: no ` - ` separator"
        );
    }
}
