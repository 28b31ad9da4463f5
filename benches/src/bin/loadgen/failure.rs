//! Why a simulated agent's stream failed, sorted into a few kinds that say what to fix
//! ("connection refused", "certificate refused", ...), so a run's errors summarise well.

use std::fmt;

/// A stream that ended in failure.
#[derive(Debug)]
pub(crate) enum StreamError {
    /// Connecting (TCP, TLS) failed.
    Connect(tonic::transport::Error),
    /// The aggregator, or the transport under the stream, ended it with a status.
    Status(tonic::Status),
    /// The aggregator did not answer in time.
    Timeout(&'static str),
    /// The aggregator answered something the protocol does not allow.
    Protocol { kind: &'static str, detail: String },
}

impl StreamError {
    /// The kind this failure is counted under.
    pub(crate) fn kind(&self) -> &'static str {
        let text = self.to_string().to_ascii_lowercase();
        match self {
            Self::Timeout(_) => return "timeout",
            Self::Protocol { kind, .. } => return kind,
            Self::Status(status) if status.code() == tonic::Code::PermissionDenied => return "agent id refused",
            Self::Status(status) if status.code() == tonic::Code::Unauthenticated => return "unauthenticated",
            _ => {}
        }
        if text.contains("connection refused") {
            "connection refused"
        } else if text.contains("invalid peer certificate") {
            // Our side refused the aggregator's certificate (unknown issuer, wrong name).
            "server certificate not trusted"
        } else if [
            "unknownca",
            "unknown ca",
            "badcertificate",
            "bad certificate",
            "certificaterequired",
            "certificate required",
        ]
        .iter()
        .any(|needle| text.contains(needle))
        {
            // The aggregator's TLS layer refused our client certificate.
            "certificate refused"
        } else if text.contains("timed out") || text.contains("deadline") {
            "timeout"
        } else if text.contains("dns error") || text.contains("failed to lookup") {
            "name resolution"
        } else if text.contains("connection reset") || text.contains("broken pipe") || text.contains("stream closed") {
            "connection lost"
        } else if let Self::Status(status) = self {
            match status.code() {
                tonic::Code::Unavailable => "aggregator unavailable",
                tonic::Code::ResourceExhausted => "resource exhausted",
                tonic::Code::InvalidArgument => "invalid argument",
                tonic::Code::Internal => "aggregator internal error",
                tonic::Code::Cancelled => "stream cancelled",
                _ => "stream error",
            }
        } else {
            "connect error"
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => f.write_str(&chain(e)),
            Self::Status(status) => {
                write!(f, "{:?}: {}", status.code(), status.message())?;
                if let Some(source) = std::error::Error::source(status) {
                    write!(f, ": {}", chain(source))?;
                }
                Ok(())
            }
            Self::Timeout(what) => write!(f, "no answer within the timeout: {what}"),
            Self::Protocol { detail, .. } => f.write_str(detail),
        }
    }
}

/// An error and its sources, each source once.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_sorted_by_what_they_mean() {
        let kind = |s: tonic::Status| StreamError::Status(s).kind();
        assert_eq!(kind(tonic::Status::permission_denied("agent id \"x\" does not match")), "agent id refused");
        assert_eq!(
            kind(tonic::Status::unavailable("error trying to connect: Connection refused (os error 111)")),
            "connection refused"
        );
        assert_eq!(
            kind(tonic::Status::unknown("h2 protocol error: received fatal alert: UnknownCA")),
            "certificate refused"
        );
        assert_eq!(kind(tonic::Status::unavailable("the aggregator is shutting down")), "aggregator unavailable");
        let protocol = StreamError::Protocol { kind: "ack beyond sent", detail: "ack 9 > 3".into() };
        assert_eq!((protocol.kind(), protocol.to_string().as_str()), ("ack beyond sent", "ack 9 > 3"));
    }
}
