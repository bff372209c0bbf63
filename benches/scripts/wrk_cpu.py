#!/usr/bin/env python3
"""Server CPU per request under wrk, side by side in one run: nginx answering a constant `ok`
(the floor of one read and one write per request), distrod (mio) and distrod-glommio.

Every request is a Nacos v1 register (POST /nacos/v1/ns/instance) of a distinct ip:port, sent
by `wrk -t2 -c32` without pipelining. The figure is the server process's CPU time (user +
system from /proc/<pid>/stat, every nginx process summed) divided by the requests wrk
completed, median over rounds, with the ratio to nginx. Needs wrk and nginx (Debian packages
`wrk`, `nginx-light`) and release builds of both runtimes:

    cargo build --release -p distro-mio -p distro-glommio
    python3 benches/scripts/wrk_cpu.py [--rounds 5] [--duration 10] [--shards 1,2] [--json out.json]
"""
import argparse, json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

LUA = r"""
local n = 0
request = function()
  n = n + 1
  local port = 1 + (n % 60000)
  local ip = "10." .. (math.floor(n / 60000) % 250) .. "." .. (math.random(0, 250)) .. ".1"
  return wrk.format("POST", "/nacos/v1/ns/instance?serviceName=wrk&ip=" .. ip .. "&port=" .. port, nil, "")
end
"""

NGINX = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  proxy_temp_path {dir};
  fastcgi_temp_path {dir};
  uwsgi_temp_path {dir};
  scgi_temp_path {dir};
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "ok"; }}
  }}
}}
"""


def free_port():
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p + 1001 + 8 < 65536:
            ok = True
            for q in range(p + 1000, p + 1010):
                with socket.socket() as s:
                    try:
                        s.bind(("127.0.0.1", q))
                    except OSError:
                        ok = False
            if ok:
                return p


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pids_of(proc):
    """The process and its children (nginx's workers)."""
    out = [proc.pid]
    try:
        kids = open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()
        out += [int(k) for k in kids]
    except OSError:
        pass
    return out


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start(kind, port, repo, tmp):
    if kind == "nginx":
        conf = os.path.join(tmp, f"nginx-{port}.conf")
        open(conf, "w").write(NGINX.format(dir=tmp, port=port))
        proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stderr=subprocess.DEVNULL)
    else:
        bin_, *args = kind.split()
        exe = os.path.join(repo, "target", "release", bin_)
        proc = subprocess.Popen([exe, *args, "--http", f"127.0.0.1:{port}", "--log-level", "error",
                                 "--limit", "max_clients=10000000"], stderr=subprocess.DEVNULL)
    wait_port(port)
    time.sleep(0.3)
    return proc


def run_wrk(port, duration, script):
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{duration}s", "-s", script, f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return int(m.group(1)), int(errors.group(1)) if errors else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--shards", default="1")
    ap.add_argument("--json")
    a = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (apt-get install wrk nginx-light)")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    servers = ["nginx", "distrod"] + [f"distrod-glommio --shards {n}" for n in a.shards.split(",")]
    tmp = tempfile.mkdtemp(prefix="wrk-cpu-")
    script = os.path.join(tmp, "register.lua")
    open(script, "w").write(LUA)
    results = {s: [] for s in servers}
    try:
        for r in range(a.rounds):
            for s in servers:
                port = free_port()
                proc = start(s, port, repo, tmp)
                try:
                    pids = pids_of(proc)
                    c0 = cpu_seconds(pids)
                    n, errors = run_wrk(port, a.duration, script)
                    c1 = cpu_seconds(pids)
                finally:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=10)
                us = (c1 - c0) * 1e6 / max(n, 1)
                results[s].append({"requests": n, "rps": n / a.duration, "cpu_us_per_req": us, "errors": errors})
                print(f"round {r + 1} {s:<28} {n / a.duration:>10.0f} req/s  {us:6.2f} µs CPU/req  errors {errors}",
                      file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(x["cpu_us_per_req"] for x in results["nginx"])
    print("| server | req/s (median) | server CPU µs/req (median) | ratio to nginx | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    for s in servers:
        rps = statistics.median(x["rps"] for x in results[s])
        us = statistics.median(x["cpu_us_per_req"] for x in results[s])
        errs = sum(x["errors"] for x in results[s])
        print(f"| {s} | {rps:.0f} | {us:.2f} | {us / base:.2f}× | {errs} |")
    if a.json:
        json.dump(results, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
