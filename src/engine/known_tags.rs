//! The tags last read of each resource, so that the reconcile a change
//! event starts can skip reading them again (contract section 9: an event
//! costs at most two reads and the correcting write; driftd's own field
//! corrections come back as events that cost one read).
//!
//! Alarms and topics carry their tags behind a call of their own (the
//! tagging API), which their owner check needs. An event whose call cannot
//! change the tags of an existing resource (`PutMetricAlarm` on an alarm
//! that exists ignores its `Tags`; `SetTopicAttributes`, `Subscribe` …)
//! lets the next reconcile of that resource take the tags this process
//! last read instead of reading them again. Anything else reads them:
//! every full pass, every event of a call that can change tags
//! (`TagResource`, `UntagResource`, deletes), a resource whose tags driftd
//! is about to write, and a resource not seen since its tags were read.
//! Events are best effort, so a tag change whose event was lost is found by
//! the next full pass, which never trusts this memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use super::scheduler::Key;
use crate::kinds::Tags;

/// Clones share the memory.
#[derive(Debug, Clone, Default)]
pub struct KnownTags(Arc<Mutex<Memory>>);

/// What the call of a change event did to the tags of what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagEffect {
    /// Nothing: `PutMetricAlarm` on an existing alarm ignores its `Tags`,
    /// `SetTopicAttributes`, `Subscribe`, `UpdateService` … touch none.
    None,
    /// `TagResource`: these keys set to these values.
    Set(Tags),
    /// `UntagResource`: these keys removed.
    Remove(Vec<String>),
    /// Not known: a delete, a restore, a creation, a tag call whose
    /// parameters cannot be read.
    Unknown,
}

#[derive(Debug, Default)]
struct Memory {
    /// The tags of each resource as last read from AWS, while they matched
    /// the desired tags (no tag write of driftd's pending).
    read: HashMap<Key, Tags>,
    /// The resources whose next reconcile may take `read` as it is.
    trusted: HashSet<Key>,
}

impl KnownTags {
    fn lock(&self) -> MutexGuard<'_, Memory> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A change event of `key`, whose call did `effect` to its tags: the
    /// next reconcile may use the tags last read when the call left them as
    /// they were, or set (removed) only what they already held (lacked),
    /// which is what driftd's own tag writes look like when they come back.
    pub fn event(&self, key: &Key, effect: &TagEffect) {
        let mut memory = self.lock();
        let read = memory.read.get(key);
        let unchanged = match effect {
            TagEffect::None => true,
            TagEffect::Set(set) => {
                read.is_some_and(|tags| set.iter().all(|(k, v)| tags.get(k) == Some(v)))
            }
            TagEffect::Remove(keys) => {
                read.is_some_and(|tags| keys.iter().all(|k| !tags.contains_key(k)))
            }
            TagEffect::Unknown => false,
        };
        if unchanged {
            memory.trusted.insert(key.clone());
        } else {
            memory.trusted.remove(key);
        }
    }

    /// Nothing is trusted any more: a full pass reads every tag.
    pub fn distrust_all(&self) {
        self.lock().trusted.clear();
    }

    /// The tags the reconcile of `key` starting now may use instead of
    /// reading them; the trust is used up either way.
    pub fn take(&self, key: &Key) -> Option<Tags> {
        let mut memory = self.lock();
        if !memory.trusted.remove(key) {
            return None;
        }
        memory.read.get(key).cloned()
    }

    /// What a reconcile found: the resource's tags, when they need no write
    /// (`None`: it does not exist, cannot be read, or its tags are about to
    /// be written, so the next reconcile reads them).
    pub fn found(&self, key: &Key, tags: Option<&Tags>) {
        let mut memory = self.lock();
        match tags {
            Some(tags) => {
                memory.read.insert(key.clone(), tags.clone());
            }
            None => {
                memory.read.remove(key);
            }
        }
    }

    /// driftd's correction of `key` succeeded and left it with these tags
    /// (those it had, with what the correction set): what its own write's
    /// event then finds, without reading them. The convergence guard still
    /// waits for a real read of them ([`super::converge`]).
    pub fn wrote(&self, key: &Key, tags: Tags) {
        self.lock().read.insert(key.clone(), tags);
    }

    /// Forgets a resource that left the desired state.
    pub fn forget(&self, key: &Key) {
        let mut memory = self.lock();
        memory.read.remove(key);
        memory.trusted.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Kind;

    fn key() -> Key {
        Key::new("default", Kind::Alarm, "cpu")
    }

    fn tags() -> Tags {
        Tags::from([("driftd:owner".to_string(), "driftd".to_string())])
    }

    #[test]
    fn only_an_event_that_keeps_tags_lets_one_reconcile_use_them() {
        let known = KnownTags::default();
        known.found(&key(), Some(&tags()));
        assert_eq!(known.take(&key()), None, "a pass never trusts it");
        known.event(&key(), &TagEffect::None);
        assert_eq!(known.take(&key()), Some(tags()));
        assert_eq!(known.take(&key()), None, "the trust is used up");
        known.event(&key(), &TagEffect::None);
        known.event(&key(), &TagEffect::Unknown);
        assert_eq!(known.take(&key()), None, "a later tag change wins");
    }

    #[test]
    fn a_tag_call_that_sets_or_removes_nothing_new_keeps_them() {
        let known = KnownTags::default();
        let set = |k: &str, v: &str| TagEffect::Set(Tags::from([(k.to_string(), v.to_string())]));
        known.event(&key(), &set("driftd:owner", "driftd"));
        assert_eq!(known.take(&key()), None, "nothing read yet to compare with");
        known.found(&key(), Some(&tags()));
        known.event(&key(), &set("driftd:owner", "driftd"));
        assert_eq!(
            known.take(&key()),
            Some(tags()),
            "driftd's own tag write, back"
        );
        known.event(&key(), &set("driftd:owner", "someone"));
        assert_eq!(known.take(&key()), None);
        known.event(&key(), &set("team", "a"));
        assert_eq!(known.take(&key()), None, "a tag it did not have");
        known.event(&key(), &TagEffect::Remove(vec!["team".into()]));
        assert_eq!(known.take(&key()), Some(tags()), "removes what it lacked");
        known.event(&key(), &TagEffect::Remove(vec!["driftd:owner".into()]));
        assert_eq!(known.take(&key()), None);
        known.wrote(&key(), Tags::from([("team".to_string(), "a".to_string())]));
        known.event(&key(), &set("team", "a"));
        assert_eq!(
            known.take(&key()),
            Some(Tags::from([("team".to_string(), "a".to_string())])),
            "what driftd wrote"
        );
    }

    #[test]
    fn a_full_pass_a_missing_resource_or_a_tag_write_means_reading_again() {
        let known = KnownTags::default();
        known.found(&key(), Some(&tags()));
        known.event(&key(), &TagEffect::None);
        known.distrust_all();
        assert_eq!(known.take(&key()), None);

        known.event(&key(), &TagEffect::None);
        known.found(&key(), None);
        assert_eq!(known.take(&key()), None, "nothing known to use");

        known.found(&key(), Some(&tags()));
        known.event(&key(), &TagEffect::None);
        known.forget(&key());
        assert_eq!(known.take(&key()), None);
    }
}
