//! Outgoing connections bound to this peer's configured IP, so the
//! tracker and other peers see 127.0.0.3 for peer 3.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

pub fn connect_from(source: IpAddr, to: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, None)?;
    if !source.is_unspecified() && source.is_ipv4() == to.is_ipv4() {
        socket.bind(&SocketAddr::new(source, 0).into())?;
    }
    socket.connect_timeout(&to.into(), timeout)?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket.into())
}
