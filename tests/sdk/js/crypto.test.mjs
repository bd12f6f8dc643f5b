// CryptographyClient against a real localhsm: sign/verify (ES256, RS256, PS256),
// encrypt/decrypt (RSA-OAEP-256), wrap/unwrap (RSA-OAEP, A256KW on oct-HSM),
// cross-checked with node:crypto using the exported public JWKs.
//
// Note on the SDK: a CryptographyClient that holds public key material does
// RSA1_5/RSA-OAEP encrypt + wrapKey and RS*/PS* verifyData LOCALLY (node:crypto);
// everything else (sign, verify, decrypt, unwrapKey, RSA-OAEP-256, A*KW) goes to
// the server. A client built from a KeyVaultKey without `key` is remote-only.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, test } from "node:test";

import { isRestError } from "@azure/core-rest-pipeline";

import { startServer, uniqueName } from "./lib/localhsm.mjs";

/** @type {import("./lib/localhsm.mjs").LocalHsm} */
let hsm;
let client;
let ecKey;
let rsaKey;
let octKey;

before(async () => {
  hsm = await startServer();
  client = hsm.keyClient();
  ecKey = await client.createEcKey(uniqueName("c-ec"), { curve: "P-256", hsm: true });
  rsaKey = await client.createRsaKey(uniqueName("c-rsa"), { keySize: 2048, hsm: true });
  octKey = await client.createOctKey(uniqueName("c-oct"), { keySize: 256, hsm: true });
});

after(async () => {
  await hsm?.stop();
});

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");

/** node:crypto KeyObject from the public JWK the server exported (kty "EC-HSM"/"RSA-HSM" -> "EC"/"RSA"). */
function publicKeyFromJwk(jwk) {
  if (jwk.kty === "EC" || jwk.kty === "EC-HSM") {
    return crypto.createPublicKey({ format: "jwk", key: { kty: "EC", crv: jwk.crv, x: b64url(jwk.x), y: b64url(jwk.y) } });
  }
  if (jwk.kty === "RSA" || jwk.kty === "RSA-HSM") {
    return crypto.createPublicKey({ format: "jwk", key: { kty: "RSA", n: b64url(jwk.n), e: b64url(jwk.e) } });
  }
  throw new Error(`no public key for kty ${jwk.kty}`);
}

const sha256 = (data) => crypto.createHash("sha256").update(data).digest();

function flipLastByte(bytes) {
  const copy = Buffer.from(bytes);
  copy[copy.length - 1] ^= 0x01;
  return copy;
}

async function expectRestError(promise, statusCode) {
  const err = await promise.then(
    (v) => assert.fail(`expected RestError ${statusCode}, got success: ${JSON.stringify(v)}`),
    (e) => e,
  );
  assert.ok(isRestError(err), `expected a RestError, got ${err?.stack ?? err}`);
  assert.equal(err.statusCode, statusCode, `statusCode (message: ${err.message})`);
  return err;
}

test("ES256 sign + verify on the server, and the signature verifies locally with node:crypto", async () => {
  // Built from the key id: the client first GETs /keys/{name}/{version}, then signs remotely.
  const cc = hsm.cryptoClient(ecKey.id);
  const data = Buffer.from("localhsm js sdk ES256");
  const digest = sha256(data);

  const signed = await cc.sign("ES256", digest);
  assert.equal(signed.algorithm, "ES256");
  assert.equal(signed.keyID, ecKey.id);
  assert.equal(signed.result.length, 64, "JWS ECDSA signature is raw r||s (64 bytes for P-256), not DER");

  assert.equal((await cc.verify("ES256", digest, signed.result)).result, true);
  assert.equal((await cc.verify("ES256", digest, flipLastByte(signed.result))).result, false);
  assert.equal((await cc.verify("ES256", flipLastByte(digest), signed.result)).result, false);

  const pub = publicKeyFromJwk(ecKey.key);
  assert.equal(crypto.verify("sha256", data, { key: pub, dsaEncoding: "ieee-p1363" }, signed.result), true);
  assert.equal(crypto.verify("sha256", Buffer.from("other"), { key: pub, dsaEncoding: "ieee-p1363" }, signed.result), false);
});

test("RS256 sign + verify on the server; local node:crypto and SDK-local verifyData agree", async () => {
  const cc = hsm.cryptoClient(rsaKey);
  const data = Buffer.from("localhsm js sdk RS256");
  const digest = sha256(data);

  const signed = await cc.sign("RS256", digest);
  assert.equal(signed.result.length, 256);
  assert.equal((await cc.verify("RS256", digest, signed.result)).result, true);
  assert.equal((await cc.verify("RS256", digest, flipLastByte(signed.result))).result, false);

  // PKCS#1 v1.5 is deterministic: signData (SDK hashes, server signs) gives the same bytes.
  const signedData = await cc.signData("RS256", data);
  assert.deepEqual(Buffer.from(signedData.result), Buffer.from(signed.result));

  const pub = publicKeyFromJwk(rsaKey.key);
  assert.equal(crypto.verify("sha256", data, { key: pub, padding: crypto.constants.RSA_PKCS1_PADDING }, signed.result), true);
  // verifyData for RS256 runs inside the SDK with the exported JWK.
  assert.equal((await cc.verifyData("RS256", data, signed.result)).result, true);
});

test("PS256 sign + verify on the server; verifies locally with salt length 32", async () => {
  const cc = hsm.cryptoClient(rsaKey);
  const data = Buffer.from("localhsm js sdk PS256");
  const digest = sha256(data);

  const s1 = await cc.sign("PS256", digest);
  const s2 = await cc.sign("PS256", digest);
  assert.equal(s1.result.length, 256);
  assert.notDeepEqual(Buffer.from(s1.result), Buffer.from(s2.result), "PSS uses a random salt");
  assert.equal((await cc.verify("PS256", digest, s1.result)).result, true);
  assert.equal((await cc.verify("PS256", digest, s2.result)).result, true);
  assert.equal((await cc.verify("PS256", digest, flipLastByte(s1.result))).result, false);
  // The same key, wrong padding scheme: an RS256 check of a PSS signature is false, not an error.
  assert.equal((await cc.verify("RS256", digest, s1.result)).result, false);

  const pub = publicKeyFromJwk(rsaKey.key);
  const pss = { key: pub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
  assert.equal(crypto.verify("sha256", data, pss, s1.result), true, "RFC 7518 PS256: MGF1-SHA256, salt = 32 bytes");
});

test("RSA-OAEP-256 encrypt/decrypt round trip; locally encrypted ciphertext decrypts on the server", async () => {
  const cc = hsm.cryptoClient(rsaKey);
  const plaintext = crypto.randomBytes(48);

  const enc = await cc.encrypt({ algorithm: "RSA-OAEP-256", plaintext }); // remote: not done locally by the SDK
  assert.equal(enc.algorithm, "RSA-OAEP-256");
  assert.equal(enc.result.length, 256);
  const dec = await cc.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: enc.result });
  assert.deepEqual(Buffer.from(dec.result), plaintext);

  const pub = publicKeyFromJwk(rsaKey.key);
  const local = crypto.publicEncrypt(
    { key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    plaintext,
  );
  assert.deepEqual(Buffer.from((await cc.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: local })).result), plaintext);

  // Wrong OAEP hash: RSA-OAEP (SHA-1) cannot decrypt an OAEP-256 ciphertext.
  await expectRestError(cc.decrypt({ algorithm: "RSA-OAEP", ciphertext: enc.result }), 400);
});

test("wrap/unwrap RSA-OAEP: SDK-local wrap and server wrap both unwrap on the server", async () => {
  const cek = crypto.randomBytes(32);

  // With public material present, the SDK wraps RSA-OAEP locally (OAEP, SHA-1); the server unwraps.
  const hybrid = hsm.cryptoClient(rsaKey);
  const wrappedLocally = await hybrid.wrapKey("RSA-OAEP", cek);
  assert.equal(wrappedLocally.result.length, 256);
  assert.deepEqual(Buffer.from((await hybrid.unwrapKey("RSA-OAEP", wrappedLocally.result)).result), cek);

  // A KeyVaultKey without key material makes the client remote-only: POST .../wrapkey on the server.
  const remoteOnly = hsm.cryptoClient({ ...rsaKey, key: undefined });
  const wrappedRemotely = await remoteOnly.wrapKey("RSA-OAEP", cek);
  assert.equal(wrappedRemotely.algorithm, "RSA-OAEP");
  assert.equal(wrappedRemotely.keyID, rsaKey.id);
  assert.equal(wrappedRemotely.result.length, 256);
  assert.notDeepEqual(Buffer.from(wrappedRemotely.result), Buffer.from(wrappedLocally.result), "OAEP is randomized");
  assert.deepEqual(Buffer.from((await remoteOnly.unwrapKey("RSA-OAEP", wrappedRemotely.result)).result), cek);
});

test("oct-HSM key on the default managedhsm vault: A256KW wrap/unwrap", async () => {
  assert.equal(octKey.keyType, "oct-HSM");
  assert.equal(octKey.key.k, undefined, "symmetric key material must never be returned");
  assert.ok(octKey.keyOperations?.includes("wrapKey"), `key_ops: ${octKey.keyOperations}`);
  assert.ok(octKey.keyOperations?.includes("unwrapKey"), `key_ops: ${octKey.keyOperations}`);

  const cc = hsm.cryptoClient(octKey.id);
  for (const size of [16, 32, 64]) {
    const cek = crypto.randomBytes(size);
    const wrapped = await cc.wrapKey("A256KW", cek);
    assert.equal(wrapped.algorithm, "A256KW");
    assert.equal(wrapped.result.length, size + 8, "RFC 3394 adds one 64-bit block");
    // RFC 3394 key wrap is deterministic.
    assert.deepEqual(Buffer.from((await cc.wrapKey("A256KW", cek)).result), Buffer.from(wrapped.result));
    assert.deepEqual(Buffer.from((await cc.unwrapKey("A256KW", wrapped.result)).result), cek);
  }

  // A corrupted wrapped key fails the RFC 3394 integrity check: bad input, not a server error.
  const wrapped = await cc.wrapKey("A256KW", crypto.randomBytes(32));
  await expectRestError(cc.unwrapKey("A256KW", flipLastByte(wrapped.result)), 400);
});
