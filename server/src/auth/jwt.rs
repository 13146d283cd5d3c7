//! Short-lived access tokens: HS256 JWTs carrying only the user id. Role and areas are read
//! from the database on every request, so a reassignment takes effect at once.
//!
//! Rotation: tokens are signed with the current secret only; earlier secrets
//! (`jwt_previous_secrets`) still verify, so signed-in phones keep working until their
//! access token expires and is refreshed under the new secret.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Issued at, seconds.
    pub iat: i64,
    /// Expires at, seconds.
    pub exp: i64,
    /// Token id, for logs.
    pub jti: String,
}

/// Signing and verification keys with the access-token lifetime.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Keys of earlier secrets: verify only, never sign.
    previous: Vec<DecodingKey>,
    validation: Validation,
    ttl_secs: u64,
}

impl JwtKeys {
    /// Keys from the configured secret.
    pub fn new(secret: &SecretString, ttl_secs: u64) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        // Only HS256 is accepted: `alg: none` and algorithm-confusion tokens fail validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        JwtKeys {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            previous: Vec::new(),
            validation,
            ttl_secs,
        }
    }

    /// Also accepts tokens signed with these earlier secrets (a rotation in progress).
    pub fn with_previous(mut self, secrets: &[SecretString]) -> Self {
        self.previous = secrets
            .iter()
            .map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes()))
            .collect();
        self
    }

    /// Issues a token for a user; returns it with its lifetime in seconds.
    pub fn issue(&self, user_id: &str, now_secs: i64) -> anyhow::Result<(String, u64)> {
        let claims = Claims {
            sub: user_id.to_owned(),
            iat: now_secs,
            exp: now_secs + self.ttl_secs as i64,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, self.ttl_secs))
    }

    /// Verifies signature (current secret, then earlier ones), algorithm and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut result = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation);
        for key in &self.previous {
            // Only a signature mismatch means "maybe an older key"; an expired or malformed
            // token is answered as it is.
            let mismatch =
                matches!(&result, Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature));
            if !mismatch {
                break;
            }
            result = jsonwebtoken::decode::<Claims>(token, key, &self.validation);
        }
        result.map(|data| data.claims).map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => {
                ApiError::unauthorized("token_expired", "登录已过期，请重新登录")
            }
            _ => ApiError::unauthorized("invalid_token", "登录凭证无效，请重新登录"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys() -> JwtKeys {
        JwtKeys::new(&SecretString::from("0123456789abcdef0123456789abcdef"), 900)
    }

    fn now() -> i64 {
        crate::db::now_ms() / 1000
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let (t, ttl) = k.issue("u1", now()).unwrap();
        assert_eq!(ttl, 900);
        assert_eq!(k.verify(&t).unwrap().sub, "u1");
    }

    #[test]
    fn expired_and_forged_and_none() {
        let k = keys();
        let (t, _) = k.issue("u1", now() - 10_000).unwrap();
        assert_eq!(k.verify(&t).unwrap_err().code(), "token_expired");

        let other = JwtKeys::new(&SecretString::from("another-secret-another-secret-xx"), 900);
        let (forged, _) = other.issue("u1", now()).unwrap();
        assert_eq!(k.verify(&forged).unwrap_err().code(), "invalid_token");

        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD
            .encode(format!(r#"{{"sub":"u1","iat":{},"exp":{}}}"#, now(), now() + 900).as_bytes());
        assert_eq!(
            k.verify(&format!("{header}.{body}.")).unwrap_err().code(),
            "invalid_token"
        );
    }

    #[test]
    fn previous_secrets_verify_but_never_sign() {
        let old_secret = SecretString::from("the-old-secret-the-old-secret-xx");
        let new_secret = SecretString::from("the-new-secret-the-new-secret-xx");
        let old = JwtKeys::new(&old_secret, 900);
        let (old_token, _) = old.issue("u1", now()).unwrap();
        let (old_expired, _) = old.issue("u1", now() - 10_000).unwrap();

        let rotated =
            JwtKeys::new(&new_secret, 900).with_previous(std::slice::from_ref(&old_secret));
        assert_eq!(rotated.verify(&old_token).unwrap().sub, "u1");
        assert_eq!(
            rotated.verify(&old_expired).unwrap_err().code(),
            "token_expired"
        );
        let (new_token, _) = rotated.issue("u2", now()).unwrap();
        assert_eq!(
            old.verify(&new_token).unwrap_err().code(),
            "invalid_token",
            "new tokens are signed with the new secret"
        );
        assert_eq!(
            JwtKeys::new(&new_secret, 900)
                .verify(&new_token)
                .unwrap()
                .sub,
            "u2"
        );

        let dropped = JwtKeys::new(&new_secret, 900);
        assert_eq!(
            dropped.verify(&old_token).unwrap_err().code(),
            "invalid_token"
        );
    }
}
