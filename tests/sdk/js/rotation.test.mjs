// Key rotation policies and release policies through @azure/keyvault-keys:
// getKeyRotationPolicy / updateKeyRotationPolicy / rotateKey, auto-rotation after a time
// shift, and releasePolicy on create, import and update. This file has its own server,
// whose clock the auto-rotation tests move forward.

import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { after, before, test } from "node:test";

import { isRestError } from "@azure/core-rest-pipeline";

import { startServer, uniqueName } from "./lib/localhsm.mjs";

const DAY = 86_400;
const JSON_CONTENT_TYPE = "application/json; charset=utf-8";
const POLL = { intervalInMs: 50 };

/** @type {import("./lib/localhsm.mjs").LocalHsm} */
let hsm;
/** @type {import("@azure/keyvault-keys").KeyClient} */
let client;

before(async () => {
  hsm = await startServer({ args: ["--dev-clock"] });
  client = hsm.keyClient();
});

after(async () => {
  await hsm?.stop();
});

/** Await a promise that must reject with a RestError; returns the error. */
async function expectRestError(promise, statusCode, code) {
  const err = await promise.then(
    (v) => assert.fail(`expected RestError ${statusCode}, got success: ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(isRestError(err), `expected a RestError, got ${err?.stack ?? err}`);
  assert.equal(err.statusCode, statusCode, `statusCode (message: ${err.message})`);
  if (code !== undefined) assert.equal(err.code, code, `error code (message: ${err.message})`);
  return err;
}

async function timeShift(seconds) {
  const { status, body } = await hsm.mgmt("POST", "time-shift", { seconds });
  assert.equal(status, 200, JSON.stringify(body));
  return body.now;
}

function actions(policy) {
  return (policy.lifetimeActions ?? [])
    .map((a) => [a.action, a.timeAfterCreate ?? null, a.timeBeforeExpiry ?? null])
    .sort((x, y) => x[0].localeCompare(y[0]));
}

async function versions(name) {
  const out = [];
  for await (const p of client.listPropertiesOfKeyVersions(name)) out.push(p);
  return out.sort((a, b) => a.createdOn - b.createdOn);
}

function releasePolicy(claim, immutable) {
  const doc = {
    anyOf: [{ allOf: [{ claim, equals: true }], authority: "https://attest.localhost/" }],
    version: "1.0.0",
  };
  return { encodedPolicy: new TextEncoder().encode(JSON.stringify(doc)), immutable };
}

function claimOf(policy) {
  return JSON.parse(new TextDecoder().decode(policy.encodedPolicy)).anyOf[0].allOf[0].claim;
}

// ---------------------------------------------------------------------------------------
// get / update
// ---------------------------------------------------------------------------------------
test("a key without a policy has Key Vault's default; a missing key is KeyNotFound", async () => {
  const name = uniqueName("rp-default");
  await client.createEcKey(name, { curve: "P-256" });
  const policy = await client.getKeyRotationPolicy(name);
  assert.equal(policy.id, `${hsm.vaultUrl}/keys/${name}/rotationpolicy`);
  assert.deepEqual(actions(policy), [["Notify", null, "P30D"]]);
  assert.equal(policy.expiresIn, undefined);
  assert.equal(policy.createdOn, undefined);
  await expectRestError(client.getKeyRotationPolicy(uniqueName("rp-missing")), 404, "KeyNotFound");
  await expectRestError(
    client.updateKeyRotationPolicy(uniqueName("rp-missing"), { lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P90D" }] }),
    404,
    "KeyNotFound",
  );
});

test("updateKeyRotationPolicy then getKeyRotationPolicy round-trips", async () => {
  const name = uniqueName("rp-set");
  await client.createRsaKey(name, { keySize: 2048 });
  const updated = await client.updateKeyRotationPolicy(name, {
    lifetimeActions: [
      { action: "Rotate", timeAfterCreate: "P90D" },
      { action: "Notify", timeBeforeExpiry: "P30D" },
    ],
    expiresIn: "P2Y",
  });
  assert.equal(updated.id, `${hsm.vaultUrl}/keys/${name}/rotationpolicy`);
  assert.deepEqual(actions(updated), [["Notify", null, "P30D"], ["Rotate", "P90D", null]]);
  assert.equal(updated.expiresIn, "P2Y");
  assert.ok(updated.createdOn instanceof Date && updated.updatedOn instanceof Date);
  const got = await client.getKeyRotationPolicy(name);
  assert.deepEqual(actions(got), actions(updated));
  assert.equal(got.expiresIn, "P2Y");
  assert.equal(got.createdOn.getTime(), updated.createdOn.getTime());
});

test("expiresIn gives new versions their expiry", async () => {
  const name = uniqueName("rp-exp");
  const first = await client.createEcKey(name, { curve: "P-256" });
  assert.equal(first.properties.expiresOn, undefined);
  await client.updateKeyRotationPolicy(name, { lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }], expiresIn: "P90D" });
  const rotated = await client.rotateKey(name);
  assert.equal(rotated.properties.expiresOn - rotated.properties.createdOn, 90 * DAY * 1000);
  const own = new Date(rotated.properties.createdOn.getTime() + 10 * DAY * 1000);
  const told = await client.createEcKey(name, { curve: "P-256", expiresOn: own });
  assert.equal(told.properties.expiresOn.getTime(), own.getTime());
});

test("policies Key Vault refuses are a 400 BadParameter naming the problem", async () => {
  const name = uniqueName("rp-bad");
  await client.createEcKey(name, { curve: "P-256" });
  const cases = [
    [{ lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P90D" }, { action: "Rotate", timeAfterCreate: "P30D" }] }, "at most one Rotate"],
    [{ lifetimeActions: [{ action: "Notify", timeAfterCreate: "P30D" }] }, "Notify action takes only a timeBeforeExpiry"],
    [{ lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }] }, "needs attributes.expiryTime"],
    [{ lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P1D" }] }, "at least 7 days"],
    [{ lifetimeActions: [], expiresIn: "P20D" }, "at least 28 days"],
    [{ lifetimeActions: [{ action: "Rotate", timeAfterCreate: "three months" }] }, "timeAfterCreate"],
  ];
  for (const [policy, fragment] of cases) {
    const err = await expectRestError(client.updateKeyRotationPolicy(name, policy), 400, "BadParameter");
    assert.ok(err.message.includes(fragment), `${JSON.stringify(policy)}: ${err.message}`);
  }
  assert.deepEqual(actions(await client.getKeyRotationPolicy(name)), [["Notify", null, "P30D"]]);
});

test("the policy survives delete and recover, and backup and restore", async () => {
  const name = uniqueName("rp-life");
  await client.createEcKey(name, { curve: "P-256" });
  await client.updateKeyRotationPolicy(name, { lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P60D" }], expiresIn: "P1Y" });
  await (await client.beginDeleteKey(name, POLL)).pollUntilDone();
  await expectRestError(client.getKeyRotationPolicy(name), 404, "KeyNotFound");
  await (await client.beginRecoverDeletedKey(name, POLL)).pollUntilDone();
  assert.deepEqual(actions(await client.getKeyRotationPolicy(name)), [["Rotate", "P60D", null]]);
  const blob = await client.backupKey(name);
  await (await client.beginDeleteKey(name, POLL)).pollUntilDone();
  await client.purgeDeletedKey(name);
  await client.restoreKeyBackup(blob);
  const restored = await client.getKeyRotationPolicy(name);
  assert.deepEqual(actions(restored), [["Rotate", "P60D", null]]);
  assert.equal(restored.expiresIn, "P1Y");
});

// ---------------------------------------------------------------------------------------
// release policies
// ---------------------------------------------------------------------------------------
test("releasePolicy is kept, returned and updated", async () => {
  const name = uniqueName("rel");
  const key = await client.createRsaKey(name, { keySize: 2048, hsm: true, exportable: true, releasePolicy: releasePolicy("sdk-test") });
  assert.equal(key.properties.exportable, true);
  assert.equal(claimOf(key.properties.releasePolicy), "sdk-test");
  assert.equal(key.properties.releasePolicy.contentType, JSON_CONTENT_TYPE);
  assert.equal(key.properties.releasePolicy.immutable, false);
  assert.equal(claimOf((await client.getKey(name)).properties.releasePolicy), "sdk-test");
  const updated = await client.updateKeyProperties(name, key.properties.version, { releasePolicy: releasePolicy("changed") });
  assert.equal(claimOf(updated.properties.releasePolicy), "changed");
  assert.equal(claimOf((await client.getKey(name)).properties.releasePolicy), "changed");
});

test("importKey takes a releasePolicy", async () => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = privateKey.export({ format: "jwk" });
  const key = await client.importKey(
    uniqueName("rel-imp"),
    { kty: "EC", crv: "P-256", x: Buffer.from(jwk.x, "base64url"), y: Buffer.from(jwk.y, "base64url"), d: Buffer.from(jwk.d, "base64url") },
    { exportable: true, releasePolicy: releasePolicy("imported") },
  );
  assert.equal(key.properties.exportable, true);
  assert.equal(claimOf(key.properties.releasePolicy), "imported");
});

test("an immutable releasePolicy cannot change", async () => {
  const name = uniqueName("rel-imm");
  const key = await client.createRsaKey(name, { keySize: 2048, exportable: true, releasePolicy: releasePolicy("fixed", true) });
  assert.equal(key.properties.releasePolicy.immutable, true);
  const err = await expectRestError(
    client.updateKeyProperties(name, key.properties.version, { releasePolicy: releasePolicy("other") }),
    400,
    "BadParameter",
  );
  assert.match(err.message, /immutable/);
  assert.equal(claimOf((await client.getKey(name)).properties.releasePolicy), "fixed");
});

test("an exportable key without a releasePolicy is refused as Key Vault refuses it", async () => {
  const err = await expectRestError(client.createRsaKey(uniqueName("rel-none"), { keySize: 2048, exportable: true }), 400, "BadParameter");
  assert.match(err.message, /Exportable keys must have release policy/);
  const other = await expectRestError(
    client.createEcKey(uniqueName("rel-nonexp"), { curve: "P-256", releasePolicy: releasePolicy("x") }),
    400,
    "BadParameter",
  );
  assert.match(other.message, /Non-exportable keys must not have release policy/);
});

// ---------------------------------------------------------------------------------------
// auto-rotation on the server's clock (moves this file's server clock: keep last)
// ---------------------------------------------------------------------------------------
test("a due Rotate action makes a new version after a time shift", async () => {
  const name = uniqueName("rp-auto");
  const first = await client.createEcKey(name, { curve: "P-384", tags: { team: "js" } });
  await client.updateKeyRotationPolicy(name, { lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P30D" }], expiresIn: "P90D" });
  await timeShift(29 * DAY);
  assert.equal((await versions(name)).length, 1);
  const now = await timeShift(DAY + 60);
  assert.equal((await versions(name)).length, 2);
  const current = await client.getKey(name);
  assert.notEqual(current.properties.version, first.properties.version);
  assert.ok(Math.abs(current.properties.createdOn.getTime() / 1000 - now) < 120, `created ${current.properties.createdOn} vs ${now}`);
  assert.equal(current.properties.expiresOn - current.properties.createdOn, 90 * DAY * 1000);
  assert.deepEqual(current.properties.tags, { team: "js" });
  assert.equal(current.key.crv, "P-384");
  await timeShift(DAY);
  assert.equal((await versions(name)).length, 2, "the next rotation is due 30 days after the new version");
});
