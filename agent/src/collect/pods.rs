//! Pods: their UID and QoS class from kubepods cgroup paths (systemd and cgroupfs drivers), and,
//! when the kubelet is reachable, their names, namespaces, container names and restart counts
//! from its `/pods` list ([`Kubelet`] fetches it into a [`PodDirectory`]).

mod kubelet;

use std::collections::HashMap;

pub use kubelet::{Kubelet, KubeletConfig};

use crate::labels;
use crate::metrics::Buffer;

/// A pod's Kubernetes QoS class, from its cgroup's place under `kubepods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QosClass {
    /// Requests equal limits; the pod's cgroup sits directly under `kubepods`.
    Guaranteed,
    /// Some requests; under `kubepods/burstable`.
    Burstable,
    /// No requests; under `kubepods/besteffort`.
    BestEffort,
}

impl QosClass {
    /// The class as Kubernetes spells it in `status.qosClass`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Guaranteed => "Guaranteed",
            Self::Burstable => "Burstable",
            Self::BestEffort => "BestEffort",
        }
    }
}

/// The pod UID (with dashes) and QoS class named by a cgroup path, if it lies in a pod's cgroup:
/// `.../kubepods-burstable-pod<uid_with_underscores>.slice/...` (systemd driver) or
/// `.../kubepods/burstable/pod<uid>/...` (cgroupfs driver); guaranteed pods sit right under
/// `kubepods(.slice)`.
pub fn parse_pod_path(path: &str) -> Option<(String, QosClass)> {
    let mut prev = "";
    for part in path.split('/') {
        if let Some(found) = parse_pod_dir(prev, part) {
            return Some(found);
        }
        prev = part;
    }
    None
}

/// The pod a directory `name` stands for, given its `parent` directory's name.
pub fn parse_pod_dir(parent: &str, name: &str) -> Option<(String, QosClass)> {
    let (uid, qos) = if let Some(unit) = name
        .strip_prefix("kubepods-")
        .and_then(|n| n.strip_suffix(".slice"))
    {
        match unit.split_once("-pod") {
            Some(("burstable", uid)) => (uid, QosClass::Burstable),
            Some(("besteffort", uid)) => (uid, QosClass::BestEffort),
            _ => (unit.strip_prefix("pod")?, QosClass::Guaranteed),
        }
    } else {
        let uid = name.strip_prefix("pod")?;
        match parent {
            "burstable" => (uid, QosClass::Burstable),
            "besteffort" => (uid, QosClass::BestEffort),
            "kubepods" => (uid, QosClass::Guaranteed),
            _ => return None,
        }
    };
    let valid = !uid.is_empty()
        && uid
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_');
    valid.then(|| (uid.replace('_', "-"), qos))
}

/// What the kubelet says about one pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
}

/// What the kubelet says about one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerMeta {
    /// The UID of its pod.
    pub pod_uid: String,
    /// The container's name in the pod spec.
    pub name: String,
    /// `restartCount`.
    pub restarts: u64,
}

/// Pods and containers known to the kubelet, by pod UID and by 64-hex container id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodDirectory {
    pods: HashMap<String, PodMeta>,
    containers: HashMap<String, ContainerMeta>,
}

impl PodDirectory {
    /// Builds the directory from a kubelet `/pods` PodList document.
    pub fn from_pod_list(json: &[u8]) -> Result<Self, serde_json::Error> {
        let list: wire::PodList = serde_json::from_slice(json)?;
        let mut dir = Self::default();
        for pod in list.items {
            let uid = pod.metadata.uid;
            let statuses = pod
                .status
                .container_statuses
                .into_iter()
                .chain(pod.status.init_container_statuses);
            for c in statuses {
                let Some((_, id)) = c.container_id.split_once("://") else {
                    continue;
                };
                let meta = ContainerMeta {
                    pod_uid: uid.clone(),
                    name: c.name,
                    restarts: c.restart_count,
                };
                dir.containers.insert(id.to_string(), meta);
            }
            let meta = PodMeta {
                name: pod.metadata.name,
                namespace: pod.metadata.namespace,
            };
            dir.pods.insert(uid, meta);
        }
        Ok(dir)
    }

    /// The pod with `uid`.
    pub fn pod(&self, uid: &str) -> Option<&PodMeta> {
        self.pods.get(uid)
    }

    /// The container with the 64-hex `id`.
    pub fn container(&self, id: &str) -> Option<&ContainerMeta> {
        self.containers.get(id)
    }

    /// Writes `kube_pod_container_status_restarts_total{namespace,pod,container}` for every
    /// container the kubelet reported.
    pub fn write_restarts(&self, out: &mut Buffer) {
        let family = out.counter(
            "kube_pod_container_status_restarts_total",
            "The number of container restarts per container.",
        );
        for c in self.containers.values() {
            let Some(pod) = self.pods.get(&c.pod_uid) else {
                continue;
            };
            let labels =
                labels!["namespace" => pod.namespace, "pod" => pod.name, "container" => c.name];
            family.push(labels, c.restarts as f64);
        }
    }
}

/// Writes `warroom_pod_info{pod_uid,qos_class,pod,namespace} 1` per pod found in the cgroups;
/// `pod` is the UID and `namespace` empty when the kubelet's directory does not know the pod.
pub fn write_pod_info(
    out: &mut Buffer,
    pods: &[(String, QosClass)],
    directory: Option<&PodDirectory>,
) {
    let family = out.gauge(
        "warroom_pod_info",
        "A pod found in the node's cgroups, with its QoS class.",
    );
    for (uid, qos) in pods {
        let meta = directory.and_then(|d| d.pod(uid));
        let (pod, namespace) = meta.map_or((uid.as_str(), ""), |m| {
            (m.name.as_str(), m.namespace.as_str())
        });
        family.push(labels!["pod_uid" => uid, "qos_class" => qos.as_str(), "pod" => pod, "namespace" => namespace], 1.0);
    }
}

/// The parts of the kubelet's PodList this agent reads.
mod wire {
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct PodList {
        #[serde(default)]
        pub items: Vec<Pod>,
    }

    #[derive(Deserialize)]
    pub struct Pod {
        pub metadata: Metadata,
        #[serde(default)]
        pub status: Status,
    }

    #[derive(Deserialize)]
    pub struct Metadata {
        pub name: String,
        #[serde(default)]
        pub namespace: String,
        pub uid: String,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    pub struct Status {
        #[serde(default)]
        pub container_statuses: Vec<ContainerStatus>,
        #[serde(default)]
        pub init_container_statuses: Vec<ContainerStatus>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ContainerStatus {
        pub name: String,
        #[serde(rename = "containerID", default)]
        pub container_id: String,
        #[serde(default)]
        pub restart_count: u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    const ID: &str = "8f3c1a5e9b7d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a";

    #[test]
    fn systemd_paths_give_the_uid_with_dashes_and_the_qos_class() {
        // Arrange
        let u = UID.replace('-', "_");
        let cases = [
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope"
                ),
                QosClass::Burstable,
            ),
            (
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/crio-{ID}.scope"
                ),
                QosClass::BestEffort,
            ),
            (
                format!("/kubepods.slice/kubepods-pod{u}.slice/docker-{ID}.scope"),
                QosClass::Guaranteed,
            ),
        ];
        for (path, qos) in cases {
            // Act
            let parsed = parse_pod_path(&path);

            // Assert
            assert_eq!(parsed, Some((UID.to_string(), qos)), "{path}");
        }
    }

    #[test]
    fn cgroupfs_paths_give_the_uid_and_the_qos_class() {
        let cases = [
            (
                format!("/kubepods/burstable/pod{UID}/{ID}"),
                QosClass::Burstable,
            ),
            (
                format!("/kubepods/besteffort/pod{UID}/{ID}"),
                QosClass::BestEffort,
            ),
            (format!("/kubepods/pod{UID}/{ID}"), QosClass::Guaranteed),
        ];
        for (path, qos) in cases {
            assert_eq!(
                parse_pod_path(&path),
                Some((UID.to_string(), qos)),
                "{path}"
            );
        }
    }

    #[test]
    fn paths_outside_pods_and_qos_slices_name_no_pod() {
        for path in [
            "/kubepods.slice/kubepods-burstable.slice",
            "/kubepods/burstable",
            "/system.slice/docker-abc.scope",
            "/user.slice/pod1234",
            "/kubepods/burstable/podnot-a-uid!",
        ] {
            assert_eq!(parse_pod_path(path), None, "{path}");
        }
    }

    #[test]
    fn a_pod_list_gives_names_namespaces_containers_and_restarts() {
        // Arrange
        let json = format!(
            r#"{{"kind":"PodList","apiVersion":"v1","metadata":{{}},"items":[{{"metadata":{{"name":"web-0","namespace":"shop","uid":"{UID}"}},
            "spec":{{"containers":[{{"name":"app"}}]}},"status":{{"phase":"Running","qosClass":"Burstable",
            "containerStatuses":[{{"name":"app","containerID":"containerd://{ID}","restartCount":3,"ready":true}},
            {{"name":"waiting","restartCount":0}}]}}}}]}}"#
        );

        // Act
        let dir = PodDirectory::from_pod_list(json.as_bytes()).unwrap();
        let mut out = Buffer::new();
        dir.write_restarts(&mut out);

        // Assert
        assert_eq!(dir.pod(UID).unwrap().name, "web-0");
        assert_eq!(dir.container(ID).unwrap().name, "app");
        let f = &out.families()[0];
        assert_eq!(f.samples.len(), 1);
        assert_eq!(
            *f.samples[0].labels,
            labels!["namespace" => "shop", "pod" => "web-0", "container" => "app"]
        );
        assert_eq!(f.samples[0].value, crate::metrics::Value::Number(3.0));
    }

    #[test]
    fn pod_info_falls_back_to_the_uid_when_the_kubelet_is_unknown() {
        let mut out = Buffer::new();

        write_pod_info(&mut out, &[(UID.to_string(), QosClass::BestEffort)], None);

        let s = &out.families()[0].samples[0];
        assert_eq!(
            *s.labels,
            labels!["pod_uid" => UID, "qos_class" => "BestEffort", "pod" => UID, "namespace" => ""]
        );
    }
}
