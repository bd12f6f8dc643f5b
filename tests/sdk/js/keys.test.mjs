// KeyClient against a real localhsm: TLS + challenge auth, create, get, versions,
// 404, delete/recover/purge (long-running-operation pollers), clean shutdown.

import assert from "node:assert/strict";
import https from "node:https";
import { after, before, test } from "node:test";

import { isRestError } from "@azure/core-rest-pipeline";

import { startServer, uniqueName } from "./lib/localhsm.mjs";

/** @type {import("./lib/localhsm.mjs").LocalHsm} */
let hsm;
/** @type {import("@azure/keyvault-keys").KeyClient} */
let client;

// Pollers default to 2 s between polls; the server is local, so poll fast.
const POLL = { intervalInMs: 50 };

before(async () => {
  hsm = await startServer();
  client = hsm.keyClient();
});

after(async () => {
  await hsm?.stop();
});

/** Raw HTTPS request with node:https (no SDK), resolving to { status, headers, body }. */
function rawRequest(method, path, { ca, headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: "localhost", port: hsm.port, method, path, headers, ca, agent: false },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

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

function assertKeyId(key, name) {
  assert.equal(key.name, name);
  assert.equal(key.properties.vaultUrl, hsm.vaultUrl, "kid must point back at the vault URL the client used");
  assert.ok(key.properties.version, `kid must carry a version: ${key.id}`);
  assert.equal(key.id, `${hsm.vaultUrl}/keys/${name}/${key.properties.version}`);
  assert.equal(key.key.kid, key.id);
}

test("TLS: the generated cert is required and sufficient; unauthenticated requests get the Bearer challenge", async () => {
  // Verification is on: without the server's cert as CA the handshake must fail.
  await assert.rejects(rawRequest("GET", "/keys?api-version=7.5"), (e) => {
    assert.match(e.code ?? "", /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_/, `unexpected error: ${e}`);
    return true;
  });

  // With DIR/tls/cert.pem as the only CA, the hostname "localhost" verifies.
  const res = await rawRequest("GET", "/keys?api-version=7.5", { ca: hsm.ca });
  assert.equal(res.status, 401);
  const challenge = res.headers["www-authenticate"] ?? "";
  assert.match(challenge, /^Bearer /);
  assert.match(challenge, /authorization="https:\/\/login\.microsoftonline\.com\/[^"]+"/);
  assert.match(challenge, /resource="https:\/\/managedhsm\.azure\.net"/, "default vault is a managedhsm");

  // The SDK's first request on every client is the real request with its body stripped
  // (Content-Type still set). The server must answer it with the challenge, not 400/411/415.
  const bodiless = await rawRequest("POST", "/keys/challenge-probe/create?api%2Dversion=2025-07-01", {
    ca: hsm.ca,
    headers: { "Content-Type": "application/json", "Content-Length": "0" },
  });
  assert.equal(bodiless.status, 401);
  assert.match(bodiless.headers["www-authenticate"] ?? "", /^Bearer /);
});

test("create EC P-256 key (EC-HSM on the managedhsm default vault)", async () => {
  const name = uniqueName("ec");
  const key = await client.createEcKey(name, { curve: "P-256", hsm: true });
  assertKeyId(key, name);
  assert.equal(key.keyType, "EC-HSM");
  assert.equal(key.key.crv, "P-256");
  assert.equal(key.key.x?.length, 32);
  assert.equal(key.key.y?.length, 32);
  assert.equal(key.key.d, undefined, "private key must never be returned");
  assert.ok(key.keyOperations?.includes("sign"), `key_ops: ${key.keyOperations}`);
  assert.ok(key.keyOperations?.includes("verify"), `key_ops: ${key.keyOperations}`);
  assert.equal(key.properties.enabled, true);
  assert.ok(key.properties.createdOn instanceof Date && !isNaN(key.properties.createdOn), "attributes.created");
  assert.ok(key.properties.updatedOn instanceof Date && !isNaN(key.properties.updatedOn), "attributes.updated");
  assert.ok(key.properties.recoveryLevel, "attributes.recoveryLevel");

  // The challenge named the managedhsm resource; the SDK asks for "<resource>/.default".
  assert.ok(
    hsm.requestedScopes.includes("https://managedhsm.azure.net/.default"),
    `requested scopes: ${JSON.stringify(hsm.requestedScopes)}`,
  );
});

test("create RSA 2048 key (RSA-HSM) with tags and explicit key_ops", async () => {
  const name = uniqueName("rsa");
  const keyOps = ["sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey"];
  const key = await client.createRsaKey(name, { keySize: 2048, hsm: true, keyOps, tags: { suite: "js" } });
  assertKeyId(key, name);
  assert.equal(key.keyType, "RSA-HSM");
  assert.equal(key.key.n?.length, 256, "2048-bit modulus");
  assert.deepEqual(Buffer.from(key.key.e), Buffer.from([1, 0, 1]));
  assert.equal(key.key.d, undefined, "private key must never be returned");
  assert.deepEqual([...key.keyOperations].sort(), [...keyOps].sort());
  assert.deepEqual(key.properties.tags, { suite: "js" });
});

test("get key: current version and a specific older version; list versions", async () => {
  const name = uniqueName("ver");
  const v1 = await client.createEcKey(name, { curve: "P-256", hsm: true });
  const v2 = await client.createEcKey(name, { curve: "P-256", hsm: true });
  assert.notEqual(v1.properties.version, v2.properties.version, "creating an existing name adds a version");

  const current = await client.getKey(name); // GET /keys/{name}/?api%2Dversion=... (note the trailing slash)
  assert.equal(current.id, v2.id);
  assert.deepEqual(Buffer.from(current.key.x), Buffer.from(v2.key.x));

  const old = await client.getKey(name, { version: v1.properties.version });
  assert.equal(old.id, v1.id);
  assertKeyId(old, name);
  assert.deepEqual(Buffer.from(old.key.x), Buffer.from(v1.key.x));
  assert.deepEqual(Buffer.from(old.key.y), Buffer.from(v1.key.y));

  const versions = [];
  for await (const props of client.listPropertiesOfKeyVersions(name)) versions.push(props.version);
  assert.deepEqual(versions.sort(), [v1.properties.version, v2.properties.version].sort());
});

test("getKey on a missing name: RestError 404 KeyNotFound", async () => {
  const err = await expectRestError(client.getKey(uniqueName("missing")), 404, "KeyNotFound");
  assert.ok(err.message, "error.message is carried into the RestError");
});

test("getKey on a missing version of an existing key: 404 KeyNotFound", async () => {
  const name = uniqueName("nover");
  await client.createEcKey(name, { curve: "P-256", hsm: true });
  await expectRestError(client.getKey(name, { version: "00000000000000000000000000000000" }), 404, "KeyNotFound");
});

test("delete (poller) -> getDeletedKey -> recover (poller) -> delete again -> purge", async () => {
  const name = uniqueName("del");
  const created = await client.createRsaKey(name, { keySize: 2048, hsm: true });

  // DELETE /keys/{name} must return a DeletedKeyBundle with recoveryId, or the poller
  // considers the key purged immediately. Then it polls GET /deletedkeys/{name} until 200.
  const deletePoller = await client.beginDeleteKey(name, POLL);
  const deleted = await deletePoller.pollUntilDone();
  assert.equal(deleted.name, name);
  assert.equal(deleted.id, created.id, "deleted bundle carries the latest version's kid");
  assert.equal(deleted.properties.recoveryId, `${hsm.vaultUrl}/deletedkeys/${name}`);
  assert.ok(deleted.properties.deletedOn instanceof Date && !isNaN(deleted.properties.deletedOn), "deletedDate");
  assert.ok(
    deleted.properties.scheduledPurgeDate instanceof Date && deleted.properties.scheduledPurgeDate > deleted.properties.deletedOn,
    "scheduledPurgeDate after deletedDate",
  );

  const got = await client.getDeletedKey(name);
  assert.equal(got.name, name);
  assert.equal(got.id, created.id);
  assert.equal(got.properties.recoveryId, deleted.properties.recoveryId);

  const listed = [];
  for await (const d of client.listDeletedKeys()) listed.push(d.name);
  assert.ok(listed.includes(name), `listDeletedKeys: ${listed}`);

  // While soft-deleted the key is gone from /keys (404; the recover poller relies on it).
  await expectRestError(client.getKey(name), 404, "KeyNotFound");
  // ...and the name cannot be reused.
  await expectRestError(client.createRsaKey(name, { keySize: 2048, hsm: true }), 409, "Conflict");

  // Recover poller: GET /keys/{name}/ (404) -> POST /deletedkeys/{name}/recover -> GET /keys/{name}/ until 200.
  const recoverPoller = await client.beginRecoverDeletedKey(name, POLL);
  const recovered = await recoverPoller.pollUntilDone();
  assert.equal(recovered.name, name);
  assert.equal(recovered.id, created.id);
  assert.deepEqual(Buffer.from(recovered.key.n), Buffer.from(created.key.n), "same key material after recovery");
  assert.equal((await client.getKey(name)).id, created.id);
  await expectRestError(client.getDeletedKey(name), 404);

  await (await client.beginDeleteKey(name, POLL)).pollUntilDone();
  await client.purgeDeletedKey(name); // DELETE /deletedkeys/{name} -> 204
  await expectRestError(client.getDeletedKey(name), 404);
  await expectRestError(client.getKey(name), 404, "KeyNotFound");

  // After the purge the name is free again.
  const again = await client.createRsaKey(name, { keySize: 2048, hsm: true });
  assert.notEqual(again.properties.version, created.properties.version);
});

// Runs last (tests in a file run in order): the server must exit cleanly on SIGTERM.
test("SIGTERM shuts the server down cleanly", async () => {
  const { code, signal, timedOut } = await hsm.stop();
  assert.equal(timedOut, false, "server did not exit within 10 s of SIGTERM");
  assert.deepEqual({ code, signal }, { code: 0, signal: null });
});
