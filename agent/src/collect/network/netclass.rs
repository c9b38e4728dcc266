//! `/sys/class/net/<iface>/`: link state, MTU, speed, carrier changes and the other per-interface
//! attributes with node_exporter's `netclass` names, for every interface (`lo` included).
//!
//! One directory listing per collection; each interface's attribute files are kept open and
//! the rarely changing ones read only now and then ([`LinkAttrs`]).

use std::collections::HashMap;
use std::path::PathBuf;

use rustix::fs::{Dir, Mode, OFlags, openat};
use rustix::io::Errno;

use super::link_attrs::LinkAttrs;
use crate::collect::procfs::short;
use crate::collect::{CollectError, Collector, Cx, Roots};
use crate::labels;
use crate::metrics::{Kind, SharedLabels};

/// Interfaces whose files are kept open (22 descriptors each); more are read file by file.
const MAX_KEPT_IFACES: usize = 64;

/// `(file, node_network_<suffix>, "Network device property: <suffix>", kind)`.
macro_rules! attr {
    ($file:literal, $suffix:literal, $kind:ident) => {
        (
            $file,
            concat!("node_network_", $suffix),
            concat!("Network device property: ", $suffix),
            Kind::$kind,
        )
    };
}

/// (attribute file, metric, help, kind) of the numeric attributes; `speed` is scaled to bytes.
const NUMERIC: [(&str, &str, &str, Kind); 17] = [
    attr!("addr_assign_type", "address_assign_type", Gauge),
    attr!("carrier", "carrier", Gauge),
    attr!("carrier_changes", "carrier_changes_total", Counter),
    attr!("carrier_up_count", "carrier_up_changes_total", Counter),
    attr!("carrier_down_count", "carrier_down_changes_total", Counter),
    attr!("dev_id", "device_id", Gauge),
    attr!("dormant", "dormant", Gauge),
    attr!("flags", "flags", Gauge),
    attr!("ifindex", "iface_id", Gauge),
    attr!("iflink", "iface_link", Gauge),
    attr!("link_mode", "iface_link_mode", Gauge),
    attr!("mtu", "mtu_bytes", Gauge),
    attr!("name_assign_type", "name_assign_type", Gauge),
    attr!("netdev_group", "net_dev_group", Gauge),
    attr!("type", "protocol_type", Gauge),
    attr!("tx_queue_len", "transmit_queue_length", Gauge),
    attr!("speed", "speed_bytes", Gauge),
];

/// The text attributes of `node_network_info`, as (file, label), in label order.
const INFO: [(&str, &str); 5] = [
    ("address", "address"),
    ("broadcast", "broadcast"),
    ("duplex", "duplex"),
    ("ifalias", "ifalias"),
    ("operstate", "operstate"),
];

/// Reads every interface's attributes below `{sys}/class/net`.
#[derive(Debug)]
pub struct NetClass {
    dir: PathBuf,
    names: Vec<String>,
    buf: Vec<u8>,
    ifaces: HashMap<String, LinkAttrs>,
}

impl NetClass {
    /// A collector reading `{sys}/class/net` below `roots`.
    pub fn new(roots: Roots) -> Self {
        Self {
            dir: roots.sys("class/net"),
            names: Vec::new(),
            buf: Vec::with_capacity(4096),
            ifaces: HashMap::new(),
        }
    }

    /// Lists the interfaces into `self.names`, sorted.
    fn list(&mut self) -> Result<(), CollectError> {
        let io = |e: Errno| CollectError::read(&self.dir, e.into());
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = openat(rustix::fs::CWD, &self.dir, flags, Mode::empty()).map_err(io)?;
        let mut dir = Dir::new(fd).map_err(io)?;
        self.names.clear();
        while let Some(entry) = dir.read() {
            let name = entry
                .map_err(io)?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if !name.starts_with('.') {
                self.names.push(name);
            }
        }
        self.names.sort_unstable();
        Ok(())
    }

    /// Writes the numeric attributes of one interface, all with the label set `device`.
    fn numbers(cx: &mut Cx<'_>, attrs: &LinkAttrs, device: &SharedLabels) {
        for (i, (file, metric, help, kind)) in NUMERIC.into_iter().enumerate() {
            let Some(text) = attrs.value(i) else {
                continue;
            };
            let Some(v) = parse_int(text) else {
                let what = format!("not an integer: {:?}", short(text));
                cx.partial(CollectError::parse(attrs.path(i), 1, what));
                continue;
            };
            // An unknown speed reads -1 (virtual and down links): no series rather than a
            // negative one.
            let v = match file {
                "speed" if v < 0 => continue,
                "speed" => v as f64 * 125_000.0,
                _ => v as f64,
            };
            cx.out.family(metric, help, kind).push(device.clone(), v);
        }
    }

    /// Writes `node_network_info` and `node_network_up` of one interface.
    fn info(cx: &mut Cx<'_>, attrs: &LinkAttrs, name: &str, device: SharedLabels) {
        let mut labels = Vec::with_capacity(INFO.len() + 1);
        for (i, (_, label)) in INFO.into_iter().enumerate() {
            let value = attrs.value(NUMERIC.len() + i).unwrap_or("");
            labels.push((label, value.to_owned()));
        }
        let up = labels[4].1 == "up";
        labels.insert(2, ("device", name.to_owned()));
        let help = "Non-numeric data from /sys/class/net/<iface>, value is always 1.";
        cx.out.gauge("node_network_info", help).push(labels, 1.0);
        let help = "Value is 1 if operstate is 'up', 0 otherwise.";
        let v = if up { 1.0 } else { 0.0 };
        cx.out.gauge("node_network_up", help).push(device, v);
    }
}

/// A decimal or `0x` hexadecimal integer (`flags` and `dev_id` are hex).
fn parse_int(s: &str) -> Option<i64> {
    match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Collector for NetClass {
    fn name(&self) -> &'static str {
        "netclass"
    }

    fn collect(&mut self, cx: &mut Cx<'_>) -> Result<(), CollectError> {
        self.list()?;
        let mut last = std::mem::take(&mut self.ifaces);
        for name in &self.names {
            let dir = self.dir.join(name);
            let files = NUMERIC.iter().map(|a| a.0).chain(INFO.iter().map(|a| a.0));
            let mut attrs = last
                .remove(name)
                .unwrap_or_else(|| LinkAttrs::new(&dir, files));
            // An interface removed since the listing simply has no series this time.
            if !attrs.read(cx, &mut self.buf) && !dir.is_dir() {
                continue;
            }
            let device = SharedLabels::new(labels!["device" => name]);
            Self::numbers(cx, &attrs, &device);
            Self::info(cx, &attrs, name, device);
            if self.ifaces.len() < MAX_KEPT_IFACES {
                self.ifaces.insert(name.clone(), attrs);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::network::testing::{kind_of, value_of};
    use crate::collect::{Inventory, fixture_roots, run_one};
    use crate::metrics::Buffer;

    /// This machine's eth0 (virtio, up, speed -1) and lo, file by file; lo's `speed` and `duplex`
    /// fail with EINVAL there, which a fixture shows as absent.
    const ETH0: [(&str, &str); 22] = [
        ("addr_assign_type", "0\n"),
        ("address", "02:fc:00:00:00:01\n"),
        ("broadcast", "ff:ff:ff:ff:ff:ff\n"),
        ("carrier", "1\n"),
        ("carrier_changes", "2\n"),
        ("carrier_up_count", "1\n"),
        ("carrier_down_count", "1\n"),
        ("dev_id", "0x0\n"),
        ("dormant", "0\n"),
        ("duplex", "unknown\n"),
        ("flags", "0x1003\n"),
        ("ifalias", "\n"),
        ("ifindex", "4\n"),
        ("iflink", "4\n"),
        ("link_mode", "0\n"),
        ("mtu", "1400\n"),
        ("name_assign_type", "1\n"),
        ("netdev_group", "0\n"),
        ("operstate", "up\n"),
        ("speed", "-1\n"),
        ("tx_queue_len", "1000\n"),
        ("type", "1\n"),
    ];

    fn files(iface: &str, attrs: &[(&str, &str)]) -> Vec<(String, String)> {
        let path = |f: &str| format!("sys/class/net/{iface}/{f}");
        attrs
            .iter()
            .map(|(f, v)| (path(f), v.to_string()))
            .collect()
    }

    fn collect(files: &[(String, String)]) -> (Buffer, Vec<CollectError>) {
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        let (_dir, roots) = fixture_roots(&refs);
        let (mut out, mut inventory) = (Buffer::new(), Inventory::default());
        let mut cx = Cx::new(&mut out, &mut inventory);
        NetClass::new(roots).collect(&mut cx).unwrap();
        let partial = cx.take_partial();
        (out, partial)
    }

    fn lo() -> Vec<(String, String)> {
        let mut attrs: Vec<(&str, &str)> = ETH0.to_vec();
        attrs.retain(|(f, _)| !["speed", "duplex"].contains(f));
        for (f, v) in &mut attrs {
            *v = match *f {
                "address" | "broadcast" => "00:00:00:00:00:00\n",
                "flags" => "0x9\n",
                "ifindex" | "iflink" => "1\n",
                "mtu" => "65536\n",
                "name_assign_type" => "2\n",
                "operstate" => "unknown\n",
                "type" => "772\n",
                "carrier_changes" | "carrier_up_count" | "carrier_down_count" => "0\n",
                _ => v,
            };
        }
        files("lo", &attrs)
    }

    #[test]
    fn every_attribute_of_a_real_interface_is_reported_under_node_exporter_names() {
        let (out, partial) = collect(&files("eth0", &ETH0));

        assert!(partial.is_empty(), "{partial:?}");
        let eth0 = [("device", "eth0")];
        let v = |name| value_of(&out, name, &eth0);
        assert_eq!(v("node_network_up"), Some(1.0));
        assert_eq!(v("node_network_flags"), Some(4099.0));
        assert_eq!(v("node_network_mtu_bytes"), Some(1400.0));
        assert_eq!(v("node_network_carrier_changes_total"), Some(2.0));
        assert_eq!(v("node_network_carrier_down_changes_total"), Some(1.0));
        assert_eq!(v("node_network_iface_id"), Some(4.0));
        assert_eq!(v("node_network_transmit_queue_length"), Some(1000.0));
        assert_eq!(v("node_network_protocol_type"), Some(1.0));
        assert_eq!(
            kind_of(&out, "node_network_carrier_up_changes_total"),
            Some(Kind::Counter)
        );
        assert_eq!(
            out.families().len(),
            16 + 2,
            "all but speed, plus info and up"
        );
    }

    #[test]
    fn an_unknown_speed_is_omitted_and_a_known_one_is_in_bytes() {
        let mut attrs = ETH0.to_vec();
        let (out, _) = collect(&files("eth0", &attrs));
        assert_eq!(value_of(&out, "node_network_speed_bytes", &[]), None);

        attrs.retain(|(f, _)| *f != "speed");
        attrs.push(("speed", "10000\n"));
        let (out, _) = collect(&files("eth0", &attrs));
        let speed = value_of(&out, "node_network_speed_bytes", &[("device", "eth0")]);
        assert_eq!(speed, Some(1_250_000_000.0));
    }

    #[test]
    fn loopback_is_reported_down_with_its_text_attributes_in_info() {
        let (out, partial) = collect(&lo());

        assert!(partial.is_empty(), "{partial:?}");
        assert_eq!(
            value_of(&out, "node_network_up", &[("device", "lo")]),
            Some(0.0)
        );
        let info = &out
            .families()
            .iter()
            .find(|f| f.name == "node_network_info")
            .unwrap();
        let labels: Vec<(&str, &str)> = info.samples[0]
            .labels
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let zero = "00:00:00:00:00:00";
        let expected = [
            ("address", zero),
            ("broadcast", zero),
            ("device", "lo"),
            ("duplex", ""),
            ("ifalias", ""),
            ("operstate", "unknown"),
        ];
        assert_eq!(labels, expected);
        assert_eq!(info.samples[0].value, crate::metrics::Value::Number(1.0));
    }

    #[test]
    fn a_garbage_attribute_is_a_partial_error_naming_the_file_and_the_rest_goes_on() {
        let mut all = lo();
        all.extend(files(
            "eth0",
            &[("mtu", "\u{0}garbage"), ("operstate", "up")],
        ));

        let (out, partial) = collect(&all);

        assert_eq!(partial.len(), 1);
        let err = partial[0].to_string();
        assert!(
            err.ends_with("class/net/eth0/mtu:1: not an integer: \"\\0garbage\""),
            "{err}"
        );
        assert_eq!(
            value_of(&out, "node_network_up", &[("device", "eth0")]),
            Some(1.0)
        );
        assert_eq!(
            value_of(&out, "node_network_mtu_bytes", &[("device", "lo")]),
            Some(65536.0)
        );
    }

    #[test]
    fn a_missing_class_net_directory_is_a_read_error() {
        let (_dir, roots) = fixture_roots(&[]);
        let err = run_one(&mut NetClass::new(roots)).unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }
}
