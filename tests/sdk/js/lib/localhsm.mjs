// Test harness for the localhsm JavaScript SDK suite: starts a real
// `localhsm serve` process on a free port with a fresh data directory and
// builds @azure/keyvault-keys, -secrets and -certificates clients that trust its
// self-signed certificate.
//
// Not a test file itself (run.sh only hands `*.test.mjs` to `node --test`).

import { spawn, spawnSync } from "node:child_process";
import dns from "node:dns";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

import { CertificateClient } from "@azure/keyvault-certificates";
import { KeyClient, CryptographyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, "..", "..", "..", "..");

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/** Path of the server binary: $LOCALHSM_BIN, else <repo>/target/release/localhsm (built if missing). */
export function localhsmBinary() {
  if (process.env.LOCALHSM_BIN) {
    const bin = path.resolve(process.env.LOCALHSM_BIN);
    if (!existsSync(bin)) {
      throw new Error(`LOCALHSM_BIN=${bin} does not exist`);
    }
    return bin;
  }
  const bin = path.join(REPO_ROOT, "target", "release", "localhsm");
  if (!existsSync(bin)) {
    // run.sh normally builds first; this covers `node --test` run by hand.
    const r = spawnSync("cargo", ["build", "--release"], { cwd: REPO_ROOT, stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0 || !existsSync(bin)) {
      throw new Error(`cargo build --release failed (status ${r.status}); set LOCALHSM_BIN to a built binary`);
    }
  }
  return bin;
}

/** Ask the kernel for a free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start `localhsm serve --data DIR --addr 127.0.0.1:PORT [...args]` and wait for the ready line.
 * Retries with a new port if the process exits before becoming ready
 * (the free port may have been taken in between).
 */
export async function startServer({ attempts = 3, env = {}, args = [] } = {}) {
  const bin = localhsmBinary();
  let lastError;
  for (let i = 0; i < attempts; i++) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "localhsm-js-"));
    const port = await freePort();
    try {
      return await launch(bin, dataDir, port, env, args);
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      lastError = err;
      if (!err.exitedEarly) break;
    }
  }
  throw lastError;
}

function launch(bin, dataDir, port, env, args = []) {
  const addr = `127.0.0.1:${port}`;
  const readyLine = `localhsm listening on https://${addr}`;
  const child = spawn(bin, ["serve", "--data", dataDir, "--addr", addr, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  // Never leave a server behind if this test process goes away abruptly.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const output = [];
  // Everything the server printed, for tests that check what it never prints.
  const log = [];
  const remember = (stream, line) => {
    log.push(line);
    output.push(`[${stream}] ${line}`);
    if (output.length > 200) output.shift();
  };
  readline.createInterface({ input: child.stderr }).on("line", (l) => remember("stderr", l));
  const stdout = readline.createInterface({ input: child.stdout });

  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));

  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      process.removeListener("exit", killOnExit);
      child.kill("SIGKILL");
      err.message += `\n--- localhsm output ---\n${output.join("\n")}`;
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new Error(`localhsm did not print "${readyLine}" within ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    child.once("error", (e) => fail(new Error(`failed to spawn ${bin}: ${e.message}`)));
    exited.then(({ code, signal }) => {
      const err = new Error(`localhsm exited before ready (code ${code}, signal ${signal})`);
      err.exitedEarly = true;
      fail(err);
    });
    stdout.on("line", (line) => {
      remember("stdout", line);
      if (settled || line.trim() !== readyLine) return;
      settled = true;
      clearTimeout(timer);
      const certPath = path.join(dataDir, "tls", "cert.pem");
      let ca;
      try {
        ca = readFileSync(certPath, "utf8");
      } catch (e) {
        child.kill("SIGKILL");
        reject(new Error(`server ready but ${certPath} is unreadable: ${e.message}`));
        return;
      }
      resolve(new LocalHsm({ child, exited, dataDir, port, ca, output, log, killOnExit }));
    });
  });
}

/** A running server plus helpers to build SDK clients against it. */
export class LocalHsm {
  constructor({ child, exited, dataDir, port, ca, output, log, killOnExit }) {
    this.child = child;
    this.exited = exited;
    this.dataDir = dataDir;
    this.port = port;
    /** PEM text of DIR/tls/cert.pem — the only CA the SDK clients trust. */
    this.ca = ca;
    this.output = output;
    /** Every line of stdout and stderr, in order. */
    this.log = log;
    this.killOnExit = killOnExit;
    /** `localhost` selects the `default` vault (kind managedhsm). */
    this.vaultUrl = `https://localhost:${port}`;
    /** Every scope the SDK asked the credential for (from the 401 challenge). */
    this.requestedScopes = [];
    /** One tlsOptions object shared by every client, so they share one cached https.Agent. */
    this.tlsOptions = { ca: this.ca };
  }

  /** Minimal TokenCredential: the server accepts any bearer token. */
  credential() {
    const scopes = this.requestedScopes;
    return {
      async getToken(requested) {
        scopes.push(...[requested].flat());
        return { token: "localhsm-js-sdk-test-token", expiresOnTimestamp: Date.now() + 60 * 60 * 1000 };
      },
    };
  }

  /** Client options shared by KeyClient and CryptographyClient. */
  clientOptions() {
    return {
      // Trust the server's self-signed cert through the pipeline's TLS policy
      // (becomes the `ca` of the https.Agent; the default CA list is replaced, verification stays on).
      tlsOptions: this.tlsOptions,
      // The challenge says resource="https://managedhsm.azure.net", which is not a suffix of "localhost".
      disableChallengeResourceVerification: true,
      // A compatible server never needs retries; fail fast instead of masking errors.
      retryOptions: { maxRetries: 0 },
    };
  }

  /** KeyClient on the default vault, or on vault `vault` (see secretClient). */
  keyClient(vault, credential = this.credential(), extraOptions = {}) {
    return new KeyClient(this.vaultUrlOf(vault), credential, { ...this.optionsFor(vault), ...extraOptions });
  }

  /** CertificateClient on the default vault, or on vault `vault` (see secretClient). */
  certificateClient(vault, credential = this.credential(), extraOptions = {}) {
    return new CertificateClient(this.vaultUrlOf(vault), credential, { ...this.optionsFor(vault), ...extraOptions });
  }

  /**
   * Client options for vault `vault`: clientOptions() for the default vault; for a named one,
   * an https.Agent that dials 127.0.0.1 for loopback names (see secretClient).
   */
  optionsFor(vault) {
    if (vault === undefined || vault === "default") return this.clientOptions();
    this.loopbackAgent ??= new https.Agent({ keepAlive: true, ca: this.ca, lookup: loopbackLookup });
    const { tlsOptions: _, ...options } = this.clientOptions(); // the agent carries the CA
    return { ...options, agent: this.loopbackAgent };
  }

  /** `https://NAME.localhost:PORT` for vault NAME; the server's own URL for `default`. */
  vaultUrlOf(vault) {
    return vault === undefined || vault === "default" ? this.vaultUrl : `https://${vault}.localhost:${this.port}`;
  }

  /**
   * SecretClient on the default vault (as keyClient), or on vault `vault` at
   * https://NAME.localhost:PORT. glibc does not resolve `*.localhost`, so for a named vault
   * the client gets an https.Agent that dials 127.0.0.1 for loopback names (RFC 6761) and
   * trusts the same CA; the URL, Host header, SNI and certificate check keep the vault's name.
   */
  secretClient(vault, credential = this.credential(), extraOptions = {}) {
    if (vault === undefined || vault === "default") {
      return new SecretClient(this.vaultUrl, credential, { ...this.clientOptions(), ...extraOptions });
    }
    this.loopbackAgent ??= new https.Agent({ keepAlive: true, ca: this.ca, lookup: loopbackLookup });
    const { tlsOptions: _, ...options } = this.clientOptions(); // the agent carries the CA
    return new SecretClient(this.vaultUrlOf(vault), credential, {
      ...options,
      agent: this.loopbackAgent,
      ...extraOptions,
    });
  }

  /** A request to the management API (`/management/...`) with node:https; resolves to { status, body }. */
  mgmt(method, path, body) {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: "localhost",
          port: this.port,
          method,
          path: `/management/${path}`,
          ca: this.ca,
          agent: false,
          headers: {
            Authorization: "Bearer localhsm-js-sdk-test-token",
            ...(payload === undefined ? {} : { "Content-Type": "application/json" }),
          },
        },
        (res) => {
          const chunks = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            resolve({ status: res.statusCode, body: text ? JSON.parse(text) : undefined });
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** Creates vault `name` with `settings` (the management API's JSON spelling) unless it exists. */
  async ensureVault(name, settings = {}) {
    const got = await this.mgmt("GET", `vaults/${name}`);
    if (got.status === 200) return got.body;
    if (got.status !== 404) throw new Error(`GET /management/vaults/${name}: ${got.status} ${JSON.stringify(got.body)}`);
    const made = await this.mgmt("POST", "vaults", { name, ...settings });
    if (made.status !== 201) throw new Error(`POST /management/vaults: ${made.status} ${JSON.stringify(made.body)}`);
    return made.body;
  }

  /** CryptographyClient over a key id or KeyVaultKey, with its own pipeline (same TLS trust). */
  cryptoClient(key, vault) {
    return new CryptographyClient(key, this.credential(), this.optionsFor(vault));
  }

  /**
   * SIGTERM, wait for the exit (SIGKILL after a timeout), remove the data dir unless
   * `keepData` (the caller then removes it). Idempotent: the first call decides.
   * Resolves to { code, signal, timedOut } of the process exit.
   */
  stop({ keepData = false } = {}) {
    this.stopping ??= (async () => {
      process.removeListener("exit", this.killOnExit);
      this.loopbackAgent?.destroy();
      let timedOut = false;
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill("SIGTERM");
        let timer;
        const timeout = new Promise((resolve) => {
          timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS);
        });
        timedOut = (await Promise.race([this.exited, timeout])) === "timeout";
        clearTimeout(timer);
        if (timedOut) this.child.kill("SIGKILL");
      }
      const { code, signal } = await this.exited;
      if (!keepData) rmSync(this.dataDir, { recursive: true, force: true });
      return { code, signal, timedOut };
    })();
    return this.stopping;
  }
}

/** dns.lookup, except that `localhost` and `*.localhost` are 127.0.0.1. */
function loopbackLookup(hostname, options, callback) {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  if (name !== "localhost" && !name.endsWith(".localhost")) return dns.lookup(hostname, options, callback);
  if (options?.all) return process.nextTick(callback, null, [{ address: "127.0.0.1", family: 4 }]);
  return process.nextTick(callback, null, "127.0.0.1", 4);
}

/** A key name that is unique per run, so tests never collide. */
export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
