//! The cgroup directories of the containers of the current and the last pass, kept open, per
//! hierarchy by path relative to its mount. While the collector reuses a walk, each container's
//! directories are also remembered by its place in the walk, so a pass finds them without
//! hashing or comparing a path: five lookups per container and pass on a hybrid host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::dir::CgroupDir;
use crate::collect::CollectError;
use crate::metrics::FastHash;

/// The hierarchies a container is read from: the unified one and the v1 `cpuacct`, `cpu`,
/// `memory` and `blkio` controllers.
pub const SLOTS: usize = 5;

/// Which directory of which container: its index in the walk and its hierarchy (`< SLOTS`).
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The container's index in the walk the collector reuses.
    pub container: usize,
    /// The hierarchy.
    pub slot: usize,
}

/// The open directories of one hierarchy by path relative to its mount: their places in the
/// slab.
type Dirs = HashMap<Box<str>, usize, FastHash>;

/// No place remembered.
const UNKNOWN: u32 = u32::MAX;

/// The open directories of the containers of the current and the last pass.
#[derive(Default)]
pub struct DirCache {
    mounts: Vec<(PathBuf, Dirs)>,
    /// The open directories, each with the pass that last used it; `None`: a free place.
    slab: Vec<Option<(CgroupDir, u64)>>,
    /// Free places in `slab`.
    free: Vec<usize>,
    /// Places by [`Key`], for the current walk; emptied by a new walk and whenever a place is
    /// freed (it could then hold another directory).
    memo: Vec<[u32; SLOTS]>,
    pass: u64,
}

impl DirCache {
    /// The open directory `rel` (starting with `/`) of the hierarchy mounted at `mount`, opened
    /// now if it is new; `Ok(None)` when it is missing. `key` names it in the current walk.
    pub fn open(
        &mut self,
        mount: &Path,
        rel: &str,
        key: Key,
    ) -> Result<Option<&CgroupDir>, CollectError> {
        let memo = self.memo.get(key.container).map(|m| m[key.slot]);
        let place = match memo.filter(|&p| p != UNKNOWN) {
            Some(place) => place as usize,
            None => {
                let Some(place) = self.lookup(mount, rel)? else {
                    return Ok(None);
                };
                self.remember(key, place);
                place
            }
        };
        Ok(self.slab[place].as_mut().map(|(dir, used)| {
            *used = self.pass;
            &*dir
        }))
    }

    /// The place of `rel` of the hierarchy at `mount`, opening the directory when it is new.
    fn lookup(&mut self, mount: &Path, rel: &str) -> Result<Option<usize>, CollectError> {
        let at = self
            .mounts
            .iter()
            .position(|(m, _)| m.as_os_str() == mount.as_os_str());
        let at = at.unwrap_or_else(|| {
            self.mounts.push((mount.to_path_buf(), Dirs::default()));
            self.mounts.len() - 1
        });
        if let Some(&place) = self.mounts[at].1.get(rel) {
            return Ok(Some(place));
        }
        let Some(dir) = CgroupDir::open(mount.join(rel.trim_start_matches('/')))? else {
            return Ok(None);
        };
        let place = self.free.pop().unwrap_or(self.slab.len());
        if place == self.slab.len() {
            self.slab.push(None);
        }
        self.slab[place] = Some((dir, self.pass));
        self.mounts[at].1.insert(rel.into(), place);
        Ok(Some(place))
    }

    /// Remembers `place` for `key`, when the slab is small enough to number in a `u32`.
    fn remember(&mut self, key: Key, place: usize) {
        let Ok(place) = u32::try_from(place) else {
            return;
        };
        if self.memo.len() <= key.container {
            self.memo.resize(key.container + 1, [UNKNOWN; SLOTS]);
        }
        self.memo[key.container][key.slot] = place;
    }

    /// Forgets the places by key: the collector walked again, so indices name other containers.
    pub fn new_walk(&mut self) {
        self.memo.clear();
    }

    /// Ends a pass: closes the directories (and files) not used in it.
    pub fn end_pass(&mut self) {
        let pass = self.pass;
        let (slab, free) = (&mut self.slab, &mut self.free);
        let freed = free.len();
        for (_, dirs) in &mut self.mounts {
            dirs.retain(|_, place| {
                let used = slab[*place].as_ref().is_some_and(|(_, used)| *used == pass);
                if !used {
                    slab[*place] = None;
                    free.push(*place);
                }
                used
            });
        }
        if self.free.len() > freed {
            self.memo.clear();
        }
        self.pass += 1;
    }

    /// Number of directories held open.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slab.iter().filter(|d| d.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(container: usize) -> Key {
        Key { container, slot: 0 }
    }

    #[test]
    fn the_cache_closes_directories_not_seen_in_the_last_pass() {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["a", "b"] {
            std::fs::create_dir(tmp.path().join(d)).unwrap();
        }
        let mut cache = DirCache::default();
        cache.open(tmp.path(), "/a", key(0)).unwrap();
        cache.open(tmp.path(), "/b", key(1)).unwrap();
        cache.end_pass();

        cache.open(tmp.path(), "/a", key(0)).unwrap();
        cache.end_pass();

        assert_eq!(cache.len(), 1);
        assert!(cache.open(tmp.path(), "/gone", key(2)).unwrap().is_none());
    }

    #[test]
    fn a_remembered_directory_is_forgotten_with_its_walk() {
        // Arrange: container 0 is `/a`, then a new walk makes it `/b`.
        let tmp = tempfile::tempdir().unwrap();
        for d in ["a", "b"] {
            std::fs::create_dir(tmp.path().join(d)).unwrap();
        }
        let mut cache = DirCache::default();
        let a = cache
            .open(tmp.path(), "/a", key(0))
            .unwrap()
            .unwrap()
            .path()
            .to_path_buf();
        cache.end_pass();

        // Act
        cache.new_walk();
        let b = cache
            .open(tmp.path(), "/b", key(0))
            .unwrap()
            .unwrap()
            .path()
            .to_path_buf();

        // Assert
        assert_eq!(a, tmp.path().join("a"));
        assert_eq!(b, tmp.path().join("b"));
    }
}
