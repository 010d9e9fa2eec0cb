package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// A hostile local user's attacks on the consumer-side endpoints (serve,
// serve --imds, exec), as another uid, a page in a browser, or a process
// holding a port.

// otherUID is the uid the cross-user attacks run as when the tests run as
// root (nobody); elsewhere the socket owner is simulated.
const otherUID = 65534

// serveIMDSForTest runs an imdsEndpoint, IMDSv1 on (its weakest
// setting), on a real loopback socket with the platform's socket-owner
// lookup.
func serveIMDSForTest(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := testIMDS(time.Now, true)
	e.host, e.owner = ln.Addr().String(), nil
	srv := newServer(e, ServeLimits{}, t.Logf)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// IMDS has no secret a client must hold, so on a shared machine another
// user's process could PUT a session token and read the target's
// credentials from serve --imds. Only this user's and root's sockets are
// answered (Linux: the socket's owner in /proc/net/tcp{,6}).
func TestAbuse_IMDSAnotherUser(t *testing.T) {
	stranger := func(string, string) (int, error) { return otherUID, nil }
	e := testIMDS(time.Now, true)
	e.owner = stranger
	for _, q := range []imdsReq{
		{method: "PUT", path: "/latest/api/token", header: map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}},
		{method: "GET", path: "/latest/meta-data/iam/security-credentials/BillingReader"},
	} {
		rec := e.do(q)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "uid "+strconv.Itoa(otherUID)) || strings.Contains(rec.Body.String(), "imdsSecret") {
			t.Errorf("%s %s from uid %d: %d %q; want 403 naming the uid", q.method, q.path, otherUID, rec.Code, rec.Body)
		}
	}

	if _, err := socketOwner("127.0.0.1:1", "127.0.0.1:2"); err == errOwnerUnknown {
		t.Logf("this platform does not list sockets' owners; serve --imds answers every local user")
		return
	}
	addr := serveIMDSForTest(t)
	// Python's socket as the client: an AF_INET and an AF_INET6 socket
	// (Java's default, listed in /proc/net/tcp6 as ::ffff:127.0.0.1).
	client := func(uid int, family string) (int, string) {
		host, port, _ := net.SplitHostPort(addr)
		if family == "6" {
			host = "::ffff:" + host
		}
		script := `import socket,sys
s=socket.socket(socket.AF_INET` + strings.TrimSuffix(family, "4") + `)
s.connect((sys.argv[1],int(sys.argv[2])))
s.sendall(b"PUT /latest/api/token HTTP/1.1\r\nHost: "+sys.argv[3].encode()+b"\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\n\r\n")
print(s.recv(4096).decode(errors="replace"))`
		cmd := exec.Command(systemPython(), "-c", script, host, port, addr)
		if uid != os.Getuid() {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python3 client as uid %d: %v: %s", uid, err, out)
		}
		status, _ := strconv.Atoi(strings.Fields(string(out) + " x 0")[1])
		return status, string(out)
	}
	for _, fam := range []string{"4", "6"} {
		if code, out := client(os.Getuid(), fam); code != 200 {
			t.Errorf("this user's client (AF_INET%s): %s; want 200", fam, out)
		}
		if os.Getuid() != 0 {
			continue // only root can run a client as another user
		}
		if code, out := client(otherUID, fam); code != 403 || !strings.Contains(out, "uid "+strconv.Itoa(otherUID)) {
			t.Errorf("uid %d's client (AF_INET%s) got a session token: %s", otherUID, fam, out)
		}
	}
}

// systemPython is a python3 another user may run (not a shim in root's
// home).
func systemPython() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// attackerEndpoint answers the container-credentials protocol with the
// attacker's own keys and no stsrotator mark, run as uid (another user's
// process when the tests run as root); its URL.
func attackerEndpoint(t *testing.T, uid int) string {
	t.Helper()
	script := `import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(s):
        b=b'{"AccessKeyId":"ASIAATTACKERKEY00001","SecretAccessKey":"attackerSecret","Token":"attackerToken","Expiration":"2099-01-01T00:00:00Z"}'
        s.send_response(200); s.send_header("Content-Type","application/json"); s.send_header("Content-Length",str(len(b))); s.end_headers(); s.wfile.write(b)
    def log_message(s,*a): pass
srv=http.server.HTTPServer(("127.0.0.1",0),H)
print(srv.server_address[1],flush=True)
srv.serve_forever()`
	cmd := exec.Command(systemPython(), "-c", script)
	if uid != os.Getuid() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make([]byte, 16)
	n, _ := io.ReadAtLeast(out, line, 2)
	port := strings.TrimSpace(string(line[:n]))
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("attacker endpoint as uid %d printed %q", uid, line[:n])
	}
	return "http://127.0.0.1:" + port + CredentialsPath
}

// A shell still holds a stopped serve's (or aws-vault's) exports; another
// user takes the freed port and answers the container protocol with keys
// of their own. serve and exec read their secret with the default chain,
// which takes AWS_CONTAINER_CREDENTIALS_FULL_URI first: they would read
// the secret of that name in the attacker's account and hand its
// credentials to every client. An endpoint whose socket belongs to
// another user is not used; this user's own endpoint (aws-vault exec
// --ecs-server) still is.
func TestAbuse_ServeReadsThroughAnotherUsersPort(t *testing.T) {
	try := func(url string, owner func(string, string) (int, error)) (kept bool, log string) {
		vars := map[string]string{EnvContainerFullURI: url, EnvContainerToken: "stale-token"}
		a := New(io.Discard, io.Discard)
		a.Getenv = func(k string) string { return vars[k] }
		a.Unsetenv = func(k string) error { delete(vars, k); return nil }
		a.SocketOwner = owner
		var sb strings.Builder
		a.dropLocalEndpoints(context.Background(), func(f string, args ...any) { sb.WriteString(sprintf(f, args...) + "\n") })
		if (vars[EnvContainerFullURI] == "") != (vars[EnvContainerToken] == "") {
			t.Errorf("the endpoint and its token were not dropped together: %v", vars)
		}
		return vars[EnvContainerFullURI] != "", sb.String()
	}
	url := attackerEndpoint(t, os.Getuid())
	stranger := func(string, string) (int, error) { return otherUID, nil }
	if kept, log := try(url, stranger); kept || !strings.Contains(log, "uid "+strconv.Itoa(otherUID)+", another user") {
		t.Errorf("an endpoint another user serves was kept for reading the secret (log %q)", log)
	}
	if kept, log := try(url, ownUID); !kept {
		t.Errorf("this user's own endpoint was dropped: %s", log)
	}
	if _, err := socketOwner("127.0.0.1:1", "127.0.0.1:2"); err == errOwnerUnknown {
		return
	}
	// The platform's lookup, on real sockets.
	if kept, log := try(url, nil); !kept {
		t.Errorf("this user's own endpoint was dropped: %s", log)
	}
	if os.Getuid() == 0 {
		if kept, log := try(attackerEndpoint(t, otherUID), nil); kept || !strings.Contains(log, "another user") {
			t.Errorf("uid %d's endpoint on a freed port was kept for reading the secret (log %q)", otherUID, log)
		}
	}
}

// --token-file in a directory another user owns: that user may rename
// anything in it, and could swap the token file for a link to one of
// this user's single-line secrets, which the SDKs would then read and
// send as their Authorization header to whoever holds the port. serve
// refuses such a directory (as root the test makes one for uid 65534;
// otherwise it has no other user's directory to use).
func TestAbuse_ServeTokenFileInAnotherUsersDir(t *testing.T) {
	if os.Getuid() != 0 {
		t.Log("not root: no directory of another user to try; the check is the same ownerOf as the token file's")
		return
	}
	dir := filepath.Join(t.TempDir(), "theirs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "serve.token")
	if err := writeTokenFile(path, strings.Repeat("f", 64)); err == nil {
		t.Fatal("writeTokenFile wrote into another user's directory")
	}
	a, out, errb := testApp(nil, time.Now, nil)
	r := execute(t, a, out, errb, "serve", "--secret-id", "stsrotator/unread", "--port", "9", "--token-file", path)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "which uid "+strconv.Itoa(otherUID)+" owns") || out.String() != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s; want exit %d naming the directory's owner", r.code, out, r.stderr, ExitUsage)
	}
	if _, err := os.Lstat(path); err == nil {
		t.Fatal("a token file was left in another user's directory")
	}
}

// A boto config (BOTO_CONFIG, else /etc/boto.cfg and ~/.boto) with keys
// under [Credentials]: botocore's BotoProvider takes them before the
// container endpoint (create_credential_resolver: ..., OriginalEC2Provider,
// BotoProvider, container_provider, ...), so a boto3 child of exec would
// sign with them instead of the target's credentials. exec removes a
// BOTO_CONFIG that holds keys (a boto config without them, e.g. gsutil's,
// stays) and says so, and warns about keys in ~/.boto, which it cannot
// remove.
func TestAbuse_ExecBotoConfigShadows(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	home := t.TempDir()
	good := target(env, "exec-boto")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	want := currentValue(t, env, good.SecretName).AccessKeyID
	withKeys := filepath.Join(t.TempDir(), "boto.cfg")
	if err := os.WriteFile(withKeys, []byte("[Credentials]\naws_access_key_id = AKIABOTOCONFIGSHADOW\naws_secret_access_key = botoShadowSecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gsutil := filepath.Join(t.TempDir(), "gsutil.cfg")
	if err := os.WriteFile(gsutil, []byte("[Credentials]\ngs_oauth2_refresh_token = x\n[GSUtil]\nparallel_composite_upload_threshold = 150M\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parent := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_ENDPOINT_URL=" + env.URL, "AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=" + awstest.Region,
		"AWS_ACCESS_KEY_ID=AKIAKUMOTESTKEY00000", "AWS_SECRET_ACCESS_KEY=kumo-test-secret",
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none")}
	script := `import boto3, os
c = boto3.Session().get_credentials()
print(c.method, c.get_frozen_credentials().access_key, os.environ.get("BOTO_CONFIG", "-"))`
	child := func(extra ...string) execRun {
		r := runExec(t, bin, append(slices.Clone(parent), extra...), "", "--target", good.Name, "--config", cfgPath, "--", "python3", "-c", script)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		noSecrets(t, "exec stderr", r.stderr)
		return r
	}
	r := child("BOTO_CONFIG=" + withKeys)
	if got := strings.Fields(r.stdout); len(got) != 3 || got[0] != "container-role" || got[1] != want || got[2] != "-" {
		t.Errorf("boto3 child with a BOTO_CONFIG holding keys resolved %q; want container-role %s, BOTO_CONFIG removed", r.stdout, secretfmt.Mask(want))
	}
	if !strings.Contains(r.stderr, "BOTO_CONFIG") {
		t.Errorf("exec did not say it removed BOTO_CONFIG: %s", r.stderr)
	}
	if r := child("BOTO_CONFIG=" + gsutil); !strings.HasSuffix(strings.TrimSpace(r.stdout), " "+gsutil) || !strings.Contains(r.stdout, "container-role "+want) {
		t.Errorf("a BOTO_CONFIG without AWS keys was not left alone: %q %s", r.stdout, r.stderr)
	}
	// ~/.boto: exec cannot remove a file; it says what shadows and the fix.
	if err := os.WriteFile(filepath.Join(home, ".boto"), []byte("[Credentials]\naws_access_key_id = AKIABOTOCONFIGSHADOW\naws_secret_access_key = botoShadowSecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := child(); !strings.Contains(r.stderr, filepath.Join(home, ".boto")) || !strings.Contains(r.stderr, "BOTO_CONFIG=/dev/null") {
		t.Errorf("exec did not warn about keys in ~/.boto: %s", r.stderr)
	}
}

// rawStatus sends req (ADDR replaced by addr) on a fresh connection and
// returns the status code, 0 when no response came.
func rawStatus(t *testing.T, addr, req string) int {
	t.Helper()
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(closeBound))
	if _, err := c.Write([]byte(strings.ReplaceAll(req, "ADDR", addr))); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// The request forms a local attacker (a page whose name was rebound to
// 127.0.0.1, a proxy, a hand-written client) can put on the wire, against
// the container endpoint and the IMDS endpoint (with IMDSv1 on, its
// weakest setting): only a request whose target authority is exactly
// 127.0.0.1:PORT is served. Real clients send that Host (the address serve
// prints); an absolute-form target's authority replaces the Host header
// (RFC 9112 §3.2.2), so it is the one checked.
func TestAbuse_LocalEndpointsRequestForms(t *testing.T) {
	container, _ := startEndpoint(t, hostileLimits)
	imds := serveIMDSForTest(t)
	_, port, _ := net.SplitHostPort(container)
	_, iport, _ := net.SplitHostPort(imds)
	const auth = "Authorization: tok\r\n"
	const creds = "/latest/meta-data/iam/security-credentials/BillingReader"
	cases := []struct {
		why, addr, req string
		status         int
	}{
		{"container: the address serve prints is served", container, "GET /credentials HTTP/1.1\r\nHost: ADDR\r\n" + auth + "\r\n", 200},
		{"container: HTTP/1.0 without Host", container, "GET /credentials HTTP/1.0\r\n" + auth + "\r\n", 403},
		{"container: a trailing dot", container, "GET /credentials HTTP/1.1\r\nHost: 127.0.0.1.:" + port + "\r\n" + auth + "\r\n", 403},
		{"container: localhost (a name, rebindable elsewhere)", container, "GET /credentials HTTP/1.1\r\nHost: localhost:" + port + "\r\n" + auth + "\r\n", 403},
		{"container: IPv6 loopback, which serve does not listen on", container, "GET /credentials HTTP/1.1\r\nHost: [::1]:" + port + "\r\n" + auth + "\r\n", 403},
		{"container: two Host headers", container, "GET /credentials HTTP/1.1\r\nHost: ADDR\r\nHost: evil.example\r\n" + auth + "\r\n", 400},
		{"container: absolute form naming another authority", container, "GET http://evil.example:" + port + "/credentials HTTP/1.1\r\nHost: ADDR\r\n" + auth + "\r\n", 403},
		{"container: absolute form naming serve still needs the token", container, "GET http://ADDR/credentials HTTP/1.1\r\nHost: evil.example\r\n\r\n", 401},
		{"container: headers past 16 KiB", container, "GET /credentials HTTP/1.1\r\nHost: ADDR\r\n" + auth + "X: " + strings.Repeat("a", 32<<10) + "\r\n\r\n", 431},
		{"imds v1: a GET naming serve is served", imds, "GET " + creds + " HTTP/1.1\r\nHost: ADDR\r\n\r\n", 200},
		{"imds v1: a rebound name gets nothing, without a token needed", imds, "GET " + creds + " HTTP/1.1\r\nHost: evil.example:" + iport + "\r\n\r\n", 403},
		{"imds: a token for a rebound name", imds, "PUT /latest/api/token HTTP/1.1\r\nHost: evil.example:" + iport + "\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n", 403},
		{"imds: HTTP/1.0 without Host", imds, "PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n", 403},
		{"imds: a relayed token request, empty X-Forwarded-For", imds, "PUT /latest/api/token HTTP/1.1\r\nHost: ADDR\r\nX-Forwarded-For: \r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n", 400},
		{"imds: a TTL past int64", imds, "PUT /latest/api/token HTTP/1.1\r\nHost: ADDR\r\nX-aws-ec2-metadata-token-ttl-seconds: 99999999999999999999999\r\n\r\n", 400},
		{"imds: a negative TTL", imds, "PUT /latest/api/token HTTP/1.1\r\nHost: ADDR\r\nX-aws-ec2-metadata-token-ttl-seconds: -1\r\n\r\n", 400},
		{"imds: a dot-dot path to the credentials", imds, "GET /latest/api/token/../../meta-data/iam/security-credentials/BillingReader HTTP/1.1\r\nHost: ADDR\r\n\r\n", 404},
	}
	for _, c := range cases {
		if got := rawStatus(t, c.addr, c.req); got != c.status {
			t.Errorf("%s: status %d, want %d", c.why, got, c.status)
		}
	}
}

// A local process opening connections as fast as it can and sending
// nothing: each costs serve memory and a descriptor until the header
// timeout, so without a bound serve grows to its descriptor limit. serve
// holds at most maxServeConns (here a small cap) open; the rest wait in
// the accept queue, and a client that follows the flood is still served.
func TestAbuse_ServeConnectionFlood(t *testing.T) {
	const limit = 8
	src := staticSource{creds: aws.Credentials{AccessKeyID: "ASIASERVETESTKEY0001", SecretAccessKey: "serveSecretValue0001", SessionToken: "serveTokenValue0001",
		Expires: time.Now().Add(time.Hour), CanExpire: true}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := newServer(&endpoint{src: src, token: "tok", host: addr, log: func(string, ...any) {}}, hostileLimits, t.Logf)
	// Counted where serve holds them: from Accept until the connection's
	// Close gives its slot back. (http.Server's ConnState hooks run after
	// the close, so counting there would see the next connection before
	// the last one's StateClosed and report one too many.)
	counted := &countingListener{Listener: limitConns(ln, limit)}
	go func() { _ = srv.Serve(counted) }()
	t.Cleanup(func() { _ = srv.Close() })
	for range 5 * limit {
		c := dial(t, addr)
		_, _ = c.Write([]byte("GET /credentials HTTP/1.1\r\n"))
	}
	if got := rawStatus(t, addr, "GET /credentials HTTP/1.1\r\nHost: ADDR\r\nAuthorization: tok\r\n\r\n"); got != 200 {
		t.Fatalf("a client after the flood got %d, want 200", got)
	}
	if peak := counted.peakOpen(); peak > limit {
		t.Fatalf("serve held %d connections open at once, want at most %d", peak, limit)
	} else if peak < limit {
		t.Fatalf("the flood held only %d connections open at once: it never reached the cap of %d, so the test proves nothing", peak, limit)
	}
}

// countingListener counts the connections its Listener hands out that
// are not yet closed, and the most ever open at once.
type countingListener struct {
	net.Listener
	mu         sync.Mutex
	open, peak int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.peak = max(l.peak, l.open)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

func (l *countingListener) peakOpen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

// Close counts the connection closed before the inner Close releases its
// slot, so a connection accepted into that slot is never counted beside it.
func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// exec killed outright (SIGKILL, the OOM killer) cannot pass a signal on:
// its child would run on with AWS_CONTAINER_CREDENTIALS_FULL_URI naming a
// port nobody holds, which another user could take and answer with
// credentials of their own. On Linux the kernel sends the child SIGTERM
// when exec dies (PR_SET_PDEATHSIG).
func TestAbuse_ExecKilledLeavesChildOnDeadPort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Log("only Linux ties the child's life to exec's")
		return
	}
	env := awstest.Start(t)
	bin := buildCLI(t)
	good := target(env, "exec-killed")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	parent := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_ENDPOINT_URL=" + env.URL, "AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=" + awstest.Region,
		"AWS_ACCESS_KEY_ID=AKIAKUMOTESTKEY00000", "AWS_SECRET_ACCESS_KEY=kumo-test-secret"}
	cmd, _, lines, errb := startExec(t, bin, parent, "--target", good.Name, "--config", cfgPath, "--", "sh", "-c", `echo $$; exec sleep 300`)
	if !lines.Scan() {
		t.Fatalf("the child did not start: %s", errb.String())
	}
	pid, err := strconv.Atoi(lines.Text())
	if err != nil {
		t.Fatalf("the child printed %q", lines.Text())
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	_ = cmd.Process.Kill()
	// The child holds the write end of exec's stdout pipe: the read end
	// sees EOF once the child has ended too.
	ended := make(chan bool, 1)
	go func() { ended <- !lines.Scan() }()
	select {
	case <-ended:
	case <-time.After(closeBound):
		t.Fatalf("exec was killed, and its child (pid %d) runs on against a dead endpoint", pid)
	}
	_ = cmd.Wait()
}
