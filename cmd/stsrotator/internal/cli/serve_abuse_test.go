package cli

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// Issue 19 §6: a local user who binds serve's fixed port while serve is
// down receives the token SDKs read from the token file; serve used to
// come back with the same token, which then opened the real endpoint to
// them. Now every start writes a new token to the file: the captured one
// is refused, and a client that reads the file (the real AWS CLI, through
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE) keeps working across the
// restart.
func TestAbuse_ServeTokenReusedAcrossRestart(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	home := t.TempDir()
	good := target(env, "restarted")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	port := strconv.Itoa(freePort(t))
	tokenFile := filepath.Join(t.TempDir(), "serve.token")
	args := []string{"--target", good.Name, "--config", cfgPath, "--port", port, "--token-file", tokenFile}

	first := startServe(t, bin, binEnv(env, home), args...)
	if first.vars[EnvContainerTokenFile] != tokenFile || first.vars[EnvContainerToken] != "" || strings.Join(first.unset, " ") != EnvContainerToken {
		t.Fatalf("serve printed %v, unset %v: want the token file exported instead of the token, and the token unset", first.vars, first.unset)
	}
	uri := first.vars[EnvContainerFullURI]
	client := consumerEnv(env, home, EnvContainerFullURI+"="+uri, EnvContainerTokenFile+"="+tokenFile)
	if out := awsCLI(t, client, "sts", "get-caller-identity"); !strings.Contains(out, `"Arn"`) {
		t.Fatalf("aws sts get-caller-identity printed %s", out)
	}
	first.stop()
	if !strings.Contains(first.stderr.String(), "GET /credentials 200 key ASIA") {
		t.Fatalf("the AWS CLI did not take its credentials from serve: %s", first.stderr.String())
	}

	// serve is down; the attacker holds the port and the client comes
	// asking with the token in the file.
	captured := captureToken(t, "127.0.0.1:"+port, func() {
		_ = awsCLIFails(client, "sts", "get-caller-identity")
	})
	if old, _ := os.ReadFile(tokenFile); captured == "" || captured != string(old) {
		t.Fatalf("the attacker's listener did not receive the file's token (got %d characters)", len(captured))
	}

	second := startServe(t, bin, binEnv(env, home), args...)
	if second.vars[EnvContainerFullURI] != uri {
		t.Fatalf("serve came back on %s, not %s", second.vars[EnvContainerFullURI], uri)
	}
	if now, _ := os.ReadFile(tokenFile); string(now) == captured {
		t.Fatal("serve came back with the token of its previous start")
	}
	req, _ := http.NewRequest(http.MethodGet, uri, nil)
	req.Header.Set("Authorization", captured)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the captured token got %d from the restarted serve, want 401", resp.StatusCode)
	}
	if out := awsCLI(t, client, "sts", "get-caller-identity"); !strings.Contains(out, `"Arn"`) {
		t.Fatalf("after the restart, aws sts get-caller-identity printed %s", out)
	}
	second.stop()
	if !strings.Contains(second.stderr.String(), "GET /credentials 200 key ASIA") {
		t.Fatalf("after the restart the AWS CLI did not get credentials from serve: %s", second.stderr.String())
	}
	noSecrets(t, "serve stderr", first.stderr.String()+second.stderr.String())
}

// captureToken listens on addr as an attacker would, runs client, and
// returns the Authorization header the client sent.
func captureToken(t *testing.T, addr string, client func()) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got string
	srv := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Get("Authorization")
		mu.Unlock()
		http.Error(w, "{}", http.StatusInternalServerError)
	})}
	go func() { _ = srv.Serve(ln) }()
	client()
	_ = srv.Close()
	mu.Lock()
	defer mu.Unlock()
	return got
}

// awsCLIFails runs the AWS CLI expecting it may fail.
func awsCLIFails(env []string, args ...string) error {
	cmd := exec.Command("aws", args...)
	cmd.Env = env
	return cmd.Run()
}

// Issue 19 §6: a token file path that is a symbolic link would send the
// token wherever the link points (a file another user reads, or creates
// later). serve refuses it, and neither the link nor what it points to
// changes.
func TestAbuse_ServeTokenFileSymlink(t *testing.T) {
	dir := t.TempDir()
	elsewhere := filepath.Join(t.TempDir(), "readable-by-all")
	if err := os.WriteFile(elsewhere, []byte("untouched"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ why, to string }{
		{"a link to an existing file others can read", elsewhere},
		{"a dangling link to a file another user would create", filepath.Join(t.TempDir(), "not-yet")},
	} {
		link := filepath.Join(dir, strconv.Itoa(len(c.why)))
		if err := os.Symlink(c.to, link); err != nil {
			t.Fatal(err)
		}
		a, out, errb := testApp(nil, time.Now, nil)
		r := execute(t, a, out, errb, "serve", "--secret-id", "stsrotator/unread", "--port", "9", "--token-file", link)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "is a symbolic link") || out.String() != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %s; want exit %d saying the file is a symbolic link, nothing printed", c.why, r.code, out, r.stderr, ExitUsage)
		}
		if err := writeTokenFile(link, strings.Repeat("f", 64)); err == nil {
			t.Errorf("%s: writeTokenFile wrote through the link", c.why)
		}
		if got, _ := os.Readlink(link); got != c.to {
			t.Errorf("%s: the link now points to %q", c.why, got)
		}
	}
	if b, _ := os.ReadFile(elsewhere); string(b) != "untouched" {
		t.Fatalf("the file the link points to now holds %q", b)
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(elsewhere), "not-yet")); err == nil {
		t.Fatal("the dangling link's target was created")
	}
}

// Issue 19 §6: a token file another user owns (planted before serve first
// ran, so they can read what serve writes, or have put their own token in
// it) is refused, and left as it was. The tests run as root, so the file
// is given to nobody (65534) for real; run as another user, the same file
// is root's.
func TestAbuse_ServeForeignOwnedTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serve.token")
	planted := strings.Repeat("p", 64)
	if err := os.WriteFile(path, []byte(planted), 0o600); err != nil {
		t.Fatal(err)
	}
	other := 65534
	if os.Getuid() != 0 {
		other = 0
		path = "/etc/hostname" // owned by root on every test machine
		b, _ := os.ReadFile(path)
		planted = string(b)
	} else if err := os.Chown(path, other, other); err != nil {
		t.Fatal(err)
	}
	a, out, errb := testApp(nil, time.Now, nil)
	r := execute(t, a, out, errb, "serve", "--secret-id", "stsrotator/unread", "--port", "9", "--token-file", path)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "is owned by uid "+strconv.Itoa(other)+", not by you") || out.String() != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s; want exit %d naming the owner", r.code, out, r.stderr, ExitUsage)
	}
	if err := writeTokenFile(path, strings.Repeat("f", 64)); err == nil {
		t.Fatal("writeTokenFile replaced a file another user owns")
	}
	if b, _ := os.ReadFile(path); string(b) != planted {
		t.Fatalf("the foreign file now holds %q", b)
	}
}

// Issue 19 §6: with the right token, a request naming another Host (a
// page whose name was rebound to 127.0.0.1, a proxy forwarding to the
// port) is refused with 403; the address serve listens on is served.
func TestAbuse_ServeHostHeader(t *testing.T) {
	addr, logs := startEndpoint(t, hostileLimits)
	_, port, _ := net.SplitHostPort(addr)
	for _, c := range []struct {
		why, host string
		status    int
	}{
		{"a foreign name is refused", "evil.example", http.StatusForbidden},
		{"a foreign name with serve's port is refused", "evil.example:" + port, http.StatusForbidden},
		{"loopback on another port is refused", "127.0.0.1:1", http.StatusForbidden},
		{"the address serve listens on is served", addr, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+CredentialsPath, nil)
		req.Host = c.host
		req.Header.Set("Authorization", "tok")
		resp, err := (&http.Client{Timeout: closeBound}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d", c.why, resp.StatusCode, c.status)
		}
	}
	if !strings.Contains(logs.String(), `Host "evil.example" is not `+addr) {
		t.Errorf("the log does not say which Host was refused:\n%s", logs)
	}
}
