//! Finding containers: one walk of one hierarchy, recognising a container by the 64-hex id in
//! its directory name, and the pods by their kubepods directories on the way down. A container's
//! own sub-cgroups are not walked: they are part of it.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, FileType, OFlags, RawDir, statat};
use rustix::io::Errno;

use super::dir::open_noatime;
use super::watch::Watch;
use crate::collect::CollectError;
use crate::collect::pods::{QosClass, parse_pod_dir};

/// A container's cgroup found by the walk.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The path relative to the hierarchy's mount, starting with `/`.
    pub rel: String,
    /// Where the 64-hex id sits in `rel`.
    id_at: usize,
    /// The index of its pod in [`Walk::pods`].
    pub pod: Option<usize>,
}

impl Found {
    /// The 64-hex container id.
    pub fn id(&self) -> &str {
        &self.rel[self.id_at..self.id_at + 64]
    }
}

/// What one walk found.
#[derive(Debug, Default)]
pub struct Walk {
    /// Containers, in walk order.
    pub containers: Vec<Found>,
    /// Pods (UID, QoS class) whose cgroups the walk passed through.
    pub pods: Vec<(String, QosClass)>,
    /// Sub-directories that could not be listed (other than vanished ones).
    pub errors: Vec<CollectError>,
}

/// Walks the hierarchy mounted at `mount`; only failing to list `mount` itself is an error.
/// Directories are opened relative to the mount and listed with `getdents` into `buf` (kept by
/// the caller): no `fstat` and no path walk from `/` per directory, hundreds of them on a busy
/// node. Each directory listed is first added to `watch`, when there is one.
pub fn walk(
    mount: &Path,
    mut watch: Option<&mut Watch>,
    buf: &mut Vec<u8>,
) -> Result<Walk, CollectError> {
    let mut out = Walk::default();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let root = open_noatime(CWD, mount, flags).map_err(|e| CollectError::read(mount, e.into()))?;
    if buf.capacity() < 32 * 1024 {
        buf.reserve(32 * 1024);
    }
    let mut names = Vec::new();
    let mut stack: Vec<(String, Option<usize>)> = vec![(String::new(), None)];
    if let Some(w) = watch.as_deref_mut() {
        w.begin();
    }
    while let Some((rel, pod)) = stack.pop() {
        if let Some(w) = watch.as_deref_mut() {
            w.add(&mount.join(rel.trim_start_matches('/')));
        }
        let listed = match rel.get(1..) {
            None => list(&root, buf, &mut names),
            Some(sub) => {
                open_noatime(&root, sub, flags).and_then(|dir| list(&dir, buf, &mut names))
            }
        };
        match listed {
            Ok(()) => {}
            Err(e) if rel.is_empty() => return Err(CollectError::read(mount, e.into())),
            Err(Errno::NOENT) => continue,
            Err(e) => {
                out.errors
                    .push(CollectError::read(&mount.join(&rel[1..]), e.into()));
                continue;
            }
        }
        let parent = rel.rsplit('/').next().unwrap_or("");
        for name in names.drain(..) {
            let child = format!("{rel}/{name}");
            if let Some(at) = container_id_at(&name) {
                let id_at = rel.len() + 1 + at;
                out.containers.push(Found {
                    rel: child,
                    id_at,
                    pod,
                });
            } else if let Some(found) = parse_pod_dir(parent, &name) {
                out.pods.push(found);
                stack.push((child, Some(out.pods.len() - 1)));
            } else {
                stack.push((child, pod));
            }
        }
    }
    Ok(out)
}

/// The names of the subdirectories of `dir` (`.` and `..` aside) into `names`.
fn list(dir: &OwnedFd, buf: &mut Vec<u8>, names: &mut Vec<String>) -> Result<(), Errno> {
    names.clear();
    let mut entries = RawDir::new(dir, buf.spare_capacity_mut());
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name();
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            // A filesystem without d_type (not cgroupfs) says so only through a stat.
            FileType::Unknown => statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
            _ => false,
        };
        let Ok(name) = name.to_str() else { continue };
        if is_dir && name != "." && name != ".." {
            names.push(name.to_owned());
        }
    }
    Ok(())
}

/// Where the 64-hex container id starts in a cgroup directory name, if the name is a
/// container's: `<id>`, `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`,
/// `libpod-<id>.scope`. CRI-O's `crio-conmon-<id>.scope` is its monitor, not the container.
pub fn container_id_at(name: &str) -> Option<usize> {
    let stem = name.strip_suffix(".scope").unwrap_or(name);
    let at = stem.rfind('-').map_or(0, |i| i + 1);
    let id = &stem[at..];
    let is_id = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (is_id && !stem[..at].contains("conmon")).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8f3c1a5e9b7d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a";

    #[test]
    fn container_names_of_every_runtime_are_recognised() {
        for name in [
            ID.to_string(),
            format!("docker-{ID}.scope"),
            format!("cri-containerd-{ID}.scope"),
            format!("crio-{ID}.scope"),
        ] {
            let at = container_id_at(&name).unwrap();
            assert_eq!(&name[at..at + 64], ID, "{name}");
        }
        assert_eq!(container_id_at(&format!("crio-conmon-{ID}.scope")), None);
        assert_eq!(container_id_at("system.slice"), None);
        assert_eq!(container_id_at(&format!("docker-{}.scope", &ID[1..])), None);
    }

    #[test]
    fn the_walk_finds_containers_under_their_pods_and_skips_their_children() {
        // Arrange
        let tmp = tempfile::tempdir().unwrap();
        let uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
        let pod = format!("kubepods/burstable/pod{uid}");
        std::fs::create_dir_all(tmp.path().join(format!("{pod}/{ID}/nested"))).unwrap();
        std::fs::create_dir_all(tmp.path().join(format!("system.slice/docker-{ID}.scope")))
            .unwrap();
        std::fs::write(tmp.path().join("kubepods/cgroup.procs"), "").unwrap();

        // Act
        let mut walk = walk(tmp.path(), None, &mut Vec::new()).unwrap();
        walk.containers.sort_by(|a, b| a.rel.cmp(&b.rel));

        // Assert
        assert_eq!(walk.containers.len(), 2);
        assert_eq!(walk.containers[0].rel, format!("/{pod}/{ID}"));
        assert_eq!(walk.containers[0].id(), ID);
        assert_eq!(walk.containers[0].pod, Some(0));
        assert_eq!(walk.pods, vec![(uid.to_string(), QosClass::Burstable)]);
        assert_eq!(walk.containers[1].id(), ID);
        assert_eq!(walk.containers[1].pod, None);
    }

    #[test]
    fn a_missing_mount_is_an_error_naming_it() {
        let err = walk(Path::new("/nonexistent/cgroup"), None, &mut Vec::new()).unwrap_err();

        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/cgroup:"),
            "{err}"
        );
    }
}
