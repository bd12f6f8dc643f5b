//! A key's rotation policy (Key Vault's `KeyRotationPolicy`, per key) and release policy
//! (`KeyReleasePolicy`, per version), with the rules Key Vault applies to them.
//!
//! Layer: base (part of [`crate::model`]). Plain data and validation; the store keeps a
//! rotation policy on the key's object record and runs it in [`crate::keys`].
//!
//! Durations are ISO 8601 (`P90D`, `P1Y`, `PT48H`, `P2M`). For arithmetic on the store's
//! clock a year counts 365 days and a month 30 days, as Key Vault's own minimums
//! (28 days for `expiryTime`) are stated in days.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::UnixTime;
use crate::crypto::Base64Url;
use crate::error::{Error, Result};

/// Seconds in a day (as [`crate::model::DAY`], which this module cannot import: the model
/// imports it).
const DAY: u64 = 86_400;
/// Longest content type a release policy may name (as a secret's).
const MAX_CONTENT_TYPE_LEN: usize = 255;

/// Shortest `expiryTime` Key Vault accepts in a rotation policy.
pub const MIN_EXPIRY_TIME: u64 = 28 * DAY;
/// Shortest trigger (`timeAfterCreate`, `timeBeforeExpiry`) Key Vault accepts, and the
/// least room a trigger must leave before `expiryTime`.
pub const MIN_TRIGGER: u64 = 7 * DAY;
/// The content type of a release policy when the caller names none.
pub const DEFAULT_RELEASE_CONTENT_TYPE: &str = "application/json; charset=utf-8";
/// Key Vault's limit on a release policy's encoded size.
pub const MAX_RELEASE_POLICY_BYTES: usize = 16 * 1024;

/// An ISO 8601 duration as Key Vault takes it: `P[nY][nM][nW][nD][T[nH][nM][nS]]`, whole
/// numbers, at least one part. Kept as written, so it reads back as the caller sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoDuration {
    text: String,
    seconds: u64,
}

impl IsoDuration {
    /// The duration as written (`P90D`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its length in seconds (a year is 365 days, a month 30).
    pub fn seconds(&self) -> u64 {
        self.seconds
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for IsoDuration {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::bad_parameter(format!(
                "{s:?} is not an ISO 8601 duration such as P90D, P1Y, P2M or PT48H"
            ))
        };
        let rest = s.strip_prefix('P').ok_or_else(bad)?;
        let (date, time) = match rest.split_once('T') {
            Some((d, t)) if !t.is_empty() => (d, Some(t)),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        let mut seconds: u64 = 0;
        let mut parts = 0;
        let mut add = |part: &str, units: &[(char, u64)]| -> Result<()> {
            let mut number = String::new();
            let mut next_unit = 0;
            for c in part.chars() {
                if c.is_ascii_digit() {
                    number.push(c);
                    continue;
                }
                // Units must come in order, each at most once, after a number.
                let at = units[next_unit..]
                    .iter()
                    .position(|(u, _)| *u == c)
                    .ok_or_else(bad)?;
                let n: u64 = number.parse().map_err(|_| bad())?;
                let unit = units[next_unit + at].1;
                seconds = n
                    .checked_mul(unit)
                    .and_then(|v| seconds.checked_add(v))
                    .ok_or_else(bad)?;
                next_unit += at + 1;
                number.clear();
                parts += 1;
            }
            if number.is_empty() {
                Ok(())
            } else {
                Err(bad())
            }
        };
        add(
            date,
            &[
                ('Y', 365 * DAY),
                ('M', 30 * DAY),
                ('W', 7 * DAY),
                ('D', DAY),
            ],
        )?;
        if let Some(t) = time {
            add(t, &[('H', 3600), ('M', 60), ('S', 1)])?;
        }
        if parts == 0 {
            return Err(bad());
        }
        Ok(IsoDuration {
            text: s.to_string(),
            seconds,
        })
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for IsoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a lifetime action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationAction {
    /// Make a new version of the key.
    Rotate,
    /// Tell someone (Key Vault sends an Event Grid event; localhsm records it in the
    /// vault's access log).
    Notify,
}

impl std::str::FromStr for RotationAction {
    type Err = Error;

    /// Key Vault reads the action type without regard to case.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rotate" => Ok(RotationAction::Rotate),
            "notify" => Ok(RotationAction::Notify),
            _ => Err(Error::bad_parameter(format!(
                "lifetimeActions: action type must be Rotate or Notify, not {s:?}"
            ))),
        }
    }
}

impl RotationAction {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RotationAction::Rotate => "Rotate",
            RotationAction::Notify => "Notify",
        }
    }
}

/// One lifetime action: what to do, and when (exactly one trigger).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifetimeAction {
    /// What to do.
    pub action: RotationAction,
    /// This long after the current version was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_after_create: Option<IsoDuration>,
    /// This long before the current version expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_before_expiry: Option<IsoDuration>,
}

impl LifetimeAction {
    /// When the action is due for a version created at `created` that expires at
    /// `expires`; `None` when it never is (a `timeBeforeExpiry` trigger on a version
    /// without `exp`).
    pub fn due(&self, created: UnixTime, expires: Option<UnixTime>) -> Option<UnixTime> {
        match (&self.time_after_create, &self.time_before_expiry) {
            (Some(after), _) => Some(created.saturating_add(after.seconds())),
            (None, Some(before)) => expires.map(|e| e.saturating_sub(before.seconds())),
            (None, None) => None,
        }
    }
}

/// What a caller sets as a key's rotation policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationPolicyUpdate {
    /// The actions; empty resets them to Key Vault's default (notify 30 days before
    /// expiry).
    pub lifetime_actions: Vec<LifetimeAction>,
    /// How long new versions live: their `exp` is their creation plus this, unless the
    /// caller gives one.
    pub expiry_time: Option<IsoDuration>,
}

/// A key's rotation policy as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRotationPolicy {
    /// The actions.
    pub lifetime_actions: Vec<LifetimeAction>,
    /// How long new versions live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_time: Option<IsoDuration>,
    /// When the policy was first set; `None` for the default policy of a key that has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<UnixTime>,
    /// When it was last set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<UnixTime>,
}

/// Key Vault's default action: notify 30 days before the current version expires.
pub fn default_lifetime_actions() -> Vec<LifetimeAction> {
    vec![LifetimeAction {
        action: RotationAction::Notify,
        time_after_create: None,
        time_before_expiry: Some(IsoDuration {
            text: "P30D".into(),
            seconds: 30 * DAY,
        }),
    }]
}

impl KeyRotationPolicy {
    /// The policy of a key that has none set, as Key Vault reports it.
    pub fn default_policy() -> Self {
        Self {
            lifetime_actions: default_lifetime_actions(),
            expiry_time: None,
            created: None,
            updated: None,
        }
    }

    /// The action of kind `action`, if the policy has one.
    pub fn action(&self, action: RotationAction) -> Option<&LifetimeAction> {
        self.lifetime_actions.iter().find(|a| a.action == action)
    }
}

fn bad(what: String) -> Error {
    Error::bad_parameter(what)
}

/// Checks a rotation policy against Key Vault's rules: each action has exactly one
/// trigger; at most one Rotate and one Notify; Notify only before expiry; a
/// `timeBeforeExpiry` trigger needs `expiryTime`; `expiryTime` at least 28 days; triggers
/// at least 7 days, and at least 7 days inside `expiryTime`.
pub fn validate_rotation_policy(p: &RotationPolicyUpdate) -> Result<()> {
    if let Some(exp) = &p.expiry_time {
        if exp.seconds() < MIN_EXPIRY_TIME {
            return Err(bad(format!(
                "attributes.expiryTime {exp} is too short: a rotation policy's expiry time must be at least 28 days (P28D)"
            )));
        }
    }
    for kind in [RotationAction::Rotate, RotationAction::Notify] {
        if p.lifetime_actions
            .iter()
            .filter(|a| a.action == kind)
            .count()
            > 1
        {
            return Err(bad(format!(
                "lifetimeActions: at most one {} action is allowed",
                kind.as_str()
            )));
        }
    }
    for a in &p.lifetime_actions {
        let name = a.action.as_str();
        let trigger = match (&a.time_after_create, &a.time_before_expiry) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(bad(format!(
                    "lifetimeActions: the {name} action needs exactly one trigger, timeAfterCreate or timeBeforeExpiry"
                )))
            }
            (Some(t), None) => {
                if a.action == RotationAction::Notify {
                    return Err(bad(
                        "lifetimeActions: a Notify action takes only a timeBeforeExpiry trigger"
                            .into(),
                    ));
                }
                ("timeAfterCreate", t)
            }
            (None, Some(t)) => {
                if p.expiry_time.is_none() {
                    return Err(bad(format!(
                        "lifetimeActions: the {name} action's timeBeforeExpiry needs attributes.expiryTime in the policy"
                    )));
                }
                ("timeBeforeExpiry", t)
            }
        };
        let (field, t) = trigger;
        if t.seconds() < MIN_TRIGGER {
            return Err(bad(format!(
                "lifetimeActions: the {name} action's {field} {t} is too short: it must be at least 7 days (P7D)"
            )));
        }
        if let Some(exp) = &p.expiry_time {
            if t.seconds() > exp.seconds().saturating_sub(MIN_TRIGGER) {
                return Err(bad(format!(
                    "lifetimeActions: the {name} action's {field} {t} must be at least 7 days shorter than attributes.expiryTime {exp}"
                )));
            }
        }
    }
    Ok(())
}

/// A key version's release policy: the rules under which the key may be released
/// (Key Vault's secure key release). Kept and returned as given; localhsm does not
/// evaluate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyReleasePolicy {
    /// Content type and version of the policy.
    pub content_type: String,
    /// The policy, encoded as `content_type` says (JSON for the default).
    pub data: Base64Url,
    /// Once true, the policy can never change.
    #[serde(default)]
    pub immutable: bool,
}

/// Checks a release policy: present data, within Key Vault's size limit.
pub fn validate_release_policy(p: &KeyReleasePolicy) -> Result<()> {
    if p.data.0.is_empty() {
        return Err(bad("release_policy: data must not be empty".into()));
    }
    if p.data.0.len() > MAX_RELEASE_POLICY_BYTES {
        return Err(bad(format!(
            "release_policy: data is {} bytes; at most {MAX_RELEASE_POLICY_BYTES} are allowed",
            p.data.0.len()
        )));
    }
    if p.content_type.chars().count() > MAX_CONTENT_TYPE_LEN {
        return Err(bad(format!(
            "release_policy: contentType must be at most {MAX_CONTENT_TYPE_LEN} characters"
        )));
    }
    Ok(())
}

/// Key Vault's refusal of an exportable key without a release policy.
pub fn exportable_needs_release_policy() -> Error {
    Error::bad_parameter("AKV.SKR.1004: Exportable keys must have release policy.")
}

/// Key Vault's refusal of a release policy on a key that is not exportable.
pub fn release_policy_needs_exportable() -> Error {
    Error::bad_parameter("AKV.SKR.1005: Non-exportable keys must not have release policy.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> IsoDuration {
        s.parse().expect(s)
    }

    fn action(a: RotationAction, after: Option<&str>, before: Option<&str>) -> LifetimeAction {
        LifetimeAction {
            action: a,
            time_after_create: after.map(d),
            time_before_expiry: before.map(d),
        }
    }

    fn policy(actions: Vec<LifetimeAction>, exp: Option<&str>) -> RotationPolicyUpdate {
        RotationPolicyUpdate {
            lifetime_actions: actions,
            expiry_time: exp.map(d),
        }
    }

    fn refusal(p: &RotationPolicyUpdate) -> String {
        validate_rotation_policy(p)
            .expect_err("must be refused")
            .to_string()
    }

    #[test]
    fn durations_parse_as_iso_8601() {
        assert_eq!(d("P90D").seconds(), 90 * DAY);
        assert_eq!(d("P1Y").seconds(), 365 * DAY);
        assert_eq!(d("P2M").seconds(), 60 * DAY);
        assert_eq!(d("P2W").seconds(), 14 * DAY);
        assert_eq!(d("PT48H").seconds(), 48 * 3600);
        assert_eq!(d("P1DT1H1M1S").seconds(), DAY + 3661);
        assert_eq!(d("P1Y2M3D").seconds(), 365 * DAY + 60 * DAY + 3 * DAY);
        assert_eq!(d("P1Y2M3D").as_str(), "P1Y2M3D");
        for bad in [
            "",
            "P",
            "90D",
            "PT",
            "P1H",
            "PT1D",
            "P1.5D",
            "P-1D",
            "P1D1Y",
            "P1DD",
            "PD",
            "P1",
            "p1d",
            "P99999999999999999999D",
        ] {
            assert!(bad.parse::<IsoDuration>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rotation_policies_follow_key_vault_rules() {
        use RotationAction::{Notify, Rotate};
        let ok = [
            policy(vec![], None),
            policy(vec![action(Rotate, Some("P90D"), None)], None),
            policy(
                vec![
                    action(Rotate, Some("P90D"), None),
                    action(Notify, None, Some("P30D")),
                ],
                Some("P2Y"),
            ),
            policy(vec![action(Rotate, None, Some("P30D"))], Some("P90D")),
            policy(vec![], Some("P28D")),
        ];
        for p in &ok {
            validate_rotation_policy(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        }
        let cases = [
            (policy(vec![], Some("P27D")), "at least 28 days"),
            (
                policy(
                    vec![
                        action(Rotate, Some("P90D"), None),
                        action(Rotate, Some("P30D"), None),
                    ],
                    None,
                ),
                "at most one Rotate",
            ),
            (
                policy(
                    vec![
                        action(Notify, None, Some("P30D")),
                        action(Notify, None, Some("P10D")),
                    ],
                    Some("P1Y"),
                ),
                "at most one Notify",
            ),
            (
                policy(vec![action(Notify, Some("P30D"), None)], None),
                "Notify action takes only a timeBeforeExpiry",
            ),
            (
                policy(vec![action(Rotate, None, Some("P30D"))], None),
                "needs attributes.expiryTime",
            ),
            (
                policy(vec![action(Rotate, Some("P6D"), None)], None),
                "at least 7 days",
            ),
            (
                policy(vec![action(Rotate, None, None)], None),
                "exactly one trigger",
            ),
            (
                policy(vec![action(Rotate, Some("P30D"), Some("P30D"))], None),
                "exactly one trigger",
            ),
            (
                policy(vec![action(Rotate, Some("P85D"), None)], Some("P90D")),
                "7 days shorter",
            ),
        ];
        for (p, expected) in &cases {
            let e = refusal(p);
            assert!(e.contains(expected), "{p:?}: {e}");
        }
    }

    #[test]
    fn actions_fall_due_from_creation_or_before_expiry() {
        let after = action(RotationAction::Rotate, Some("P30D"), None);
        assert_eq!(after.due(1000, None), Some(1000 + 30 * DAY));
        let before = action(RotationAction::Rotate, None, Some("P7D"));
        assert_eq!(before.due(1000, None), None);
        assert_eq!(before.due(1000, Some(100 * DAY)), Some(93 * DAY));
    }

    #[test]
    fn release_policies_need_data() {
        let p = KeyReleasePolicy {
            content_type: DEFAULT_RELEASE_CONTENT_TYPE.into(),
            data: Base64Url(b"{\"anyOf\":[]}".to_vec()),
            immutable: false,
        };
        assert!(validate_release_policy(&p).is_ok());
        let empty = KeyReleasePolicy {
            data: Base64Url(vec![]),
            ..p.clone()
        };
        assert!(validate_release_policy(&empty).is_err());
    }
}
