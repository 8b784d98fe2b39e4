//! A CONNECT proxy on 127.0.0.1 for the tests: it records each tunnel's target, answers 200 and
//! copies bytes both ways until either side closes. Anything but CONNECT gets a 405. Stops
//! accepting when dropped.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub struct ConnectProxy {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl ConnectProxy {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let targets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (targets.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let t = t.clone();
                        thread::spawn(move || {
                            let _ = tunnel(conn, &t);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            addr,
            targets,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `host:port` of every tunnel asked for, in order.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn tunnel(conn: TcpStream, targets: &Mutex<Vec<String>>) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let mut conn = conn;
    let mut parts = first.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        conn.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")?;
        return Ok(());
    };
    targets.lock().unwrap().push(target.to_string());
    let upstream = TcpStream::connect(target)?;
    conn.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    conn.set_read_timeout(None)?;
    // Bytes the client sent right behind the CONNECT head are in the reader's buffer.
    let mut up = upstream.try_clone()?;
    up.write_all(reader.buffer())?;
    let (mut from_client, mut to_client) = (conn.try_clone()?, conn);
    let (mut from_up, mut to_up) = (upstream.try_clone()?, up);
    let a = thread::spawn(move || {
        let _ = io::copy(&mut from_client, &mut to_up);
        let _ = to_up.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut from_up, &mut to_client);
    let _ = to_client.shutdown(Shutdown::Write);
    let _ = a.join();
    Ok(())
}
