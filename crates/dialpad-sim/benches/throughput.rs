//! Simulator throughput for simple authenticated GETs, rate limiting off.
//!
//! `cargo bench -p dialpad-sim --bench throughput [-- --seconds 10 --connections 64 --url URL]`
//!
//! The load generator is deliberately minimal (raw HTTP/1.1 keep-alive over TCP, one request in
//! flight per connection) so that, on a 2-core machine, most CPU goes to the server being
//! measured. Without `--url` the simulator runs in this process on its own runtime thread with
//! one worker; the generator gets the other core.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Opts {
    seconds: u64,
    connections: usize,
    url: Option<String>,
    paths: Vec<String>,
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        seconds: 10,
        connections: 64,
        url: None,
        paths: vec![
            "/api/v2/company".into(),
            "/api/v2/users/{user}".into(),
            "/api/v2/offices".into(),
        ],
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--seconds" => o.seconds = val.parse().unwrap_or(o.seconds),
            "--connections" => o.connections = val.parse().unwrap_or(o.connections),
            "--url" => o.url = Some(val),
            "--path" => o.paths = vec![val],
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns its status.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
            let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            let total = end + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 16384];
                let n = s.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let mut chunk = [0u8; 16384];
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn main() {
    let opts = parse_opts();
    let api_key = "sim-api-key";

    // The server: in-process on its own single-worker runtime unless --url points elsewhere.
    let (addr, _server_thread) = match &opts.url {
        Some(u) => (
            u.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned(),
            None,
        ),
        None => {
            let (tx, rx) = std::sync::mpsc::channel();
            let t = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("server runtime");
                rt.block_on(async {
                    let config = dialpad_sim::SimConfig {
                        rate_limit: false,
                        ..Default::default()
                    };
                    let sim = dialpad_sim::spawn(config).await.expect("spawn simulator");
                    tx.send(sim.addr.to_string()).expect("report address");
                    std::future::pending::<()>().await;
                    drop(sim);
                });
            });
            (rx.recv().expect("simulator address"), Some(t))
        }
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("client runtime");
    rt.block_on(async move {
        // Resolve `{user}` to a real user id so the GET exercises a lookup, not a 404.
        let user_id = first_user_id(&addr, api_key).await;
        let paths: Vec<String> = opts.paths.iter().map(|p| p.replace("{user}", &user_id)).collect();
        let deadline = Instant::now() + Duration::from_secs(opts.seconds);
        let mut tasks = Vec::new();
        for c in 0..opts.connections {
            let addr = addr.clone();
            let path = paths[c % paths.len()].clone();
            tasks.push(tokio::spawn(async move {
                let req = format!(
                    "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {api_key}\r\n\r\n"
                );
                let mut s = TcpStream::connect(&addr).await.expect("connect");
                s.set_nodelay(true).ok();
                let mut buf = Vec::with_capacity(32 * 1024);
                let (mut ok, mut bad) = (0u64, 0u64);
                let mut lat = Vec::with_capacity(100_000);
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    if s.write_all(req.as_bytes()).await.is_err() {
                        break;
                    }
                    match read_response(&mut s, &mut buf).await {
                        Ok(200) => ok += 1,
                        Ok(_) => bad += 1,
                        Err(_) => break,
                    }
                    lat.push(t0.elapsed().as_micros() as u32);
                }
                (ok, bad, lat)
            }));
        }
        let started = Instant::now();
        let (mut ok, mut bad, mut lat) = (0u64, 0u64, Vec::new());
        for t in tasks {
            if let Ok((o, b, l)) = t.await {
                ok += o;
                bad += b;
                lat.extend(l);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort_unstable();
        let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0);
        println!(
            "simulator GET throughput: {:.0} req/s ({} ok, {} non-200) over {:.1}s, {} connections, paths {:?}",
            ok as f64 / secs,
            ok,
            bad,
            secs,
            opts.connections,
            paths
        );
        println!("latency: p50 {} us, p99 {} us", pct(0.50), pct(0.99));
        if bad > 0 {
            eprintln!("warning: {bad} responses were not 200");
        }
    });
}

async fn first_user_id(addr: &str, api_key: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET /api/v2/users?limit=1 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {api_key}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut body = String::new();
    s.read_to_string(&mut body).await.ok();
    // `"id":"123"` — the first id in the first user.
    body.split("\"id\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("0")
        .to_owned()
}
