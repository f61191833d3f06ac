//! The load test's settings: scenario, rate, duration, rounds, pool and warm-up,
//! from defaults, then `LOAD_*` environment variables, then flags.

use super::LoadError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// payroute (USD, Stripe) against direct.
    Normal,
    /// Adds EUR payments whose first gateway refuses connections.
    Failover,
    /// payroute on SQLite, on PostgreSQL, and as two PostgreSQL replicas,
    /// against direct.
    Stores,
    /// One cheap API request through the edge stack and through a bare
    /// hyper connection: the stack's cost.
    Edge,
    /// The proxy hop alone: payroute as a child process and nginx between
    /// the load and an instant upstream, against direct, in shuffled rounds.
    Hop,
}

impl Scenario {
    fn parse(value: &str) -> Result<Scenario, LoadError> {
        match value {
            "normal" | "" => Ok(Scenario::Normal),
            "failover" => Ok(Scenario::Failover),
            "stores" => Ok(Scenario::Stores),
            "edge" => Ok(Scenario::Edge),
            "hop" => Ok(Scenario::Hop),
            other => Err(LoadError::Scenario(other.into())),
        }
    }

    /// Environment, then the last `--scenario` flag.
    fn from_env_and_args(args: &[String]) -> Result<Scenario, LoadError> {
        let mut value = std::env::var("LOAD_SCENARIO").unwrap_or_default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "--scenario" {
                value = it.next().cloned().unwrap_or_default();
            }
        }
        Scenario::parse(&value)
    }
}

/// The store of the hop scenario's payroute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopStore {
    /// A SQLite file in the run's tempdir.
    Sqlite,
    /// A fresh schema on the PostgreSQL test server, dropped at the end.
    Postgres,
}

impl HopStore {
    pub fn as_str(self) -> &'static str {
        match self {
            HopStore::Sqlite => "SQLite",
            HopStore::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub scenario: Scenario,
    pub rps: u64,
    /// Seconds per target, per round in the hop scenario.
    pub secs: u64,
    /// Rounds of the hop scenario, each over every target in a new order.
    pub rounds: u64,
    pub conns: usize,
    pub warmup_secs: u64,
    /// Point the sandbox's gateway webhooks at payroute during its phase.
    pub webhooks: bool,
    /// The hop scenario's store (`LOAD_HOP_STORE`, `--hop-store`).
    pub hop_store: HopStore,
    /// Started by `cargo test --benches` rather than `cargo bench`: a short
    /// smoke run that fails on any error.
    pub smoke: bool,
}

fn number(name: &str, value: &str, min: u64) -> Result<u64, LoadError> {
    match value.parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(LoadError::Setting {
            name: name.into(),
            value: value.into(),
        }),
    }
}

impl Config {
    /// Defaults, then environment, then flags.
    pub fn from_env_and_args() -> Result<Config, LoadError> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        // cargo bench passes `--bench` to every bench binary; cargo test does not.
        let smoke = !args.iter().any(|a| a == "--bench");
        let scenario = Scenario::from_env_and_args(&args)?;
        let mut cfg = if smoke {
            Config {
                scenario,
                rps: 20,
                secs: 1,
                rounds: 1,
                conns: 8,
                warmup_secs: 0,
                webhooks: true,
                hop_store: HopStore::Sqlite,
                smoke,
            }
        } else {
            Config {
                scenario,
                rps: match scenario {
                    Scenario::Failover => 100,
                    Scenario::Hop => 1000,
                    _ => 200,
                },
                secs: if scenario == Scenario::Hop { 4 } else { 10 },
                rounds: 4,
                conns: 64,
                warmup_secs: if scenario == Scenario::Hop { 1 } else { 2 },
                webhooks: true,
                hop_store: HopStore::Sqlite,
                smoke,
            }
        };
        let vars = [
            ("LOAD_RPS", "--rps"),
            ("LOAD_SECS", "--secs"),
            ("LOAD_ROUNDS", "--rounds"),
            ("LOAD_CONNS", "--conns"),
            ("LOAD_WARMUP_SECS", "--warmup-secs"),
            ("LOAD_WEBHOOKS", "--webhooks"),
            ("LOAD_HOP_STORE", "--hop-store"),
        ];
        for (var, flag) in vars {
            if let Ok(v) = std::env::var(var) {
                cfg.set(flag, &v, var)?;
            }
        }
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--bench" => {}
                // Read by `Scenario::from_env_and_args`.
                "--scenario" => {
                    args.next();
                }
                "--rps" | "--secs" | "--rounds" | "--conns" | "--warmup-secs" | "--webhooks"
                | "--hop-store" => {
                    let v = args.next().unwrap_or_default();
                    cfg.set(&arg, &v, &arg)?;
                }
                _ => return Err(LoadError::Argument(arg)),
            }
        }
        Ok(cfg)
    }

    fn set(&mut self, flag: &str, value: &str, shown: &str) -> Result<(), LoadError> {
        match flag {
            "--rps" => self.rps = number(shown, value, 1)?,
            "--secs" => self.secs = number(shown, value, 1)?,
            "--rounds" => self.rounds = number(shown, value, 1)?,
            "--conns" => {
                self.conns = usize::try_from(number(shown, value, 1)?).unwrap_or(usize::MAX)
            }
            "--webhooks" => self.webhooks = number(shown, value, 0)? != 0,
            "--hop-store" => {
                self.hop_store = match value {
                    "sqlite" => HopStore::Sqlite,
                    "postgres" => HopStore::Postgres,
                    _ => {
                        return Err(LoadError::Setting {
                            name: shown.into(),
                            value: value.into(),
                        });
                    }
                }
            }
            _ => self.warmup_secs = number(shown, value, 0)?,
        }
        Ok(())
    }
}
