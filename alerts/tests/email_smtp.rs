//! The email notifier against a real SMTP server process on loopback (Python's aiosmtpd, which
//! `.ci/run` installs), reading what arrived from its mailbox directory.

#![allow(clippy::unwrap_used)] // a failing helper should fail the test loudly

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use warroom_alerts::notify::email::Email;
use warroom_alerts::notify::{AlertView, Kind, Notification, Notifier};

struct Smtp {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smtp() -> Smtp {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(maildir.path().join("box"))
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (pip install aiosmtpd)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "aiosmtpd did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Smtp {
        child,
        port,
        maildir,
    }
}

fn notification() -> Notification {
    let labels = BTreeMap::from([
        ("alertname".to_string(), "TargetErrorRateHigh".to_string()),
        ("env".to_string(), "target".to_string()),
    ]);
    Notification {
        kind: Kind::Firing,
        receiver: "next-level".into(),
        group_key: "0:{alertname=\"TargetErrorRateHigh\"}".into(),
        group_labels: BTreeMap::from([(
            "alertname".to_string(),
            "TargetErrorRateHigh".to_string(),
        )]),
        alerts: vec![AlertView {
            labels,
            annotations: BTreeMap::from([(
                "summary".to_string(),
                "5xx on EKS above 2%".to_string(),
            )]),
            starts_at: SystemTime::now(),
            ends_at: None,
            fingerprint: "f".into(),
        }],
        warroom_url: "http://127.0.0.1:8080/alerts".into(),
        acked_by: None,
    }
}

fn delivered(smtp: &Smtp) -> Vec<String> {
    let new = smtp.maildir.path().join("box").join("new");
    let Ok(entries) = std::fs::read_dir(new) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect()
}

#[tokio::test]
async fn an_email_notification_arrives_at_a_real_smtp_server() {
    // Arrange
    let smtp = start_smtp();
    let email = Email::new(
        "sre-lead@example.com, mgmt@example.com",
        "warroom@example.com",
        &format!("127.0.0.1:{}", smtp.port),
        None,
        false,
    )
    .unwrap();
    // Act
    email.notify(&notification()).await.unwrap();
    // Assert
    let deadline = Instant::now() + Duration::from_secs(10);
    let mails = loop {
        let mails = delivered(&smtp);
        if !mails.is_empty() || Instant::now() > deadline {
            break mails;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(mails.len(), 1, "one message for both recipients");
    let mail = &mails[0];
    assert!(
        mail.contains("Subject: [FIRING:1] alertname=TargetErrorRateHigh"),
        "{mail}"
    );
    assert!(mail.contains("5xx on EKS above 2%"), "{mail}");
    assert!(mail.contains("mgmt@example.com"), "{mail}");
}

#[tokio::test]
async fn a_closed_smtp_port_is_a_retryable_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let email = Email::new(
        "a@example.com",
        "w@example.com",
        &format!("127.0.0.1:{port}"),
        None,
        false,
    )
    .unwrap();
    let err = email.notify(&notification()).await.unwrap_err();
    assert!(
        matches!(err, warroom_alerts::notify::NotifyError::Retry { .. }),
        "{err:?}"
    );
}
