//! Vaults on the lifecycle: create, settings, soft-delete, recover and purge, under the
//! same retention and purge-protection rules as the objects they hold (and through the same
//! code: [`deletion_dates`](super::core::deletion_dates),
//! [`check_purge`](super::core::check_purge) and the purge queue); and the sweep that
//! purges vaults and objects at their scheduled purge dates, which every call that touches
//! a vault runs first when something is due.

use std::sync::Arc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use super::core::{check_purge, deletion_dates, Core, StoreTime, VaultCache};
use super::objects;
use super::records::{
    log_key, log_prefix, parse_purge_entry, purge_entry, vault_id, vault_prefix, Due, ObjectRecord,
    VaultRecord, DEFAULT_LOG_RETENTION_DAYS,
};
use crate::clock::{Clock, UnixTime};
use crate::error::{Error, ObjectKind, Result};
use crate::model::{
    validate_vault_name, VaultInfo, VaultKind, VaultOptions, DAY, MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
};
use crate::store::{decode, KeyRange, Rows, Storage, StoreLock, Table, Txn, TxnExt, Write};

/// What a sweep purged.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Keys purged, as `vault/name`.
    pub keys: Vec<String>,
    /// Secrets purged, as `vault/name`.
    pub secrets: Vec<String>,
    /// Vaults purged.
    pub vaults: Vec<String>,
    /// Access-log records dropped after their retention.
    pub access_log_records: usize,
}

/// How many due queue entries a sweep reads (and purges in one transaction) at a time.
const SWEEP_BATCH: usize = 256;

/// Checks an access-log retention (1 to 365 days), so a caller can refuse a request before
/// applying any part of it.
pub fn check_log_retention(days: u32) -> Result<()> {
    if !(1..=365).contains(&days) {
        return Err(Error::bad_parameter(format!(
            "log retention must be 1 to 365 days, not {days}"
        )));
    }
    Ok(())
}

/// Checks Key Vault's permission model against the vault's kind: a Managed HSM has only
/// local RBAC; a vault of kind `vault` may choose access policies instead.
pub(crate) fn check_permission_model(
    kind: VaultKind,
    enable_rbac_authorization: bool,
) -> Result<()> {
    if kind == VaultKind::ManagedHsm && !enable_rbac_authorization {
        return Err(Error::bad_parameter(
            "enableRbacAuthorization cannot be false in a managedhsm vault: a Managed HSM \
             always uses local RBAC; access policies are for vaults of kind vault",
        ));
    }
    Ok(())
}

/// Removes every record of `table` in `range`, a bounded batch at a time. Returns how many.
fn remove_range(core: &Core, table: Table, range: &KeyRange) -> Result<usize> {
    let mut removed = 0;
    core.storage.scan_batches(table, range.clone(), |batch| {
        removed += batch.len();
        let writes: Vec<Write> = batch
            .into_iter()
            .map(|(k, _)| Write::Delete(table, k))
            .collect();
        core.storage.backend().apply(&writes)?;
        Ok(true)
    })?;
    Ok(removed)
}

impl Core {
    /// The engine over `storage`, whose clock has acted up to `high_water`. Finishes any
    /// vault purge a crash interrupted.
    pub(crate) fn open(
        storage: Storage,
        high_water: UnixTime,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let core = Self {
            storage,
            time: Arc::new(StoreTime {
                clock,
                high_water: AtomicU64::new(high_water),
            }),
            vaults: RwLock::new(VaultCache::default()),
            next_due: AtomicU64::new(0),
            due_lock: Mutex::new(()),
        };
        core.finish_interrupted_purges()?;
        core.reload_next_due()?;
        Ok(core)
    }

    /// The record of a live vault, or `VaultNotFound`. Runs a sweep first when one is due.
    pub(crate) fn live_vault(&self, name: &str) -> Result<Arc<VaultRecord>> {
        self.sweep_if_due()?;
        self.vault_record(name)?
            .filter(|r| r.is_live())
            .ok_or_else(|| Error::VaultNotFound {
                vault: name.to_string(),
            })
    }

    /// Creates a vault.
    pub(crate) fn create_vault(&self, name: &str, options: VaultOptions) -> Result<VaultInfo> {
        self.create_vault_with(name, options, true)
    }

    /// Creates a vault with Key Vault's permission model chosen: role assignments
    /// (`enable_rbac_authorization`) or access policies, which only a vault of kind `vault`
    /// may choose. One transaction, so the vault never exists under the other model.
    pub(crate) fn create_vault_with(
        &self,
        name: &str,
        options: VaultOptions,
        enable_rbac_authorization: bool,
    ) -> Result<VaultInfo> {
        validate_vault_name(name)?;
        check_permission_model(options.kind, enable_rbac_authorization)?;
        if !(MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&options.retention_days) {
            return Err(Error::bad_parameter(format!(
                "retention must be {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days, not {}",
                options.retention_days
            )));
        }
        self.sweep_if_due()?;
        let record = VaultRecord {
            name: name.to_ascii_lowercase(),
            kind: options.kind,
            retention_days: options.retention_days,
            purge_protection: options.purge_protection,
            created: self.now(),
            deletion: None,
            purging: false,
            access_log: false,
            log_retention_days: DEFAULT_LOG_RETENTION_DAYS,
            enable_rbac_authorization,
            access_policies: Vec::new(),
            certificate_contacts: Vec::new(),
            settings: Default::default(),
            custom_roles: Vec::new(),
            token_pins: None,
        };
        let id = vault_id(name);
        self.transact(|tx| {
            if let Some(existing) = tx.get_as::<VaultRecord>(Table::Vaults, &id, "vault")? {
                let vault = existing.name;
                return Err(if existing.deletion.is_some() || existing.purging {
                    Error::VaultIsDeleted { vault }
                } else {
                    Error::VaultExists { vault }
                });
            }
            tx.put_as(Table::Vaults, &id, &record)
        })?;
        self.vault_changed();
        self.commit()?;
        Ok(record.info())
    }

    /// Changes a live vault's record in one transaction.
    pub(crate) fn update_vault(
        &self,
        name: &str,
        change: impl Fn(&mut VaultRecord) -> Result<()>,
    ) -> Result<VaultInfo> {
        let id = vault_id(name);
        let info = self.transact(|tx| {
            let mut r = Core::live_vault_tx(tx, name)?;
            change(&mut r)?;
            tx.put_as(Table::Vaults, &id, &r)?;
            Ok(r.info())
        })?;
        self.vault_changed();
        self.commit()?;
        Ok(info)
    }

    /// Changes a vault's record, live or soft-deleted (not one being purged), in one
    /// transaction: for customer-data deletes, which must reach what a soft-deleted vault
    /// holds about a principal.
    pub(crate) fn update_any_vault(
        &self,
        name: &str,
        change: impl Fn(&mut VaultRecord) -> Result<()>,
    ) -> Result<VaultInfo> {
        let id = vault_id(name);
        let info = self.transact(|tx| {
            let mut r = Core::unpurged_vault_tx(tx, name)?;
            change(&mut r)?;
            tx.put_as(Table::Vaults, &id, &r)?;
            Ok(r.info())
        })?;
        self.vault_changed();
        self.commit()?;
        Ok(info)
    }

    /// Inside a transaction: the vault's record, live or soft-deleted, or `VaultNotFound`
    /// when there is none or it is being purged (what it holds is going, so nothing may
    /// change in it).
    pub(crate) fn unpurged_vault_tx(tx: &mut dyn Txn, name: &str) -> Result<VaultRecord> {
        tx.get_as::<VaultRecord>(Table::Vaults, &vault_id(name), "vault")?
            .filter(|r| !r.purging)
            .ok_or_else(|| Error::VaultNotFound {
                vault: name.to_string(),
            })
    }

    /// A vault's settings, live or soft-deleted.
    pub(crate) fn vault_info(&self, name: &str) -> Result<VaultInfo> {
        self.sweep_if_due()?;
        self.vault_record(name)?
            .filter(|r| !r.purging)
            .map(|r| r.info())
            .ok_or_else(|| Error::VaultNotFound {
                vault: name.to_string(),
            })
    }

    /// Every vault record (there are few), by name.
    pub(crate) fn all_vaults(&self) -> Result<Vec<VaultRecord>> {
        self.storage
            .backend()
            .scan(Table::Vaults, &KeyRange::all(), usize::MAX)?
            .iter()
            .map(|(_, v)| decode("vault", v))
            .collect()
    }

    /// Live (`deleted` false) or soft-deleted vaults, by name.
    pub(crate) fn list_vaults(&self, deleted: bool) -> Result<Vec<VaultInfo>> {
        self.sweep_if_due()?;
        Ok(self
            .all_vaults()?
            .into_iter()
            .filter(|r| !r.purging && r.deletion.is_some() == deleted)
            .map(|r| r.info())
            .collect())
    }

    /// Soft-deletes a vault: what it holds becomes unreachable until it is recovered, and
    /// it is purged (with everything in it) at `deleted + retention`.
    pub(crate) fn delete_vault(&self, name: &str) -> Result<VaultInfo> {
        self.sweep_if_due()?;
        let now = self.now();
        let id = vault_id(name);
        let (info, due) = self.transact(|tx| {
            let mut r = Core::live_vault_tx(tx, name)?;
            let deletion = deletion_dates(now, r.retention_days);
            r.deletion = Some(deletion);
            tx.put_as(Table::Vaults, &id, &r)?;
            Core::enqueue(tx, deletion.scheduled_purge_date, Due::Vault, &id)?;
            Ok((r.info(), deletion.scheduled_purge_date))
        })?;
        self.vault_changed();
        self.commit()?;
        self.queued(due);
        Ok(info)
    }

    /// Recovers a soft-deleted vault with everything in it.
    pub(crate) fn recover_vault(&self, name: &str) -> Result<VaultInfo> {
        self.sweep_if_due()?;
        let id = vault_id(name);
        let not_found = || Error::DeletedVaultNotFound {
            vault: name.to_string(),
        };
        let info = self.transact(|tx| {
            let mut r = tx
                .get_as::<VaultRecord>(Table::Vaults, &id, "vault")?
                .filter(|r| !r.purging)
                .ok_or_else(not_found)?;
            let deletion = r.deletion.take().ok_or_else(not_found)?;
            tx.put_as(Table::Vaults, &id, &r)?;
            Core::dequeue(tx, deletion.scheduled_purge_date, Due::Vault, &id)?;
            Ok(r.info())
        })?;
        self.vault_changed();
        self.commit()?;
        Ok(info)
    }

    /// Purges a soft-deleted vault and everything in it, for good. Under purge protection
    /// this is refused before the vault's scheduled purge date.
    pub(crate) fn purge_vault(&self, name: &str) -> Result<()> {
        self.sweep_if_due()?;
        let r = self
            .vault_record(name)?
            .filter(|r| r.deletion.is_some() && !r.purging)
            .ok_or_else(|| Error::DeletedVaultNotFound {
                vault: name.to_string(),
            })?;
        self.purge_vault_record(&r, false)
    }

    /// Purges a deleted vault. The vault is first marked as purging (durably), so a crash
    /// part-way is finished at the next open, and its name cannot be reused before the
    /// purge completes. `sweep` purges only what is due (and resumes a purge under way).
    pub(crate) fn purge_vault_record(&self, r: &VaultRecord, sweep: bool) -> Result<()> {
        let now = self.now();
        let id = vault_id(&r.name);
        // Re-read and mark the vault in one transaction: a recover that commits between the
        // caller's read and this mark must win, not be overwritten.
        self.transact(|tx| {
            let current = tx
                .get_as::<VaultRecord>(Table::Vaults, &id, "vault")?
                .ok_or_else(|| Error::DeletedVaultNotFound {
                    vault: r.name.clone(),
                })?;
            if !(sweep && current.purging) {
                let deletion = current
                    .deletion
                    .ok_or_else(|| Error::DeletedVaultNotFound {
                        vault: r.name.clone(),
                    })?;
                check_purge(&r.name, deletion, current.purge_protection, sweep, now)?;
            }
            let mut marked = current;
            marked.purging = true;
            tx.put_as(Table::Vaults, &id, &marked)
        })?;
        self.vault_changed();
        self.commit()?;
        self.remove_vault_contents(&r.name)?;
        self.commit()?;
        self.transact(|tx| {
            if let Some(d) = r.deletion {
                Core::dequeue(tx, d.scheduled_purge_date, Due::Vault, &id)?;
            }
            tx.delete(Table::Vaults, &id)
        })?;
        self.vault_changed();
        self.commit()
    }

    /// Removes everything a vault holds: objects of every kind with their versions and
    /// queued purges, role assignments and access-log records.
    fn remove_vault_contents(&self, vault: &str) -> Result<()> {
        let prefix = KeyRange::prefix(&vault_prefix(vault));
        for kind in ObjectKind::ALL {
            let deleted = self
                .storage
                .backend()
                .scan(Table::Deleted(kind), &prefix, usize::MAX)?;
            let mut dequeue = Vec::with_capacity(deleted.len());
            for (k, v) in &deleted {
                if let Some(d) = decode::<ObjectRecord>("deleted object", v)?.deletion {
                    dequeue.push(Write::Delete(
                        Table::PurgeQueue,
                        purge_entry(d.scheduled_purge_date, Due::Object(kind), k),
                    ));
                }
            }
            self.storage.backend().apply(&dequeue)?;
            for table in [
                Table::Objects(kind),
                Table::Deleted(kind),
                Table::Versions(kind),
            ] {
                remove_range(self, table, &prefix)?;
            }
        }
        remove_range(self, Table::RoleAssignments, &prefix)?;
        remove_range(self, Table::Issuers, &prefix)?;
        remove_range(
            self,
            Table::AccessLog,
            &KeyRange::prefix(&log_prefix(vault)),
        )?;
        Ok(())
    }

    /// Finishes vault purges that a crash interrupted.
    pub(super) fn finish_interrupted_purges(&self) -> Result<()> {
        for r in self.all_vaults()?.into_iter().filter(|r| r.purging) {
            self.purge_vault_record(&r, true)?;
        }
        Ok(())
    }

    /// Drops access-log records older than their vault's log retention: a range delete per
    /// vault, reading only what is due.
    pub(super) fn sweep_access_logs(&self, now: UnixTime) -> Result<usize> {
        let mut dropped = 0;
        for r in self.all_vaults()? {
            let cutoff = now.saturating_sub(u64::from(r.log_retention_days) * DAY);
            let range = KeyRange::between(&log_prefix(&r.name), &log_key(&r.name, cutoff, 0));
            dropped += remove_range(self, Table::AccessLog, &range)?;
        }
        Ok(dropped)
    }

    /// The vault's record for calls that must see it whatever its state (customer-data
    /// requests, access logs).
    pub(crate) fn any_vault(&self, name: &str) -> Result<Arc<VaultRecord>> {
        self.vault_record(name)?
            .ok_or_else(|| Error::VaultNotFound {
                vault: name.to_string(),
            })
    }
    /// Sweeps when the earliest queued purge is due; no storage read when none is. A full
    /// disk defers the sweep instead of failing the call that ran into it (a read or a sign
    /// needs no write): what is due stays queued, for the first call after space returns.
    pub(crate) fn sweep_if_due(&self) -> Result<()> {
        if self.next_due.load(Ordering::SeqCst) <= self.now() {
            match self.sweep() {
                Err(Error::DiskFull { .. }) => {
                    tracing::debug!("the disk is full: due purges wait for space");
                }
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    /// Purges everything whose scheduled purge date has come and drops access-log records
    /// past their retention. Reads only the queue entries that are due; flushes once. On a
    /// store that several processes share, one sweeps at a time; while another does, this
    /// returns an empty report.
    pub(crate) fn sweep(&self) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        self.storage
            .backend()
            .exclusive(StoreLock::Sweep, false, &mut || {
                report = self.sweep_now()?;
                Ok(())
            })?;
        Ok(report)
    }

    fn sweep_now(&self) -> Result<SweepReport> {
        let now = self.now();
        let mut report = SweepReport {
            access_log_records: self.sweep_access_logs(now)?,
            ..SweepReport::default()
        };
        let end = now.saturating_add(1).to_be_bytes();
        let range = KeyRange::between(&[], &end);
        // Bounded batches, so a sweep after a long pause does not hold everything in memory.
        loop {
            let due = self
                .storage
                .backend()
                .scan(Table::PurgeQueue, &range, SWEEP_BATCH)?;
            let done = due.len() < SWEEP_BATCH;
            let (objects, others): (Vec<_>, Vec<_>) = due
                .into_iter()
                .partition(|(k, _)| matches!(parse_purge_entry(k), Some((_, Due::Object(_), _))));
            self.sweep_objects(&objects, now, &mut report)?;
            for (k, _) in others {
                self.sweep_vault(&k, &mut report)?;
            }
            if done {
                break;
            }
        }
        if !report.keys.is_empty()
            || !report.secrets.is_empty()
            || !report.vaults.is_empty()
            || report.access_log_records > 0
        {
            self.commit()?;
        }
        self.reload_next_due()?;
        Ok(report)
    }

    /// Purges the objects a batch of due queue entries names, in one transaction. An entry
    /// whose object is gone (recovered, or purged by hand) or not due after all (its real
    /// entry is queued later) is stale: it is dropped rather than let one bad entry fail
    /// every call that sweeps.
    fn sweep_objects(&self, due: &Rows, now: UnixTime, report: &mut SweepReport) -> Result<()> {
        if due.is_empty() {
            return Ok(());
        }
        let purged = self.transact(|tx| {
            let mut purged = Vec::new();
            for (k, _) in due {
                let Some((_, Due::Object(kind), id)) = parse_purge_entry(k) else {
                    continue;
                };
                match objects::purge_in(tx, kind, id, true, now) {
                    Ok(true) => purged.push((kind, String::from_utf8_lossy(id).into_owned())),
                    Ok(false) | Err(Error::PurgeProtected { .. }) => {
                        tx.delete(Table::PurgeQueue, k)?;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(purged)
        })?;
        for (kind, id) in purged {
            match kind {
                ObjectKind::Key => report.keys.push(id),
                ObjectKind::Secret => report.secrets.push(id),
                _ => {}
            }
        }
        Ok(())
    }

    /// Purges the vault a due queue entry names, or drops the entry when it is stale.
    fn sweep_vault(&self, k: &[u8], report: &mut SweepReport) -> Result<()> {
        let drop_entry = || {
            self.storage
                .backend()
                .apply(&[Write::Delete(Table::PurgeQueue, k.to_vec())])
        };
        let Some((_, Due::Vault, id)) = parse_purge_entry(k) else {
            return drop_entry();
        };
        let name = String::from_utf8_lossy(id).into_owned();
        let outcome = match self.vault_record(&name)? {
            Some(r) if r.deletion.is_some() => self.purge_vault_record(&r, true),
            _ => return drop_entry(),
        };
        match outcome {
            Ok(()) => {
                report.vaults.push(name);
                Ok(())
            }
            Err(Error::PurgeProtected { .. }) => {
                tracing::warn!(vault = %name, "dropping a stale purge-queue entry");
                drop_entry()
            }
            Err(e) => Err(e),
        }
    }
}
