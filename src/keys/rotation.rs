//! Key rotation policies: get and set a key's policy, the `exp` it gives new versions, and
//! the sweep that runs its lifetime actions on the store's clock.
//!
//! The policy lives on the key's object record, so it follows the key through delete,
//! recover, backup and restore, and goes with it on purge. The sweep reads every live key's
//! object record (small: name, version ids, policy) a page at a time, and reads a version
//! only for keys that have a policy; so a pass costs one scan of the key records plus
//! work in proportion to the keys with policies.

use crate::error::{Error, Result};
use crate::model::access::DataAction;
use crate::model::key_policies::{
    default_lifetime_actions, validate_rotation_policy, KeyRotationPolicy, RotationAction,
    RotationPolicyUpdate,
};
use crate::vault::{Store, Vault};

/// What one pass of [`Store::run_key_rotations`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyRotationReport {
    /// Keys rotated by their policy, as `vault/name/new-version`.
    pub rotated: Vec<String>,
    /// Key versions whose Notify action fell due, as `vault/name/version`.
    pub notified: Vec<String>,
}

impl Vault {
    /// A key's rotation policy: the one set, or Key Vault's default (notify 30 days before
    /// expiry) for a key that has none. `NotFound` only when the key does not exist or is
    /// deleted.
    pub fn get_key_rotation_policy(&self, name: &str) -> Result<KeyRotationPolicy> {
        self.require_on_key(DataAction::KeysRead, name)?;
        self.record()?;
        let record = self.keys().live(name)?;
        Ok(record
            .rotation_policy
            .unwrap_or_else(KeyRotationPolicy::default_policy))
    }

    /// Sets a key's rotation policy, checked against Key Vault's rules
    /// ([`validate_rotation_policy`]). No actions resets them to the default. The policy
    /// applies to versions made from now on (their `exp`) and to the sweep.
    pub fn set_key_rotation_policy(
        &self,
        name: &str,
        update: RotationPolicyUpdate,
    ) -> Result<KeyRotationPolicy> {
        self.require_on_key(DataAction::KeysWrite, name)?;
        // Malformed input is a 400 whatever the key's state; only then is it looked up.
        validate_rotation_policy(&update)?;
        self.record()?;
        let keys = self.keys();
        keys.refuse_managed(&keys.live(name)?)?;
        let now = self.core().now();
        let lifetime_actions = if update.lifetime_actions.is_empty() {
            default_lifetime_actions()
        } else {
            update.lifetime_actions
        };
        let mut written = None;
        keys.update_record(name, |o| {
            let policy = KeyRotationPolicy {
                lifetime_actions: lifetime_actions.clone(),
                expiry_time: update.expiry_time.clone(),
                created: o
                    .rotation_policy
                    .as_ref()
                    .and_then(|p| p.created)
                    .or(Some(now)),
                updated: Some(now),
            };
            o.rotation_policy = Some(policy.clone());
            o.notified_version = None;
            written = Some(policy);
            Ok(())
        })?;
        written.ok_or_else(|| Error::Corrupt {
            what: "rotation policy".into(),
        })
    }

    /// The `exp` a new version of `name` made at `now` gets from the key's rotation
    /// policy: `now + expiryTime`, or `None` without a policy, an `expiryTime`, or a key.
    pub(super) fn policy_expiry(&self, name: &str, now: u64) -> Result<Option<u64>> {
        let record = match self.keys().live(name) {
            Ok(r) => r,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(record
            .rotation_policy
            .and_then(|p| p.expiry_time)
            .map(|d| now.saturating_add(d.seconds())))
    }

    /// Runs this vault's due key lifetime actions; see [`Store::run_key_rotations`].
    fn run_key_rotations(&self, report: &mut KeyRotationReport) -> Result<()> {
        let now = self.core().now();
        let vault = self.record()?;
        let keys = self.keys();
        let mut next: Option<String> = None;
        loop {
            let page = keys.page(false, 1000, next.as_deref())?;
            for record in page.items {
                let Some(policy) = &record.rotation_policy else {
                    continue;
                };
                if record.managed {
                    continue;
                }
                let Some(current) = record.current().map(str::to_string) else {
                    continue;
                };
                let v = match self.bundle_of_record(&vault, &record, Some(&current)) {
                    Ok(b) => b.attributes,
                    Err(Error::NotFound { .. }) => continue,
                    Err(e) => return Err(e),
                };
                let due = |kind| {
                    policy
                        .action(kind)
                        .and_then(|a| a.due(v.created, v.expires))
                        .is_some_and(|at| now >= at)
                };
                if due(RotationAction::Notify)
                    && record.notified_version.as_deref() != Some(current.as_str())
                {
                    keys.update_record(&record.name, |o| {
                        o.notified_version = Some(current.clone());
                        Ok(())
                    })?;
                    report
                        .notified
                        .push(format!("{}/{}/{current}", self.name(), record.name));
                }
                if due(RotationAction::Rotate) {
                    let b = self.rotate_unchecked(&record.name)?;
                    report
                        .rotated
                        .push(format!("{}/{}/{}", self.name(), b.name, b.version));
                }
            }
            next = page.next;
            if next.is_none() {
                return Ok(());
            }
        }
    }
}

impl Store {
    /// Runs the keys' rotation policies on the store's clock: a key whose Rotate action is
    /// due (`timeAfterCreate` after its current version was made, or `timeBeforeExpiry`
    /// before that version's `exp`) gets a new version, at most one per key per pass; a
    /// due Notify action is reported once per version (the server records it in the access
    /// log). Costs one scan of the live key records plus a version read per key with a
    /// policy.
    pub fn run_key_rotations(&self) -> Result<KeyRotationReport> {
        self.housekeeping(|| {
            let mut report = KeyRotationReport::default();
            for info in self.list_vaults()? {
                self.vault(&info.name)?.run_key_rotations(&mut report)?;
            }
            Ok(report)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::clock::Clock;
    use crate::crypto::{CurveName, KeySpec, KeyType};
    use crate::model::key_policies::{IsoDuration, LifetimeAction};
    use crate::model::{KeyOptions, DAY};
    use crate::{ManualClock, MasterKeySource, Store};

    use super::*;

    fn store() -> (Store, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_800_000_000));
        let store = Store::builder_on(Arc::new(crate::store::MemoryBackend::new()))
            .master_key(MasterKeySource::Bytes(crate::crypto::SecretBytes::new(
                vec![7; 32],
            )))
            .clock(clock.clone())
            .open()
            .expect("store");
        store
            .create_vault("v", crate::model::VaultOptions::default())
            .expect("vault");
        (store, clock)
    }

    fn d(s: &str) -> IsoDuration {
        s.parse().expect(s)
    }

    fn rotate_after(after: &str, expiry: Option<&str>) -> RotationPolicyUpdate {
        RotationPolicyUpdate {
            lifetime_actions: vec![LifetimeAction {
                action: RotationAction::Rotate,
                time_after_create: Some(d(after)),
                time_before_expiry: None,
            }],
            expiry_time: expiry.map(d),
        }
    }

    fn ec(vault: &Vault, name: &str) -> crate::model::KeyBundle {
        vault
            .create_key(
                name,
                KeyType::Ec,
                KeySpec::Ec(CurveName::P256),
                KeyOptions::default(),
            )
            .expect("create")
    }

    #[test]
    fn default_policy_until_one_is_set_and_404_only_for_missing_keys() {
        let (store, _) = store();
        let v = store.vault("v").expect("vault");
        assert!(matches!(
            v.get_key_rotation_policy("nope"),
            Err(Error::NotFound { .. })
        ));
        ec(&v, "k");
        let p = v.get_key_rotation_policy("k").expect("default");
        assert_eq!(p, KeyRotationPolicy::default_policy());
        let set = v
            .set_key_rotation_policy("k", rotate_after("P30D", Some("P90D")))
            .expect("set");
        assert_eq!(set.created, Some(1_800_000_000));
        assert_eq!(v.get_key_rotation_policy("k").expect("get"), set);
        // New versions expire by the policy unless told otherwise.
        let b = v.rotate_key("k").expect("rotate");
        assert_eq!(b.attributes.expires, Some(1_800_000_000 + 90 * DAY));
        let own = v
            .create_key(
                "k",
                KeyType::Ec,
                KeySpec::Ec(CurveName::P256),
                KeyOptions {
                    expires: Some(1_900_000_000),
                    ..KeyOptions::default()
                },
            )
            .expect("create with exp");
        assert_eq!(own.attributes.expires, Some(1_900_000_000));
        // Delete and recover keep it; a deleted key has no policy to read.
        v.delete_key("k").expect("delete");
        assert!(matches!(
            v.get_key_rotation_policy("k"),
            Err(Error::NotFound { .. })
        ));
        v.recover_deleted_key("k").expect("recover");
        assert_eq!(v.get_key_rotation_policy("k").expect("get"), set);
        // Backup and restore keep it; purge removes it.
        let blob = v.backup_key("k").expect("backup");
        v.delete_key("k").expect("delete");
        v.purge_deleted_key("k").expect("purge");
        v.restore_key(&blob).expect("restore");
        assert_eq!(v.get_key_rotation_policy("k").expect("get"), set);
        v.delete_key("k").expect("delete");
        v.purge_deleted_key("k").expect("purge");
        ec(&v, "k");
        assert_eq!(
            v.get_key_rotation_policy("k").expect("get"),
            KeyRotationPolicy::default_policy()
        );
    }

    #[test]
    fn bad_policies_are_refused_before_the_lookup() {
        let (store, _) = store();
        let v = store.vault("v").expect("vault");
        let e = v
            .set_key_rotation_policy("missing", rotate_after("P1D", None))
            .expect_err("too short");
        assert!(e.to_string().contains("at least 7 days"), "{e}");
        assert!(matches!(
            v.set_key_rotation_policy("missing", rotate_after("P30D", None)),
            Err(Error::NotFound { .. })
        ));
    }

    #[test]
    fn the_sweep_rotates_due_keys_once_and_notifies_once() {
        let (store, clock) = store();
        let v = store.vault("v").expect("vault");
        ec(&v, "due");
        ec(&v, "no-policy");
        v.set_key_rotation_policy("due", rotate_after("P30D", Some("P60D")))
            .expect("set");
        ec(&v, "notify");
        v.set_key_rotation_policy(
            "notify",
            RotationPolicyUpdate {
                lifetime_actions: vec![LifetimeAction {
                    action: RotationAction::Notify,
                    time_after_create: None,
                    time_before_expiry: Some(d("P10D")),
                }],
                expiry_time: Some(d("P40D")),
            },
        )
        .expect("set notify");
        // The notify key's next version expires by the policy (in 40 days); its Notify
        // falls due 10 days before that, with the other key's rotation.
        v.rotate_key("notify").expect("rotate notify");

        assert_eq!(
            store.run_key_rotations().expect("sweep"),
            KeyRotationReport::default()
        );
        clock.advance(29 * DAY);
        assert_eq!(
            store.run_key_rotations().expect("sweep"),
            KeyRotationReport::default()
        );
        clock.advance(DAY);
        let r = store.run_key_rotations().expect("sweep");
        assert_eq!(r.rotated.len(), 1, "{r:?}");
        assert!(r.rotated[0].starts_with("v/due/"), "{r:?}");
        assert_eq!(r.notified.len(), 1, "{r:?}");
        assert!(r.notified[0].starts_with("v/notify/"), "{r:?}");
        let versions = v.list_versions("due", 10, None).expect("versions").items;
        assert_eq!(versions.len(), 2);
        let new = versions.iter().find(|b| b.is_current).expect("current");
        assert_eq!(new.attributes.created, clock.now());
        assert_eq!(new.attributes.expires, Some(clock.now() + 60 * DAY));
        assert_eq!(
            v.list_versions("no-policy", 10, None)
                .expect("v")
                .items
                .len(),
            1
        );
        // Nothing more is due now: no second rotation, no second notice.
        assert_eq!(
            store.run_key_rotations().expect("sweep"),
            KeyRotationReport::default()
        );
    }
}
