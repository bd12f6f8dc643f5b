// Test harness for the localhsm JavaScript SDK suite: starts a real
// `localhsm serve` process on a free port with a fresh data directory and
// builds @azure/keyvault-keys clients that trust its self-signed certificate.
//
// Not a test file itself (run.sh only hands `*.test.mjs` to `node --test`).

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

import { KeyClient, CryptographyClient } from "@azure/keyvault-keys";

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
 * Start `localhsm serve --data DIR --addr 127.0.0.1:PORT` and wait for the ready line.
 * Retries with a new port if the process exits before becoming ready
 * (the free port may have been taken in between).
 */
export async function startServer({ attempts = 3 } = {}) {
  const bin = localhsmBinary();
  let lastError;
  for (let i = 0; i < attempts; i++) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), "localhsm-js-"));
    const port = await freePort();
    try {
      return await launch(bin, dataDir, port);
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      lastError = err;
      if (!err.exitedEarly) break;
    }
  }
  throw lastError;
}

function launch(bin, dataDir, port) {
  const addr = `127.0.0.1:${port}`;
  const readyLine = `localhsm listening on https://${addr}`;
  const child = spawn(bin, ["serve", "--data", dataDir, "--addr", addr], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  // Never leave a server behind if this test process goes away abruptly.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const output = [];
  const remember = (stream, line) => {
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
      resolve(new LocalHsm({ child, exited, dataDir, port, ca, output, killOnExit }));
    });
  });
}

/** A running server plus helpers to build SDK clients against it. */
export class LocalHsm {
  constructor({ child, exited, dataDir, port, ca, output, killOnExit }) {
    this.child = child;
    this.exited = exited;
    this.dataDir = dataDir;
    this.port = port;
    /** PEM text of DIR/tls/cert.pem — the only CA the SDK clients trust. */
    this.ca = ca;
    this.output = output;
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

  keyClient() {
    return new KeyClient(this.vaultUrl, this.credential(), this.clientOptions());
  }

  /** CryptographyClient over a key id or KeyVaultKey, with its own pipeline (same TLS trust). */
  cryptoClient(key) {
    return new CryptographyClient(key, this.credential(), this.clientOptions());
  }

  /**
   * SIGTERM, wait for the exit (SIGKILL after a timeout), remove the data dir.
   * Idempotent. Resolves to { code, signal, timedOut } of the process exit.
   */
  stop() {
    this.stopping ??= (async () => {
      process.removeListener("exit", this.killOnExit);
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
      rmSync(this.dataDir, { recursive: true, force: true });
      return { code, signal, timedOut };
    })();
    return this.stopping;
  }
}

/** A key name that is unique per run, so tests never collide. */
export function uniqueName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
