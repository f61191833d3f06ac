//! The card vault's encryption at rest (issue 12, first piece): a ring of
//! AES-256-GCM keys from the environment, each with an id, so keys rotate
//! without a flag day. New secrets are sealed under the current key (the
//! first in the ring); every key still in the ring opens what it sealed,
//! and [`KeyRing::needs_rotation`] tells a re-encryption pass what to redo.
//!
//! Each seal has a fresh random 96-bit nonce, and the caller's associated
//! data (the payment method's id) is authenticated with it, so a sealed card
//! copied onto another record does not open there. Nothing here stores or
//! logs anything; keys never leave this module.
//!
//! Key spec (`PAYROUTE_VAULT_KEYS`): `id:base64key[,id:base64key...]`, each
//! key 32 bytes, ids `[A-Za-z0-9_-]{1,32}`, the first one current.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Why a key ring or a seal was refused. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    #[error("vault key spec: {0}")]
    BadSpec(String),
    #[error("sealed with key `{0}`, which is not in the key ring")]
    UnknownKey(String),
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not open: wrong key, wrong record or tampered")]
    Unopenable,
}

/// A secret sealed under one key: what the store keeps.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    nonce: [u8; 12],
    ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealed({}, {} bytes)",
            self.key_id,
            self.ciphertext.len()
        )
    }
}

impl Sealed {
    /// `v1.{key_id}.{base64(nonce || ciphertext)}`: one text column.
    pub fn encode(&self) -> String {
        let mut raw = self.nonce.to_vec();
        raw.extend_from_slice(&self.ciphertext);
        format!("v1.{}.{}", self.key_id, B64.encode(raw))
    }

    pub fn decode(text: &str) -> Result<Sealed, VaultError> {
        let mut parts = text.splitn(3, '.');
        let (Some("v1"), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VaultError::Malformed);
        };
        let raw = B64.decode(body).map_err(|_| VaultError::Malformed)?;
        // A GCM ciphertext is at least its 16-byte tag.
        if raw.len() < 12 + 16 || !valid_id(key_id) {
            return Err(VaultError::Malformed);
        }
        let (nonce, ciphertext) = raw.split_at(12);
        Ok(Sealed {
            key_id: key_id.to_string(),
            nonce: nonce.try_into().map_err(|_| VaultError::Malformed)?,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

/// The vault's keys, current first.
pub struct KeyRing {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        write!(f, "KeyRing({ids:?})")
    }
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl KeyRing {
    /// Parses a key spec (see the module docs). Errors name the key id or
    /// position, never the key.
    pub fn from_spec(spec: &str) -> Result<KeyRing, VaultError> {
        let mut keys: Vec<(String, Aes256Gcm)> = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            let bad = |why: &str| VaultError::BadSpec(format!("entry {}: {why}", i + 1));
            let (id, key) = entry
                .split_once(':')
                .ok_or_else(|| bad("expected id:base64key"))?;
            if !valid_id(id) {
                return Err(bad("the id must be 1-32 of A-Z a-z 0-9 _ -"));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(bad(&format!("key id `{id}` appears twice")));
            }
            let bytes = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| bad(&format!("key `{id}` must be 32 bytes, not {}", bytes.len())))?;
            keys.push((id.to_string(), cipher));
        }
        Ok(KeyRing { keys })
    }

    /// The id new seals are made with.
    pub fn current_id(&self) -> &str {
        // Invariant: `from_spec` never builds an empty ring (splitting any
        // string yields at least one entry, and each entry must parse).
        &self.keys[0].0
    }

    /// Seals `secret` under the current key, bound to `record` (e.g. the
    /// payment method's id).
    pub fn seal(&self, secret: &[u8], record: &str) -> Sealed {
        let (id, cipher) = &self.keys[0];
        let nonce: [u8; 12] = rand::random();
        let payload = Payload {
            msg: secret,
            aad: record.as_bytes(),
        };
        // Invariant: AES-GCM encryption fails only past 64 GiB of input.
        let ciphertext = cipher
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_else(|_| unreachable!("AES-GCM input far below its limit"));
        Sealed {
            key_id: id.clone(),
            nonce,
            ciphertext,
        }
    }

    /// Opens what any key of the ring sealed for this same `record`.
    pub fn open(&self, sealed: &Sealed, record: &str) -> Result<Vec<u8>, VaultError> {
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(id, _)| *id == sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey(sealed.key_id.clone()))?;
        let payload = Payload {
            msg: &sealed.ciphertext,
            aad: record.as_bytes(),
        };
        cipher
            .decrypt(&Nonce::from(sealed.nonce), payload)
            .map_err(|_| VaultError::Unopenable)
    }

    /// Sealed under an older key: a rotation pass should open and re-seal it.
    pub fn needs_rotation(&self, sealed: &Sealed) -> bool {
        sealed.key_id != self.current_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        B64.encode([byte; 32])
    }

    #[test]
    fn a_sealed_card_opens_for_its_record_and_round_trips_through_text() {
        let ring = KeyRing::from_spec(&format!("k1:{}", key(1))).unwrap();
        let sealed = ring.seal(b"4242424242424242", "pm_1");
        assert!(!sealed.encode().contains("4242"));
        let back = Sealed::decode(&sealed.encode()).unwrap();
        assert_eq!(back, sealed);
        assert_eq!(ring.open(&back, "pm_1").unwrap(), b"4242424242424242");
    }

    #[test]
    fn two_seals_of_one_secret_differ_by_their_nonce() {
        let ring = KeyRing::from_spec(&format!("k1:{}", key(1))).unwrap();
        assert_ne!(
            ring.seal(b"x", "pm_1").encode(),
            ring.seal(b"x", "pm_1").encode()
        );
    }

    #[test]
    fn another_record_a_tampered_byte_or_a_foreign_key_does_not_open() {
        let ring = KeyRing::from_spec(&format!("k1:{}", key(1))).unwrap();
        let sealed = ring.seal(b"4242424242424242", "pm_1");
        assert_eq!(ring.open(&sealed, "pm_2"), Err(VaultError::Unopenable));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(ring.open(&tampered, "pm_1"), Err(VaultError::Unopenable));
        let same_id_other_key = KeyRing::from_spec(&format!("k1:{}", key(2))).unwrap();
        assert_eq!(
            same_id_other_key.open(&sealed, "pm_1"),
            Err(VaultError::Unopenable)
        );
    }

    #[test]
    fn after_a_rotation_old_seals_still_open_and_are_marked_for_re_sealing() {
        let old = KeyRing::from_spec(&format!("k1:{}", key(1))).unwrap();
        let sealed = old.seal(b"4000000000000002", "pm_9");
        let rotated = KeyRing::from_spec(&format!("k2:{},k1:{}", key(2), key(1))).unwrap();
        assert_eq!(rotated.current_id(), "k2");
        assert!(rotated.needs_rotation(&sealed));
        let plain = rotated.open(&sealed, "pm_9").unwrap();
        let resealed = rotated.seal(&plain, "pm_9");
        assert!(!rotated.needs_rotation(&resealed));
        let retired = KeyRing::from_spec(&format!("k2:{}", key(2))).unwrap();
        assert_eq!(
            retired.open(&sealed, "pm_9"),
            Err(VaultError::UnknownKey("k1".into()))
        );
        assert_eq!(
            retired.open(&resealed, "pm_9").unwrap(),
            b"4000000000000002"
        );
    }

    #[test]
    fn bad_specs_are_refused_without_echoing_the_key() {
        let short = B64.encode([9u8; 16]);
        for (spec, says) in [
            ("".to_string(), "expected id:base64key"),
            (format!("k 1:{}", key(1)), "the id must be"),
            ("k1:not base64!".to_string(), "not base64"),
            (format!("k1:{short}"), "must be 32 bytes, not 16"),
            (format!("k1:{},k1:{}", key(1), key(2)), "appears twice"),
        ] {
            let err = KeyRing::from_spec(&spec).unwrap_err().to_string();
            assert!(err.contains(says), "{spec:?}: {err}");
            assert!(!err.contains(&short) && !err.contains(&key(1)), "{err}");
        }
    }

    #[test]
    fn malformed_sealed_text_is_refused() {
        for text in [
            "",
            "v2.k1.AAAA",
            "v1.k1.@@@",
            "v1.k1.AAAA",
            "v1.bad id.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(Sealed::decode(text), Err(VaultError::Malformed), "{text}");
        }
    }
}
