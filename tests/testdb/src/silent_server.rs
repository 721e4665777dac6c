//! A database server that never answers, for connect-timeout tests.

/// A TCP server on 127.0.0.1 that accepts every connection and never says a
/// word (a hung or black-holed database). Lives until the process ends.
pub fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind silent server");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn); // kept open, never answered
        }
    });
    port
}
