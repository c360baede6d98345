//! Identifiers. All are random (UUID v4) or content-derived, never derived from a person.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

macro_rules! uuid_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new random id.
            pub fn new() -> Self {
                Self(uuid::Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|e| crate::Error::InvalidInput(format!("bad {}: {e}", stringify!($name))))
            }
        }
    };
}

uuid_id!(
    /// A work-order document.
    DocId
);
uuid_id!(
    /// An organisation (tenant).
    OrgId
);
uuid_id!(
    /// A person (engineer, dispatcher, ...).
    UserId
);
uuid_id!(
    /// A visit inside a work order.
    VisitId
);
uuid_id!(
    /// A line of an append-only list (consumption line, labour entry, event, photo ...).
    LineId
);

/// The Automerge actor of one device install (or one server). Random per install: a reused actor
/// id on two devices corrupts documents for good (`DuplicateSeqNumber`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ActorId(pub automerge::ActorId);

impl ActorId {
    /// A fresh random actor id. Call once per install and persist it.
    pub fn random() -> Self {
        Self(automerge::ActorId::random())
    }

    /// Raw bytes, for persistence.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }

    /// From persisted bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(automerge::ActorId::from(bytes))
    }
}

/// SHA-256 of a blob (photo, signature): how documents reference binary content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Hash `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parse 64 hex characters.
    pub fn from_hex(s: &str) -> crate::Result<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map_err(|e| crate::Error::InvalidInput(format!("bad content hash: {e}")))?;
        Ok(Self(out))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
