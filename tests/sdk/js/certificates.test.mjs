// CertificateClient (@azure/keyvault-certificates) against a real localhsm, as a user runs it:
// the SDK's defaults (api-version included) with only the vault URL, the credential and the
// CA changed. Every certificate is checked with node:crypto (X509Certificate, createPrivateKey,
// and OpenSSL's own PKCS#12 reader through a TLS handshake): subject, SANs, key usages, EKUs,
// validity, signatures, and the key in the PFX or PEM secret. The merge flow uses a CA made
// here (lib/x509.mjs). Its server runs with LOCALHSM_LOG=trace; the last test stops it and
// looks for the private keys seen here in its output and its data directory.

import assert from "node:assert/strict";
import crypto, { X509Certificate } from "node:crypto";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { isRestError } from "@azure/core-rest-pipeline";
import { DefaultCertificatePolicy } from "@azure/keyvault-certificates";

import { startServer, uniqueName } from "./lib/localhsm.mjs";
import * as x509 from "./lib/x509.mjs";

/** @type {import("./lib/localhsm.mjs").LocalHsm} */
let hsm;
const vaults = new Map();

// Pollers default to 2 s between polls; the server is local, so poll fast.
const POLL = { intervalInMs: 50 };
const SDK_API_VERSION = "2025-07-01"; // what @azure/keyvault-certificates 4.10 sends when given none
const DAY_MS = 86_400_000;
const PFX = "application/x-pkcs12";
const PEM = "application/x-pem-file";

// Private keys seen here (JWK `d` of EC keys, `p` of RSA keys), for the last test.
const PRIVATE = [];
function remember(privateKey) {
  const jwk = privateKey.export({ format: "jwk" });
  PRIVATE.push(Buffer.from(jwk.kty === "EC" ? jwk.d : jwk.p, "base64url"));
}

before(async () => {
  hsm = await startServer({ env: { LOCALHSM_LOG: "trace" }, args: ["--dev-clock"] });
});

after(async () => {
  await hsm?.stop();
});

/** The certificate, key and secret clients of a vault (the default one when `name` is undefined). */
async function vault(name, settings = { kind: "vault" }) {
  if (!vaults.has(name)) {
    if (name !== undefined) await hsm.ensureVault(name, settings);
    vaults.set(name, {
      name,
      url: hsm.vaultUrlOf(name),
      certs: hsm.certificateClient(name),
      keys: hsm.keyClient(name),
      secrets: hsm.secretClient(name),
    });
  }
  return vaults.get(name);
}

/** Await a promise that must reject with a RestError; returns the error. */
async function expectRestError(promise, statusCode, code) {
  const err = await promise.then(
    (v) => assert.fail(`expected RestError ${statusCode}, got success: ${JSON.stringify(v)?.slice(0, 300)}`),
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

async function pages(paged, settings) {
  const out = [];
  for await (const page of paged.byPage(settings)) out.push(page);
  return out;
}

const names = async (iterable) => new Set((await collect(iterable)).map((p) => p.name));

/** A pipeline policy that records method, URL, status and JSON body of every response. */
function recordingPolicy() {
  const seen = [];
  const policy = {
    name: "localhsmRecordResponses",
    async sendRequest(request, next) {
      const response = await next(request);
      let body;
      try {
        body = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
      } catch {
        body = undefined;
      }
      seen.push({ method: request.method, url: new URL(request.url), status: response.status, body });
      return response;
    },
  };
  return { seen, options: { additionalPolicies: [{ policy, position: "perCall" }] } };
}

async function create(certs, name, policy, options = {}) {
  const poller = await certs.beginCreateCertificate(name, policy, { ...POLL, ...options });
  const cert = await poller.pollUntilDone();
  assert.ok(cert.cer?.length, `a completed certificate carries its DER (${JSON.stringify(poller.getOperationState())})`);
  return cert;
}

const ecPolicy = (subject, extra = {}) => ({
  issuerName: "Self",
  subject,
  keyType: "EC",
  keyCurveName: "P-256",
  exportable: true,
  ...extra,
});

async function deleteCertificate(certs, name) {
  return (await certs.beginDeleteCertificate(name, POLL)).pollUntilDone();
}

/** Months of validity, within what calendar months allow. */
function assertValidity(x, months) {
  const span = Date.parse(x.validTo) - Date.parse(x.validFrom);
  assert.ok(span >= 28 * months * DAY_MS && span <= (31 * months + 1) * DAY_MS, `${months} months asked, ${span / DAY_MS} days`);
}

const sameKey = (a, b) =>
  a.export({ type: "spki", format: "der" }).equals(b.export({ type: "spki", format: "der" }));

/** The key signs through CryptographyClient; node:crypto verifies with the certificate's key. */
async function signAndVerify(v, keyId, x) {
  const message = Buffer.from(`${keyId}:${crypto.randomUUID()}`);
  const ec = x.publicKey.asymmetricKeyType === "ec";
  // Key Vault ties the algorithm to the curve: ES256 on P-256, ES384 on P-384, ES512 on P-521.
  const curve = ec ? x.publicKey.asymmetricKeyDetails.namedCurve : undefined;
  const [alg, hash] = !ec
    ? ["RS256", "sha256"]
    : curve === "secp384r1"
      ? ["ES384", "sha384"]
      : curve === "secp521r1"
        ? ["ES512", "sha512"]
        : ["ES256", "sha256"];
  const digest = crypto.createHash(hash).update(message).digest();
  const { result } = await hsm.cryptoClient(keyId, v.name).sign(alg, digest);
  const key = ec ? { key: x.publicKey, dsaEncoding: "ieee-p1363" } : x.publicKey;
  assert.ok(crypto.verify(hash, message, key, result), "the signature verifies with the certificate's key");
}

/** The private key and chain (leaf first) in a certificate's secret. */
async function secretContents(secret) {
  if (secret.properties.contentType === PFX) {
    const chain = await x509.pfxChain(Buffer.from(secret.value, "base64"));
    return { privateKey: undefined, chain };
  }
  assert.equal(secret.properties.contentType, PEM);
  const { privateKey, chain } = x509.pemContents(secret.value);
  remember(privateKey);
  return { privateKey, chain };
}

/**
 * What every completed certificate version must be: ids, DER and thumbprint, its managed key
 * and secret of the same name and version, the secret's PFX/PEM (whose key matches), and a
 * signature by the key.
 */
async function checkCertificate(v, cert, name, { contentType = PFX, enabled = true, sign = enabled } = {}) {
  const version = cert.properties.version;
  assert.equal(cert.name, name);
  assert.equal(cert.properties.id, `${v.url}/certificates/${name}/${version}`);
  assert.equal(cert.keyId, `${v.url}/keys/${name}/${version}`, "kid names the key of the same version");
  assert.equal(cert.secretId, `${v.url}/secrets/${name}/${version}`, "sid names the secret of the same version");
  assert.equal(cert.properties.enabled, enabled);
  const x = new X509Certificate(cert.cer);
  const sha1 = crypto.createHash("sha1").update(cert.cer).digest();
  assert.ok(Buffer.from(cert.properties.x509Thumbprint).equals(sha1), "x5t is the SHA-1 of the DER");
  assert.equal(cert.properties.notBefore.getTime(), Date.parse(x.validFrom));
  assert.equal(cert.properties.expiresOn.getTime(), Date.parse(x.validTo));

  const key = await v.keys.getKey(name, { version });
  assert.equal(key.id, cert.keyId);
  assert.equal(key.properties.managed, true, "a certificate's key is managed");
  assert.equal(key.key.d, undefined, "no private JWK member");
  assert.ok(sameKey(publicKeyOf(key.key), x.publicKey), "the key is the certificate's");

  const secret = await v.secrets.getSecret(name, { version });
  assert.equal(secret.properties.id, cert.secretId);
  assert.equal(secret.properties.managed, true, "a certificate's secret is managed");
  assert.equal(secret.properties.certificateKeyId, cert.keyId);
  assert.equal(secret.properties.contentType, contentType);
  const { privateKey, chain } = await secretContents(secret);
  assert.ok(chain[0].raw.equals(x.raw), "the secret's first certificate is the certificate");
  if (privateKey) assert.ok(x.checkPrivateKey(privateKey), "the secret's key matches the certificate");

  if (sign) await signAndVerify(v, key.id, x);
  return { x, privateKey, chain };
}

/** node's KeyObject for an SDK JsonWebKey (whose members are bytes). */
function publicKeyOf(jwk) {
  const b64 = (bytes) => Buffer.from(bytes).toString("base64url");
  const key = jwk.kty.startsWith("EC")
    ? { kty: "EC", crv: jwk.crv, x: b64(jwk.x), y: b64(jwk.y) }
    : { kty: "RSA", n: b64(jwk.n), e: b64(jwk.e) };
  return crypto.createPublicKey({ key, format: "jwk" });
}

const subjectOf = (x) => Object.fromEntries(x.subject.split("\n").map((l) => l.split("=")));

// ---------------------------------------------------------------------------------------
// create
// ---------------------------------------------------------------------------------------
test("beginCreateCertificate with DefaultCertificatePolicy: 202 inProgress, then completed on the first poll", async () => {
  const v = await vault();
  const rec = recordingPolicy();
  const certs = hsm.certificateClient(undefined, hsm.credential(), rec.options);
  const name = uniqueName("default");
  const cert = await create(certs, name, DefaultCertificatePolicy);

  const calls = rec.seen.filter((c) => c.status !== 401);
  assert.deepEqual(
    calls.map((c) => `${c.method} ${c.url.pathname} ${c.status}`),
    [`POST /certificates/${name}/create 202`, `GET /certificates/${name}/pending 200`, `GET /certificates/${name}/ 200`],
  );
  assert.equal(calls[0].body.status, "inProgress");
  assert.equal(calls[0].body.id, `${v.url}/certificates/${name}/pending`);
  assert.equal(calls[1].body.status, "completed");
  for (const c of calls) assert.equal(c.url.searchParams.get("api-version"), SDK_API_VERSION);

  assert.equal(cert.policy.issuerName, "Self");
  assert.equal(cert.policy.subject, "cn=MyCert");
  const { x, chain } = await checkCertificate(v, cert, name);
  assert.equal(x.subject, "CN=MyCert");
  assert.equal(x.issuer, x.subject);
  assert.ok(x.verify(x.publicKey), "the self-signature verifies");
  assert.equal(x.publicKey.asymmetricKeyType, "rsa");
  assert.equal(x.publicKey.asymmetricKeyDetails.modulusLength, 2048);
  assertValidity(x, 12);
  assert.equal(chain.length, 1);

  // the RSA key decrypts and unwraps through the keys API
  const cc = hsm.cryptoClient(cert.keyId);
  const plaintext = crypto.randomBytes(32);
  const ciphertext = crypto.publicEncrypt(
    { key: x.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, plaintext);
  assert.ok(Buffer.from((await cc.decrypt({ algorithm: "RSA-OAEP", ciphertext })).result).equals(plaintext));
  const cek = crypto.randomBytes(32);
  const wrapped = crypto.publicEncrypt(
    { key: x.publicKey, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, cek);
  assert.ok(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", wrapped)).result).equals(cek));
});

const CUSTOM = {
  "ec-pem": {
    keyType: "EC", keyCurveName: "P-256", contentType: PEM, validityInMonths: 6,
    keyUsage: ["digitalSignature", "nonRepudiation"],
    enhancedKeyUsage: ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"],
  },
  "rsa-pfx": {
    keyType: "RSA", keySize: 2048, contentType: PFX, validityInMonths: 24,
    keyUsage: ["digitalSignature", "keyEncipherment", "dataEncipherment"],
    enhancedKeyUsage: ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.3", "1.3.6.1.4.1.311.10.3.12"],
  },
};

for (const [label, spec] of Object.entries(CUSTOM)) {
  test(`beginCreateCertificate with a custom policy (${label}): subject, SANs, usages, validity, key`, async () => {
    const v = await vault();
    const name = uniqueName(label);
    const dns = [`${name}.example.com`, "www.localhsm.test"];
    const policy = {
      issuerName: "Self",
      subject: `CN=${name}.example.com, O=Contoso Test`,
      subjectAlternativeNames: { dnsNames: dns, emails: ["ops@localhsm.test"], userPrincipalNames: ["alice@localhsm.test"] },
      exportable: true,
      reuseKey: false,
      ...spec,
    };
    const cert = await create(v.certs, name, policy, { tags: { suite: "js" } });
    assert.deepEqual(cert.properties.tags, { suite: "js" });
    const { x, privateKey } = await checkCertificate(v, cert, name, { contentType: spec.contentType });
    assert.deepEqual(subjectOf(x), { CN: `${name}.example.com`, O: "Contoso Test" });
    assert.equal(x.issuer, x.subject);
    // (checkIssued would also ask for keyCertSign, which a leaf need not have)
    assert.ok(x.verify(x.publicKey), "the self-signature verifies");
    const sans = x.subjectAltName.split(", ").sort();
    assert.deepEqual(sans, [...dns.map((d) => `DNS:${d}`), "email:ops@localhsm.test", "othername:UPN:alice@localhsm.test"].sort());
    assert.deepEqual([...x.keyUsage].sort(), [...spec.enhancedKeyUsage].sort(), "EKUs");
    assert.deepEqual(x509.keyUsages(cert.cer).sort(), [...spec.keyUsage].sort(), "key usages");
    assertValidity(x, spec.validityInMonths);
    assert.equal(x.publicKey.asymmetricKeyType, spec.keyType === "EC" ? "ec" : "rsa");
    if (spec.keyType === "EC") assert.equal(x.publicKey.asymmetricKeyDetails.namedCurve, "prime256v1");
    if (privateKey) assert.equal(privateKey.asymmetricKeyType, x.publicKey.asymmetricKeyType);

    const got = await v.certs.getCertificatePolicy(name);
    assert.equal(got.subject, policy.subject);
    assert.deepEqual([...got.subjectAlternativeNames.dnsNames].sort(), [...dns].sort());
    assert.deepEqual(got.subjectAlternativeNames.userPrincipalNames, ["alice@localhsm.test"]);
    assert.deepEqual([...got.keyUsage].sort(), [...spec.keyUsage].sort());
    assert.deepEqual([...got.enhancedKeyUsage].sort(), [...spec.enhancedKeyUsage].sort());
    assert.equal(got.validityInMonths, spec.validityInMonths);
    assert.equal(got.contentType, spec.contentType);
    assert.equal(got.keyType, spec.keyType);
  });
}

test("a non-exportable certificate's secret is refused (403); its key still signs", async () => {
  const v = await vault();
  const name = uniqueName("noexport");
  const cert = await create(v.certs, name, { issuerName: "Self", subject: "CN=noexport", keyType: "RSA", keySize: 2048, exportable: false });
  assert.equal(cert.policy.exportable, false);
  await expectRestError(v.secrets.getSecret(name), 403, "Forbidden");
  await expectRestError(v.secrets.getSecret(name, { version: cert.properties.version }), 403, "Forbidden");
  await signAndVerify(v, cert.keyId, new X509Certificate(cert.cer));
});

// ---------------------------------------------------------------------------------------
// issuer Unknown: CSR and merge; named issuers
// ---------------------------------------------------------------------------------------
test("issuer Unknown: a CSR waits for a merge with a chain from a CA made here", async () => {
  const v = await vault();
  const name = uniqueName("merge");
  const policy = {
    issuerName: "Unknown", subject: "CN=merge.example.com, O=Merge Test",
    subjectAlternativeNames: { dnsNames: ["merge.example.com"] }, keyType: "EC", keyCurveName: "P-256", exportable: true,
  };
  const created = await v.certs.beginCreateCertificate(name, policy, POLL);
  assert.equal(created.isDone(), false, "issuer Unknown stays in progress");

  // the SDK's own way to the CSR: the operation poller (it also reads the pending certificate)
  const opPoller = await v.certs.getCertificateOperation(name, POLL);
  const op = opPoller.getOperationState().certificateOperation;
  assert.equal(op.status, "inProgress");
  assert.equal(op.issuerName, "Unknown");
  const csr = x509.readCsr(op.csr);
  assert.ok(csr.valid, "the CSR is signed by its key");
  assert.equal(csr.publicKey.asymmetricKeyType, "ec");
  assert.ok(csr.subject.includes(Buffer.from("merge.example.com")));
  assert.ok((await names(v.certs.listPropertiesOfCertificates({ includePending: true }))).has(name));
  assert.ok(!(await names(v.certs.listPropertiesOfCertificates())).has(name));

  const ca = x509.testCa(`merge CA ${name}`);
  const stranger = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  const wrong = x509.certificate({ subject: csr.subject, spki: x509.spkiOf(stranger), issuer: ca.subject, issuerKey: ca.key });
  await expectRestError(v.certs.mergeCertificate(name, [wrong, ca.der]), 400, "BadParameter");

  const leaf = x509.certificate({ subject: csr.subject, spki: csr.spki, issuer: ca.subject, issuerKey: ca.key, dns: ["merge.example.com"] });
  const merged = await v.certs.mergeCertificate(name, [leaf, ca.der]);
  assert.ok(Buffer.from(merged.cer).equals(leaf));
  const done = await v.certs.getCertificateOperation(name, POLL);
  assert.equal(done.getOperationState().certificateOperation.status, "completed");
  const { x, chain } = await checkCertificate(v, await v.certs.getCertificate(name), name);
  assert.ok(x.verify(ca.x509.publicKey) && x.checkIssued(ca.x509), "the leaf is the CA's");
  assert.ok(chain.some((c) => c.raw.equals(ca.der)), "the secret keeps the merged chain");
});

test("a named issuer (provider Test) signs with a CA of its own", async () => {
  const v = await vault();
  const issued = async (issuer, cn) => {
    const name = uniqueName(cn);
    const cert = await create(v.certs, name, ecPolicy(`CN=${cn}.example.com`, { issuerName: issuer, contentType: PEM }));
    const { x, chain } = await checkCertificate(v, cert, name, { contentType: PEM });
    assert.ok(chain.length >= 2, "the secret carries the CA after the leaf");
    return { x, ca: chain[1] };
  };
  const first = uniqueName("issuer");
  const made = await v.certs.createIssuer(first, "Test");
  assert.equal(made.provider, "Test");
  assert.equal(made.id, `${v.url}/certificates/issuers/${first}`);

  const a = await issued(first, "alpha");
  assert.equal(a.x.issuer, a.ca.subject);
  assert.notEqual(a.x.issuer, a.x.subject);
  assert.ok(a.x.verify(a.ca.publicKey) && a.x.checkIssued(a.ca));
  assert.ok(a.ca.ca && a.ca.verify(a.ca.publicKey), "a self-signed CA");
  const b = await issued(first, "beta");
  assert.ok(b.ca.raw.equals(a.ca.raw), "one CA per issuer");

  const second = uniqueName("issuer");
  await v.certs.createIssuer(second, "Test");
  const c = await issued(second, "gamma");
  assert.ok(!sameKey(c.ca.publicKey, a.ca.publicKey), "each issuer has its own CA");
  assert.ok(c.x.verify(c.ca.publicKey) && !c.x.verify(a.ca.publicKey));
});

// ---------------------------------------------------------------------------------------
// import
// ---------------------------------------------------------------------------------------
test("importCertificate: a PFX with a password (PBES2/AES, SHA-256 MAC) and a CA chain", async () => {
  const v = await vault();
  const name = uniqueName("imp-pfx");
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  remember(privateKey);
  const ca = x509.testCa(`import CA ${name}`);
  const leaf = x509.certificate({ subject: x509.name(`${name}.example.com`, "Import"), spki: x509.spkiOf(publicKey), issuer: ca.subject, issuerKey: ca.key });
  const password = `pw-${crypto.randomUUID().slice(0, 8)}`;
  const pfx = x509.pfx(privateKey, [leaf, ca.der], password);

  await expectRestError(v.certs.importCertificate(uniqueName("wrongpw"), pfx, { password: "not-it" }), 400, "BadParameter");
  const cert = await v.certs.importCertificate(name, pfx, { password, tags: { imported: "pfx" } });
  assert.ok(Buffer.from(cert.cer).equals(leaf));
  assert.deepEqual(cert.properties.tags, { imported: "pfx" });
  const { x, chain } = await checkCertificate(v, cert, name);
  assert.ok(x.checkPrivateKey(privateKey), "the imported key is the certificate's");
  assert.ok(chain.some((c) => c.raw.equals(ca.der)), "the imported chain is kept");
});

test("importCertificate: PEM (key then certificate), and a downloaded PFX with no password", async () => {
  const v = await vault();
  const name = uniqueName("imp-pem");
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-384" });
  remember(privateKey);
  const der = x509.certificate({ subject: x509.name(`${name}.example.com`), spki: x509.spkiOf(publicKey), issuerKey: privateKey });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }) + new X509Certificate(der).toString();
  // 4.10.3 sends the PEM text as it is and drops `policy` from the request (its body has
  // no `policy` member), so the service has to know PEM when it sees it, as Azure does.
  const cert = await v.certs.importCertificate(name, new TextEncoder().encode(pem), { policy: { contentType: PEM } });
  assert.ok(Buffer.from(cert.cer).equals(der));
  const { contentType } = (await v.secrets.getSecret(name)).properties;
  assert.ok([PEM, PFX].includes(contentType), contentType);
  const { x, privateKey: got } = await checkCertificate(v, cert, name, { contentType });
  assert.ok(x.checkPrivateKey(privateKey), "the secret holds the imported key");
  if (got) assert.deepEqual(got.export({ format: "jwk" }), privateKey.export({ format: "jwk" }));

  // the SDK's documented copy: read a certificate's secret, import its value elsewhere
  const source = uniqueName("src");
  const original = await create(v.certs, source, ecPolicy(`CN=${source}`));
  const secret = await v.secrets.getSecret(source);
  const copy = uniqueName("copy");
  const copied = await v.certs.importCertificate(copy, Buffer.from(secret.value, "base64"));
  assert.ok(Buffer.from(copied.cer).equals(Buffer.from(original.cer)));
  await checkCertificate(v, copied, copy);

  await expectRestError(v.certs.importCertificate(uniqueName("junk"), new TextEncoder().encode("not a certificate")), 400, "BadParameter");
});

// ---------------------------------------------------------------------------------------
// versions, properties, policy
// ---------------------------------------------------------------------------------------
test("versions, updateCertificateProperties (the key and secret follow enabled), policy update", async () => {
  const v = await vault();
  const name = uniqueName("ver");
  const v1 = await create(v.certs, name, ecPolicy(`CN=${name}`, { validityInMonths: 12 }));
  const v2 = await create(v.certs, name, ecPolicy(`CN=${name}`, { validityInMonths: 12 }));
  assert.notEqual(v1.properties.version, v2.properties.version);
  assert.equal((await v.certs.getCertificate(name)).properties.id, v2.properties.id);
  const old = await v.certs.getCertificateVersion(name, v1.properties.version);
  assert.ok(Buffer.from(old.cer).equals(Buffer.from(v1.cer)));
  const versionPages = await pages(v.certs.listPropertiesOfCertificateVersions(name, { maxresults: 1 }));
  assert.deepEqual(versionPages.map((p) => p.length), [1, 1]);
  assert.deepEqual(new Set(versionPages.flat().map((p) => p.version)), new Set([v1.properties.version, v2.properties.version]));

  const tagged = await v.certs.updateCertificateProperties(name, "", { tags: { a: "1" } });
  assert.equal(tagged.properties.id, v2.properties.id);
  assert.deepEqual(tagged.properties.tags, { a: "1" });
  const off = await v.certs.updateCertificateProperties(name, v1.properties.version, { enabled: false });
  assert.equal(off.properties.enabled, false);
  assert.equal((await v.keys.getKey(name, { version: v1.properties.version })).properties.enabled, false);
  await expectRestError(v.secrets.getSecret(name, { version: v1.properties.version }), 403);
  await v.certs.updateCertificateProperties(name, v1.properties.version, { enabled: true });
  await checkCertificate(v, await v.certs.getCertificateVersion(name, v1.properties.version), name);

  await v.certs.updateCertificatePolicy(name, { subject: `CN=${name}-renewed, O=Updated`, validityInMonths: 3, contentType: PEM });
  const policy = await v.certs.getCertificatePolicy(name);
  assert.equal(policy.subject, `CN=${name}-renewed, O=Updated`);
  assert.equal(policy.validityInMonths, 3);
  assert.equal(policy.issuerName, "Self", "a field not sent keeps its value");
  const v3 = await create(v.certs, name, policy);
  const { x } = await checkCertificate(v, v3, name, { contentType: PEM });
  assert.deepEqual(subjectOf(x), { CN: `${name}-renewed`, O: "Updated" });
  assertValidity(x, 3);
});

test("listPropertiesOfCertificates: pages of 25, maxPageSize, includePending; managed keys and secrets are listed", async () => {
  const v = await vault("jl");
  const made = new Set();
  for (let i = 0; i < 27; i++) {
    const name = `list-${String(i).padStart(2, "0")}`;
    await create(v.certs, name, ecPolicy(`CN=${name}`), { tags: { i: String(i) } });
    made.add(name);
  }
  await v.certs.beginCreateCertificate("list-pending", { issuerName: "Unknown", subject: "CN=pending" }, POLL);
  const all = await pages(v.certs.listPropertiesOfCertificates());
  assert.deepEqual(all.map((p) => p.length), [25, 2]);
  for (const p of all.flat()) {
    assert.equal(p.id, `${v.url}/certificates/${p.name}`);
    assert.equal(p.x509Thumbprint.length, 20);
  }
  assert.deepEqual(new Set(all.flat().map((p) => p.name)), made);
  // 4.10.3 ignores byPage({ maxPageSize }); the page size reaches the service as `maxresults`
  assert.deepEqual((await pages(v.certs.listPropertiesOfCertificates({ maxresults: 10 }))).map((p) => p.length), [10, 10, 7]);
  assert.deepEqual(await names(v.certs.listPropertiesOfCertificates({ includePending: true })), new Set([...made, "list-pending"]));

  const managedKeys = new Set((await collect(v.keys.listPropertiesOfKeys())).filter((p) => p.managed).map((p) => p.name));
  const managedSecrets = new Set((await collect(v.secrets.listPropertiesOfSecrets())).filter((p) => p.managed).map((p) => p.name));
  for (const name of made) assert.ok(managedKeys.has(name) && managedSecrets.has(name), name);
});

// ---------------------------------------------------------------------------------------
// delete / recover / purge / backup
// ---------------------------------------------------------------------------------------
test("delete, recover and purge take the key and the secret along", async () => {
  const v = await vault();
  const name = uniqueName("life");
  const cert = await create(v.certs, name, ecPolicy(`CN=${name}`), { tags: { t: "1" } });
  const deleted = await deleteCertificate(v.certs, name);
  assert.equal(deleted.recoveryId, `${v.url}/deletedcertificates/${name}`);
  assert.equal(deleted.properties.id, cert.properties.id);
  assert.equal(deleted.scheduledPurgeDate - deleted.deletedOn, 90 * DAY_MS);

  await expectRestError(v.certs.getCertificate(name), 404, "CertificateNotFound");
  await expectRestError(v.keys.getKey(name), 404);
  await expectRestError(v.secrets.getSecret(name), 404);
  assert.ok(!(await names(v.keys.listDeletedKeys())).has(name), "the key is not deleted on its own");
  assert.ok(!(await names(v.secrets.listDeletedSecrets())).has(name), "the secret is not deleted on its own");
  assert.equal((await v.certs.getDeletedCertificate(name)).recoveryId, deleted.recoveryId);
  assert.ok((await names(v.certs.listDeletedCertificates())).has(name));

  const err = await expectRestError(v.certs.beginCreateCertificate(name, ecPolicy(`CN=${name}`), POLL), 409, "Conflict");
  assert.equal(innerCode(err), "ObjectIsDeletedButRecoverable");

  const recovered = await (await v.certs.beginRecoverDeletedCertificate(name, POLL)).pollUntilDone();
  assert.equal(recovered.properties.id, cert.properties.id);
  await checkCertificate(v, await v.certs.getCertificate(name), name);

  await deleteCertificate(v.certs, name);
  await v.certs.purgeDeletedCertificate(name);
  await expectRestError(v.certs.getDeletedCertificate(name), 404, "CertificateNotFound");
  const fresh = await create(v.certs, name, ecPolicy(`CN=${name}`));
  const keyVersions = (await collect(v.keys.listPropertiesOfKeyVersions(name))).map((p) => p.version);
  assert.deepEqual(keyVersions, [fresh.properties.version], "the purge took the key's versions too");
});

test("purge protection: purging a certificate is 403", async () => {
  const v = await vault("jpp", { kind: "vault", retentionDays: 7, purgeProtection: true });
  const name = uniqueName("pp");
  const cert = await create(v.certs, name, ecPolicy(`CN=${name}`));
  assert.equal(cert.properties.recoveryLevel, "CustomizedRecoverable");
  await deleteCertificate(v.certs, name);
  await expectRestError(v.certs.purgeDeletedCertificate(name), 403, "Forbidden");
  await (await v.certs.beginRecoverDeletedCertificate(name, POLL)).pollUntilDone();
  await checkCertificate(v, await v.certs.getCertificate(name), name);
});

test("backupCertificate / restoreCertificateBackup: 409 while the name is taken, all back after purge", async () => {
  const v = await vault();
  const name = uniqueName("bak");
  const cert = await create(v.certs, name, ecPolicy(`CN=${name}`, { contentType: PEM }));
  const { privateKey } = await checkCertificate(v, cert, name, { contentType: PEM });
  const backup = await v.certs.backupCertificate(name);
  assert.ok(backup instanceof Uint8Array && backup.length > 0);
  const d = Buffer.from(privateKey.export({ format: "jwk" }).d, "base64url");
  assert.ok(!Buffer.from(backup).includes(d), "a backup is sealed");

  await expectRestError(v.certs.restoreCertificateBackup(backup), 409);
  await deleteCertificate(v.certs, name);
  await expectRestError(v.certs.restoreCertificateBackup(backup), 409);
  await v.certs.purgeDeletedCertificate(name);
  const restored = await v.certs.restoreCertificateBackup(backup);
  assert.equal(restored.properties.id, cert.properties.id);
  const again = await checkCertificate(v, await v.certs.getCertificate(name), name, { contentType: PEM });
  assert.deepEqual(again.privateKey.export({ format: "jwk" }), privateKey.export({ format: "jwk" }));
  await expectRestError(v.certs.restoreCertificateBackup(new TextEncoder().encode("not a backup")), 400, "BadParameter");
});

// ---------------------------------------------------------------------------------------
// contacts, issuers
// ---------------------------------------------------------------------------------------
test("contacts: set, get, delete", async () => {
  const v = await vault("kv");
  const contacts = [
    { email: "admin@localhsm.test", name: "Admin", phone: "+1 555 0100" },
    { email: "ops@localhsm.test", name: "Ops", phone: "0101" },
  ];
  const sorted = (cs) => cs.map((c) => `${c.email}|${c.name}|${c.phone}`).sort();
  assert.deepEqual(sorted(await v.certs.setContacts(contacts)), sorted(contacts));
  assert.deepEqual(sorted(await v.certs.getContacts()), sorted(contacts));
  // deleteContacts' own return value is not checked: 4.10.3 reads the raw body
  // (`contacts`) where it expects its model (`contactList`), so it returns [] even from Azure.
  await v.certs.deleteContacts();
  await expectRestError(v.certs.getContacts(), 404);
});

test("issuers: create, get, update, list, delete; the password never comes back", async () => {
  const v = await vault("kv");
  const name = uniqueName("iss");
  const made = await v.certs.createIssuer(name, "Test", {
    accountId: "acct-1", password: "issuer-password", organizationId: "org-1", enabled: true,
    administratorContacts: [{ firstName: "Ada", lastName: "Lovelace", email: "ada@localhsm.test", phone: "0101" }],
  });
  // (the SDK parses an issuer's name from /certificates/issuers/NAME as "issuers", so the id is checked)
  assert.equal(made.id, `${v.url}/certificates/issuers/${name}`);
  assert.equal(made.provider, "Test");
  assert.equal(made.accountId, "acct-1");
  assert.equal(made.password, undefined, "an issuer's password is never returned");
  assert.equal(made.organizationId, "org-1");
  assert.deepEqual(made.administratorContacts, [{ firstName: "Ada", lastName: "Lovelace", email: "ada@localhsm.test", phone: "0101" }]);
  assert.equal((await v.certs.getIssuer(name)).accountId, "acct-1");

  const updated = await v.certs.updateIssuer(name, { accountId: "acct-2", organizationId: "org-2" });
  assert.equal(updated.accountId, "acct-2");
  assert.equal(updated.organizationId, "org-2");
  assert.equal(updated.provider, "Test", "a field not sent keeps its value");

  const listed = await collect(v.certs.listPropertiesOfIssuers());
  assert.ok(listed.some((i) => i.id === made.id && i.provider === "Test"), JSON.stringify(listed));
  assert.equal((await v.certs.deleteIssuer(name)).provider, "Test");
  await expectRestError(v.certs.getIssuer(name), 404);
});

// ---------------------------------------------------------------------------------------
// Key Vault's rules
// ---------------------------------------------------------------------------------------
test("404 CertificateNotFound, bad names and 16 tags are 400 BadParameter", async () => {
  const v = await vault();
  const missing = uniqueName("missing");
  for (const call of [
    () => v.certs.getCertificate(missing),
    () => v.certs.getCertificateVersion(missing, crypto.randomBytes(16).toString("hex")),
    () => v.certs.getCertificatePolicy(missing),
    () => v.certs.backupCertificate(missing),
    () => v.certs.getDeletedCertificate(missing),
    () => v.certs.purgeDeletedCertificate(missing),
  ]) {
    await expectRestError(call(), 404, "CertificateNotFound");
  }
  for (const bad of ["under_score", "dot.ted", "x".repeat(128)]) {
    await expectRestError(v.certs.beginCreateCertificate(bad, ecPolicy("CN=bad"), POLL), 400, "BadParameter");
  }
  const tags = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, String(i)]));
  await expectRestError(v.certs.beginCreateCertificate(uniqueName("tags"), ecPolicy("CN=tags"), { ...POLL, tags }), 400, "BadParameter");
});

test("vaults: kind `vault` holds certificates; another Managed HSM refuses them with a 400 that says so", async () => {
  const kv = await vault("kv");
  const name = uniqueName("kv");
  const cert = await create(kv.certs, name, ecPolicy(`CN=${name}`));
  assert.equal(cert.properties.id, `https://kv.localhost:${hsm.port}/certificates/${name}/${cert.properties.version}`);
  await checkCertificate(kv, cert, name);

  const mh = await vault("jmhsm", { kind: "managedhsm" });
  for (const call of [() => mh.certs.beginCreateCertificate(name, ecPolicy("CN=x"), POLL), () => mh.certs.getCertificate(name)]) {
    const err = await expectRestError(call(), 400, "BadParameter");
    assert.match(err.details.error.message, /certificate/i);
    assert.match(err.details.error.message, /managed hsm/i);
  }
  // a failed page surfaces as "Pagination failed ..." with the server's code, without its message
  await expectRestError(collect(mh.certs.listPropertiesOfCertificates()), 400, "BadParameter");
});

test("the managed key and secret cannot be deleted or changed through the keys and secrets APIs", async () => {
  const v = await vault();
  const name = uniqueName("owned");
  const cert = await create(v.certs, name, ecPolicy(`CN=${name}`));
  for (const call of [
    () => v.keys.beginDeleteKey(name, POLL),
    () => v.keys.updateKeyProperties(name, cert.properties.version, { enabled: false }),
    () => v.secrets.beginDeleteSecret(name, POLL),
    () => v.secrets.updateSecretProperties(name, cert.properties.version, { contentType: "text/plain" }),
    () => v.secrets.setSecret(name, "overwrite"),
  ]) {
    await expectRestError(call(), 403, "Forbidden");
  }
  await checkCertificate(v, await v.certs.getCertificate(name), name);
});

// ---------------------------------------------------------------------------------------
// lifetime actions on the server's clock (moves this file's server clock: keep late)
// ---------------------------------------------------------------------------------------
async function timeShift(seconds) {
  const { status, body } = await hsm.mgmt("POST", "time-shift", { seconds });
  assert.equal(status, 200, JSON.stringify(body));
  return body.now;
}

test("AutoRenew at a lifetime percentage makes a new version after a time shift", async () => {
  const v = await vault("jlt");
  const name = uniqueName("renew");
  const cert = await create(v.certs, name, ecPolicy(`CN=${name}`, {
    validityInMonths: 12, lifetimeActions: [{ action: "AutoRenew", lifetimePercentage: 50 }],
  }));
  const x = new X509Certificate(cert.cer);
  const due = (Date.parse(x.validFrom) + (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 2) / 1000;
  const now = await timeShift(1);
  await timeShift(Math.floor(due - now) - 3600);
  assert.equal((await collect(v.certs.listPropertiesOfCertificateVersions(name))).length, 1, "an hour early: no renewal");
  await timeShift(3700);
  const versions = await collect(v.certs.listPropertiesOfCertificateVersions(name));
  assert.equal(versions.length, 2, "renewed once");
  const current = await v.certs.getCertificate(name);
  assert.notEqual(current.properties.version, cert.properties.version);
  // (no signature here: CryptographyClient refuses locally to use a key before its nbf by
  // this machine's clock, and the renewed key's nbf is on the server's shifted clock)
  const { x: renewed } = await checkCertificate(v, current, name, { sign: false });
  assert.equal(renewed.subject, x.subject);
  assert.ok(Date.parse(renewed.validFrom) / 1000 >= due - 3600);
  assert.ok(!sameKey(renewed.publicKey, x.publicKey), "a new key unless reuseKey");
});

// Runs last (tests in a file run in order).
test("no private key seen above reached the server's output or its data directory; SIGTERM exits 0", async () => {
  const { code, signal, timedOut } = await hsm.stop({ keepData: true });
  try {
    assert.equal(timedOut, false, "server did not exit within 10 s of SIGTERM");
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
    assert.ok(PRIVATE.length > 6, `only ${PRIVATE.length} private keys were seen`);
    const encodings = (raw) => [raw.toString("hex"), raw.toString("base64").replace(/=+$/, ""), raw.toString("base64url")];

    const log = hsm.log.join("\n");
    assert.match(log, /\/certificates\//, "the trace log names the certificate routes it served");
    const leaked = PRIVATE.filter((raw) => encodings(raw).some((e) => log.includes(e)));
    assert.equal(leaked.length, 0, "private keys in the server's output");

    const files = readdirSync(hsm.dataDir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => ({ name: entry.name, bytes: readFileSync(path.join(entry.parentPath ?? entry.path, entry.name)) }));
    assert.ok(files.some((f) => f.bytes.includes("list-00")), `files: ${files.map((f) => f.name)}`);
    const onDisk = files.flatMap((f) =>
      PRIVATE.filter((raw) => [raw, ...encodings(raw)].some((e) => f.bytes.includes(e))).map(() => f.name));
    assert.deepEqual(onDisk, [], "private keys stored unsealed");
  } finally {
    rmSync(hsm.dataDir, { recursive: true, force: true });
  }
});
