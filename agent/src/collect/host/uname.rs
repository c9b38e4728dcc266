//! `node_uname_info`: the kernel's name, release, version, machine and host name, from the
//! `uname` call, or from `{proc}/sys/kernel/*` when the proc root is the host's mounted elsewhere
//! (in a container, `uname` would describe the container's UTS namespace, not the host).

use std::path::{Path, PathBuf};

use crate::collect::{CollectError, Collector, Cx, Roots, procfs};
use crate::metrics::Labels;

const HELP: &str = "Labeled system information as provided by the uname system call.";

/// Writes `node_uname_info`.
pub struct Uname {
    /// `{proc}/sys/kernel` when the proc root is not `/proc`.
    kernel: Option<PathBuf>,
    buf: String,
}

impl Uname {
    /// A collector using `uname`, or `{proc}/sys/kernel` when the proc root is not `/proc`.
    pub fn new(roots: &Roots) -> Self {
        let kernel = (roots.proc != Path::new("/proc")).then(|| roots.proc("sys/kernel"));
        Self {
            kernel,
            buf: String::new(),
        }
    }

    /// The first line of `{kernel}/{file}`, which must not be empty.
    fn read_line(&mut self, kernel: &Path, file: &str) -> Result<String, CollectError> {
        let path = kernel.join(file);
        procfs::read_into(&path, &mut self.buf)?;
        match self.buf.lines().next() {
            Some(line) if !line.is_empty() => Ok(line.to_owned()),
            _ => Err(CollectError::parse(&path, 1, "empty")),
        }
    }

    /// The labels from the host's `sys/kernel` files; the machine is the agent's own (a
    /// container shares its host's architecture).
    fn host_labels(&mut self, kernel: &Path) -> Result<Labels, CollectError> {
        let machine = machine_of(&rustix::system::uname());
        Ok(vec![
            ("domainname", self.read_line(kernel, "domainname")?),
            ("machine", machine),
            ("nodename", self.read_line(kernel, "hostname")?),
            ("release", self.read_line(kernel, "osrelease")?),
            ("sysname", self.read_line(kernel, "ostype")?),
            ("version", self.read_line(kernel, "version")?),
        ])
    }
}

fn machine_of(u: &rustix::system::Uname) -> String {
    u.machine().to_string_lossy().into_owned()
}

/// The labels from the `uname` call, in node_exporter's (sorted) order.
fn syscall_labels() -> Labels {
    let u = rustix::system::uname();
    let s = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
    vec![
        ("domainname", s(u.domainname())),
        ("machine", machine_of(&u)),
        ("nodename", s(u.nodename())),
        ("release", s(u.release())),
        ("sysname", s(u.sysname())),
        ("version", s(u.version())),
    ]
}

impl Collector for Uname {
    fn name(&self) -> &'static str {
        "uname"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        let labels = match self.kernel.clone() {
            Some(kernel) => self.host_labels(&kernel)?,
            None => syscall_labels(),
        };
        cx.out.gauge("node_uname_info", HELP).push(labels, 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{fixture_roots, run_one};

    /// This machine's `/proc/sys/kernel` files.
    const KERNEL: [(&str, &str); 5] = [
        ("proc/sys/kernel/domainname", "(none)\n"),
        ("proc/sys/kernel/hostname", "vm\n"),
        ("proc/sys/kernel/osrelease", "6.18.44-fc-v669\n"),
        ("proc/sys/kernel/ostype", "Linux\n"),
        ("proc/sys/kernel/version", "#1 SMP PREEMPT_DYNAMIC @0\n"),
    ];

    fn labels_of(buf: &crate::metrics::Buffer) -> Vec<(&'static str, String)> {
        buf.families()[0].samples[0].labels.to_vec()
    }

    #[test]
    fn a_mounted_proc_root_describes_the_host_from_its_kernel_files() {
        let (_dir, roots) = fixture_roots(&KERNEL);
        let buf = run_one(&mut Uname::new(&roots)).unwrap();
        let labels = labels_of(&buf);
        let get = |k| {
            labels
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("domainname"), Some("(none)"));
        assert_eq!(get("nodename"), Some("vm"));
        assert_eq!(get("release"), Some("6.18.44-fc-v669"));
        assert_eq!(get("sysname"), Some("Linux"));
        assert_eq!(get("version"), Some("#1 SMP PREEMPT_DYNAMIC @0"));
        assert_eq!(
            get("machine"),
            Some(machine_of(&rustix::system::uname()).as_str())
        );
        assert_eq!(buf.value("node_uname_info", &[]), Some(1.0));
    }

    #[test]
    fn the_real_proc_root_uses_the_uname_call() {
        let buf = run_one(&mut Uname::new(&Roots::default())).unwrap();
        assert_eq!(labels_of(&buf), syscall_labels());
    }

    #[test]
    fn an_empty_kernel_file_is_a_parse_error_naming_it() {
        let mut files = KERNEL;
        files[2].1 = "";
        let (_dir, roots) = fixture_roots(&files);
        let err = run_one(&mut Uname::new(&roots)).unwrap_err().to_string();
        assert!(err.ends_with("sys/kernel/osrelease:1: empty"), "{err}");
    }

    #[test]
    fn a_missing_kernel_file_is_a_read_error() {
        let (_dir, roots) = fixture_roots(&KERNEL[..1]);
        let err = run_one(&mut Uname::new(&roots)).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }
}
