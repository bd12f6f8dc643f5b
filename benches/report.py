#!/usr/bin/env python3
"""Prints the benchmark results in target/criterion as ops/s, with the ratios that matter.

    python3 benches/report.py [--criterion DIR] [--openssl-speed FILE]
                              [--stat median|mean|min]

- hot paths: handle and raw ops/s, handle/raw (criterion's, and the interleaved check's
  from `hot_paths`, which is the one to trust on a busy machine); under a pair, its other
  raw variants (`raw-aws-lc`: ES256K on aws-lc-rs; `raw-owned`: A256GCM with the IV and tag
  in `Vec`s), handle over each; SoftHSM2 (if
  `cargo bench --bench softhsm` ran) and handle/SoftHSM2; handle/OpenSSL when an
  `openssl speed` output is given (ES256 against ecdsap256 sign/s, RSA-2048 sign and
  unwrap against rsa2048 sign/s, i.e. OpenSSL's RSA-2048 private-key operation);
- two threads: aggregate ops/s over one thread, for the handle and for raw;
- store: microseconds per operation at each store size.

`--stat`: criterion's median (default) or mean of the samples, or `min`, the fastest
sample (`sample.json`), the least disturbed by other processes.

Only the Python standard library. Reads `<id>/new/{benchmark,estimates,sample}.json` and
`interleaved.json` under the criterion directory.
"""

import argparse
import json
import pathlib
import re
import sys

HOT_OPS = ("sign", "unwrap", "verify", "encrypt", "wrap")


def load(root, stat):
    results = {}
    for meta_path in root.glob("**/new/benchmark.json"):
        meta = json.loads(meta_path.read_text())
        if stat == "min":
            sample = json.loads((meta_path.parent / "sample.json").read_text())
            ns = min(t / n for t, n in zip(sample["times"], sample["iters"]))
        else:
            est = json.loads((meta_path.parent / "estimates.json").read_text())
            ns = est[stat]["point_estimate"]
        elements = (meta.get("throughput") or {}).get("Elements", 1)
        results[meta["full_id"]] = {"ns": ns, "ops": elements * 1e9 / ns}
    return results


def openssl_rates(path):
    """sign/s for ecdsa nistp256 and rsa 2048 from `openssl speed` output."""
    rates = {}
    for line in pathlib.Path(path).read_text().splitlines():
        m = re.match(r"\s*rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)", line)
        if m:
            rates["rsa2048"] = float(m.group(1))
        m = re.match(r"\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)", line)
        if m:
            rates["ecdsap256"] = float(m.group(1))
    return rates


def openssl_ref(op, alg, rates):
    if op == "sign" and alg == "ES256":
        return rates.get("ecdsap256")
    if op in ("sign", "unwrap") and alg.endswith("-2048") and not alg.startswith("A"):
        return rates.get("rsa2048")
    return None


def fmt_ops(v):
    if v is None:
        return "-"
    return f"{v / 1000:,.1f}k" if v >= 10_000 else f"{v:,.0f}"


def ratio(a, b):
    return f"{a / b:.3f}" if a and b else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--criterion", default="target/criterion", type=pathlib.Path)
    ap.add_argument("--openssl-speed", help="a saved `openssl speed ecdsap256 rsa2048` output")
    ap.add_argument("--stat", default="median", choices=["median", "mean", "min"])
    args = ap.parse_args()
    if not args.criterion.is_dir():
        sys.exit(f"{args.criterion}: not found; run `cargo bench` first")
    res = load(args.criterion, args.stat)
    rates = openssl_rates(args.openssl_speed) if args.openssl_speed else {}
    # (id, a, b) -> ops/s ratio b/a from the interleaved checks.
    inter = {}
    inter_path = args.criterion / "interleaved.json"
    if inter_path.exists():
        for r in json.loads(inter_path.read_text()):
            inter[(r["id"], r["a"], r["b"])] = r["a_ns"] / r["b_ns"]
    fmt_r = lambda v: f"{v:.3f}" if v else "-"  # noqa: E731

    ops = lambda full_id: res.get(full_id, {}).get("ops")  # noqa: E731
    pairs = sorted(
        {tuple(k.split("/")[:2]) for k in res if k.split("/")[0] in HOT_OPS},
        key=lambda p: (HOT_OPS.index(p[0]), p[1]),
    )
    if pairs:
        print(f"{'benchmark':<26} {'handle/s':>9} {'raw/s':>9} {'handle/raw':>10} "
              f"{'interleavd':>10} {'softhsm/s':>9} {'vs softhsm':>10} {'vs openssl':>10}")
        for op, alg in pairs:
            h, r, s = (ops(f"{op}/{alg}/{v}") for v in ("handle", "raw", "softhsm"))
            o = openssl_ref(op, alg, rates)
            i = inter.get((f"{op}/{alg}", "handle", "raw"))
            # handle/raw in ops/s is raw time over handle time: the inverse of b/a.
            print(f"{op + '/' + alg:<26} {fmt_ops(h):>9} {fmt_ops(r):>9} {ratio(h, r):>10} "
                  f"{fmt_r(1 / i if i else None):>10} {fmt_ops(s):>9} {ratio(h, s):>10} "
                  f"{ratio(h, o):>10}")
            # Other raw variants (another backend, another output form): ops/s, and handle
            # over them, from criterion and from the interleaved check against raw.
            for k in sorted(res):
                v = k.split("/")[-1]
                if (k.startswith(f"{op}/{alg}/raw-") and k.count("/") == 2
                        and not v.endswith("2threads")):
                    a = ops(k)
                    iv = inter.get((f"{op}/{alg}", "raw", v))
                    print(f"  {v:<24} {'':>9} {fmt_ops(a):>9} {ratio(h, a):>10} "
                          f"{fmt_r(1 / (i * iv) if i and iv else None):>10}")
        threaded = [(op, alg) for op, alg in pairs if ops(f"{op}/{alg}/handle-2threads")]
        if threaded:
            print(f"\n{'two threads, one handle':<26} {'handle':>9} {'2 thr':>9} {'scaling':>10} "
                  f"{'interleavd':>10} {'raw':>9} {'raw 2 thr':>9} {'scaling':>10} "
                  f"{'interleavd':>10} {'h2/r2 intl':>10}")
            for op, alg in threaded:
                h1, h2, r1, r2 = (ops(f"{op}/{alg}/{v}") for v in
                                  ("handle", "handle-2threads", "raw", "raw-2threads"))
                ih = inter.get((f"{op}/{alg}", "handle", "handle-2threads"))
                ir = inter.get((f"{op}/{alg}", "raw", "raw-2threads"))
                ihr = inter.get((f"{op}/{alg}", "raw-2threads", "handle-2threads"))
                print(f"{op + '/' + alg:<26} {fmt_ops(h1):>9} {fmt_ops(h2):>9} "
                      f"{ratio(h2, h1):>10} {fmt_r(ih):>10} {fmt_ops(r1):>9} {fmt_ops(r2):>9} "
                      f"{ratio(r2, r1):>10} {fmt_r(ir):>10} {fmt_r(ihr):>10}")
            dated = [("handle", "handle-dated"), ("handle-2threads", "handle-dated-2threads")]
            for op, alg in threaded:
                for a, b in dated:
                    k = f"{op}/{alg}/{b}"
                    if k in res:
                        i = inter.get((f"{op}/{alg}", a, b))
                        print(f"{k:<36} {fmt_ops(ops(k)):>9}   over {a}: "
                              f"{ratio(ops(k), ops(f'{op}/{alg}/{a}'))}, interleaved {fmt_r(i)}")

    store = {}
    for k, v in res.items():
        parts = k.split("/")
        if parts[0] == "store" and len(parts) == 3 and parts[2].isdigit():
            store.setdefault(parts[1], {})[int(parts[2])] = v["ns"]
    if store:
        sizes = sorted({n for row in store.values() for n in row})
        print(f"\n{'store: µs per op':<26}" + "".join(f"{n:>12,}" for n in sizes))
        for op in sorted(store):
            cells = "".join(
                f"{store[op][n] / 1000:>12,.1f}" if n in store[op] else f"{'-':>12}"
                for n in sizes)
            print(f"{op:<26}{cells}")


if __name__ == "__main__":
    main()
