"""Key rotation policies and release policies through azure-keyvault-keys:
get_key_rotation_policy / update_key_rotation_policy / rotate_key, auto-rotation and
Notify actions after a time shift, and release_policy on create, import and update.

Every test runs on this module's own server (``fresh_server``), because the auto-rotation
tests move its clock forward.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.keyvault.keys import (
    KeyReleasePolicy,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
)
from cryptography.hazmat.primitives.asymmetric import ec

from localhsm_support import ec_private_jwk, unique_name

DAY = 86_400
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


@pytest.fixture(scope="module")
def srv(fresh_server):
    return fresh_server


@pytest.fixture(scope="module")
def keys(srv):
    return srv.key_client()


def _rotate_after(after: str) -> KeyRotationLifetimeAction:
    return KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create=after)


def _notify_before(before: str) -> KeyRotationLifetimeAction:
    return KeyRotationLifetimeAction(KeyRotationPolicyAction.notify, time_before_expiry=before)


def _set(keys, name, actions, expires_in=None) -> KeyRotationPolicy:
    return keys.update_key_rotation_policy(name, KeyRotationPolicy(), lifetime_actions=actions,
                                           expires_in=expires_in)


def _actions(policy: KeyRotationPolicy):
    return sorted((a.action, a.time_after_create, a.time_before_expiry) for a in policy.lifetime_actions)


def _bad_parameter(info, *fragments: str) -> None:
    err = info.value
    assert err.status_code == 400, err
    assert err.error.code == "BadParameter", err.error
    for fragment in fragments:
        assert fragment in err.error.message, err.error.message


# --------------------------------------------------------------------------------------
# get / update
# --------------------------------------------------------------------------------------
def test_a_key_without_a_policy_has_key_vaults_default(srv, keys):
    name = unique_name("rp-default")
    keys.create_ec_key(name, curve="P-256")
    policy = keys.get_key_rotation_policy(name)
    assert policy.id == f"{srv.vault_url()}/keys/{name}/rotationpolicy"
    assert _actions(policy) == [("Notify", None, "P30D")]
    assert policy.expires_in is None and policy.created_on is None and policy.updated_on is None
    # the raw body, as Key Vault writes it
    raw = keys.send_request(HttpRequest("GET", f"/keys/{name}/rotationpolicy"))
    assert raw.status_code == 200
    assert raw.json() == {
        "id": f"{srv.vault_url()}/keys/{name}/rotationpolicy",
        "lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}],
        "attributes": {},
    }


def test_only_a_missing_or_deleted_key_is_not_found(keys):
    with pytest.raises(ResourceNotFoundError) as info:
        keys.get_key_rotation_policy(unique_name("rp-missing"))
    assert info.value.error.code == "KeyNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        _set(keys, unique_name("rp-missing"), [_rotate_after("P90D")])
    assert info.value.error.code == "KeyNotFound"
    name = unique_name("rp-deleted")
    keys.create_ec_key(name, curve="P-256")
    keys.begin_delete_key(name).result()
    with pytest.raises(ResourceNotFoundError) as info:
        keys.get_key_rotation_policy(name)
    assert info.value.error.code == "KeyNotFound"


def test_update_then_get_round_trips(srv, keys):
    name = unique_name("rp-set")
    keys.create_rsa_key(name, size=2048)
    updated = _set(keys, name, [_rotate_after("P90D"), _notify_before("P30D")], expires_in="P2Y")
    assert updated.id == f"{srv.vault_url()}/keys/{name}/rotationpolicy"
    assert _actions(updated) == [("Notify", None, "P30D"), ("Rotate", "P90D", None)]
    assert updated.expires_in == "P2Y"
    assert updated.created_on is not None and updated.updated_on is not None
    got = keys.get_key_rotation_policy(name)
    assert _actions(got) == _actions(updated)
    assert (got.expires_in, got.created_on, got.updated_on) == ("P2Y", updated.created_on, updated.updated_on)
    # a second update replaces the actions and keeps the creation time
    again = _set(keys, name, [_rotate_after("P30D")], expires_in="P1Y")
    assert _actions(again) == [("Rotate", "P30D", None)] and again.expires_in == "P1Y"
    assert again.created_on == updated.created_on
    # no actions: back to the default notice
    reset = _set(keys, name, [], expires_in="P1Y")
    assert _actions(reset) == [("Notify", None, "P30D")]


def test_expiry_time_sets_exp_of_new_versions(keys):
    name = unique_name("rp-exp")
    first = keys.create_ec_key(name, curve="P-256")
    assert first.properties.expires_on is None
    _set(keys, name, [_rotate_after("P30D")], expires_in="P90D")
    rotated = keys.rotate_key(name)
    assert rotated.properties.expires_on - rotated.properties.created_on == timedelta(days=90)
    again = keys.create_ec_key(name, curve="P-256")
    assert again.properties.expires_on - again.properties.created_on == timedelta(days=90)
    own = rotated.properties.created_on + timedelta(days=10)
    told = keys.create_ec_key(name, curve="P-256", expires_on=own)
    assert told.properties.expires_on == own
    # the first version keeps what it had
    assert keys.get_key(name, first.properties.version).properties.expires_on is None


@pytest.mark.parametrize("actions,expires_in,fragment", [
    ([_rotate_after("P90D"), _rotate_after("P30D")], None, "at most one Rotate"),
    ([_notify_before("P30D"), _notify_before("P10D")], "P1Y", "at most one Notify"),
    ([KeyRotationLifetimeAction(KeyRotationPolicyAction.notify, time_after_create="P30D")], None,
     "Notify action takes only a timeBeforeExpiry"),
    ([_notify_before("P30D")], None, "needs attributes.expiryTime"),
    ([_rotate_after("P6D")], None, "at least 7 days"),
    ([_rotate_after("P85D")], "P90D", "7 days shorter"),
    ([_rotate_after("P90D")], "P27D", "at least 28 days"),
    ([_rotate_after("90 days")], None, "lifetimeActions[0].trigger.timeAfterCreate"),
    ([_rotate_after("P90D")], "two years", "attributes.expiryTime"),
])
def test_bad_policies_are_refused_like_key_vault(keys, actions, expires_in, fragment):
    name = unique_name("rp-bad")
    keys.create_ec_key(name, curve="P-256")
    with pytest.raises(HttpResponseError) as info:
        _set(keys, name, actions, expires_in=expires_in)
    _bad_parameter(info, fragment)
    # nothing changed
    assert _actions(keys.get_key_rotation_policy(name)) == [("Notify", None, "P30D")]


def test_policy_lives_with_the_key(keys):
    name = unique_name("rp-life")
    keys.create_ec_key(name, curve="P-256")
    set_ = _set(keys, name, [_rotate_after("P60D")], expires_in="P1Y")
    keys.begin_delete_key(name).wait()
    keys.begin_recover_deleted_key(name).wait()
    assert _actions(keys.get_key_rotation_policy(name)) == _actions(set_)
    blob = keys.backup_key(name)
    keys.begin_delete_key(name).wait()
    keys.purge_deleted_key(name)
    keys.restore_key_backup(blob)
    restored = keys.get_key_rotation_policy(name)
    assert _actions(restored) == _actions(set_) and restored.expires_in == "P1Y"
    keys.begin_delete_key(name).wait()
    keys.purge_deleted_key(name)
    keys.create_ec_key(name, curve="P-256")
    assert _actions(keys.get_key_rotation_policy(name)) == [("Notify", None, "P30D")]


# --------------------------------------------------------------------------------------
# auto-rotation and Notify on the server's clock (moves this module's clock forward)
# --------------------------------------------------------------------------------------
def _versions(keys, name):
    return sorted(keys.list_properties_of_key_versions(name), key=lambda p: p.created_on)


def test_auto_rotation_happens_after_a_time_shift(srv, keys):
    name = unique_name("rp-auto")
    first = keys.create_ec_key(name, curve="P-256", tags={"team": "a"})
    _set(keys, name, [_rotate_after("P30D")], expires_in="P90D")
    srv.time_shift(29 * DAY)
    assert [p.version for p in _versions(keys, name)] == [first.properties.version]
    shifted = srv.mgmt("POST", "time-shift", {"seconds": DAY + 60}).json()
    now = shifted["now"]
    versions = _versions(keys, name)
    assert len(versions) == 2, versions
    current = keys.get_key(name)
    assert current.properties.version != first.properties.version
    assert f"default/{name}/{current.properties.version}" in shifted["rotatedKeys"], shifted
    assert abs(current.properties.created_on.timestamp() - now) < 120
    assert current.properties.expires_on - current.properties.created_on == timedelta(days=90)
    assert current.properties.tags == {"team": "a"} and current.key.crv == "P-256"
    # the next rotation is 30 days after the new version, not before
    srv.time_shift(DAY)
    assert len(_versions(keys, name)) == 2
    srv.time_shift(29 * DAY)
    assert len(_versions(keys, name)) == 3


def test_rotation_before_expiry_and_notify_in_the_access_log(srv, keys):
    srv.mgmt("PATCH", "vaults/default", {"accessLog": True, "logRetentionDays": 365})
    name = unique_name("rp-notify")
    keys.create_ec_key(name, curve="P-256")
    _set(keys, name, [_notify_before("P20D"), KeyRotationLifetimeAction(
        KeyRotationPolicyAction.rotate, time_before_expiry="P10D")], expires_in="P60D")
    watched = keys.rotate_key(name)  # expires in 60 days, by the policy
    srv.time_shift(41 * DAY)
    assert keys.get_key(name).properties.version == watched.properties.version
    records = srv.mgmt("GET", "vaults/default/accesslog").json()["value"]
    notices = [r for r in records if r["operationName"] == "KeyNearExpiry" and f"/keys/{name}/" in r["requestUri"]]
    assert [r["requestUri"] for r in notices] == [f"/keys/{name}/{watched.properties.version}"], notices
    srv.time_shift(10 * DAY)
    assert keys.get_key(name).properties.version != watched.properties.version
    records = srv.mgmt("GET", "vaults/default/accesslog").json()["value"]
    notices = [r for r in records if r["operationName"] == "KeyNearExpiry" and f"/keys/{name}/" in r["requestUri"]]
    assert len(notices) == 1, "a version's Notify action is recorded once"
    rotations = [r for r in records if r["operationName"] == "KeyRotate" and r["requestUri"].startswith(f"/keys/{name}/")]
    assert rotations, "the automatic rotation is in the access log"


# --------------------------------------------------------------------------------------
# release policies
# --------------------------------------------------------------------------------------
def _release_policy(claim: str, immutable=None) -> KeyReleasePolicy:
    doc = {"anyOf": [{"allOf": [{"claim": claim, "equals": True}], "authority": "https://attest.localhost/"}],
           "version": "1.0.0"}
    return KeyReleasePolicy(json.dumps(doc).encode(), immutable=immutable)


def test_release_policy_is_kept_returned_and_updated(keys):
    name = unique_name("rel")
    key = keys.create_rsa_key(name, size=2048, hardware_protected=True, exportable=True,
                              release_policy=_release_policy("sdk-test"))
    assert key.properties.exportable is True
    policy = key.properties.release_policy
    assert json.loads(policy.encoded_policy)["anyOf"][0]["allOf"][0]["claim"] == "sdk-test"
    assert policy.content_type == JSON_CONTENT_TYPE and policy.immutable is False
    got = keys.get_key(name).properties.release_policy
    assert got.encoded_policy == policy.encoded_policy
    updated = keys.update_key_properties(name, release_policy=_release_policy("changed"))
    assert json.loads(updated.properties.release_policy.encoded_policy)["anyOf"][0]["allOf"][0]["claim"] == "changed"
    assert keys.get_key(name).properties.release_policy.encoded_policy == updated.properties.release_policy.encoded_policy
    # a rotation keeps it
    rotated = keys.rotate_key(name)
    assert rotated.properties.release_policy.encoded_policy == updated.properties.release_policy.encoded_policy


def test_import_with_a_release_policy(keys):
    name = unique_name("rel-imp")
    jwk = ec_private_jwk(ec.generate_private_key(ec.SECP256R1()), "P-256")
    key = keys.import_key(name, jwk, hardware_protected=True, exportable=True,
                          release_policy=_release_policy("imported"))
    assert key.properties.exportable is True
    assert json.loads(key.properties.release_policy.encoded_policy)["anyOf"][0]["allOf"][0]["claim"] == "imported"


def test_an_immutable_release_policy_cannot_change(keys):
    name = unique_name("rel-imm")
    key = keys.create_rsa_key(name, size=2048, hardware_protected=True, exportable=True,
                              release_policy=_release_policy("fixed", immutable=True))
    assert key.properties.release_policy.immutable is True
    with pytest.raises(HttpResponseError) as info:
        keys.update_key_properties(name, release_policy=_release_policy("other"))
    _bad_parameter(info, "immutable")
    assert keys.get_key(name).properties.release_policy.encoded_policy == key.properties.release_policy.encoded_policy
    # other attributes still change
    assert keys.update_key_properties(name, tags={"a": "b"}).properties.tags == {"a": "b"}


def test_exportable_keys_need_a_release_policy(keys):
    with pytest.raises(HttpResponseError) as info:
        keys.create_rsa_key(unique_name("rel-none"), size=2048, hardware_protected=True, exportable=True)
    _bad_parameter(info, "Exportable keys must have release policy")
    jwk = ec_private_jwk(ec.generate_private_key(ec.SECP256R1()), "P-256")
    with pytest.raises(HttpResponseError) as info:
        keys.import_key(unique_name("rel-none"), jwk, exportable=True)
    _bad_parameter(info, "Exportable keys must have release policy")
    with pytest.raises(HttpResponseError) as info:
        keys.create_ec_key(unique_name("rel-nonexp"), curve="P-256", release_policy=_release_policy("x"))
    _bad_parameter(info, "Non-exportable keys must not have release policy")
