//! Email over SMTP (lettre): a plain-text message per group notification, STARTTLS when the
//! config requires it. SMTP's 5xx replies are permanent; 4xx and connection failures are retried.

use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::secret::Secret;
use super::{Kind, Notification, Notifier, NotifyError, rfc3339};

/// Where and how to send.
pub struct Email {
    /// Recipients.
    pub to: Vec<Mailbox>,
    /// Sender.
    pub from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The smarthost as configured (`host:port`), named in errors.
    smarthost: String,
    /// The login's password, blanked out of errors (a server's reply may quote what it got).
    password: Option<Secret>,
}

impl Email {
    /// Builds the sender; `smarthost` is `host:port`.
    pub fn new(
        to: &str,
        from: &str,
        smarthost: &str,
        auth: Option<(String, Secret)>,
        require_tls: bool,
    ) -> Result<Self, String> {
        let to = to
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<Mailbox>()
                    .map_err(|e| format!("bad address {a:?}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("bad from address {from:?}: {e}"))?;
        let (host, port) = smarthost
            .rsplit_once(':')
            .ok_or(format!("smarthost {smarthost:?} needs host:port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("smarthost {smarthost:?} has a bad port"))?;
        let mut builder = if require_tls {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("smtp {host}: {e}"))?
        } else {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        };
        builder = builder.port(port);
        let mut secret = None;
        if let Some((user, password)) = auth {
            builder = builder.credentials(Credentials::new(user, password.expose().to_owned()));
            secret = Some(password);
        }
        Ok(Self {
            to,
            from,
            transport: builder.build(),
            smarthost: smarthost.to_owned(),
            password: secret,
        })
    }

    fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject(n));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(body(n))
            .map_err(|e| NotifyError::Permanent {
                reason: format!("building email: {e}"),
            })
    }
}

/// `[FIRING:2] PodCrashLooping env=target`, as Alertmanager titles its mails.
pub fn subject(n: &Notification) -> String {
    let state = match n.kind {
        Kind::Firing => "FIRING",
        Kind::Acknowledged => "ACKNOWLEDGED",
        Kind::Resolved => "RESOLVED",
    };
    let labels: Vec<String> = n
        .group_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("[{state}:{}] {}", n.alerts.len(), labels.join(" "))
}

/// The text body: summary, link, then each alert's labels and annotations.
pub fn body(n: &Notification) -> String {
    let mut out = format!("{}\n\nWar room: {}\n", n.summary(), n.warroom_url);
    if let Some(by) = &n.acked_by {
        out.push_str(&format!("Acknowledged by {by}\n"));
    }
    for a in &n.alerts {
        out.push_str(&format!("\nAlert since {}\n", rfc3339(a.starts_at)));
        for (k, v) in a.labels.iter().chain(&a.annotations) {
            out.push_str(&format!("  {k} = {v}\n"));
        }
    }
    out
}

#[async_trait::async_trait]
impl Notifier for Email {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let message = self.message(n)?;
        let error = match self.transport.send(message).await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let mut reason = format!("smtp {}: {error}", self.smarthost);
        if let Some(password) = &self.password {
            reason = password.blank_in(&reason);
        }
        if error.is_permanent() {
            Err(NotifyError::Permanent { reason })
        } else {
            Err(NotifyError::Retry {
                after: None,
                reason,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testing::group;

    #[test]
    fn the_subject_and_body_read_like_alertmanagers_mails() {
        let n = group(Kind::Firing);
        assert_eq!(subject(&n), "[FIRING:2] alertname=PodCrashLooping");
        let text = body(&n);
        assert!(text.starts_with(
            "Pods crash-loop on EKS (2 alerts)\n\nWar room: http://warroom.example/alerts/abc"
        ));
        assert!(text.contains("  pod = api-2\n"));
    }

    #[test]
    fn a_bad_address_or_smarthost_is_reported_by_name() {
        let err = Email::new(
            "not an address",
            "w@example.com",
            "127.0.0.1:25",
            None,
            false,
        )
        .err()
        .unwrap();
        assert!(err.contains("not an address"), "{err}");
        let err = Email::new("a@example.com", "w@example.com", "nohostport", None, false)
            .err()
            .unwrap();
        assert!(err.contains("host:port"), "{err}");
    }

    #[tokio::test]
    async fn a_smarthost_that_refuses_the_connection_is_named_in_the_retry() {
        // Arrange: a loopback port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let smarthost = format!("127.0.0.1:{port}");
        let email = Email::new("a@example.com", "w@example.com", &smarthost, None, false).unwrap();

        // Act
        let sent = email.notify(&group(Kind::Firing)).await;

        // Assert
        match sent {
            Err(NotifyError::Retry { reason, .. }) => {
                assert!(
                    reason.starts_with(&format!("smtp {smarthost}: ")),
                    "{reason}"
                );
            }
            other => panic!("expected a retry, got {other:?}"),
        }
    }
}
