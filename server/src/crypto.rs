//! Personal data at rest: AES-256-GCM for ID numbers and phones, an HMAC of the ID number
//! for duplicate detection. Stored ciphertexts carry the id of the key that made them, so a
//! key can be rotated: new writes use the current key, old values still open with an old one.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of an encrypted value: `enc1:<key id>:<base64(nonce ‖ ciphertext)>`.
const PREFIX: &str = "enc1:";

/// The keys for personal fields.
pub struct FieldCipher {
    current: (String, Aes256Gcm),
    old: Vec<(String, Aes256Gcm)>,
    hmac_key: [u8; 32],
}

impl FieldCipher {
    /// A cipher from the current key and any older keys still needed to read old values.
    /// The HMAC key derives from the current key's first version, so it must stay the same
    /// across rotations: it is derived from `hmac_seed` (the first key ever used).
    pub fn new(current: &[u8; 32], old: &[[u8; 32]]) -> FieldCipher {
        let entry = |k: &[u8; 32]| (key_id(k), Aes256Gcm::new(k.into()));
        let hmac_seed = old.first().unwrap_or(current);
        FieldCipher {
            current: entry(current),
            old: old.iter().map(entry).collect(),
            hmac_key: Sha256::digest([b"fangzha-id-hmac:".as_slice(), hmac_seed].concat()).into(),
        }
    }

    /// Encrypts a value with the current key.
    pub fn encrypt(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let (id, cipher) = &self.current;
        // Encryption with a valid key and a fresh 96-bit nonce cannot fail.
        let ct = cipher
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .unwrap_or_default();
        format!(
            "{PREFIX}{id}:{}",
            STANDARD_NO_PAD.encode([nonce.as_slice(), &ct].concat())
        )
    }

    /// Opens a stored value; a value without the prefix is returned as it is (written before
    /// encryption existed). `None` when no key opens it.
    pub fn decrypt(&self, stored: &str) -> Option<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Some(stored.to_owned());
        };
        let (id, data) = rest.split_once(':')?;
        let raw = STANDARD_NO_PAD.decode(data).ok()?;
        if raw.len() < 12 {
            return None;
        }
        let (nonce, ct) = raw.split_at(12);
        let cipher = std::iter::once(&self.current)
            .chain(&self.old)
            .find(|(k, _)| k == id)
            .map(|(_, c)| c)?;
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = cipher.decrypt(&Nonce::from(nonce), ct).ok()?;
        String::from_utf8(plain).ok()
    }

    /// Whether a stored value is encrypted.
    pub fn is_encrypted(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// A keyed hash of an ID number (upper-cased, trimmed) for finding the same person twice
    /// without storing the number in the clear.
    pub fn id_hash(&self, id_number: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.hmac_key).expect("any key length");
        mac.update(id_number.trim().to_uppercase().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A short public id of a key: the first 8 hex digits of its SHA-256.
pub fn key_id(key: &[u8; 32]) -> String {
    hex::encode(&Sha256::digest(key)[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rotation() {
        let old_key = [7u8; 32];
        let new_key = [9u8; 32];
        let before = FieldCipher::new(&old_key, &[]);
        let stored = before.encrypt("11010519491231002X");
        assert!(FieldCipher::is_encrypted(&stored));
        assert!(!stored.contains("1101051949"));
        assert_ne!(
            stored,
            before.encrypt("11010519491231002X"),
            "fresh nonce each time"
        );
        assert_eq!(
            before.decrypt(&stored).as_deref(),
            Some("11010519491231002X")
        );

        let after = FieldCipher::new(&new_key, &[old_key]);
        assert_eq!(
            after.decrypt(&stored).as_deref(),
            Some("11010519491231002X")
        );
        assert_eq!(
            after.id_hash("11010519491231002x"),
            before.id_hash("11010519491231002X")
        );
        let fresh = after.encrypt("13812345678");
        assert!(
            before.decrypt(&fresh).is_none(),
            "old keyring cannot open new values"
        );
        assert_eq!(
            after.decrypt("plain legacy").as_deref(),
            Some("plain legacy")
        );
        let mid = stored.len() - 10;
        let flipped = if &stored[mid..mid + 1] == "A" {
            "B"
        } else {
            "A"
        };
        let tampered = format!("{}{flipped}{}", &stored[..mid], &stored[mid + 1..]);
        assert!(
            after.decrypt(&tampered).is_none(),
            "GCM refuses a changed ciphertext"
        );
    }
}
