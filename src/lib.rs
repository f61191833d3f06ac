//! payroute: a payment-gateway routing proxy. See the README for the tour and
//! `design.md`-derived docs for the public surface.

pub mod api;
pub mod app;
pub mod config;
pub mod connectors;
pub mod domain;
pub mod edge;
pub mod health;
pub mod metrics;
pub mod payments;
pub mod reconcile;
pub mod risk;
pub mod routing;
pub mod server;
pub mod store;
pub mod vault;
pub mod webhooks;
