//! A bounded map from a token's SHA-256 to its verified principal.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Principal;

pub(super) struct TokenCache {
    entries: RwLock<HashMap<[u8; 32], Arc<Principal>>>,
    capacity: usize,
}

impl TokenCache {
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache { entries: RwLock::new(HashMap::new()), capacity: capacity.max(2) }
    }

    pub fn get(&self, digest: &[u8; 32]) -> Option<Arc<Principal>> {
        // Nothing panics while the lock is held, so a poisoned lock still holds a sound map.
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(digest).cloned()
    }

    pub fn remove(&self, digest: &[u8; 32]) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.remove(digest);
    }

    /// Inserts; when full, drops expired entries, then arbitrary ones down to
    /// half the capacity, so a full sweep happens at most once per
    /// `capacity / 2` insertions.
    pub fn insert(&self, digest: [u8; 32], principal: Arc<Principal>, now: i64, leeway: i64) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&digest) {
            entries.retain(|_, cached| now <= cached.expires_at.saturating_add(leeway));
            let keep = self.capacity / 2;
            let mut excess = entries.len().saturating_sub(keep);
            // Iteration order of a randomly seeded HashMap: an arbitrary choice.
            entries.retain(|_, _| {
                if excess == 0 {
                    return true;
                }
                excess -= 1;
                false
            });
        }
        entries.insert(digest, principal);
    }

    /// Forgets every entry (the key set changed).
    pub fn clear(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.clear();
        entries.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }
}
