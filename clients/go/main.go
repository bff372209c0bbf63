// Real-client check: the unmodified github.com/nacos-group/nacos-sdk-go/v2 against a Nacos 2.x
// gRPC server.
//
// Usage:
//
//	go-check [check] [SERVERS]              the single-program checks
//	go-check hold SERVICE IP PORT [SERVERS] register SERVICE IP:PORT, print `READY ...`, stay
//	                                        connected until SIGTERM/SIGINT (CloseClient, exit 0)
//
// SERVERS: comma-separated HTTP addresses; default $NACOS_SERVERS, else 127.0.0.1:8848. The SDK
// connects to HTTP port + 1000 (its default). $NACOS_GROUP, $NACOS_NAMESPACE (default public),
// $NACOS_CHECK_TIMEOUT (seconds, default 30) as for the other SDK checks.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_cache"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/common/http_agent"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"
)

var (
	timeout   = envDuration("NACOS_CHECK_TIMEOUT", 30*time.Second)
	namespace = envOr("NACOS_NAMESPACE", "public")
	workdir   string
	passed    int
	failed    int
)

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func envDuration(k string, d time.Duration) time.Duration {
	if v := os.Getenv(k); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return time.Duration(f * float64(time.Second))
		}
	}
	return d
}

func report(name string, ok bool, detail string) {
	if ok {
		passed++
		fmt.Printf("PASS %s\n", name)
	} else {
		failed++
		fmt.Printf("FAIL %s - %s\n", name, detail)
	}
}

func serverConfigs(servers string) []constant.ServerConfig {
	var out []constant.ServerConfig
	for _, s := range strings.Split(servers, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		i := strings.LastIndex(s, ":")
		port, err := strconv.ParseUint(s[i+1:], 10, 64)
		if i < 0 || err != nil {
			fmt.Fprintf(os.Stderr, "bad server address %q\n", s)
			os.Exit(2)
		}
		out = append(out, *constant.NewServerConfig(s[:i], port))
	}
	return out
}

func clientConfig(tag string) *constant.ClientConfig {
	d := filepath.Join(workdir, tag)
	return constant.NewClientConfig(
		constant.WithNamespaceId(namespace),
		constant.WithTimeoutMs(uint64(timeout/time.Millisecond)),
		constant.WithNotLoadCacheAtStart(true),
		constant.WithUpdateCacheWhenEmpty(true),
		constant.WithLogDir(filepath.Join(d, "log")),
		constant.WithCacheDir(filepath.Join(d, "cache")),
		constant.WithLogLevel("warn"),
	)
}

func newClient(servers, tag string) naming_client.INamingClient {
	c, err := clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig:  clientConfig(tag),
		ServerConfigs: serverConfigs(servers),
	})
	if err != nil {
		report("client-"+tag, false, err.Error())
		finish()
	}
	return c
}

func addrs(hosts []model.Instance) []string {
	out := []string{}
	for _, h := range hosts {
		out = append(out, fmt.Sprintf("%s:%d", h.Ip, h.Port))
	}
	sort.Strings(out)
	return out
}

// eventually polls probe until it returns want (one report line).
func eventually(name string, probe func() (interface{}, error), want interface{}) bool {
	deadline := time.Now().Add(timeout)
	var last interface{}
	for {
		got, err := probe()
		if err != nil {
			last = "error: " + err.Error()
		} else {
			last = got
			if reflect.DeepEqual(got, want) {
				report(name, true, "")
				return true
			}
		}
		if time.Now().After(deadline) {
			report(name, false, fmt.Sprintf("wanted %v, last %v after %v", want, last, timeout))
			return false
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// step runs one SDK call that must return true; a report line only on failure.
func step(name string, ok bool, err error) bool {
	if err != nil {
		report(name, false, err.Error())
		return false
	}
	if !ok {
		report(name, false, "the SDK returned false")
		return false
	}
	return true
}

func finish() {
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
	os.Exit(0)
}

func check(servers string) {
	group := os.Getenv("NACOS_GROUP")
	if group == "" {
		group = fmt.Sprintf("go-%x", time.Now().UnixNano()&0xffffffff)
	}
	s1, s2, s3 := "svc-a", "svc-b", "svc-batch"
	fmt.Printf("# go nacos-sdk-go/v2 servers=%s namespace=%s group=%s\n", servers, namespace, group)
	a := newClient(servers, "a")

	// ServiceQueryRequest: the SDK's proxy (an exported constructor), on a connection of its own.
	qcfg := *clientConfig("q")
	holder := naming_cache.NewServiceInfoHolder(namespace, qcfg.CacheDir, true, true)
	qproxy, err := naming_client.NewNamingProxyDelegate(context.Background(), qcfg, serverConfigs(servers),
		&http_agent.HttpAgent{}, holder)
	if err != nil {
		report("query-client", false, err.Error())
		finish()
	}
	query := func(svc string) func() (interface{}, error) {
		return func() (interface{}, error) {
			info, err := qproxy.QueryInstancesOfService(svc, group, "", 0, false)
			if err != nil {
				return nil, err
			}
			return addrs(info.Hosts), nil
		}
	}

	ok1, err1 := a.RegisterInstance(vo.RegisterInstanceParam{ServiceName: s1, GroupName: group, Ip: "10.0.0.1",
		Port: 8080, Weight: 1, Enable: true, Healthy: true, Ephemeral: true, Metadata: map[string]string{"sdk": "go"}})
	ok2, err2 := a.RegisterInstance(vo.RegisterInstanceParam{ServiceName: s2, GroupName: group, Ip: "10.0.0.2",
		Port: 8080, Weight: 1, Enable: true, Healthy: true, Ephemeral: true})
	if step("register-two", ok1, err1) && step("register-two", ok2, err2) {
		report("register-two", true, "")
	}
	eventually("query", query(s1), []string{"10.0.0.1:8080"})
	eventually("query-second", query(s2), []string{"10.0.0.2:8080"})
	eventually("select-all-instances", func() (interface{}, error) {
		hosts, err := a.SelectAllInstances(vo.SelectAllInstancesParam{ServiceName: s2, GroupName: group})
		return addrs(hosts), err
	}, []string{"10.0.0.2:8080"})
	eventually("select-instances", func() (interface{}, error) {
		hosts, err := a.SelectInstances(vo.SelectInstancesParam{ServiceName: s1, GroupName: group, HealthyOnly: true})
		return addrs(hosts), err
	}, []string{"10.0.0.1:8080"})

	ok, err := a.BatchRegisterInstance(vo.BatchRegisterInstanceParam{ServiceName: s3, GroupName: group,
		Instances: []vo.RegisterInstanceParam{
			{ServiceName: s3, GroupName: group, Ip: "10.0.0.3", Port: 8080, Weight: 1, Enable: true, Healthy: true, Ephemeral: true},
			{ServiceName: s3, GroupName: group, Ip: "10.0.0.4", Port: 8080, Weight: 1, Enable: true, Healthy: true, Ephemeral: true},
		}})
	if step("batch-register", ok, err) {
		eventually("batch-register", query(s3), []string{"10.0.0.3:8080", "10.0.0.4:8080"})
	}

	eventually("list-services", func() (interface{}, error) {
		l, err := a.GetAllServicesInfo(vo.GetAllServiceInfoParam{NameSpace: namespace, GroupName: group, PageNo: 1, PageSize: 100})
		names := append([]string{}, l.Doms...)
		sort.Strings(names)
		return fmt.Sprintf("%d %v", l.Count, names), err
	}, fmt.Sprintf("%d %v", 3, []string{s1, s2, s3}))

	pushes := make(chan []string, 64)
	err = a.Subscribe(&vo.SubscribeParam{ServiceName: s1, GroupName: group,
		SubscribeCallback: func(services []model.Instance, err error) {
			if err == nil {
				pushes <- addrs(services)
			}
		}})
	var b naming_client.INamingClient
	if step("subscribe", true, err) {
		report("subscribe", true, "")
		b = newClient(servers, "b")
		waitPush := func(name string, want []string) {
			deadline := time.After(timeout)
			var seen [][]string
			for {
				select {
				case got := <-pushes:
					seen = append(seen, got)
					if reflect.DeepEqual(got, want) {
						report(name, true, "")
						return
					}
				case <-deadline:
					report(name, false, fmt.Sprintf("no push with %v within %v; pushes seen: %v", want, timeout, seen))
					return
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	drain:
		for {
			select {
			case <-pushes:
			default:
				break drain
			}
		}
		ok, err := b.RegisterInstance(vo.RegisterInstanceParam{ServiceName: s1, GroupName: group, Ip: "10.0.0.9",
			Port: 9090, Weight: 1, Enable: true, Healthy: true, Ephemeral: true})
		if step("push-on-register", ok, err) {
			waitPush("push-on-register", []string{"10.0.0.1:8080", "10.0.0.9:9090"})
		}
		ok, err = b.DeregisterInstance(vo.DeregisterInstanceParam{ServiceName: s1, GroupName: group, Ip: "10.0.0.9",
			Port: 9090, Ephemeral: true})
		if step("push-on-deregister", ok, err) {
			waitPush("push-on-deregister", []string{"10.0.0.1:8080"})
		}
	}

	ok, err = a.DeregisterInstance(vo.DeregisterInstanceParam{ServiceName: s2, GroupName: group, Ip: "10.0.0.2",
		Port: 8080, Ephemeral: true})
	if step("deregister", ok, err) {
		eventually("deregister", query(s2), []string{})
	}

	// A closes its connection: the others must see A's instances gone.
	a.CloseClient()
	if b == nil {
		b = newClient(servers, "b")
	}
	eventually("close-removes", query(s1), []string{})
	eventually("close-removes-batch", query(s3), []string{})
	b.CloseClient()
	qproxy.CloseClient()
}

func hold(service, ip, port, servers string) {
	group := envOr("NACOS_GROUP", "DEFAULT_GROUP")
	p, err := strconv.ParseUint(port, 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad port", port)
		os.Exit(2)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	c := newClient(servers, "hold")
	ok, err := c.RegisterInstance(vo.RegisterInstanceParam{ServiceName: service, GroupName: group, Ip: ip, Port: p,
		Weight: 1, Enable: true, Healthy: true, Ephemeral: true})
	if err != nil || !ok {
		fmt.Fprintf(os.Stderr, "register failed: %v %v\n", ok, err)
		os.Exit(1)
	}
	fmt.Printf("READY go %s %s %s %s:%s\n", namespace, group, service, ip, port)
	<-stop
	c.CloseClient()
	fmt.Println("CLOSED go")
	os.Exit(0)
}

func main() {
	args := os.Args[1:]
	mode := "check"
	if len(args) > 0 && (args[0] == "check" || args[0] == "hold") {
		mode, args = args[0], args[1:]
	}
	var err error
	workdir, err = os.MkdirTemp("", "nacos-go-check-")
	if err != nil {
		panic(err)
	}
	servers := func(rest []string) string {
		if len(rest) > 0 {
			return rest[0]
		}
		return envOr("NACOS_SERVERS", "127.0.0.1:8848")
	}
	if mode == "hold" {
		if len(args) < 3 {
			fmt.Fprintln(os.Stderr, "usage: go-check hold SERVICE IP PORT [SERVERS]")
			os.Exit(2)
		}
		hold(args[0], args[1], args[2], servers(args[3:]))
	}
	done := make(chan struct{})
	go func() { check(servers(args)); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * timeout):
		report("run", false, "the checks did not finish in time")
	}
	finish()
}
