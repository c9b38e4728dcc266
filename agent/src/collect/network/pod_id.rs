//! Which pod a container belongs to, for the per-pod network collector: the `pod` and
//! `namespace` label values, and a key that is the same for every container of one pod.

use std::hash::{Hash, Hasher};

use crate::collect::ContainerRef;
use crate::metrics::Labels;

/// A key naming the container's pod (its UID, else namespace and name), hashed so the set of
/// pods seen needs no allocation per pod.
pub(super) fn pod_key(container: &ContainerRef) -> Option<u64> {
    let label = |name| {
        container
            .labels
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match (&container.pod_uid, label("namespace"), label("pod")) {
        (Some(uid), _, _) => uid.hash(&mut hasher),
        (None, Some(ns), Some(pod)) if !pod.is_empty() => (ns, pod).hash(&mut hasher),
        _ => return None,
    }
    Some(hasher.finish())
}

/// `pod` and `namespace` from the container's labels; the pod UID or container id stands in
/// for an unknown pod name.
pub(super) fn pod_labels(container: &ContainerRef) -> Labels {
    let label = |name: &str| {
        let found = container
            .labels
            .iter()
            .find(|(k, v)| *k == name && !v.is_empty());
        found.map(|(_, v)| v.clone())
    };
    let pod = label("pod")
        .or_else(|| container.pod_uid.clone())
        .unwrap_or_else(|| container.id.clone());
    let mut labels = vec![("pod", pod)];
    if let Some(namespace) = label("namespace") {
        labels.push(("namespace", namespace));
    }
    labels
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::labels;

    #[test]
    fn the_pod_uid_stands_in_for_an_unknown_pod_name() {
        let mut c = ContainerRef {
            id: "abc".into(),
            pod_uid: Some("uid-1".into()),
            labels: labels!["pod" => ""].into(),
            procs: PathBuf::new(),
        };

        assert_eq!(pod_labels(&c), labels!["pod" => "uid-1"]);
        c.pod_uid = None;
        assert_eq!(pod_labels(&c), labels!["pod" => "abc"]);
    }

    #[test]
    fn containers_of_one_pod_share_a_key_and_other_pods_do_not() {
        let container = |id: &str, pod: &str| ContainerRef {
            id: id.into(),
            pod_uid: None,
            labels: labels!["namespace" => "shop", "pod" => pod].into(),
            procs: PathBuf::new(),
        };

        let (a, b, c) = (
            container("1", "web-0"),
            container("2", "web-0"),
            container("3", "web-1"),
        );

        assert_eq!(pod_key(&a), pod_key(&b));
        assert_ne!(pod_key(&a), pod_key(&c));
        assert_eq!(pod_key(&container("4", "")), None, "no pod, no key");
    }
}
