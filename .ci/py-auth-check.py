"""The shared Python SDK check with client authentication: every NacosClient the check makes
logs in with NACOS_USERNAME / NACOS_PASSWORD. With NACOS_EXPECT_DENIED=1 the password is wrong
and the check instead expects the SDK's first call to fail with a 403."""
import functools, os, runpy, sys, tempfile

import nacos

user, password = os.environ["NACOS_USERNAME"], os.environ["NACOS_PASSWORD"]
if os.environ.get("NACOS_EXPECT_DENIED") == "1":
    try:
        # the client logs in as it is made
        client = nacos.NacosClient(server_addresses=os.environ["NACOS_ADDR"], username=user,
                                   password=password, logDir=tempfile.mkdtemp())
        client.add_naming_instance("auth-denied", "10.0.0.1", 80)
    except Exception as e:  # the SDK raises on the 403 of the login
        if "403" in str(e):
            print("PASS a wrong password is refused with 403 -", e)
            sys.exit(0)
        print("FAIL expected a 403, got", repr(e))
        sys.exit(1)
    print("FAIL a wrong password was accepted")
    sys.exit(1)
nacos.NacosClient.__init__ = functools.partialmethod(nacos.NacosClient.__init__, username=user,
                                                     password=password)
runpy.run_path(sys.argv[1], run_name="__main__")
