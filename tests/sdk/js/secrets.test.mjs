// SecretClient (@azure/keyvault-secrets) against a real localhsm, as a user runs it: the
// SDK's defaults (api-version included) with only the vault URL, the credential and the CA
// changed. Set/get/versions, update, lists and paging, delete/recover/purge pollers,
// backup/restore, Key Vault's error rules, vault kinds, purge protection, and (last) that
// no value set here reached the server's output or its data directory.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { isRestError } from "@azure/core-rest-pipeline";

import { startServer, uniqueName } from "./lib/localhsm.mjs";

/** @type {import("./lib/localhsm.mjs").LocalHsm} */
let hsm;
/** @type {import("@azure/keyvault-secrets").SecretClient} */
let client;

// Pollers default to 2 s between polls; the server is local, so poll fast.
const POLL = { intervalInMs: 50 };
const MAX_VALUE_BYTES = 25 * 1024; // Key Vault's 25 KB limit on a secret value
const SDK_API_VERSION = "2025-07-01"; // what @azure/keyvault-secrets 4.11 sends when given none
const DAY_MS = 86_400_000;

// Every value set in this file carries one of these markers; the last test looks for them.
const MARKERS = [];
function secretValue(label, body = "") {
  const marker = `sv${randomUUID().replaceAll("-", "")}`;
  MARKERS.push(marker);
  return `${label}:${marker}:${body}`;
}

before(async () => {
  // The most verbose log there is, so the leak check reads everything the server can say.
  hsm = await startServer({ env: { LOCALHSM_LOG: "trace" } });
  client = hsm.secretClient();
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

const innerCode = (err) => err.details?.error?.innerError?.code;

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Every page of a paged iterator, as arrays. */
async function pages(paged, settings) {
  const out = [];
  for await (const page of paged.byPage(settings)) out.push(page);
  return out;
}

/** An `onResponse` callback that keeps the raw response of one operation. */
function rawResponses() {
  const seen = [];
  const onResponse = (raw) => seen.push({ url: raw.request.url, body: raw.parsedBody ?? JSON.parse(raw.bodyAsText) });
  return { seen, onResponse };
}

/**
 * A pipeline policy that keeps the JSON body of every response to a GET, for what the
 * SDK's models hide: `onResponse` sees only the first page of a list, and the list models
 * have no `value` field to show that the server sent none.
 */
function recordingPolicy() {
  const bodies = [];
  const policy = {
    name: "localhsmRecordResponses",
    async sendRequest(request, next) {
      const response = await next(request);
      if (request.method === "GET" && response.status === 200) bodies.push(JSON.parse(response.bodyAsText));
      return response;
    },
  };
  return { bodies, options: { additionalPolicies: [{ policy, position: "perCall" }] } };
}

async function deleteSecret(c, name) {
  const poller = await c.beginDeleteSecret(name, POLL);
  return poller.pollUntilDone();
}

const seconds = (date) => new Date(Math.floor(date.getTime() / 1000) * 1000);

// ---------------------------------------------------------------------------------------
// set / get / update
// ---------------------------------------------------------------------------------------
test("set makes a new version each time; get reads the current one or a given one", async () => {
  const name = uniqueName("s");
  const first = secretValue("first");
  const second = secretValue("second");
  const raw = rawResponses();
  const v1 = await client.setSecret(name, first, { onResponse: raw.onResponse });
  assert.equal(new URL(raw.seen.at(-1).url).searchParams.get("api-version"), SDK_API_VERSION);
  assert.equal(v1.name, name);
  assert.equal(v1.value, first);
  assert.ok(v1.properties.version, "a set returns its version");
  assert.equal(v1.properties.id, `${hsm.vaultUrl}/secrets/${name}/${v1.properties.version}`);
  assert.equal(v1.properties.vaultUrl, hsm.vaultUrl);
  assert.equal(v1.properties.enabled, true);
  assert.ok(v1.properties.createdOn instanceof Date && !isNaN(v1.properties.createdOn));
  assert.equal(v1.properties.recoveryLevel, "Recoverable+Purgeable");
  assert.equal(v1.properties.recoverableDays, 90);
  assert.equal(v1.properties.contentType, undefined);

  const v2 = await client.setSecret(name, second);
  assert.notEqual(v2.properties.version, v1.properties.version);

  const current = await client.getSecret(name);
  assert.equal(current.properties.id, v2.properties.id);
  assert.equal(current.value, second);
  const old = await client.getSecret(name, { version: v1.properties.version });
  assert.equal(old.properties.id, v1.properties.id);
  assert.equal(old.value, first);

  const versions = (await collect(client.listPropertiesOfSecretVersions(name))).map((p) => p.version);
  assert.deepEqual(versions.sort(), [v1.properties.version, v2.properties.version].sort());

  // The default vault's challenge names the Managed HSM resource.
  assert.ok(
    hsm.requestedScopes.includes("https://managedhsm.azure.net/.default"),
    `requested scopes: ${JSON.stringify(hsm.requestedScopes)}`,
  );
});

test("unicode value, contentType, tags, enabled/nbf/exp round-trip", async () => {
  const name = uniqueName("uni");
  const value = secretValue("uni", 'pässwörd ✓ 🔑𝄞 日本語 שלום e\u0301 "q" \\ \n\t\r \u0000 \u2028 end');
  const notBefore = seconds(new Date(Date.now() - DAY_MS));
  const expiresOn = seconds(new Date(Date.now() + 365 * DAY_MS));
  const tags = { env: "dev", owner: "zoë", empty: "" };
  const set = await client.setSecret(name, value, {
    contentType: "text/plain; charset=utf-8",
    tags,
    enabled: true,
    notBefore,
    expiresOn,
  });
  assert.equal(set.value, value);
  const got = await client.getSecret(name);
  assert.equal(got.value, value);
  assert.equal(got.properties.contentType, "text/plain; charset=utf-8");
  assert.deepEqual(got.properties.tags, tags);
  assert.equal(got.properties.enabled, true);
  assert.equal(got.properties.notBefore.getTime(), notBefore.getTime());
  assert.equal(got.properties.expiresOn.getTime(), expiresOn.getTime());
});

test("nbf and exp are informational: an expired or not-yet-valid secret still reads", async () => {
  // Key Vault returns an expired secret's value (Azure/AzureKeyVault#19).
  const name = uniqueName("window");
  const expired = secretValue("expired");
  await client.setSecret(name, expired, { expiresOn: seconds(new Date(Date.now() - DAY_MS)) });
  assert.equal((await client.getSecret(name)).value, expired);
  const early = secretValue("early");
  await client.setSecret(name, early, { notBefore: seconds(new Date(Date.now() + 30 * DAY_MS)) });
  assert.equal((await client.getSecret(name)).value, early);
});

test("a disabled secret's value cannot be read: 403 Forbidden / SecretDisabled", async () => {
  const name = uniqueName("off");
  const hidden = secretValue("off");
  const set = await client.setSecret(name, hidden, { enabled: false });
  assert.equal(set.properties.enabled, false);
  const err = await expectRestError(client.getSecret(name), 403, "Forbidden");
  assert.equal(innerCode(err), "SecretDisabled");
  assert.ok(!err.message.includes(hidden), "an error never carries the value");
  await expectRestError(client.getSecret(name, { version: set.properties.version }), 403, "Forbidden");

  const [listed] = await collect(client.listPropertiesOfSecretVersions(name));
  assert.equal(listed.enabled, false);

  await client.updateSecretProperties(name, set.properties.version, { enabled: true });
  assert.equal((await client.getSecret(name)).value, hidden);
});

test("updateSecretProperties: contentType, tags (replaced) and enabled, on any version", async () => {
  const name = uniqueName("upd");
  const first = secretValue("first");
  const v1 = await client.setSecret(name, first, { contentType: "text/plain", tags: { a: "1" } });
  const v2 = await client.setSecret(name, secretValue("second"), { tags: { b: "2" } });

  const updated = await client.updateSecretProperties(name, v2.properties.version, {
    contentType: "application/json",
    tags: { c: "3" },
  });
  assert.equal(updated.version, v2.properties.version);
  assert.equal(updated.contentType, "application/json");
  assert.deepEqual(updated.tags, { c: "3" });
  assert.equal(updated.createdOn.getTime(), v2.properties.createdOn.getTime());

  const old = await client.updateSecretProperties(name, v1.properties.version, { tags: { x: "y" }, enabled: false });
  assert.equal(old.version, v1.properties.version);
  assert.deepEqual(old.tags, { x: "y" });
  assert.equal(old.enabled, false);
  assert.equal(old.contentType, "text/plain", "a field not sent keeps its value");
  await expectRestError(client.getSecret(name, { version: v1.properties.version }), 403, "Forbidden");

  const current = await client.getSecret(name);
  assert.equal(current.properties.id, v2.properties.id);
  assert.equal(current.properties.contentType, "application/json");

  await client.updateSecretProperties(name, v1.properties.version, { enabled: true });
  const again = await client.getSecret(name, { version: v1.properties.version });
  assert.equal(again.value, first, "an update never changes the value");
});

// ---------------------------------------------------------------------------------------
// limits and bad input
// ---------------------------------------------------------------------------------------
test("a 25 KiB value works; one byte more is a 400 (UTF-8 bytes are counted)", async () => {
  const name = uniqueName("big");
  const head = secretValue("big");
  const fits = head + "x".repeat(MAX_VALUE_BYTES - head.length);
  assert.equal(Buffer.byteLength(fits), MAX_VALUE_BYTES);
  assert.equal((await client.setSecret(name, fits)).value, fits);
  assert.equal((await client.getSecret(name)).value, fits);
  const err = await expectRestError(client.setSecret(name, fits + "x"), 400, "BadParameter");
  assert.ok(!err.message.includes(head), "an error never carries the value");

  const wide = "é".repeat(MAX_VALUE_BYTES / 2);
  assert.equal((await client.setSecret(name, wide)).value, wide);
  await expectRestError(client.setSecret(name, wide + "é"), 400, "BadParameter");
  assert.equal((await collect(client.listPropertiesOfSecretVersions(name))).length, 2);
});

test("names are 1-127 of 0-9a-zA-Z-; at most 15 tags", async () => {
  for (const bad of ["under_score", "dot.ted", "x".repeat(128)]) {
    await expectRestError(client.setSecret(bad, secretValue("bad")), 400, "BadParameter");
  }
  const longest = "N" + "a1-".repeat(42);
  assert.equal(longest.length, 127);
  assert.equal((await client.setSecret(longest, secretValue("long"))).name, longest);

  const name = uniqueName("tags");
  const fifteen = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`t${i}`, `${i}`]));
  assert.deepEqual((await client.setSecret(name, secretValue("tags"), { tags: fifteen })).properties.tags, fifteen);
  await expectRestError(
    client.setSecret(name, secretValue("tags16"), { tags: { ...fifteen, t15: "15" } }),
    400,
    "BadParameter",
  );
});

test("missing secrets: 404 SecretNotFound on every route", async () => {
  const missing = uniqueName("missing");
  await expectRestError(client.getSecret(missing), 404, "SecretNotFound");
  await expectRestError(client.updateSecretProperties(missing, "0".repeat(32), { contentType: "x" }), 404, "SecretNotFound");
  await expectRestError(client.beginDeleteSecret(missing, POLL), 404, "SecretNotFound");
  await expectRestError(client.backupSecret(missing), 404, "SecretNotFound");
  // Key Vault answers /deletedsecrets/{name} for a name that is not soft-deleted with
  // 404 SecretNotFound ("Deleted Secret not found: NAME").
  await expectRestError(client.getDeletedSecret(missing), 404, "SecretNotFound");
  await expectRestError(client.purgeDeletedSecret(missing), 404, "SecretNotFound");

  const live = uniqueName("live");
  await client.setSecret(live, secretValue("live"));
  await expectRestError(client.getSecret(live, { version: "0".repeat(32) }), 404, "SecretNotFound");
  await expectRestError(client.getDeletedSecret(live), 404);
});

// ---------------------------------------------------------------------------------------
// lists and paging (a vault of kind `vault` of their own)
// ---------------------------------------------------------------------------------------
test("listPropertiesOfSecrets: pages of 25, byPage({ maxPageSize }), items without values", async () => {
  await hsm.ensureVault("sp", { kind: "vault" });
  const recorder = recordingPolicy();
  const sp = hsm.secretClient("sp", hsm.credential(), recorder.options);
  const base = hsm.vaultUrlOf("sp");
  const names = Array.from({ length: 30 }, (_, i) => `list-${String(i).padStart(2, "0")}`);
  for (const [i, name] of names.entries()) {
    await sp.setSecret(name, secretValue(name), { tags: { i: `${i}` }, contentType: i % 2 ? "text/plain" : undefined });
  }

  recorder.bodies.length = 0;
  const byDefault = await pages(sp.listPropertiesOfSecrets());
  assert.deepEqual(byDefault.map((p) => p.length), [25, 5]);
  const items = byDefault.flat();
  assert.deepEqual(items.map((p) => p.name).sort(), names);
  for (const p of items) {
    assert.equal(p.id, `${base}/secrets/${p.name}`, "list items name the secret, not a version");
    assert.equal(p.vaultUrl, base);
    assert.equal(p.enabled, true);
    assert.equal(p.contentType, Number(p.tags.i) % 2 ? "text/plain" : undefined);
  }
  assert.equal(recorder.bodies.length, 2, "one response per page");
  const rawItems = recorder.bodies.flatMap((body) => body.value);
  assert.equal(rawItems.length, 30);
  assert.ok(rawItems.every((item) => !("value" in item)), "list items carry no value");
  assert.ok(recorder.bodies[0].nextLink.startsWith(`${base}/secrets?`));
  assert.ok(!recorder.bodies[1].nextLink);

  const bySeven = await pages(sp.listPropertiesOfSecrets(), { maxPageSize: 7 });
  assert.deepEqual(bySeven.map((p) => p.length), [7, 7, 7, 7, 2]);
  assert.deepEqual(bySeven.flat().map((p) => p.name).sort(), names);
});

test("listPropertiesOfSecretVersions: pages of 25, byPage({ maxPageSize })", async () => {
  await hsm.ensureVault("sp", { kind: "vault" });
  const recorder = recordingPolicy();
  const sp = hsm.secretClient("sp", hsm.credential(), recorder.options);
  const name = uniqueName("many");
  const made = [];
  for (let i = 0; i < 27; i++) made.push((await sp.setSecret(name, secretValue(`v${i}`))).properties.version);

  recorder.bodies.length = 0;
  const byDefault = await pages(sp.listPropertiesOfSecretVersions(name));
  assert.deepEqual(byDefault.map((p) => p.length), [25, 2]);
  assert.deepEqual(byDefault.flat().map((p) => p.version).sort(), [...made].sort());
  for (const p of byDefault.flat()) assert.equal(p.id, `${hsm.vaultUrlOf("sp")}/secrets/${name}/${p.version}`);
  assert.equal(recorder.bodies.length, 2, "one response per page");
  assert.ok(recorder.bodies.flatMap((body) => body.value).every((item) => !("value" in item)));

  const byTen = await pages(sp.listPropertiesOfSecretVersions(name), { maxPageSize: 10 });
  assert.deepEqual(byTen.map((p) => p.length), [10, 10, 7]);
});

test("listDeletedSecrets: byPage({ maxPageSize: 2 }), recoveryId and dates, no values", async () => {
  await hsm.ensureVault("sd", { kind: "vault" });
  const sd = hsm.secretClient("sd");
  const base = hsm.vaultUrlOf("sd");
  const names = Array.from({ length: 5 }, (_, i) => `gone-${i}`);
  for (const name of names) {
    await sd.setSecret(name, secretValue(name), { tags: { n: name } });
    await deleteSecret(sd, name);
  }
  const got = await pages(sd.listDeletedSecrets(), { maxPageSize: 2 });
  assert.deepEqual(got.map((p) => p.length), [2, 2, 1]);
  for (const d of got.flat()) {
    assert.equal(d.value, undefined, "a deleted secret has no value");
    assert.equal(d.recoveryId, `${base}/deletedsecrets/${d.name}`);
    assert.equal(d.properties.id, `${base}/secrets/${d.name}`);
    assert.ok(d.deletedOn instanceof Date && d.scheduledPurgeDate > d.deletedOn);
    assert.deepEqual(d.properties.tags, { n: d.name });
  }
  assert.deepEqual(got.flat().map((d) => d.name).sort(), names);
  assert.deepEqual(await collect(sd.listPropertiesOfSecrets()), []);
});

// ---------------------------------------------------------------------------------------
// delete / recover / purge
// ---------------------------------------------------------------------------------------
test("beginDeleteSecret -> getDeletedSecret -> beginRecoverDeletedSecret -> delete -> purge", async () => {
  const name = uniqueName("life");
  const first = secretValue("first");
  const second = secretValue("second");
  const v1 = await client.setSecret(name, first);
  const v2 = await client.setSecret(name, second, { contentType: "text/plain", tags: { t: "1" } });

  // DELETE /secrets/{name}, then GET /deletedsecrets/{name} until 200.
  const deleted = await deleteSecret(client, name);
  assert.equal(deleted.name, name);
  assert.equal(deleted.properties.id, v2.properties.id);
  assert.equal(deleted.value, undefined);
  assert.equal(deleted.recoveryId, `${hsm.vaultUrl}/deletedsecrets/${name}`);
  assert.deepEqual(deleted.properties.tags, { t: "1" });
  assert.equal(deleted.scheduledPurgeDate - deleted.deletedOn, 90 * DAY_MS);

  await expectRestError(client.getSecret(name), 404, "SecretNotFound");
  const live = (await collect(client.listPropertiesOfSecrets())).map((p) => p.name);
  assert.ok(!live.includes(name));

  const got = await client.getDeletedSecret(name);
  assert.equal(got.value, undefined, "a deleted secret is returned without its value");
  assert.equal(got.properties.id, v2.properties.id);
  assert.equal(got.recoveryId, deleted.recoveryId);
  assert.equal(got.deletedOn.getTime(), deleted.deletedOn.getTime());
  const listed = (await collect(client.listDeletedSecrets())).map((d) => d.name);
  assert.ok(listed.includes(name));

  await expectRestError(client.beginDeleteSecret(name, POLL), 404);

  // POST /deletedsecrets/{name}/recover, then GET /secrets/{name}/ until 200.
  const recovered = await (await client.beginRecoverDeletedSecret(name, POLL)).pollUntilDone();
  assert.equal(recovered.id, v2.properties.id);
  assert.equal((await client.getSecret(name)).value, second);
  assert.equal((await client.getSecret(name, { version: v1.properties.version })).value, first);
  await expectRestError(client.getDeletedSecret(name), 404);

  await deleteSecret(client, name);
  await client.purgeDeletedSecret(name); // DELETE /deletedsecrets/{name} -> 204
  await expectRestError(client.getDeletedSecret(name), 404);
  const fresh = await client.setSecret(name, secretValue("fresh"));
  const versions = (await collect(client.listPropertiesOfSecretVersions(name))).map((p) => p.version);
  assert.deepEqual(versions, [fresh.properties.version], "a purged name starts with no history");
});

test("set over a soft-deleted name: 409 Conflict / ObjectIsDeletedButRecoverable", async () => {
  const name = uniqueName("taken");
  await client.setSecret(name, secretValue("taken"));
  await deleteSecret(client, name);
  const err = await expectRestError(client.setSecret(name, secretValue("again")), 409, "Conflict");
  assert.equal(innerCode(err), "ObjectIsDeletedButRecoverable");
});

// ---------------------------------------------------------------------------------------
// backup / restore
// ---------------------------------------------------------------------------------------
test("backupSecret / restoreSecretBackup: 409 while the name is taken, every version after purge", async () => {
  const name = uniqueName("bak");
  const first = secretValue("first");
  const second = secretValue("second");
  const v1 = await client.setSecret(name, first, { tags: { keep: "me" } });
  const v2 = await client.setSecret(name, second, { contentType: "text/plain" });
  const backup = await client.backupSecret(name);
  assert.ok(backup instanceof Uint8Array && backup.length > 0);
  for (const v of [first, second]) {
    assert.ok(!Buffer.from(backup).includes(v.split(":")[1]), "a backup is sealed");
  }

  await expectRestError(client.restoreSecretBackup(backup), 409);
  await deleteSecret(client, name);
  const err = await expectRestError(client.restoreSecretBackup(backup), 409, "Conflict");
  assert.equal(innerCode(err), "ObjectIsDeletedButRecoverable");

  await client.purgeDeletedSecret(name);
  const restored = await client.restoreSecretBackup(backup);
  assert.equal(restored.name, name);
  assert.equal(restored.id, v2.properties.id);
  assert.equal(restored.contentType, "text/plain");
  assert.equal((await client.getSecret(name)).value, second);
  const old = await client.getSecret(name, { version: v1.properties.version });
  assert.equal(old.value, first);
  assert.deepEqual(old.properties.tags, { keep: "me" });
});

test("restoreSecretBackup of garbage: 400 BadParameter", async () => {
  await expectRestError(client.restoreSecretBackup(new TextEncoder().encode("not a backup")), 400, "BadParameter");
});

// ---------------------------------------------------------------------------------------
// where secrets live
// ---------------------------------------------------------------------------------------
test("a vault of kind `vault` holds secrets (https://kv.localhost:PORT)", async () => {
  await hsm.ensureVault("kv", { kind: "vault" });
  const scopes = [];
  const credential = {
    async getToken(requested) {
      scopes.push(...[requested].flat());
      return { token: "localhsm-js-sdk-test-token", expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  const kv = hsm.secretClient("kv", credential);
  const name = uniqueName("kv");
  const value = secretValue("kv");
  const set = await kv.setSecret(name, value);
  assert.equal(set.properties.id, `https://kv.localhost:${hsm.port}/secrets/${name}/${set.properties.version}`);
  assert.equal((await kv.getSecret(name)).value, value);
  // NAME.localhost:PORT: the challenge names https://localhost:PORT, which the SDK's check accepts
  assert.deepEqual([...new Set(scopes)], [`https://localhost:${hsm.port}/.default`]);
  await expectRestError(client.getSecret(name), 404, "SecretNotFound");
});

test("a Managed HSM vault other than the default refuses secrets: 400 saying why", async () => {
  await hsm.ensureVault("mhsm", { kind: "managedhsm" });
  const mh = hsm.secretClient("mhsm");
  const name = uniqueName("nohsm");
  for (const call of [() => mh.setSecret(name, secretValue("nohsm")), () => mh.getSecret(name)]) {
    const err = await expectRestError(call(), 400, "BadParameter");
    assert.match(err.details.error.message, /secret/i);
    assert.match(err.details.error.message, /managed hsm/i);
  }
  // a failed page surfaces as "Pagination failed ..." with the server's code
  await expectRestError(collect(mh.listPropertiesOfSecrets()), 400, "BadParameter");
  await expectRestError(collect(mh.listDeletedSecrets()), 400, "BadParameter");
});

test("purge protection: purge is 403 Forbidden; recover still works", async () => {
  const vault = await hsm.ensureVault("pps", { kind: "vault", retentionDays: 7, purgeProtection: true });
  assert.equal(vault.purgeProtection, true);
  const pp = hsm.secretClient("pps");
  const name = uniqueName("pp");
  const value = secretValue("pp");
  const set = await pp.setSecret(name, value);
  assert.equal(set.properties.recoveryLevel, "CustomizedRecoverable");
  assert.equal(set.properties.recoverableDays, 7);
  const deleted = await deleteSecret(pp, name);
  assert.equal(deleted.scheduledPurgeDate - deleted.deletedOn, 7 * DAY_MS);
  await expectRestError(pp.purgeDeletedSecret(name), 403, "Forbidden");
  assert.equal((await pp.getDeletedSecret(name)).name, name);
  await (await pp.beginRecoverDeletedSecret(name, POLL)).pollUntilDone();
  assert.equal((await pp.getSecret(name)).value, value);
});

// Runs last (tests in a file run in order).
test("no value set above reached the server's output or its data directory; SIGTERM exits 0", async () => {
  const { code, signal, timedOut } = await hsm.stop({ keepData: true });
  try {
    assert.equal(timedOut, false, "server did not exit within 10 s of SIGTERM");
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
    assert.ok(MARKERS.length > 80, `only ${MARKERS.length} values were set`);

    const log = hsm.log.join("\n");
    assert.match(log, /\/secrets\/.*\n(.*\n)*.*\/deletedsecrets\//, "the trace log names the secret routes it served");
    const leaked = MARKERS.filter((m) => log.includes(m));
    assert.deepEqual(leaked, [], "secret values in the server's output");

    const files = readdirSync(hsm.dataDir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => ({ name: entry.name, bytes: readFileSync(path.join(entry.parentPath ?? entry.path, entry.name)) }));
    // the scan reads the store's records: a secret's name is metadata, stored in the clear
    assert.ok(files.some((f) => f.bytes.includes("list-00")), `files: ${files.map((f) => f.name)}`);
    const onDisk = files.flatMap((f) => MARKERS.filter((m) => f.bytes.includes(m)).map((m) => `${f.name}: ${m}`));
    assert.deepEqual(onDisk, [], "secret values stored unsealed");
  } finally {
    rmSync(hsm.dataDir, { recursive: true, force: true });
  }
});
