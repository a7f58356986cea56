//! OS signals and systemd notifications (minimal; the packaging branch brings the full one).
use std::time::Duration;

fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sock = match std::os::unix::net::UnixDatagram::unbound() {
        Ok(s) => s,
        Err(_) => return,
    };
    let p = path.to_string_lossy().into_owned();
    if let Some(name) = p.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        if let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) {
            let _ = sock.send_to_addr(state.as_bytes(), &addr);
        }
    } else {
        let _ = sock.send_to(state.as_bytes(), &p);
    }
}
pub fn ready() {
    notify("READY=1")
}
pub fn status(text: &str) {
    notify(&format!("STATUS={text}"))
}
pub fn watchdog() {
    notify("WATCHDOG=1")
}
pub fn stopping() {
    notify("STOPPING=1")
}
pub fn reloading() {
    notify("RELOADING=1")
}
pub fn watchdog_interval() -> Option<Duration> {
    std::env::var("WATCHDOG_USEC")
        .ok()?
        .parse::<u64>()
        .ok()
        .map(Duration::from_micros)
}
