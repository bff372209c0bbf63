#!/usr/bin/env python3
"""RSS per instance of each runtime: start a fresh server, register N v1 instances (distinct
ip:port, 100 services) over one keep-alive connection, read VmRSS before and after.
Run from the repository root after `cargo build --release -p distro-mio -p distro-glommio`:

    python3 benches/scripts/rss_per_instance.py 50000
"""
import http.client, subprocess, sys, time, os, socket
def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])*1024
def run(cmd, port, n):
    p = subprocess.Popen(cmd + ["--http", f"127.0.0.1:{port}", "--log-level", "error", "--limit", "max_clients=10000000"], stderr=subprocess.DEVNULL)
    time.sleep(1)
    base = rss(p.pid)
    c = http.client.HTTPConnection("127.0.0.1", port)
    for i in range(n):
        c.request("POST", f"/nacos/v1/ns/instance?serviceName=svc{i%100}&ip=10.{i//60000}.{(i//250)%250}.{i%250}&port={1+i%60000}", body="")
        r = c.getresponse(); r.read()
    time.sleep(1)
    after = rss(p.pid)
    p.terminate(); p.wait()
    return base, after
n = int(sys.argv[1])
for name, cmd in [("distrod", ["target/release/distrod"]), ("glommio-1", ["target/release/distrod-glommio", "--shards", "1"]), ("glommio-2", ["target/release/distrod-glommio", "--shards", "2"])]:
    b, a = run(cmd, 27000 + hash(name) % 1000, n)
    print(f"{name}: idle {b/1e6:.1f} MB, after {n} instances {a/1e6:.1f} MB, {(a-b)/n:.0f} bytes/instance")
