//! The hop scenario's proxies as child processes: payroute from its release
//! binary, and nginx when one is installed, each with its files in a
//! tempdir, each killed when its handle drops; and what `/proc` says about
//! them (CPU time, peak RSS, threads).
//!
//! payroute runs `serve` on a generated rules folder: an Adyen and a Stripe
//! gateway whose `base_url`s point at the upstream, credentials from
//! `${VAR}` references set in its environment (not the shipped defaults,
//! which `serve` without `--sandbox` refuses), the demo merchant without a
//! `webhook_url` (no merchant webhooks), the shipped risk signals, SQLite in
//! the tempdir, logging at warn. Its listening line, the one info line kept,
//! gives its kernel-chosen ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest;

use super::calls::{ADYEN_KEY, MERCHANT_KEY, STRIPE_KEY};
use super::upstream::ADYEN_PREFIX;
use super::{LoadError, setup};

/// The gateway ids in the generated rules, as payroute reports them.
pub const ADYEN_GATEWAY: &str = "adyen_hop";
pub const STRIPE_GATEWAY: &str = "stripe_hop";
/// How long a proxy may take to start listening.
const START_DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// A child process, killed and reaped on drop.
pub struct Proc {
    pub name: &'static str,
    child: std::process::Child,
    /// Its stderr, for the reason when it fails.
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, cmd: &mut Command, log: PathBuf) -> Result<Proc, LoadError> {
        let file = std::fs::File::create(&log).map_err(setup("log file"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(setup(name))?;
        Ok(Proc { name, child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown ({e})")),
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls `ready` until it answers, the process exits or the deadline passes.
    fn wait_for<T>(&mut self, mut ready: impl FnMut(&Proc) -> Option<T>) -> Result<T, LoadError> {
        let started = Instant::now();
        loop {
            if let Some(found) = ready(self) {
                return Ok(found);
            }
            let why = match self.exited() {
                Some(status) => format!("exited ({status})"),
                None if started.elapsed() > START_DEADLINE => "did not start in time".into(),
                None => {
                    std::thread::sleep(POLL);
                    continue;
                }
            };
            return Err(LoadError::Setup(format!(
                "{} {why}; its log ends:\n{}",
                self.name,
                self.log_tail()
            )));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The payroute binary: env `PAYROUTE_BIN`, else `target/release/payroute`
/// of this package; `Err` says why there is none to run.
pub fn payroute_bin() -> Result<PathBuf, String> {
    let bin = match std::env::var_os("PAYROUTE_BIN") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/payroute"),
    };
    if !bin.is_file() {
        return Err(format!(
            "no payroute binary at {} (build it with `cargo build --release --bin payroute`, or name one with PAYROUTE_BIN)",
            bin.display()
        ));
    }
    if let Some(newer) = newer_source(&bin) {
        eprintln!(
            "load: warning: {} is older than {}; rebuild it to measure the current code",
            bin.display(),
            newer.display()
        );
    }
    Ok(bin)
}

/// A file under `src/` changed after `bin` was built, if any.
fn newer_source(bin: &Path) -> Option<PathBuf> {
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).ok()?.flatten() {
            let path = entry.path();
            let meta = entry.metadata().ok()?;
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.modified().is_ok_and(|m| m > built) {
                return Some(path);
            }
        }
    }
    None
}

/// The first `nginx` on `PATH`.
pub fn nginx_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
}

/// `nginx -v`'s version, e.g. `nginx/1.22.1`.
pub fn nginx_version(bin: &Path) -> String {
    let out = Command::new(bin).arg("-v").output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
    text.ok()
        .and_then(|t| t.trim().rsplit(' ').next().map(str::to_string))
        .unwrap_or_else(|| "nginx".into())
}

/// Starts payroute in `dir` on `store` (a URL; `None`: a SQLite file in
/// `dir`); returns it and its API address.
pub fn payroute(
    bin: &Path,
    dir: &Path,
    upstream: SocketAddr,
    store: Option<&str>,
) -> Result<(Proc, SocketAddr), LoadError> {
    let rules = dir.join("rules");
    write_rules(&rules, upstream)?;
    let store = store.map_or_else(
        || format!("sqlite://{}", dir.join("payroute.db").display()),
        str::to_string,
    );
    let mut cmd = Command::new(bin);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--ops-listen",
        "127.0.0.1:0",
    ])
    .arg("--rules")
    .arg(&rules)
    .args(["--store", &store])
    .env("PAYROUTE_LOG_FORMAT", "text")
    .env("RUST_LOG", "warn,payroute::server=info")
    .env("PAYROUTE_FINGERPRINT_KEY", "hop-bench-fingerprint-key")
    .env("HOP_ADYEN_API_KEY", ADYEN_KEY)
    .env("HOP_STRIPE_API_KEY", STRIPE_KEY);
    let mut proc = Proc::spawn("payroute", &mut cmd, dir.join("payroute.log"))?;
    let addr = proc.wait_for(|p| listening_addr(&std::fs::read_to_string(&p.log).ok()?))?;
    Ok((proc, addr))
}

/// `api_addr` from payroute's "payroute listening" log line.
fn listening_addr(log: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|l| l.contains("payroute listening"))?;
    let value = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("api_addr="))?;
    value.parse().ok()
}

fn write_rules(dir: &Path, upstream: SocketAddr) -> Result<(), LoadError> {
    std::fs::create_dir_all(dir).map_err(setup("rules dir"))?;
    let key_hash = hex::encode(sha2::Sha256::digest(MERCHANT_KEY.as_bytes()));
    let rules = format!(
        "gateways:
  - id: {ADYEN_GATEWAY}
    kind: adyen
    base_url: http://{upstream}{ADYEN_PREFIX}
    merchant_account: HopBench
    credentials:
      api_key: ${{HOP_ADYEN_API_KEY}}
  - id: {STRIPE_GATEWAY}
    kind: stripe
    base_url: http://{upstream}
    credentials:
      api_key: ${{HOP_STRIPE_API_KEY}}
merchants:
  - id: demo
    api_key_sha256: {key_hash}
routes:
  - name: eu-cards
    when: {{ method: [card], currency: [EUR] }}
    gateways: [{ADYEN_GATEWAY}]
  - name: default
    gateways: [{STRIPE_GATEWAY}]
"
    );
    std::fs::write(dir.join("hop.yaml"), rules).map_err(setup("write rules"))?;
    // The shipped risk signals: payroute scores every payment as it would
    // by default (the card velocity signal fires; nothing reaches block_at).
    let risk = Path::new(env!("CARGO_MANIFEST_DIR")).join("routing-rules/risk.yaml");
    std::fs::copy(risk, dir.join("risk.yaml")).map_err(setup("copy risk.yaml"))?;
    Ok(())
}

/// Starts nginx in `dir` as a single process proxying to `upstream`;
/// returns it and its address.
pub fn nginx(
    bin: &Path,
    dir: &Path,
    upstream: SocketAddr,
) -> Result<(Proc, SocketAddr), LoadError> {
    let listen = free_port()?;
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir, listen, upstream)).map_err(setup("nginx.conf"))?;
    let mut cmd = Command::new(bin);
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(dir.join("error.log"));
    let mut proc = Proc::spawn("nginx", &mut cmd, dir.join("nginx.stderr"))?;
    proc.wait_for(|_| std::net::TcpStream::connect(listen).ok())?;
    Ok((proc, listen))
}

/// One process (no master), no access log; upstream connections kept alive
/// as a production reverse proxy keeps them. `keepalive_requests` is raised
/// on both sides so that neither nginx nor payroute (which has no such
/// limit) spends the run re-opening connections.
fn nginx_conf(dir: &Path, listen: SocketAddr, upstream: SocketAddr) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    keepalive_requests 1000000;
    upstream gateway {{
        server {upstream};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://gateway;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
"
    )
}

/// A loopback port nothing listens on: bound, read, released. Another
/// process could take it before nginx does; nginx would then fail to start
/// and say so.
fn free_port() -> Result<SocketAddr, LoadError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(setup("free port"))?;
    listener.local_addr().map_err(setup("free port"))
}

/// utime + stime of all of `pid`'s threads, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(field(14)? + field(15)?)
}

/// Clock ticks per second (`getconf CLK_TCK`); Linux uses 100 everywhere
/// it runs this.
pub fn ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .filter(|&t: &u64| t > 0)
        .unwrap_or(100)
}

/// Peak resident set (VmHWM, KiB) and thread count of `pid`.
pub fn memory_and_threads(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let value = |key: &str| {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    };
    Some((value("VmHWM:")?, value("Threads:")?))
}
