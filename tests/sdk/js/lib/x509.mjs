// X.509 and PKCS#12 for the certificates suite, with nothing but node:crypto: node can parse
// certificates (X509Certificate) and keys, but it cannot make a certificate, read a CSR or
// write a PFX. The suite needs all three to act as a CA (the merge flow) and to import, so
// this file has a small DER encoder and reader, a certificate builder, a CSR reader and a
// PKCS#12 writer (PBES2 key bag, SHA-256 MAC), and reads PFX files through node's own TLS
// stack (OpenSSL), which proves along the way that the PFX's key belongs to its certificate.
//
// Not a test file itself (run.sh only hands `*.test.mjs` to `node --test`).

import crypto, { X509Certificate } from "node:crypto";
import tls from "node:tls";

// ---------------------------------------------------------------------------------------
// DER
// ---------------------------------------------------------------------------------------
function length(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const tlv = (tag, content) => Buffer.concat([Buffer.from([tag]), length(content.length), content]);
export const seq = (...items) => tlv(0x30, Buffer.concat(items));
export const set = (...items) => tlv(0x31, Buffer.concat(items));
export const octet = (bytes) => tlv(0x04, Buffer.from(bytes));
export const utf8 = (text) => tlv(0x0c, Buffer.from(text, "utf8"));
export const bool = (v) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
export const nul = () => Buffer.from([0x05, 0x00]);
export const explicit = (n, content) => tlv(0xa0 + n, content);
export const bitString = (bytes, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), bytes]));

export function int(value) {
  let hex = BigInt(value).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, "hex");
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

export function oid(dotted) {
  const parts = dotted.split(".").map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const chunk = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(date) {
  const iso = date.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${iso}Z`));
}

/** One DER element at `offset`: tag, content bounds, its raw bytes and its children. */
export function parse(buf, offset = 0) {
  const tag = buf[offset];
  let len = buf[offset + 1];
  let start = offset + 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + buf[offset + 2 + i];
    start += count;
  }
  const end = start + len;
  const node = { tag, start, end, raw: buf.subarray(offset, end), content: buf.subarray(start, end) };
  node.children = () => {
    const out = [];
    for (let at = start; at < end; ) {
      const child = parse(buf, at);
      out.push(child);
      at = child.end;
    }
    return out;
  };
  return node;
}

export function oidText(node) {
  const b = node.content;
  const parts = [Math.floor(b[0] / 40), b[0] % 40];
  let v = 0;
  for (const byte of b.subarray(1)) {
    v = v * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

// ---------------------------------------------------------------------------------------
// names, certificates, CSRs
// ---------------------------------------------------------------------------------------
const CN = "2.5.4.3";
const O = "2.5.4.10";

/** A Name: CN (and O). */
export function name(cn, org) {
  const rdns = [set(seq(oid(CN), utf8(cn)))];
  if (org) rdns.push(set(seq(oid(O), utf8(org))));
  return seq(...rdns);
}

const extension = (id, critical, value) => seq(oid(id), ...(critical ? [bool(true)] : []), octet(value));
const dnsNames = (names) => seq(...names.map((n) => tlv(0x82, Buffer.from(n, "ascii"))));

function signatureAlgorithm(key) {
  return key.asymmetricKeyType === "ec"
    ? seq(oid("1.2.840.10045.4.3.2")) // ecdsa-with-SHA256
    : seq(oid("1.2.840.113549.1.1.11"), nul()); // sha256WithRSAEncryption
}

/**
 * A certificate (DER) for `subject` (a Name's DER) and `spki` (SubjectPublicKeyInfo DER),
 * signed by `issuerKey` (a private KeyObject) in the name of `issuer`.
 */
export function certificate({ subject, spki, issuer = subject, issuerKey, ca = false, dns = [], days = 90 }) {
  const now = Date.now();
  const extensions = [extension("2.5.29.19", true, ca ? seq(bool(true)) : seq())];
  if (ca) extensions.push(extension("2.5.29.15", true, bitString(Buffer.from([0x06]), 1))); // keyCertSign, cRLSign
  if (dns.length) extensions.push(extension("2.5.29.17", false, dnsNames(dns)));
  const alg = signatureAlgorithm(issuerKey);
  const tbs = seq(
    explicit(0, int(2)),
    int(BigInt(`0x${crypto.randomBytes(12).toString("hex")}`)),
    alg,
    issuer,
    seq(time(new Date(now - 5 * 60_000)), time(new Date(now + days * 86_400_000))),
    subject,
    spki,
    explicit(3, seq(...extensions)),
  );
  const signature = crypto.sign("sha256", tbs, issuerKey);
  return seq(tbs, alg, bitString(signature));
}

export const spkiOf = (publicKey) => publicKey.export({ type: "spki", format: "der" });

/** A CA of the test's own: an EC P-256 key and a self-signed CA certificate. */
export function testCa(cn) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  const subject = name(cn, "localhsm tests");
  const der = certificate({ subject, spki: spkiOf(publicKey), issuerKey: privateKey, ca: true, days: 3650 });
  return { key: privateKey, der, x509: new X509Certificate(der), subject };
}

/** A PKCS#10 CSR's subject (Name DER) and key (SPKI DER), after checking its signature. */
export function readCsr(der) {
  const [info, , signature] = parse(Buffer.from(der)).children();
  const [, subject, spki] = info.children();
  const publicKey = crypto.createPublicKey({ key: spki.raw, format: "der", type: "spki" });
  const sig = signature.content.subarray(1); // BIT STRING: skip the unused-bits byte
  const valid = crypto.verify("sha256", info.raw, publicKey, sig);
  return { subject: Buffer.from(subject.raw), spki: Buffer.from(spki.raw), publicKey, valid };
}

const KEY_USAGE_BITS = [
  "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
  "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly",
];

/** The names of the key usages a certificate (DER) asserts. */
export function keyUsages(der) {
  const tbs = parse(Buffer.from(der)).children()[0];
  const exts = tbs.children().find((c) => c.tag === 0xa3);
  for (const ext of exts.children()[0].children()) {
    const [id, ...rest] = ext.children();
    if (oidText(id) !== "2.5.29.15") continue;
    const bits = parse(rest.at(-1).content).content.subarray(1);
    return KEY_USAGE_BITS.filter((_, i) => bits[i >> 3] & (0x80 >> (i & 7)));
  }
  return [];
}

// ---------------------------------------------------------------------------------------
// PKCS#12
// ---------------------------------------------------------------------------------------
/** RFC 7292 appendix B key derivation, SHA-256. */
function pkcs12Kdf(password, salt, id, iterations, size) {
  const u = 32;
  const v = 64;
  const bmp = Buffer.alloc((password.length + 1) * 2);
  for (let i = 0; i < password.length; i++) bmp.writeUInt16BE(password.charCodeAt(i), i * 2);
  const fill = (src) => {
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  const I = Buffer.concat([fill(salt), fill(bmp)]);
  const D = Buffer.alloc(v, id);
  const out = [];
  for (let done = 0; done < size; done += u) {
    let A = crypto.createHash("sha256").update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = crypto.createHash("sha256").update(A).digest();
    out.push(A);
    const B = fill(A);
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, size);
}

const dataContent = (content) => seq(oid("1.2.840.113549.1.7.1"), explicit(0, octet(content)));
const localKeyId = (id) => set(seq(oid("1.2.840.113549.1.9.21"), set(octet(id))));

/**
 * A password-protected PFX: the key in a PBES2 (PBKDF2-SHA256, AES-256-CBC) shrouded key bag,
 * the certificates (leaf first) in certificate bags, and an HMAC-SHA256 MAC.
 */
export function pfx(privateKey, chainDer, password) {
  const keyId = crypto.createHash("sha1").update(chainDer[0]).digest();
  const encryptedKey = privateKey.export({ type: "pkcs8", format: "der", cipher: "aes-256-cbc", passphrase: password });
  const certBags = chainDer.map((der, i) =>
    seq(
      oid("1.2.840.113549.1.12.10.1.3"),
      explicit(0, seq(oid("1.2.840.113549.1.9.22.1"), explicit(0, octet(der)))),
      ...(i === 0 ? [localKeyId(keyId)] : []),
    ),
  );
  const keyBag = seq(oid("1.2.840.113549.1.12.10.1.2"), explicit(0, encryptedKey), localKeyId(keyId));
  const authSafe = seq(dataContent(seq(...certBags)), dataContent(seq(keyBag)));
  const salt = crypto.randomBytes(16);
  const iterations = 2048;
  const macKey = pkcs12Kdf(password, salt, 3, iterations, 32);
  const mac = crypto.createHmac("sha256", macKey).update(authSafe).digest();
  const macData = seq(seq(seq(oid("2.16.840.1.101.3.4.2.1"), nul()), octet(mac)), octet(salt), int(iterations));
  return seq(int(3), dataContent(authSafe), macData);
}

/**
 * The certificates of a PFX, leaf first, as X509Certificates, read by node's TLS stack: a
 * server on 127.0.0.1 presents the PFX and a client completes a TLS 1.3 handshake with it,
 * which needs the PFX's private key to sign for its leaf certificate.
 */
export async function pfxChain(pfxBytes, passphrase) {
  const server = tls.createServer({ pfx: pfxBytes, passphrase, minVersion: "TLSv1.3" }, (s) => s.end());
  await new Promise((resolve, reject) => server.listen(0, "127.0.0.1", resolve).once("error", reject));
  try {
    const { port } = server.address();
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, minVersion: "TLSv1.3" });
    await new Promise((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
    const chain = [];
    const seen = new Set();
    for (let cert = socket.getPeerCertificate(true); cert?.raw && !seen.has(cert.fingerprint256); ) {
      seen.add(cert.fingerprint256);
      chain.push(new X509Certificate(cert.raw));
      cert = cert.issuerCertificate;
    }
    socket.destroy();
    return chain;
  } finally {
    server.close();
  }
}

/** The private key and certificates (leaf first) of a PEM secret: the key, then the chain. */
export function pemContents(text) {
  const blocks = [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?-----END \1-----/g)];
  const kinds = blocks.map((m) => m[1]);
  if (kinds.length < 2 || !kinds[0].endsWith("PRIVATE KEY") || kinds.slice(1).some((k) => k !== "CERTIFICATE")) {
    throw new Error(`a PEM secret is the key, then the chain: ${kinds}`);
  }
  return {
    privateKey: crypto.createPrivateKey(blocks[0][0]),
    chain: blocks.slice(1).map((m) => new X509Certificate(m[0])),
  };
}
