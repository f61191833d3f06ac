//! A test and operations helper: a fresh, uniquely named schema in an
//! existing database, and the store URL that selects it, so that tests
//! running in parallel (this crate's, and black-box tests driving a
//! payroute process) each get an empty store on one shared server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::connect::{self, connect_one};
use super::timed_out;
use crate::domain::store::StoreError;

/// The environment variable naming the server tests use.
pub const TEST_URL_ENV: &str = "PAYROUTE_TEST_POSTGRES";
/// The server tests use unless [`TEST_URL_ENV`] names another.
pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Names made by [`create_test_schema`] start so; only those are dropped.
const PREFIX: &str = "t_";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates an empty schema named `t_<pid>_<counter>_<random>` in the
/// database of `base_url` and returns `base_url` with
/// `options=-c search_path=<schema>` added (URL-encoded), ready for
/// `store::open`. `base_url` must not carry an `options` parameter of its
/// own. Pair with [`drop_test_schema`].
pub async fn create_test_schema(base_url: &str) -> Result<String, StoreError> {
    let name = unique_name();
    execute(base_url, &format!("CREATE SCHEMA {name}")).await?;
    let sep = if base_url.contains('?') { '&' } else { '?' };
    Ok(format!("{base_url}{sep}options=-c%20search_path%3D{name}"))
}

/// Drops the schema a URL from [`create_test_schema`] selects, with all it
/// holds. Refuses any schema that helper did not name, so a production URL
/// passed by mistake drops nothing.
pub async fn drop_test_schema(url: &str) -> Result<(), StoreError> {
    let target = connect::parse(url)?;
    let (client, task) = tokio::time::timeout(super::OP_TIMEOUT, connect_one(&target))
        .await
        .map_err(|_| timed_out())??;
    let result = async {
        let row = client.query_one("SELECT current_schema()", &[]).await?;
        let name: Option<String> = super::codec::col(&row, 0)?;
        match name {
            Some(name) if is_test_name(&name) => {
                client
                    .batch_execute(&format!("DROP SCHEMA {name} CASCADE"))
                    .await?;
                Ok(())
            }
            Some(name) => Err(StoreError::BadUrl(format!(
                "schema {name:?} was not made by create_test_schema"
            ))),
            None => Ok(()),
        }
    }
    .await;
    task.abort();
    result
}

async fn execute(url: &str, sql: &str) -> Result<(), StoreError> {
    let target = connect::parse(url)?;
    let (client, task) = tokio::time::timeout(super::OP_TIMEOUT, connect_one(&target))
        .await
        .map_err(|_| timed_out())??;
    let result = client.batch_execute(sql).await.map_err(StoreError::from);
    task.abort();
    result
}

fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // Sub-second clock bits tell apart runs that reuse a pid.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{PREFIX}{}_{n}_{nanos:x}", std::process::id())
}

/// Only lower-case letters, digits and `_`, so the name needs no quoting.
fn is_test_name(name: &str) -> bool {
    name.starts_with(PREFIX)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_safe() {
        let (a, b) = (unique_name(), unique_name());
        assert_ne!(a, b);
        assert!(is_test_name(&a), "{a}");
        assert!(!is_test_name("public"));
        assert!(!is_test_name("t_x; DROP"));
    }
}
