//! Signed, expiring tokens: `base64url(claims JSON) "." base64url(HMAC-SHA256(key, claims))`.
//! The key is generated into the data directory on first start (or given by config), so
//! tokens survive restarts; an in-memory server draws a fresh key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The player's id.
    pub sub: String,
    /// Their display name.
    pub name: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was given.
    #[error("a token is required")]
    Missing,
    /// Not a token of ours.
    #[error("the token is malformed")]
    Malformed,
    /// The signature does not match (forged, or from another server's key).
    #[error("the token's signature is invalid")]
    BadSignature,
    /// Past its expiry.
    #[error("the token expired")]
    Expired,
}

impl AuthError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "token_missing",
            AuthError::Malformed => "token_malformed",
            AuthError::BadSignature => "token_invalid",
            AuthError::Expired => "token_expired",
        }
    }
}

/// A signing key.
#[derive(Clone)]
pub struct Keys {
    key: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl Keys {
    /// A key from its 32 bytes.
    pub fn new(key: [u8; 32]) -> Keys {
        Keys { key }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }

    /// Signs claims into a token.
    pub fn issue(&self, claims: &Claims) -> String {
        let payload = serde_json::to_vec(claims).expect("claims encode");
        let mut mac = self.mac();
        mac.update(&payload);
        let signature = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(signature))
    }

    /// Checks a token's signature and expiry at `now_unix_s`.
    pub fn verify(&self, token: &str, now_unix_s: u64) -> Result<Claims, AuthError> {
        let (payload, signature) = token.split_once('.').ok_or(AuthError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| AuthError::Malformed)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| AuthError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&payload);
        // verify_slice compares in constant time.
        mac.verify_slice(&signature).map_err(|_| AuthError::BadSignature)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| AuthError::Malformed)?;
        if claims.exp <= now_unix_s {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims { sub: "p1".into(), name: "Ada".into(), exp }
    }

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let keys = Keys::new([7; 32]);
        let token = keys.issue(&claims(100));
        assert_eq!(keys.verify(&token, 99), Ok(claims(100)));
        assert_eq!(keys.verify(&token, 100), Err(AuthError::Expired));
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let keys = Keys::new([7; 32]);
        let token = keys.issue(&claims(100));
        assert_eq!(Keys::new([8; 32]).verify(&token, 0), Err(AuthError::BadSignature));
        let (_, sig) = token.split_once('.').expect("two parts");
        let forged =
            format!("{}.{sig}", URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","name":"x","exp":999}"#));
        assert_eq!(keys.verify(&forged, 0), Err(AuthError::BadSignature));
        assert_eq!(keys.verify("nodot", 0), Err(AuthError::Malformed));
        assert_eq!(keys.verify("a.b", 0), Err(AuthError::Malformed));
        assert_eq!(keys.verify("YQ.Yg", 0), Err(AuthError::BadSignature));
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_never_verify_or_panic(token in ".{0,200}") {
            prop_assert!(Keys::new([1; 32]).verify(&token, 0).is_err());
        }
    }
}
