//! Why a session ends: one enum for every transport. WebSocket sends its code in the close
//! frame; QUIC sends the same number as the application error code of its CONNECTION_CLOSE,
//! with the same reason text (docs/PROTOCOL.md §6.8).

/// Why the server closes a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed; the server answers and ends the session.
    ClientClosed,
    /// The server is stopping.
    ShuttingDown,
    /// Nothing was received for the idle timeout.
    IdleTimeout,
    /// No successful `hello` within the handshake timeout.
    AuthTimeout,
    /// `hello` carried a token that was refused; the code (`token_invalid`, …) names why.
    AuthFailed(&'static str),
    /// `hello` asked for a protocol version this server does not speak.
    UnsupportedVersion,
    /// Too many frames in a row were dropped by the rate limit.
    Flood,
    /// The client's queue of unsent frames is full: it reads too slowly.
    TooSlow,
    /// A frame over twice the frame limit, refused before it was read.
    FrameTooBig(String),
    /// The transport's own framing was broken (a text frame that is not UTF-8, say).
    FrameRefused(String),
    /// An administrator disconnected this connection, or closed a match it followed.
    Admin,
}

/// Close codes (RFC 6455 numbers, also used as QUIC application error codes).
pub mod code {
    /// A normal close.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// A protocol error.
    pub const PROTOCOL: u16 = 1002;
    /// A policy was broken.
    pub const POLICY: u16 = 1008;
    /// A message was too big.
    pub const TOO_BIG: u16 = 1009;
}

/// Longest reason text: a WebSocket close frame holds at most 123 bytes of it.
const MAX_REASON_BYTES: usize = 120;

impl CloseReason {
    /// The close code.
    pub fn code(&self) -> u16 {
        match self {
            CloseReason::ClientClosed => code::NORMAL,
            CloseReason::ShuttingDown | CloseReason::IdleTimeout => code::GOING_AWAY,
            CloseReason::UnsupportedVersion | CloseReason::FrameRefused(_) => code::PROTOCOL,
            CloseReason::AuthTimeout
            | CloseReason::AuthFailed(_)
            | CloseReason::Flood
            | CloseReason::TooSlow
            | CloseReason::Admin => code::POLICY,
            CloseReason::FrameTooBig(_) => code::TOO_BIG,
        }
    }

    /// A stable name for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::ShuttingDown => "shutting_down",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::AuthTimeout => "auth_timeout",
            CloseReason::AuthFailed(_) => "auth_failed",
            CloseReason::UnsupportedVersion => "unsupported_version",
            CloseReason::Flood => "flood",
            CloseReason::TooSlow => "too_slow",
            CloseReason::FrameTooBig(_) => "frame_too_big",
            CloseReason::FrameRefused(_) => "frame_refused",
            CloseReason::Admin => "admin",
        }
    }

    /// The reason text sent with the code.
    pub fn text(&self) -> String {
        let text = match self {
            CloseReason::ClientClosed => "bye".to_string(),
            CloseReason::ShuttingDown => "server shutting down".to_string(),
            CloseReason::IdleTimeout => "idle timeout".to_string(),
            CloseReason::AuthTimeout => "authentication timeout: send hello first".to_string(),
            CloseReason::AuthFailed(code) => format!("authentication failed: {code}"),
            CloseReason::UnsupportedVersion => "unsupported protocol version".to_string(),
            CloseReason::Flood => "flood: message rate limit exceeded".to_string(),
            CloseReason::TooSlow => "too slow: outbox full; reconnect with from_seq".to_string(),
            CloseReason::FrameTooBig(detail) | CloseReason::FrameRefused(detail) => {
                format!("frame refused: {detail}")
            }
            CloseReason::Admin => "closed by an administrator".to_string(),
        };
        cut(text)
    }
}

/// Cuts text to [`MAX_REASON_BYTES`] on a character boundary.
fn cut(mut text: String) -> String {
    if text.len() > MAX_REASON_BYTES {
        let end = (0..=MAX_REASON_BYTES).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_texts_are_those_the_protocol_page_lists() {
        let cases = [
            (CloseReason::ShuttingDown, 1001, "server shutting down"),
            (CloseReason::IdleTimeout, 1001, "idle timeout"),
            (CloseReason::UnsupportedVersion, 1002, "unsupported protocol version"),
            (CloseReason::AuthTimeout, 1008, "authentication timeout: send hello first"),
            (
                CloseReason::AuthFailed("token_expired"),
                1008,
                "authentication failed: token_expired",
            ),
            (CloseReason::Flood, 1008, "flood: message rate limit exceeded"),
            (CloseReason::TooSlow, 1008, "too slow: outbox full; reconnect with from_seq"),
            (CloseReason::FrameTooBig("too long".into()), 1009, "frame refused: too long"),
            (CloseReason::Admin, 1008, "closed by an administrator"),
        ];
        for (reason, code, text) in cases {
            assert_eq!((reason.code(), reason.text().as_str()), (code, text));
        }
    }

    #[test]
    fn long_reasons_are_cut_to_fit_a_close_frame() {
        let text = CloseReason::FrameRefused("é".repeat(200)).text();
        assert!(text.len() <= MAX_REASON_BYTES && text.starts_with("frame refused: é"));
    }
}
