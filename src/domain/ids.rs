//! Identifiers and timestamps: prefixed ids (`pay_`, `re_`, `att_`, `evt_`),
//! random or time-ordered, and RFC 3339 UTC timestamps.

use rand::RngExt;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A prefixed id with 22 random base-62 characters (~131 bits).
pub fn new_id(prefix: &str) -> String {
    let mut s = prefixed(prefix);
    push_random(&mut s, 22);
    s
}

/// A prefixed id for a stored record made at `unix_ms`: 8 base-62
/// characters of that time in milliseconds, then 14 random ones (~83
/// bits), 22 in all like [`new_id`]. The alphabet is in ASCII order, so ids
/// made one after another sort together and the store's indexes on them
/// grow at their right edge: a group commit of many inserts dirties one
/// index page, not one random page per insert. Not for secrets: the time
/// part is guessable. Callers take the time from the clock
/// ([`super::clock::Clock::record_id`]).
pub(super) fn record_id_at(prefix: &str, unix_ms: i128) -> String {
    let mut s = prefixed(prefix);
    // 62^8 ms is about 6,900 years: the width never overflows.
    let mut ms = unix_ms;
    let mut time = [0u8; 8];
    for c in time.iter_mut().rev() {
        *c = ALPHABET[(ms % 62) as usize];
        ms /= 62;
    }
    time.iter().for_each(|&c| s.push(c as char));
    push_random(&mut s, 14);
    s
}

fn prefixed(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 23);
    s.push_str(prefix);
    s.push('_');
    s
}

fn push_random(s: &mut String, n: usize) {
    let mut rng = rand::rng();
    for _ in 0..n {
        s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ`, always this width. The stores order
/// and compare timestamps as text (`updated_at < ?`), which is only right
/// when every one has the same shape: RFC 3339's own formatting drops the
/// fraction when it is zero, and `…:32Z` sorts after `…:32.5Z`.
pub fn rfc3339_millis(t: time::OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(FORMAT)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_prefixed_and_distinct() {
        let a = super::new_id("pay");
        let b = super::new_id("pay");
        assert!(a.starts_with("pay_") && a.len() == 26);
        assert_ne!(a, b);
    }

    #[test]
    fn record_ids_sort_by_creation_time() {
        // One millisecond apart, across a carry of the base-62 time digits.
        let ms = 1_764_641_672_000i128 / 62 * 62 + 61;
        let a = super::record_id_at("pay", ms);
        let b = super::record_id_at("pay", ms + 1);
        assert!(a.starts_with("pay_") && a.len() == 26 && b.len() == 26);
        assert!(a < b, "{a} sorts after {b}");
        assert!(a.bytes().skip(4).all(|c| c.is_ascii_alphanumeric()));
    }

    #[test]
    fn timestamps_have_one_width_so_text_order_is_time_order() {
        let whole = time::macros::datetime!(2026-12-02 02:14:32 UTC);
        let later = time::macros::datetime!(2026-12-02 02:14:32.5 UTC);
        let (a, b) = (super::rfc3339_millis(whole), super::rfc3339_millis(later));
        assert_eq!(a, "2026-12-02T02:14:32.000Z");
        assert_eq!(b, "2026-12-02T02:14:32.500Z");
        assert!(a < b);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = super::rfc3339_millis(time::OffsetDateTime::now_utc());
        assert!(t.ends_with('Z'), "{t}");
        assert!(
            time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).is_ok()
        );
    }
}
