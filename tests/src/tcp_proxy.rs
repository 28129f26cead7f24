//! A TCP forwarder on loopback, for making a real server unreachable to one client without
//! touching the server: `cut()` closes the listener and every forwarded connection (new
//! connections are refused, open ones are reset), `restore()` listens again on the same port.

use std::net::SocketAddr;
use std::sync::Mutex;

use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

pub struct TcpProxy {
    listen: SocketAddr,
    upstream: SocketAddr,
    running: Mutex<Option<JoinSet<()>>>,
}

impl TcpProxy {
    /// Forwards a free loopback port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listen = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
            probe.local_addr().expect("the probe has an address")
        };
        let proxy = TcpProxy { listen, upstream, running: Mutex::new(None) };
        proxy.restore();
        proxy
    }

    pub fn port(&self) -> u16 {
        self.listen.port()
    }

    /// Starts forwarding (again).
    pub fn restore(&self) {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(self.listen).expect("the proxy's port is free again");
        let listener = socket.listen(128).expect("listening");
        let upstream = self.upstream;
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        *self.running.lock().unwrap() = Some(tasks);
    }

    /// Stops forwarding: the listener closes and every open connection is dropped. Returns
    /// once the port is free.
    pub async fn cut(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some(mut tasks) = running {
            // Stopping the accept loop drops its JoinSet, which aborts every connection task.
            tasks.shutdown().await;
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        if let Some(mut tasks) = self.running.lock().unwrap().take() {
            tasks.abort_all();
        }
    }
}
