package distro.clients;

import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.naming.NamingFactory;
import com.alibaba.nacos.api.naming.NamingService;
import com.alibaba.nacos.api.naming.listener.NamingEvent;
import com.alibaba.nacos.api.naming.pojo.Instance;
import com.alibaba.nacos.api.naming.pojo.ListView;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Real-client check: the unmodified {@code com.alibaba.nacos:nacos-client} against a Nacos 2.x
 * gRPC server.
 *
 * <pre>
 * java -jar java-check.jar [check] [SERVERS]              the single-program checks
 * java -jar java-check.jar hold SERVICE IP PORT [SERVERS] register SERVICE IP:PORT, print
 *     "READY ...", stay connected until SIGTERM/SIGINT (shutDown, exit 0) or SIGKILL
 * </pre>
 *
 * SERVERS: comma-separated HTTP addresses; default $NACOS_SERVERS, else 127.0.0.1:8848. The SDK
 * connects to HTTP port + 1000 (its default). $NACOS_GROUP, $NACOS_NAMESPACE (default public),
 * $NACOS_CHECK_TIMEOUT (seconds, default 30) as for the other SDK checks.
 */
public final class Check {
    static final long TIMEOUT_MS = (long) (Double.parseDouble(env("NACOS_CHECK_TIMEOUT", "30")) * 1000);
    static final String NAMESPACE = env("NACOS_NAMESPACE", "public");
    static int passed;
    static int failed;
    static Path workdir;

    interface Probe {
        Object get() throws Exception;
    }

    interface Step {
        void run() throws Exception;
    }

    static String env(String k, String d) {
        String v = System.getenv(k);
        return v == null || v.isEmpty() ? d : v;
    }

    static synchronized void report(String name, boolean ok, String detail) {
        if (ok) {
            passed++;
            System.out.println("PASS " + name);
        } else {
            failed++;
            System.out.println("FAIL " + name + " - " + detail);
        }
        System.out.flush();
    }

    static String version() {
        Package p = Check.class.getPackage();
        String v = p == null ? null : p.getImplementationVersion();
        return v == null ? "?" : v;
    }

    static NamingService client(String servers, String tag) throws Exception {
        Properties p = new Properties();
        p.setProperty(PropertyKeyConst.SERVER_ADDR, servers);
        p.setProperty(PropertyKeyConst.NAMESPACE, NAMESPACE);
        p.setProperty(PropertyKeyConst.NAMING_LOAD_CACHE_AT_START, "false");
        p.setProperty("namingCacheRegistryDir", workdir.resolve(tag).toString());
        return NamingFactory.createNamingService(p);
    }

    static Instance instance(String ip, int port) {
        Instance i = new Instance();
        i.setIp(ip);
        i.setPort(port);
        i.setWeight(1.0);
        i.setHealthy(true);
        i.setEnabled(true);
        i.setEphemeral(true);
        return i;
    }

    static List<String> addrs(List<Instance> hosts) {
        List<String> out = new ArrayList<>();
        if (hosts != null) {
            for (Instance h : hosts) {
                out.add(h.getIp() + ":" + h.getPort());
            }
        }
        Collections.sort(out);
        return out;
    }

    static boolean eventually(String name, Probe probe, Object want) throws InterruptedException {
        long deadline = System.currentTimeMillis() + TIMEOUT_MS;
        Object last = null;
        while (true) {
            try {
                last = probe.get();
                if (Objects.equals(last, want)) {
                    report(name, true, "");
                    return true;
                }
            } catch (Exception e) {
                last = "error: " + e;
            }
            if (System.currentTimeMillis() > deadline) {
                report(name, false, "wanted " + want + ", last " + last + " after " + TIMEOUT_MS / 1000 + " s");
                return false;
            }
            Thread.sleep(300);
        }
    }

    /** Runs one SDK call; a report line only on failure. */
    static boolean step(String name, Step s) {
        try {
            s.run();
            return true;
        } catch (Exception e) {
            report(name, false, e.toString());
            return false;
        }
    }

    static void waitPush(String name, BlockingQueue<List<String>> pushes, List<String> want)
            throws InterruptedException {
        long deadline = System.currentTimeMillis() + TIMEOUT_MS;
        List<List<String>> seen = new ArrayList<>();
        while (true) {
            long left = deadline - System.currentTimeMillis();
            List<String> got = left > 0 ? pushes.poll(left, TimeUnit.MILLISECONDS) : null;
            if (got == null) {
                report(name, false, "no push with " + want + " within " + TIMEOUT_MS / 1000 + " s; pushes seen: " + seen);
                return;
            }
            seen.add(got);
            if (got.equals(want)) {
                report(name, true, "");
                return;
            }
        }
    }

    static void check(String servers) throws Exception {
        String group = env("NACOS_GROUP", "java-" + Long.toHexString(System.nanoTime() & 0xffffffffL));
        String s1 = "svc-a";
        String s2 = "svc-b";
        String s3 = "svc-batch";
        System.out.println("# java nacos-client " + version() + " servers=" + servers + " namespace=" + NAMESPACE
                + " group=" + group);
        NamingService a = client(servers, "a");

        Instance i1 = instance("10.0.0.1", 8080);
        i1.setMetadata(Map.of("sdk", "java"));
        if (step("register-two", () -> a.registerInstance(s1, group, i1))
                && step("register-two", () -> a.registerInstance(s2, group, instance("10.0.0.2", 8080)))) {
            report("register-two", true, "");
        }
        // getAllInstances without subscribing sends ServiceQueryRequest
        eventually("query", () -> addrs(a.getAllInstances(s1, group, false)), List.of("10.0.0.1:8080"));
        eventually("query-second", () -> addrs(a.getAllInstances(s2, group, false)), List.of("10.0.0.2:8080"));
        // selectInstances subscribing sends SubscribeServiceRequest, later reads its cache
        eventually("select-instances", () -> addrs(a.selectInstances(s1, group, true)), List.of("10.0.0.1:8080"));

        if (step("batch-register", () -> a.batchRegisterInstance(s3, group,
                List.of(instance("10.0.0.3", 8080), instance("10.0.0.4", 8080))))) {
            eventually("batch-register", () -> addrs(a.getAllInstances(s3, group, false)),
                    List.of("10.0.0.3:8080", "10.0.0.4:8080"));
        }

        eventually("list-services", () -> {
            ListView<String> l = a.getServicesOfServer(1, 100, group);
            List<String> names = new ArrayList<>(l.getData());
            Collections.sort(names);
            return l.getCount() + " " + names;
        }, 3 + " " + List.of(s1, s2, s3));

        BlockingQueue<List<String>> pushes = new LinkedBlockingQueue<>();
        NamingService b = null;
        if (step("subscribe", () -> a.subscribe(s1, group, event -> {
            if (event instanceof NamingEvent) {
                pushes.add(addrs(((NamingEvent) event).getInstances()));
            }
        }))) {
            report("subscribe", true, "");
            NamingService bb = client(servers, "b");
            b = bb;
            Thread.sleep(500);
            pushes.clear();
            if (step("push-on-register", () -> bb.registerInstance(s1, group, instance("10.0.0.9", 9090)))) {
                waitPush("push-on-register", pushes, List.of("10.0.0.1:8080", "10.0.0.9:9090"));
            }
            if (step("push-on-deregister", () -> bb.deregisterInstance(s1, group, "10.0.0.9", 9090))) {
                waitPush("push-on-deregister", pushes, List.of("10.0.0.1:8080"));
            }
        }

        if (step("deregister", () -> a.deregisterInstance(s2, group, "10.0.0.2", 8080))) {
            eventually("deregister", () -> addrs(a.getAllInstances(s2, group, false)), List.of());
        }

        // A closes its connection: B must see A's instances gone.
        a.shutDown();
        if (b == null) {
            b = client(servers, "b");
        }
        NamingService bb = b;
        eventually("close-removes", () -> addrs(bb.getAllInstances(s1, group, false)), List.of());
        eventually("close-removes-batch", () -> addrs(bb.getAllInstances(s3, group, false)), List.of());
        bb.shutDown();
    }

    static void hold(String service, String ip, int port, String servers) throws Exception {
        String group = env("NACOS_GROUP", "DEFAULT_GROUP");
        NamingService c = client(servers, "hold");
        c.registerInstance(service, group, instance(ip, port));
        CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                c.shutDown();
                System.out.println("CLOSED java");
                System.out.flush();
            } catch (Exception e) {
                System.err.println("shutDown failed: " + e);
            }
            closed.countDown();
        }));
        System.out.println("READY java " + NAMESPACE + " " + group + " " + service + " " + ip + ":" + port);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }

    public static void main(String[] argv) throws Exception {
        List<String> args = new ArrayList<>(List.of(argv));
        String mode = "check";
        if (!args.isEmpty() && (args.get(0).equals("check") || args.get(0).equals("hold"))) {
            mode = args.remove(0);
        }
        workdir = Files.createTempDirectory("nacos-java-check-");
        // the SDK's logs and snapshots go to a fresh directory, not the home directory
        System.setProperty("JM.LOG.PATH", workdir.resolve("logs").toString());
        System.setProperty("JM.SNAPSHOT.PATH", workdir.resolve("snapshot").toString());
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", env("NACOS_CHECK_LOG", "warn"));
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        if (mode.equals("hold")) {
            if (args.size() < 3) {
                System.err.println("usage: hold SERVICE IP PORT [SERVERS]");
                System.exit(2);
            }
            String servers = args.size() > 3 ? args.get(3) : env("NACOS_SERVERS", "127.0.0.1:8848");
            try {
                hold(args.get(0), args.get(1), Integer.parseInt(args.get(2)), servers);
            } catch (Exception e) {
                System.err.println("hold failed: " + e);
                System.exit(1);
            }
            return;
        }
        String servers = !args.isEmpty() ? args.get(0) : env("NACOS_SERVERS", "127.0.0.1:8848");
        Thread t = new Thread(() -> {
            try {
                check(servers);
            } catch (Throwable e) {
                report("run", false, e.toString());
            }
        }, "check");
        t.setDaemon(true);
        t.start();
        t.join(10 * TIMEOUT_MS);
        if (t.isAlive()) {
            report("run", false, "the checks did not finish in time");
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        // the SDK leaves non-daemon threads behind
        Runtime.getRuntime().halt(failed > 0 ? 1 : 0);
    }
}
