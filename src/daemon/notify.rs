//! systemd's notification protocol (sd_notify): READY, RELOADING, STOPPING, STATUS and the
//! watchdog, as datagrams to `$NOTIFY_SOCKET`. Linux only (abstract socket names).

use std::path::Path;
use std::time::Duration as StdDuration;

/// systemd's notification protocol (sd_notify): a datagram to `$NOTIFY_SOCKET`. Without
/// systemd, every call does nothing.
pub struct Notifier {
    target: Option<(
        std::os::unix::net::UnixDatagram,
        std::os::unix::net::SocketAddr,
    )>,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|socket| {
            let bytes = socket.as_encoded_bytes();
            let addr = match bytes.strip_prefix(b"@") {
                // A leading @ names a socket in the abstract namespace.
                Some(name) => SocketAddr::from_abstract_name(name).ok()?,
                None => SocketAddr::from_pathname(Path::new(&socket)).ok()?,
            };
            let socket = UnixDatagram::unbound().ok()?;
            // Never wait on systemd: a full queue costs a status line, not the daemon.
            socket.set_nonblocking(true).ok()?;
            Some((socket, addr))
        });
        Notifier { target }
    }

    pub fn send(&self, message: &str) {
        if let Some((socket, addr)) = &self.target
            && let Err(e) = socket.send_to_addr(message.as_bytes(), addr)
        {
            tracing::debug!("sd_notify {message:?}: {e}");
        }
    }

    /// Half of `WatchdogSec=`, when systemd asks for pings.
    pub fn watchdog_interval(&self) -> Option<StdDuration> {
        self.target.as_ref()?;
        if let Some(pid) = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            && pid != std::process::id()
        {
            return None;
        }
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        Some(StdDuration::from_micros(usec / 2))
    }
}
