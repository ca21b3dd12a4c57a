//! Reads and writes on the tracker's blocking sockets, shaped so that a
//! worker never waits on a client for long: reads never wait, writes wait
//! in short slices under one deadline per reply and give up on shutdown.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::RecvFlags;

use crate::shutdown::Shutdown;

/// Replies not taken by the client within this time, in all, from the
/// first write of a turn that had to wait, close the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The socket's send timeout: a blocked write returns this often so the
/// worker can look at the deadline and at shutdown.
pub const WRITE_SLICE: Duration = Duration::from_millis(100);

/// What a read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub len: usize,
    /// The peer closed its side, or the connection failed: after the bytes
    /// read, nothing more will come.
    pub end: bool,
}

/// Reads what has arrived, without waiting. While the reactor has seen
/// nothing but arrivals of bytes, one read is enough: every later arrival
/// brings a new event. Once the peer closed, failed or sent urgent data
/// (`drain`), a short read can stop at the urgent mark, or take the bytes
/// in front of an end whose event is already spent, and no event would
/// come for the rest: then read until the socket is empty.
pub fn read_available(stream: &TcpStream, buf: &mut [u8], drain: bool) -> Received {
    let mut len = 0;
    while len < buf.len() {
        match rustix::net::recv(stream, &mut buf[len..], RecvFlags::DONTWAIT) {
            Ok((0, _)) => return Received { len, end: true },
            Ok((n, _)) => {
                len += n;
                if !drain {
                    break;
                }
            }
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => break,
            Err(e) => {
                log::debug!("read failed: {e}");
                return Received { len, end: true };
            }
        }
    }
    Received { len, end: false }
}

/// Writes all of `bytes`, giving up once `deadline` passed or on
/// shutdown (the client is not keeping up; the connection is closed). The
/// deadline is set by the first write that could not finish at once,
/// `timeout` from then, and shared by every write of the same turn, so
/// a client reading a trickle cannot hold a worker either.
pub fn write_all_by(
    stream: &TcpStream,
    mut bytes: &[u8],
    deadline: &mut Option<Instant>,
    timeout: Duration,
    stop: &Shutdown,
) -> io::Result<()> {
    let mut stream = stream;
    loop {
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        if bytes.is_empty() {
            return Ok(());
        }
        // Only a write that could not finish reads the clock.
        if stop.is_triggered() {
            return Err(io::Error::other("shutting down"));
        }
        let now = Instant::now();
        if now >= *deadline.get_or_insert(now + timeout) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the client is not taking its replies"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Shutdown as Half, TcpListener};

    use super::*;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (client, listener.accept().unwrap().0)
    }

    /// Waits (blocking peek) until something has arrived.
    fn arrived(server: &TcpStream) {
        server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        server.peek(&mut [0u8; 1]).unwrap();
    }

    #[test]
    fn a_read_sees_the_end_behind_the_last_bytes() {
        let (mut client, server) = pair();
        // Corked: the bytes and the FIN leave as one segment, so both are
        // there when the first byte is.
        rustix::net::sockopt::set_tcp_cork(&client, true).unwrap();
        client.write_all(b"look []\n").unwrap();
        client.shutdown(Half::Write).unwrap();
        arrived(&server);
        let mut buf = [0u8; 64];
        assert_eq!(read_available(&server, &mut buf, true), Received { len: 8, end: true });
        assert_eq!(&buf[..8], b"look []\n");
    }

    #[test]
    fn a_read_goes_past_an_urgent_mark() {
        let (mut client, server) = pair();
        rustix::net::sockopt::set_tcp_cork(&client, true).unwrap();
        client.write_all(b"a\n").unwrap();
        rustix::net::send(&client, b"!", rustix::net::SendFlags::OOB).unwrap();
        client.write_all(b"b\n").unwrap();
        rustix::net::sockopt::set_tcp_cork(&client, false).unwrap();
        client.shutdown(Half::Write).unwrap();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        loop {
            arrived(&server);
            let r = read_available(&server, &mut buf, true);
            got.extend_from_slice(&buf[..r.len]);
            if r.end {
                break;
            }
        }
        assert_eq!(got, b"a\nb\n", "the urgent byte is out of band; both lines are read");
    }

    #[test]
    fn a_read_stops_at_a_full_buffer_without_claiming_the_end() {
        let (mut client, server) = pair();
        client.write_all(&[b'x'; 100]).unwrap();
        arrived(&server);
        let mut buf = [0u8; 10];
        assert_eq!(read_available(&server, &mut buf, true), Received { len: 10, end: false });
    }

    #[test]
    fn nothing_to_read_returns_at_once() {
        let (_client, server) = pair();
        assert_eq!(read_available(&server, &mut [0u8; 10], true), Received { len: 0, end: false });
    }

    fn write(server: &TcpStream, bytes: &[u8], timeout: Duration, stop: &Shutdown) -> io::Result<()> {
        server.set_write_timeout(Some(WRITE_SLICE)).unwrap();
        write_all_by(server, bytes, &mut None, timeout, stop)
    }

    #[test]
    fn a_client_that_does_not_read_is_given_up_on_shutdown() {
        let (_client, server) = pair();
        let stop = Shutdown::new();
        stop.trigger();
        let e = write(&server, &vec![b'x'; 64 << 20], Duration::from_secs(3600), &stop).unwrap_err();
        assert_eq!(e.to_string(), "shutting down");
    }

    #[test]
    fn a_client_that_reads_is_still_given_up_on_shutdown() {
        let (mut client, server) = pair();
        // Reads a byte at a time: slow but steady, so writes keep making
        // some progress and none fails.
        std::thread::spawn(move || while client.read(&mut [0u8; 1]).is_ok_and(|n| n > 0) {});
        let stop = Shutdown::new();
        stop.trigger();
        let e = write(&server, &vec![b'x'; 64 << 20], Duration::from_secs(3600), &stop).unwrap_err();
        assert_eq!(e.to_string(), "shutting down");
    }

    #[test]
    fn a_client_that_does_not_read_is_given_up_after_the_timeout() {
        let (_client, server) = pair();
        let e = write(&server, &vec![b'x'; 64 << 20], Duration::ZERO, &Shutdown::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn a_reply_that_fits_is_written_whole() {
        let (mut client, server) = pair();
        let stop = Shutdown::new();
        stop.trigger();
        write(&server, b"list []\n", Duration::ZERO, &stop).unwrap();
        let mut got = [0u8; 8];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"list []\n");
    }
}
