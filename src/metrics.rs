//! Prometheus metrics (design §9). One registry per server so that tests can
//! run several servers in one process. Every label value comes from a closed
//! set: configured gateway ids, ISO currency codes, outcome and route names.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metric registration failed: {0}")]
    Register(#[from] prometheus::Error),
}

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub payment_attempts: IntCounterVec,
    pub gateway_duration: HistogramVec,
    pub failovers: IntCounterVec,
    pub approval_ratio: prometheus::GaugeVec,
    pub circuit_open: IntGaugeVec,
    pub webhooks_received: IntCounterVec,
    pub webhook_deliveries: IntCounterVec,
    pub rules_reloads: IntCounterVec,
    pub rules_info: IntGaugeVec,
    pub build_info: IntGaugeVec,
    pub http_duration: HistogramVec,
    pub payments_in_flight: IntGauge,
    pub reconciler_leader: IntGauge,
    /// Reconciler rounds by `role` (`leader`, `follower`): each asks the
    /// store for leadership once.
    pub reconciler_rounds: IntCounterVec,
    /// Per listener (`api`, `ops`): connections open now.
    pub open_connections: IntGaugeVec,
    /// Per listener: connections closed at accept because the cap was reached.
    pub refused_connections: IntCounterVec,
    /// Per listener and reason (`in_flight`, `body_budget`, `body_timeout`,
    /// `body_too_large`, `body_unreadable`): requests the edge answered
    /// without a handler.
    pub edge_shed: IntCounterVec,
    /// Units of work the store's writer committed, and the transactions it
    /// committed them in (SQLite's group commit); set from the store at
    /// each scrape.
    pub store_units: prometheus::IntCounter,
    pub store_commits: prometheus::IntCounter,
}

/// Latency buckets from 1 ms to 30 s: gateway calls sit around 100 ms–2 s,
/// payroute's own handling well under a millisecond.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl Metrics {
    pub fn new() -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, MetricsError> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let histogram =
            |name: &str, help: &str, labels: &[&str]| -> Result<HistogramVec, MetricsError> {
                let h = HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()),
                    labels,
                )?;
                registry.register(Box::new(h.clone()))?;
                Ok(h)
            };
        let gauge =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, MetricsError> {
                let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(g.clone()))?;
                Ok(g)
            };
        let approval_ratio = prometheus::GaugeVec::new(
            Opts::new(
                "payroute_gateway_approval_ratio",
                "Rolling-window approval ratio per gateway, approved / (approved + declined), as routing uses it.",
            ),
            &["gateway"],
        )?;
        registry.register(Box::new(approval_ratio.clone()))?;
        let payments_in_flight = IntGauge::new(
            "payroute_payments_in_flight",
            "Merchant API requests currently calling a gateway.",
        )?;
        registry.register(Box::new(payments_in_flight.clone()))?;
        let reconciler_leader = IntGauge::new(
            "payroute_reconciler_leader",
            "1 while this replica runs the reconciler (one replica at a time).",
        )?;
        registry.register(Box::new(reconciler_leader.clone()))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;

        let m = Metrics {
            payment_attempts: counter(
                "payroute_payment_attempts_total",
                "Gateway authorization attempts by outcome.",
                &["gateway", "method", "currency", "outcome"],
            )?,
            gateway_duration: histogram(
                "payroute_gateway_request_duration_seconds",
                "Duration of gateway API calls.",
                &["gateway", "operation"],
            )?,
            failovers: counter(
                "payroute_failovers_total",
                "Payments moved from one gateway to the next.",
                &["from", "to", "reason"],
            )?,
            approval_ratio,
            circuit_open: gauge(
                "payroute_gateway_circuit_open",
                "1 while the gateway's circuit breaker is open.",
                &["gateway"],
            )?,
            webhooks_received: counter(
                "payroute_webhooks_received_total",
                "Inbound gateway webhooks by result.",
                &["gateway", "result"],
            )?,
            webhook_deliveries: counter(
                "payroute_webhook_deliveries_total",
                "Outbound merchant webhook delivery attempts by result.",
                &["result"],
            )?,
            rules_reloads: counter(
                "payroute_rules_reloads_total",
                "Rule-file reloads by result (success, failure, unchanged).",
                &["result"],
            )?,
            rules_info: gauge(
                "payroute_rules_info",
                "1 for the version of the active ruleset.",
                &["version"],
            )?,
            build_info: gauge(
                "payroute_build_info",
                "1, labelled with payroute's version.",
                &["version"],
            )?,
            http_duration: histogram(
                "payroute_http_request_duration_seconds",
                "Merchant API and webhook request handling time.",
                &["route", "status"],
            )?,
            payments_in_flight,
            reconciler_leader,
            reconciler_rounds: counter(
                "payroute_reconciler_rounds_total",
                "Reconciler rounds, by whether this replica led them.",
                &["role"],
            )?,
            open_connections: gauge(
                "payroute_edge_open_connections",
                "Connections open now, per listener.",
                &["listener"],
            )?,
            refused_connections: counter(
                "payroute_edge_connections_refused_total",
                "Connections closed at accept because the listener's connection cap was reached.",
                &["listener"],
            )?,
            edge_shed: counter(
                "payroute_edge_shed_total",
                "Requests answered by the edge without reaching a handler, by reason \
                 (in_flight, body_budget, body_timeout, body_too_large, body_unreadable).",
                &["listener", "reason"],
            )?,
            store_units: plain_counter(
                &registry,
                "payroute_store_units_total",
                "Units of work the store's writer committed (SQLite).",
            )?,
            store_commits: plain_counter(
                &registry,
                "payroute_store_commits_total",
                "Transactions the store's writer committed its units in (SQLite group commit).",
            )?,
            registry,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for result in ["success", "failure", "unchanged"] {
            m.rules_reloads.with_label_values(&[result]);
        }
        Ok(m)
    }

    /// Marks `version` as the only active ruleset.
    pub fn set_rules_version(&self, version: &str) {
        self.rules_info.reset();
        self.rules_info.with_label_values(&[version]).set(1);
    }

    /// Brings the store counters up to `stats` (they only grow).
    pub fn set_store_stats(&self, stats: crate::domain::store::WriteStats) {
        let sync = |c: &prometheus::IntCounter, to: u64| c.inc_by(to.saturating_sub(c.get()));
        sync(&self.store_units, stats.units);
        sync(&self.store_commits, stats.commits);
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 * 1024);
        let encoder = TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = encoder.encode(&self.registry.gather(), &mut buf);
        buf
    }
}

fn plain_counter(
    registry: &Registry,
    name: &str,
    help: &str,
) -> Result<prometheus::IntCounter, MetricsError> {
    let c = prometheus::IntCounter::new(name, help)?;
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}
