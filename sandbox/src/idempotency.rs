//! Gateway-side idempotency caches: one slot per (dialect, API key, key),
//! holding either "in flight" or the stored first result.

use std::collections::HashMap;

use serde_json::Value;

use super::ledger::Dialect;
use super::wire::SimReply;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ScopedKey {
    pub dialect: Dialect,
    /// The caller's account (its API key): keys never collide across accounts.
    pub scope: String,
    pub key: String,
}

/// What makes two requests "the same": endpoint plus parameters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fingerprint {
    pub target: String,
    pub params: Value,
}

#[derive(Debug)]
enum Slot {
    InFlight(Fingerprint),
    Done(Fingerprint, SimReply),
}

#[derive(Debug, PartialEq)]
pub(crate) enum Begin {
    /// First use: the caller executes and must `finish` or `abandon`.
    Fresh,
    Replay(SimReply),
    InFlight,
    /// Same key, other endpoint or parameters; `same_target` tells which.
    Mismatch {
        same_target: bool,
    },
}

#[derive(Debug, Default)]
pub(crate) struct IdemStore {
    slots: HashMap<ScopedKey, Slot>,
}

impl IdemStore {
    pub fn begin(&mut self, key: &ScopedKey, fingerprint: Fingerprint) -> Begin {
        match self.slots.get(key) {
            None => {
                self.slots.insert(key.clone(), Slot::InFlight(fingerprint));
                Begin::Fresh
            }
            Some(Slot::InFlight(_)) => Begin::InFlight,
            Some(Slot::Done(stored, reply)) if *stored == fingerprint => {
                Begin::Replay(reply.clone())
            }
            Some(Slot::Done(stored, _)) => Begin::Mismatch {
                same_target: stored.target == fingerprint.target,
            },
        }
    }

    /// Stores the result, or forgets the key when `reply` is `None`
    /// (results the gateway does not keep, such as validation errors).
    pub fn finish(&mut self, key: &ScopedKey, reply: Option<SimReply>) {
        match (self.slots.remove(key), reply) {
            (Some(Slot::InFlight(fp)), Some(reply)) => {
                self.slots.insert(key.clone(), Slot::Done(fp, reply));
            }
            (Some(done @ Slot::Done(..)), _) => {
                self.slots.insert(key.clone(), done);
            }
            _ => {}
        }
    }

    /// Releases an in-flight key whose request died before finishing.
    pub fn abandon(&mut self, key: &ScopedKey) {
        if matches!(self.slots.get(key), Some(Slot::InFlight(_))) {
            self.slots.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn key(scope: &str) -> ScopedKey {
        ScopedKey {
            dialect: Dialect::Stripe,
            scope: scope.into(),
            key: "k1".into(),
        }
    }

    fn fp(target: &str, n: i64) -> Fingerprint {
        Fingerprint {
            target: target.into(),
            params: Value::from(n),
        }
    }

    #[test]
    fn lifecycle_fresh_inflight_replay_mismatch() {
        let mut store = IdemStore::default();
        let reply = SimReply::json(StatusCode::OK, &Value::from(1));
        assert_eq!(store.begin(&key("a"), fp("/x", 1)), Begin::Fresh);
        assert_eq!(store.begin(&key("a"), fp("/x", 1)), Begin::InFlight);
        store.finish(&key("a"), Some(reply.clone()));
        assert_eq!(store.begin(&key("a"), fp("/x", 1)), Begin::Replay(reply));
        assert_eq!(
            store.begin(&key("a"), fp("/x", 2)),
            Begin::Mismatch { same_target: true }
        );
        assert_eq!(
            store.begin(&key("a"), fp("/y", 1)),
            Begin::Mismatch { same_target: false }
        );
    }

    #[test]
    fn keys_are_scoped_per_account() {
        let mut store = IdemStore::default();
        assert_eq!(store.begin(&key("a"), fp("/x", 1)), Begin::Fresh);
        assert_eq!(store.begin(&key("b"), fp("/x", 1)), Begin::Fresh);
    }

    #[test]
    fn unstored_and_abandoned_keys_can_be_reused() {
        let mut store = IdemStore::default();
        store.begin(&key("a"), fp("/x", 1));
        store.finish(&key("a"), None);
        assert_eq!(store.begin(&key("a"), fp("/x", 2)), Begin::Fresh);
        store.abandon(&key("a"));
        assert_eq!(store.begin(&key("a"), fp("/x", 3)), Begin::Fresh);
    }
}
