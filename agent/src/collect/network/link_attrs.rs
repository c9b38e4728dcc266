//! One interface's sysfs attribute files for `netclass`, kept open between collections. The
//! attributes that move with the link (`carrier_changes`, operstate, flags, dormant) are read
//! every pass; everything else at once whenever one of them changed, and every
//! [`REFRESH_EVERY`] passes. That covers `carrier` and its up/down counters exactly: the kernel
//! counts every carrier change in `carrier_changes` (the sum of the two counters), and `carrier`
//! reads as an error unless the link is up, which `flags` shows. The rest (address, MTU, queue
//! length, alias, speed, duplex, ids and types) only an administrator or a renegotiation
//! changes. That is four reads per interface and pass instead of twenty-two.

use std::path::Path;

use rustix::io::Errno;

use crate::collect::kept::KeptFile;
use crate::collect::{CollectError, Cx};

/// Passes between reads of the rarely changing attributes: with the default 15 s interval, an
/// MTU or alias set by hand shows within two minutes, a link going down or up at once.
pub const REFRESH_EVERY: u32 = 8;

/// The attributes read every pass; a change in one of them re-reads all the others too.
const LINK: [&str; 4] = ["carrier_changes", "dormant", "flags", "operstate"];

/// The attribute files of one interface and their last text (`None`: absent or refused).
#[derive(Debug)]
pub struct LinkAttrs {
    files: Vec<KeptFile>,
    link: Vec<bool>,
    values: Vec<Option<String>>,
    passes: u32,
}

impl LinkAttrs {
    /// The files `names` of the interface directory `dir`, none read yet.
    pub fn new(dir: &Path, names: impl Iterator<Item = &'static str>) -> Self {
        let names: Vec<&str> = names.collect();
        Self {
            files: names
                .iter()
                .map(|f| KeptFile::one_piece(dir.join(f)))
                .collect(),
            link: names.iter().map(|f| LINK.contains(f)).collect(),
            values: vec![None; names.len()],
            passes: 0,
        }
    }

    /// Reads this pass's attributes; false when none is there (the interface is gone).
    pub fn read(&mut self, cx: &mut Cx<'_>, buf: &mut Vec<u8>) -> bool {
        let mut changed = self.passes.is_multiple_of(REFRESH_EVERY);
        self.passes = self.passes.wrapping_add(1);
        for i in (0..self.files.len()).filter(|&i| self.link[i]) {
            let value = read_one(&mut self.files[i], cx, buf);
            changed |= value != self.values[i];
            self.values[i] = value;
        }
        if changed {
            for i in (0..self.files.len()).filter(|&i| !self.link[i]) {
                self.values[i] = read_one(&mut self.files[i], cx, buf);
            }
        }
        self.values.iter().any(Option::is_some)
    }

    /// The text of attribute `i`, trimmed, as last read.
    pub fn value(&self, i: usize) -> Option<&str> {
        self.values[i].as_deref()
    }

    /// The path of attribute `i`, for errors.
    pub fn path(&self, i: usize) -> &Path {
        self.files[i].path()
    }
}

/// Reads one attribute: `None` when the kernel has no such file or refuses it for this link
/// (EINVAL for `speed` on a down link), as node_exporter skips them; any other failure is
/// reported as partial.
fn read_one(file: &mut KeptFile, cx: &mut Cx<'_>, buf: &mut Vec<u8>) -> Option<String> {
    match file.read_bytes(buf) {
        Ok(()) => Some(String::from_utf8_lossy(buf).trim_end().to_owned()),
        Err(Errno::NOENT | Errno::INVAL | Errno::OPNOTSUPP | Errno::NODEV) => None,
        Err(e) => {
            cx.partial(CollectError::read(file.path(), e.into()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::Inventory;
    use crate::metrics::Buffer;

    #[test]
    fn set_attributes_are_reread_only_when_due_or_when_the_link_changes() {
        // Arrange
        let tmp = tempfile::tempdir().unwrap();
        let write = |f: &str, v: &str| std::fs::write(tmp.path().join(f), v).unwrap();
        write("carrier_changes", "1\n");
        write("carrier", "1\n");
        write("mtu", "1500\n");
        let names = ["carrier_changes", "carrier", "mtu"];
        let mut attrs = LinkAttrs::new(tmp.path(), names.into_iter());
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
        let mut cx = Cx::new(&mut out, &mut inventory);
        let mut buf = Vec::new();
        let mut pass = |attrs: &mut LinkAttrs| {
            assert!(attrs.read(&mut cx, &mut buf));
            (
                attrs.value(1).unwrap().to_owned(),
                attrs.value(2).unwrap().to_owned(),
            )
        };
        assert_eq!(pass(&mut attrs), ("1".into(), "1500".into()));

        // Act / Assert: the MTU waits for its turn; a carrier change (counted in
        // `carrier_changes`) brings the carrier and the MTU at once.
        write("mtu", "9000\n");
        write("carrier", "0\n");
        assert_eq!(pass(&mut attrs), ("1".into(), "1500".into()));
        write("carrier_changes", "2\n");
        assert_eq!(pass(&mut attrs), ("0".into(), "9000".into()));
        write("mtu", "1400\n");
        for _ in 3..REFRESH_EVERY {
            assert_eq!(pass(&mut attrs).1, "9000");
        }
        assert_eq!(pass(&mut attrs).1, "1400");
    }
}
