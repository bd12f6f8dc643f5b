// Every api-version each installed SDK package supports, one round trip per client, pinned
// with the `serviceVersion` client option as the SDKs document it.
//
// The versions are read from the installed packages when this file loads: the generated
// client's `KnownVersions` enum, the `serviceVersion` values its options type spells out
// (where it does), and its default `LATEST_API_VERSION`. A newer SDK brings its versions here
// by itself. Each case checks, in the vault's access log, that every call it made was served
// under its version. Versions published before 7.0 are refused with 400 BadParameter (none
// of the packages installed today lists one).
//
// keys: create, get, sign, verify, list, delete; secrets: set, get, delete; certificates:
// create self-signed, get, delete.

import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

import { isRestError } from "@azure/core-rest-pipeline";
import { CryptographyClient } from "@azure/keyvault-keys";

import { startServer, uniqueName } from "./lib/localhsm.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const POLL = { intervalInMs: 20 };
const BEFORE_7_0 = new Set(["2015-06-01", "2016-10-01"]);
// Secrets and certificates live in a vault of kind `vault`; keys in the default vault.
const KV = "kv";

/** The api-versions package `pkg` declares; `models` names its client-options module. */
async function versionsOf(pkg, models) {
  const dist = path.join(HERE, "node_modules", "@azure", pkg, "dist", "esm");
  const found = new Set();
  const generated = path.join(dist, "models", "models.js");
  assert.ok(existsSync(generated), `${generated}: the package layout changed; read its versions anew`);
  const { KnownVersions } = await import(pathToFileURL(generated).href);
  for (const v of Object.values(KnownVersions ?? {})) found.add(v);
  const options = readFileSync(path.join(dist, `${models}.d.ts`), "utf8");
  const spelled = options.match(/serviceVersion\?:\s*([^;]+);/);
  for (const [, v] of spelled?.[1].matchAll(/"([^"]+)"/g) ?? []) found.add(v);
  const { LATEST_API_VERSION } = await import(pathToFileURL(path.join(dist, `${models}.js`)).href);
  assert.equal(typeof LATEST_API_VERSION, "string", `${pkg}: no LATEST_API_VERSION`);
  found.add(LATEST_API_VERSION);
  assert.ok(found.size >= 2, `${pkg}: only ${[...found]}`);
  return [...found];
}

const KEY_VERSIONS = await versionsOf("keyvault-keys", "keysModels");
const SECRET_VERSIONS = await versionsOf("keyvault-secrets", "secretsModels");
const CERTIFICATE_VERSIONS = await versionsOf("keyvault-certificates", "certificatesModels");

/** @type {import("./lib/localhsm.mjs").LocalHsm} */
let hsm;

before(async () => {
  hsm = await startServer();
  await hsm.ensureVault(KV, { kind: "vault" });
  for (const vault of ["default", KV]) {
    const on = await hsm.mgmt("PATCH", `vaults/${vault}`, { accessLog: true });
    assert.equal(on.status, 200, JSON.stringify(on.body));
  }
});

after(async () => {
  await hsm?.stop();
});

/** A caller of its own: a JWT-shaped bearer naming a fresh object ID (the server reads `oid`). */
function caller() {
  const oid = randomUUID();
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const token = [
    part({ alg: "RS256", typ: "JWT" }),
    part({ oid, sub: oid, tid: "00000000-0000-0000-0000-000000000000", iat: now, nbf: now, exp: now + 3600 }),
    Buffer.from("not-a-signature").toString("base64url"),
  ].join(".");
  return {
    oid,
    credential: { getToken: async () => ({ token, expiresOnTimestamp: (now + 3600) * 1000 }) },
  };
}

/** Every access-log record of `who` in `vault` carries `version`; `operations` are among them. */
async function assertLogged(vault, who, version, operations) {
  const got = await hsm.mgmt("GET", `vaults/${vault}/accesslog?principal=${who.oid}`);
  assert.equal(got.status, 200, JSON.stringify(got.body));
  const records = got.body.value;
  assert.ok(records.length > 0, `no access-log records for the ${version} round trip`);
  assert.deepEqual([...new Set(records.map((r) => r.operationVersion))], [version]);
  const seen = new Set(records.map((r) => r.operationName));
  for (const op of operations) assert.ok(seen.has(op), `${op} missing from ${[...seen]}`);
  for (const r of records) assert.ok(r.httpStatusCode < 300, JSON.stringify(r));
}

async function assertRefused(promise, version) {
  const err = await promise.then(
    (v) => assert.fail(`api-version ${version} was served: ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(isRestError(err), `expected a RestError, got ${err?.stack ?? err}`);
  assert.equal(err.statusCode, 400);
  assert.equal(err.code, "BadParameter");
  assert.match(err.message, new RegExp(`api-version "${version.replaceAll(".", "\\.")}" is not supported`));
}

for (const version of KEY_VERSIONS) {
  test(`keys at api-version ${version}: create, get, sign, verify, list, delete`, async () => {
    const who = caller();
    const keys = hsm.keyClient(undefined, who.credential, { serviceVersion: version });
    const name = uniqueName("av");
    if (BEFORE_7_0.has(version)) {
      await assertRefused(keys.createEcKey(name, { curve: "P-256", hsm: true }), version);
      return;
    }
    const key = await keys.createEcKey(name, { curve: "P-256", hsm: true });
    assert.equal((await keys.getKey(name)).id, key.id);
    const crypto = new CryptographyClient(key.id, who.credential, {
      ...hsm.optionsFor(undefined),
      serviceVersion: version,
    });
    const digest = createHash("sha256").update(version).digest();
    const signed = await crypto.sign("ES256", digest);
    assert.equal(signed.keyID, key.id);
    assert.equal((await crypto.verify("ES256", digest, signed.result)).result, true);
    const other = createHash("sha256").update("other").digest();
    assert.equal((await crypto.verify("ES256", other, signed.result)).result, false);
    const names = [];
    for await (const p of keys.listPropertiesOfKeys()) names.push(p.name);
    assert.ok(names.includes(name), `${name} not listed`);
    const deleted = await (await keys.beginDeleteKey(name, POLL)).pollUntilDone();
    assert.equal(deleted.name, name);
    await assertLogged("default", who, version, ["KeyCreate", "KeyGet", "KeySign", "KeyList", "KeyDelete"]);
  });
}

for (const version of SECRET_VERSIONS) {
  test(`secrets at api-version ${version}: set, get, delete`, async () => {
    const who = caller();
    const secrets = hsm.secretClient(KV, who.credential, { serviceVersion: version });
    const name = uniqueName("av");
    const value = `secret for ${version}`;
    if (BEFORE_7_0.has(version)) {
      await assertRefused(secrets.setSecret(name, value), version);
      return;
    }
    const made = await secrets.setSecret(name, value, { contentType: "text/plain" });
    const got = await secrets.getSecret(name);
    assert.deepEqual([got.properties.id, got.value, got.properties.contentType], [made.properties.id, value, "text/plain"]);
    const deleted = await (await secrets.beginDeleteSecret(name, POLL)).pollUntilDone();
    assert.equal(deleted.name, name);
    await assertLogged(KV, who, version, ["SecretSet", "SecretGet", "SecretDelete"]);
  });
}

for (const version of CERTIFICATE_VERSIONS) {
  test(`certificates at api-version ${version}: create self-signed, get, delete`, async () => {
    const who = caller();
    const certs = hsm.certificateClient(KV, who.credential, { serviceVersion: version });
    const name = uniqueName("av");
    const policy = { issuerName: "Self", subject: `CN=${name}`, keyType: "EC", keyCurveName: "P-256" };
    if (BEFORE_7_0.has(version)) {
      await assertRefused(certs.beginCreateCertificate(name, policy, POLL), version);
      return;
    }
    const made = await (await certs.beginCreateCertificate(name, policy, POLL)).pollUntilDone();
    const got = await certs.getCertificate(name);
    assert.equal(got.id, made.id);
    assert.ok(got.cer?.length > 0, "no DER certificate");
    assert.deepEqual(Buffer.from(got.cer), Buffer.from(made.cer));
    const deleted = await (await certs.beginDeleteCertificate(name, POLL)).pollUntilDone();
    assert.equal(deleted.name, name);
    await assertLogged(KV, who, version, ["CertificateCreate", "CertificateGet", "CertificateDelete"]);
  });
}
