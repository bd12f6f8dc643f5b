//! Slow and stalled clients cannot starve `localhsm serve`. Guards against the failure where
//! connections that stall mid-handshake, mid-headers or mid-body were never closed, so a
//! thousand of them (the descriptor limit) locked every other client out.
//!
//! A real server runs with a small connection bound and short timeouts. More stalled
//! connections than the bound are held open, in each stall style, and reopened as soon as the
//! server closes them; meanwhile an ordinary client's request must succeed. Every stalled
//! connection must be closed, and not before its timeout. A kept-alive connection is closed
//! once idle for the idle timeout, and not while it is in use.
//!
//! Time bounds here are generous liveness limits (or the configured timeouts as lower bounds),
//! never performance figures.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use localhsm::server::listener::{parse_timeout, ConnectionLimits};
use support::{serve_command, Server};

/// The server's connection bound in these tests.
const BOUND: usize = 32;
/// Stalled connections held per stall style: together well over [`BOUND`].
const PER_STYLE: usize = 16;
const HANDSHAKE: Duration = Duration::from_millis(1000);
const HEADER: Duration = Duration::from_millis(1000);
const BODY: Duration = Duration::from_millis(1000);
const IDLE: Duration = Duration::from_millis(2000);
/// Longest any client here waits for the server: a liveness bound, far above the timeouts.
const PATIENCE: Duration = Duration::from_secs(30);

/// `localhsm serve` with the bound and timeouts above.
fn start(dir: &Path) -> Server {
    use std::io::BufRead;
    let ms = |d: Duration| format!("{}ms", d.as_millis());
    let stderr = std::fs::File::create(dir.with_extension("stderr.log")).expect("stderr file");
    let mut child = serve_command(dir, &[])
        .args(["--max-connections", &BOUND.to_string()])
        .args(["--handshake-timeout", &ms(HANDSHAKE)])
        .args(["--header-timeout", &ms(HEADER)])
        .args(["--body-timeout", &ms(BODY)])
        .args(["--idle-timeout", &ms(IDLE)])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("localhsm serve");
    let out = child.stdout.take().expect("stdout");
    let stdout = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let seen = stdout.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("localhsm listening on https://") {
                let _ = tx.send(addr.trim().to_string());
            }
            let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
            s.push_str(&line);
            s.push('\n');
        }
    });
    let addr = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(addr) => addr.parse().expect("address"),
        Err(_) => {
            let _ = child.kill();
            panic!("the server did not start: {:?}", child.wait());
        }
    };
    Server {
        child,
        addr,
        dir: dir.to_path_buf(),
        stdout,
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tcp(server: &Server) -> TcpStream {
    let sock = TcpStream::connect(server.addr).expect("connect");
    sock.set_read_timeout(Some(PATIENCE)).expect("timeout");
    sock.set_write_timeout(Some(PATIENCE)).expect("timeout");
    sock
}

/// A TLS connection to `server` (HTTP/1.1, trusting its CA), handshake done.
fn tls(server: &Server) -> Tls {
    use rustls::pki_types::pem::PemObject;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let ca =
        rustls::pki_types::CertificateDer::from_pem_file(server.dir.join("tls").join("cert.pem"))
            .expect("CA certificate");
    roots.add(ca).expect("CA");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("TLS");
    let mut sock = tcp(server);
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("TLS handshake");
    }
    rustls::StreamOwned::new(conn, sock)
}

/// How a stalled connection ended.
#[derive(Debug)]
struct Ended {
    /// From before the TCP connect to the server's close.
    after: Duration,
    /// What the server wrote before closing.
    said: Vec<u8>,
    /// The connection was still open when the client gave up waiting.
    still_open: bool,
}

/// Reads until the server closes the connection (an end of stream, with or without TLS
/// `close_notify`, or a reset), or [`PATIENCE`] passes.
fn wait_for_close(stream: &mut impl Read, since: Instant) -> Ended {
    let mut said = Vec::new();
    let mut buf = [0u8; 4096];
    let still_open = loop {
        match stream.read(&mut buf) {
            Ok(0) => break false,
            Ok(n) => said.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break true
            }
            Err(_) => break false,
        }
    };
    Ended {
        after: since.elapsed(),
        said,
        still_open,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// TCP only: no TLS handshake.
    Handshake,
    /// TLS, then part of a request's headers.
    Headers,
    /// TLS, whole headers, then part of the declared body.
    Body,
}

impl Stall {
    const ALL: [Stall; 3] = [Stall::Handshake, Stall::Headers, Stall::Body];

    fn timeout(self) -> Duration {
        match self {
            Stall::Handshake => HANDSHAKE,
            Stall::Headers => HEADER,
            Stall::Body => BODY,
        }
    }

    /// Opens one stalled connection and waits for the server to close it. `connected` is
    /// called once the TCP connection exists (queued or accepted).
    fn run(self, server: &Server, connected: impl FnOnce()) -> Ended {
        let since = Instant::now();
        if self == Stall::Handshake {
            let mut sock = tcp(server);
            connected();
            return wait_for_close(&mut sock, since);
        }
        connected();
        let mut stream = tls(server);
        let request: &[u8] = match self {
            Stall::Headers => b"GET /keys?api-version=7.5 HTTP/1.1\r\nHost: localhost\r\nAuthor",
            _ => {
                b"PUT /secrets/stalled?api-version=7.5 HTTP/1.1\r\nHost: localhost\r\n\
                  Authorization: Bearer x\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{\"value\":"
            }
        };
        stream.write_all(request).expect("partial request");
        stream.flush().expect("flush");
        wait_for_close(&mut stream, since)
    }
}

/// Reads one HTTP/1.1 response with a `Content-Length` off a kept-alive connection: its
/// status code.
fn read_response(stream: &mut impl Read) -> u16 {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("a content-length");
            if raw.len() >= end + 4 + length {
                let status = head.split(' ').nth(1).expect("a status");
                return status.parse().expect("a numeric status");
            }
        }
        let n = stream.read(&mut buf).expect("response");
        assert!(n > 0, "the connection closed mid-response: {raw:?}");
        raw.extend_from_slice(&buf[..n]);
    }
}

/// How many sockets process `pid` holds open.
fn sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|l| l.to_string_lossy().starts_with("socket:"))
        .count()
}

#[test]
fn stalled_connections_over_the_bound_do_not_lock_out_other_clients() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = Arc::new(start(&tmp.path().join("data")));
    let pid = server.child.id();
    // The listener and the runtime's own: what the server holds with no client.
    let baseline = sockets(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let connected = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for style in Stall::ALL {
        for _ in 0..PER_STYLE {
            let (server, stop, connected, opened) = (
                server.clone(),
                stop.clone(),
                connected.clone(),
                opened.clone(),
            );
            attackers.push(std::thread::spawn(move || {
                // Each attacker keeps one stalled connection open at all times: when the
                // server closes it, the next one opens. The first one's end is reported.
                let mut first = None;
                let mut counted = false;
                while !stop.load(Ordering::Acquire) {
                    let ended = style.run(&server, || {
                        opened.fetch_add(1, Ordering::AcqRel);
                        if !counted {
                            counted = true;
                            connected.fetch_add(1, Ordering::AcqRel);
                        }
                    });
                    let done = ended.still_open;
                    first.get_or_insert(ended);
                    if done {
                        break;
                    }
                }
                (style, first.expect("one stalled connection"))
            }));
        }
    }
    let total = Stall::ALL.len() * PER_STYLE;
    let deadline = Instant::now() + PATIENCE;
    while connected.load(Ordering::Acquire) < total {
        assert!(
            Instant::now() < deadline,
            "the stalled clients could not connect"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(total > BOUND);
    // Let the stalls take every slot before the ordinary client arrives.
    std::thread::sleep(Duration::from_millis(300));

    // The bound, seen from outside: the server never holds more connections than it allows.
    let most = Arc::new(AtomicUsize::new(0));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (most, watching) = (most.clone(), watching.clone());
        std::thread::spawn(move || {
            while watching.load(Ordering::Acquire) {
                most.fetch_max(sockets(pid), Ordering::AcqRel);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let client = server.client();
    let started = Instant::now();
    let (status, body) = support::http(&client, "GET", &server.url("/keys"), None)
        .expect("an ordinary request while stalled connections hold every slot");
    let waited = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert!(body["value"].is_array(), "{body}");
    let (status, body) = support::http(
        &client,
        "PUT",
        &server.url("/secrets/served"),
        Some(&serde_json::json!({"value": "v"})),
    )
    .expect("a second request");
    assert_eq!(status, 200, "{body}");
    assert!(
        waited < PATIENCE,
        "the ordinary request took {waited:?} with stalled connections held"
    );
    let stalls_during = opened.load(Ordering::Acquire);
    watching.store(false, Ordering::Release);
    watcher.join().expect("socket watcher");
    let most = most.load(Ordering::Acquire);
    assert_eq!(
        most - baseline,
        BOUND,
        "connections open at most ({most} sockets, {baseline} of them not clients)"
    );

    stop.store(true, Ordering::Release);
    for attacker in attackers {
        let (style, ended) = attacker.join().expect("attacker thread");
        assert!(
            !ended.still_open,
            "{style:?}: a stalled connection was still open after {PATIENCE:?}"
        );
        // The server's clock for it starts no sooner than the client's connect.
        assert!(
            ended.after >= style.timeout(),
            "{style:?}: closed after {:?}, before its timeout of {:?}",
            ended.after,
            style.timeout()
        );
        let said = String::from_utf8_lossy(&ended.said);
        match style {
            // A late body is answered (a 400 naming the problem), then the connection closes.
            Stall::Body => assert!(said.starts_with("HTTP/1.1 400 "), "{style:?}: {said}"),
            _ => assert!(said.is_empty(), "{style:?}: {said}"),
        }
    }
    assert!(
        stalls_during > total,
        "stalled connections were closed and reopened while the request waited ({stalls_during})"
    );
    let mut server = Arc::try_unwrap(server).unwrap_or_else(|_| panic!("server still shared"));
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "the server exited"
    );
    server.stop();
}

#[test]
fn a_kept_alive_connection_stays_while_used_and_closes_once_idle() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let server = start(&tmp.path().join("data"));
    let mut stream = tls(&server);
    let request =
        b"GET /keys?api-version=7.5 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer x\r\n\r\n";
    // Requests spaced at half the idle timeout, for twice the idle timeout: one connection.
    let until = Instant::now() + IDLE * 2;
    let mut served = 0;
    loop {
        stream.write_all(request).expect("request");
        assert_eq!(read_response(&mut stream), 200);
        served += 1;
        if Instant::now() >= until {
            break;
        }
        std::thread::sleep(IDLE / 2);
    }
    assert!(served >= 4, "{served} requests");
    let ended = wait_for_close(&mut stream, Instant::now());
    assert!(!ended.still_open, "an idle connection was never closed");
    assert!(
        ended.said.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&ended.said)
    );
    // Measured from after the last answer arrived; the server's idle time began when it
    // wrote that answer, a moment earlier.
    assert!(
        ended.after + Duration::from_millis(200) >= IDLE,
        "closed after {:?} idle, before the idle timeout of {IDLE:?}",
        ended.after
    );
}

#[test]
fn the_connection_flags_are_in_serve_help_with_their_defaults() {
    let out = support::localhsm_command()
        .args(["serve", "--help"])
        .output()
        .expect("localhsm serve --help");
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, default) in [
        ("--max-connections", "512"),
        ("--handshake-timeout", "10s"),
        ("--header-timeout", "10s"),
        ("--body-timeout", "30s"),
        ("--idle-timeout", "60s"),
    ] {
        let at = help
            .find(&format!("{flag} <"))
            .unwrap_or_else(|| panic!("{flag} missing from serve --help"));
        let rest = &help[at..];
        let next = rest[2..].find("\n  -").map_or(rest.len(), |i| i + 2);
        assert!(
            rest[..next].contains(&format!("[default: {default}]")),
            "{flag}: {}",
            &rest[..next]
        );
    }
    // The same defaults as the library's, for whoever serves without the CLI.
    let limits = ConnectionLimits::default();
    assert_eq!(limits.max_connections, 512);
    for (default, value) in [
        ("10s", limits.handshake_timeout),
        ("10s", limits.header_timeout),
        ("30s", limits.body_timeout),
        ("60s", limits.idle_timeout),
    ] {
        assert_eq!(parse_timeout(default), Ok(value));
    }
    let refused = support::localhsm_command()
        .args(["serve", "--header-timeout", "0s"])
        .output()
        .expect("localhsm serve");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("above zero"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
