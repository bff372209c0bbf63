#!/usr/bin/env python3
"""Real-client check: the unmodified nacos-sdk-python 3.2.0 (`v2` package, gRPC) against a
Nacos 2.x gRPC server.

Usage:
  check_v2.py [check] [SERVERS]              the single-program checks (below)
  check_v2.py hold SERVICE IP PORT [SERVERS] register SERVICE IP:PORT, print `READY ...`, then
                                             stay connected until SIGTERM/SIGINT (shutdown, exit 0)
                                             or SIGKILL

SERVERS: comma-separated HTTP addresses (`127.0.0.1:8848,127.0.0.1:8858`); default
$NACOS_SERVERS, else 127.0.0.1:8848. The SDK connects to HTTP port + 1000 (its default).
$NACOS_GROUP sets the group (default: a fresh one per run in check mode, DEFAULT_GROUP in hold
mode); $NACOS_NAMESPACE the namespace (default public); $NACOS_CHECK_TIMEOUT the bound of
every wait in seconds (default 30).

Checks (one `PASS name` / `FAIL name - detail` line each, then `N passed, N failed`; exit 1 on
any failure): register two instances (two services), query each (ServiceQueryRequest),
selectInstances-style list (SubscribeServiceRequest), batch register two instances, list services
of the group, subscribe and get a push when a second client registers and when it deregisters,
deregister, and a closed client's instances gone as seen from the other client.
"""
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid

from v2.nacos import (BatchRegisterInstanceParam, ClientConfigBuilder, DeregisterInstanceParam,
                      GRPCConfig, ListInstanceParam, ListServiceParam, NacosNamingService,
                      RegisterInstanceParam, SubscribeServiceParam)

TIMEOUT = float(os.environ.get("NACOS_CHECK_TIMEOUT", "30"))
NAMESPACE = os.environ.get("NACOS_NAMESPACE", "public")
WORKDIR = tempfile.mkdtemp(prefix="nacos-py-check-")

results = []


def report(name, ok, detail=""):
    results.append(ok)
    print(f"PASS {name}" if ok else f"FAIL {name} - {detail}", flush=True)


def servers_from(args):
    return args[0] if args else os.environ.get("NACOS_SERVERS", "127.0.0.1:8848")


async def client(servers, tag):
    d = os.path.join(WORKDIR, tag)
    cfg = (ClientConfigBuilder()
           .server_address(servers)
           .namespace_id(NAMESPACE)
           .log_dir(os.path.join(d, "logs"))
           .cache_dir(os.path.join(d, "cache"))
           .load_cache_at_start(False)
           .timeout_ms(int(TIMEOUT * 1000))
           .grpc_config(GRPCConfig(grpc_timeout=5000))
           .build())
    return await NacosNamingService.create_naming_service(cfg)


def addrs(hosts):
    return sorted(f"{h.ip}:{h.port}" for h in (hosts or []))


async def eventually(name, probe, want, timeout=TIMEOUT):
    """Polls `probe()` (async, returning a comparable) until it equals `want`; one report line."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = await probe()
            if last == want:
                report(name, True)
                return True
        except Exception as e:  # noqa: BLE001 - any SDK error is a failed try
            last = f"error: {type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            report(name, False, f"wanted {want!r}, last {last!r} after {timeout:.0f} s")
            return False
        await asyncio.sleep(0.3)


async def step(name, coro):
    """Runs one SDK call that must return true; one report line only on failure."""
    try:
        r = await asyncio.wait_for(coro, TIMEOUT)
        if r is False:
            report(name, False, "the SDK returned false")
            return False
        return True
    except Exception as e:  # noqa: BLE001
        report(name, False, f"{type(e).__name__}: {e}")
        return False


async def check(servers):
    group = os.environ.get("NACOS_GROUP") or f"py-{uuid.uuid4().hex[:8]}"
    s1, s2, s3 = "svc-a", "svc-b", "svc-batch"
    print(f"# python nacos-sdk-python 3.2.0 servers={servers} namespace={NAMESPACE} group={group}",
          flush=True)
    a = await client(servers, "a")

    async def query(svc):  # ServiceQueryRequest: the SDK's only non-subscribing read
        info = await a.grpc_client_proxy.query_instance_of_service(svc, group, "", False)
        return addrs(info.hosts if info else [])

    async def select(c, svc):  # list_instances(subscribe=False) sends SubscribeServiceRequest
        return addrs(await c.list_instances(ListInstanceParam(
            service_name=svc, group_name=group, subscribe=False, healthy_only=None)))

    ok1 = await step("register-two", a.register_instance(RegisterInstanceParam(
        service_name=s1, group_name=group, ip="10.0.0.1", port=8080, metadata={"sdk": "python"})))
    ok2 = await step("register-two", a.register_instance(RegisterInstanceParam(
        service_name=s2, group_name=group, ip="10.0.0.2", port=8080)))
    if ok1 and ok2:
        report("register-two", True)
    await eventually("query", lambda: query(s1), ["10.0.0.1:8080"])
    await eventually("query-second", lambda: query(s2), ["10.0.0.2:8080"])
    await eventually("select-instances", lambda: select(a, s1), ["10.0.0.1:8080"])
    # the reads below go through SubscribeServiceRequest (and the pushes that follow it), so that
    # a failing ServiceQueryRequest fails only the two checks above

    if await step("batch-register", a.batch_register_instances(BatchRegisterInstanceParam(
            service_name=s3, group_name=group, instances=[
                RegisterInstanceParam(service_name=s3, group_name=group, ip="10.0.0.3", port=8080),
                RegisterInstanceParam(service_name=s3, group_name=group, ip="10.0.0.4", port=8080),
            ]))):
        await eventually("batch-register", lambda: select(a, s3), ["10.0.0.3:8080", "10.0.0.4:8080"])

    async def list_services():
        sl = await a.list_services(ListServiceParam(
            namespace_id=NAMESPACE, group_name=group, page_no=1, page_size=100))
        return (sl.count, sorted(sl.services))
    await eventually("list-services", list_services, (3, sorted([s1, s2, s3])))

    # Subscribe at A, register and deregister at a second client B.
    pushes = asyncio.Queue()

    async def on_push(instances):
        await pushes.put(addrs(instances))
    b = None
    if await step("subscribe", a.subscribe(SubscribeServiceParam(
            service_name=s1, group_name=group, subscribe_callback=on_push))):
        report("subscribe", True)
        b = await client(servers, "b")

        async def wait_push(name, want):
            deadline = time.monotonic() + TIMEOUT
            seen = []
            while time.monotonic() < deadline:
                try:
                    got = await asyncio.wait_for(pushes.get(), max(0.1, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                seen.append(got)
                if got == want:
                    report(name, True)
                    return
            report(name, False, f"no push with {want} within {TIMEOUT:.0f} s; pushes seen: {seen}")
        # drain the pushes that the subscription itself may have caused
        await asyncio.sleep(0.5)
        while not pushes.empty():
            pushes.get_nowait()
        if await step("push-on-register", b.register_instance(RegisterInstanceParam(
                service_name=s1, group_name=group, ip="10.0.0.9", port=9090))):
            await wait_push("push-on-register", ["10.0.0.1:8080", "10.0.0.9:9090"])
        if await step("push-on-deregister", b.deregister_instance(DeregisterInstanceParam(
                service_name=s1, group_name=group, ip="10.0.0.9", port=9090))):
            await wait_push("push-on-deregister", ["10.0.0.1:8080"])

    if await step("deregister", a.deregister_instance(DeregisterInstanceParam(
            service_name=s2, group_name=group, ip="10.0.0.2", port=8080))):
        await eventually("deregister", lambda: select(a, s2), [])

    # A closes its connection: B must see A's instances gone.
    await a.shutdown()
    if b is None:
        b = await client(servers, "b")
    await eventually("close-removes", lambda: select(b, s1), [])
    await eventually("close-removes-batch", lambda: select(b, s3), [])
    await b.shutdown()


async def hold(service, ip, port, servers):
    group = os.environ.get("NACOS_GROUP") or "DEFAULT_GROUP"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    c = await client(servers, "hold")
    await asyncio.wait_for(c.register_instance(RegisterInstanceParam(
        service_name=service, group_name=group, ip=ip, port=int(port))), TIMEOUT)
    print(f"READY python {NAMESPACE} {group} {service} {ip}:{port}", flush=True)
    await stop.wait()
    await c.shutdown()
    print("CLOSED python", flush=True)


def main():
    args = sys.argv[1:]
    mode = args.pop(0) if args and args[0] in ("check", "hold") else "check"
    if mode == "hold":
        if len(args) < 3:
            sys.exit(__doc__)
        asyncio.run(hold(args[0], args[1], args[2], servers_from(args[3:])))
        os._exit(0)
    try:
        asyncio.run(asyncio.wait_for(check(servers_from(args)), TIMEOUT * 10))
    except Exception as e:  # noqa: BLE001
        report("run", False, f"{type(e).__name__}: {e}")
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    # the SDK may leave tasks and grpc threads behind; do not wait for them
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
