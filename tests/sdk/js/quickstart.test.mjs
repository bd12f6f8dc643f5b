// Application code unchanged, configuration by environment only: the SDK's quickstart
// (quickstart-keys.mjs: DefaultAzureCredential, KeyClient with no options, so the default
// api-version and the challenge-resource check on) runs as a child process whose only
// configuration is what `localhsm env` prints: the managed-identity endpoint and its header
// secret, the vault URL, and the local CA through NODE_EXTRA_CA_CERTS. The server runs with
// a configured identity, and its access log must name it for every call the quickstart made.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import dns from "node:dns/promises";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { localhsmBinary, startServer, uniqueName } from "./lib/localhsm.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OID = randomUUID();
const UPN = "js-quickstart@contoso.localhost";
const TID = "72f988bf-86f1-41af-91ab-2d7cd011db47";

/** @type {import("./lib/localhsm.mjs").LocalHsm} */
let hsm;
let home;

before(async () => {
  hsm = await startServer({ args: ["--identity-oid", OID, "--identity-upn", UPN, "--identity-tid", TID] });
  home = mkdtempSync(path.join(os.tmpdir(), "localhsm-js-quickstart-home-"));
});

after(async () => {
  await hsm?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

function cli(...args) {
  return execFileSync(localhsmBinary(), ["--data", hsm.dataDir, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  });
}

/** The variables of `localhsm env`'s `export NAME='value'` lines. */
function exported(text) {
  const env = {};
  for (const line of text.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    const m = /^export ([A-Z_]+)='([^']*)'$/.exec(line);
    assert.ok(m, `not an export line: ${line}`);
    env[m[1]] = m[2];
  }
  return env;
}

/** Nothing from this process but PATH: no test credential, no CA of ours. */
function childEnv(vars) {
  return { PATH: process.env.PATH, HOME: home, ...vars };
}

test("localhsm env names the identity endpoint, the vault and the CA", () => {
  const env = exported(cli("env"));
  assert.equal(env.IDENTITY_ENDPOINT, `https://127.0.0.1:${hsm.port}/msi/token`);
  const secretFile = path.join(hsm.dataDir, "identity-header");
  assert.equal(env.IDENTITY_HEADER, readFileSync(secretFile, "utf8").trim());
  assert.equal(statSync(secretFile).mode & 0o777, 0o600);
  assert.equal(env.AZURE_KEYVAULT_URL, `https://default.localhost:${hsm.port}`);
  assert.equal(env.NODE_EXTRA_CA_CERTS, path.join(hsm.dataDir, "tls", "cert.pem"));
});

test("the keys quickstart runs unchanged with only the environment of localhsm env", async () => {
  const env = exported(cli("env"));
  const host = new URL(env.AZURE_KEYVAULT_URL).hostname;
  await dns.lookup(host).catch(() => {
    assert.fail(`${host} does not resolve; add "127.0.0.1 ${host}" to /etc/hosts (.ci/run does this)`);
  });
  cli("vault", "update", "default", "--access-log", "on");
  const name = uniqueName("quickstart");
  const run = spawnSync(process.execPath, [path.join(HERE, "quickstart-keys.mjs"), name], {
    cwd: home,
    env: childEnv(env),
    encoding: "utf8",
    timeout: 180_000,
  });
  assert.equal(run.status, 0, `the quickstart failed:\n${run.stdout}\n${run.stderr}`);
  const lines = run.stdout.split("\n");
  const vault = env.AZURE_KEYVAULT_URL;
  assert.ok(lines.some((l) => l.startsWith(`Created: ${vault}/keys/${name}/`)), run.stdout);
  assert.ok(lines.some((l) => l.startsWith(`Retrieved: ${name} `)), run.stdout);
  assert.ok(lines.includes("Verified: true"), run.stdout);
  assert.ok(lines.includes(`Listed: ${name}`), run.stdout);
  assert.ok(lines.includes(`Deleted: ${name} ${vault}/deletedkeys/${name}`), run.stdout);

  const records = cli("log", "export", "--vault", "default")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  const mine = records.filter((r) => r.requestUri.includes(name));
  const operations = new Set(mine.filter((r) => r.httpStatusCode < 400).map((r) => r.operationName));
  for (const op of ["KeyCreate", "KeyGet", "KeySign", "KeyDelete"]) {
    assert.ok(operations.has(op), `${op} missing from ${[...operations]}`);
  }
  for (const r of mine) assert.deepEqual(r.identity.claim, { oid: OID, upn: UPN, tid: TID });
  const listed = records.filter((r) => r.operationName === "KeyList");
  assert.ok(listed.length > 0 && listed.every((r) => r.identity.claim.oid === OID));
});

test("a wrong IDENTITY_HEADER gets no token", () => {
  const env = exported(cli("env"));
  const script = `
    import { ManagedIdentityCredential } from "@azure/identity";
    try {
      await new ManagedIdentityCredential().getToken("https://localhost:${hsm.port}/.default");
      console.log("got a token");
    } catch (e) {
      console.log("refused: " + e.message);
    }`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: HERE,
    env: childEnv({ ...env, IDENTITY_HEADER: "0".repeat(env.IDENTITY_HEADER.length) }),
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^refused: .*X-IDENTITY-HEADER/m);
  assert.doesNotMatch(run.stdout + run.stderr, /eyJ/);
});
