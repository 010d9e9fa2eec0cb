package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// hostileLimits are serve's bounds shrunk so a stalled connection is cut
// within a test's patience; closeBound is how long a test waits for that.
var hostileLimits = ServeLimits{Header: 150 * time.Millisecond, Read: 300 * time.Millisecond, Write: 300 * time.Millisecond, Idle: 150 * time.Millisecond}

const closeBound = 3 * time.Second

// startEndpoint serves a fixed key over real TCP on loopback with the
// given limits and returns its address and its log.
func startEndpoint(t *testing.T, l ServeLimits) (string, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	logf := func(f string, a ...any) {
		_, _ = logs.Write([]byte("stsrotator serve: " + strings.TrimSpace(sprintf(f, a...)) + "\n"))
	}
	src := staticSource{creds: aws.Credentials{AccessKeyID: "ASIASERVETESTKEY0001", SecretAccessKey: "serveSecretValue0001", SessionToken: "serveTokenValue0001",
		Expires: time.Now().Add(time.Hour), CanExpire: true}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(&endpoint{src: src, token: "tok", host: ln.Addr().String(), log: logf}, l, logf)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), logs
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByServer reads until the server closes the connection and fails
// if that takes longer than closeBound: a connection the server never
// closes is the descriptor leak the limits exist to prevent.
func closedByServer(t *testing.T, r io.Reader, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(closeBound))
	_, err := io.Copy(io.Discard, r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still holds the connection after %s", closeBound)
	}
}

// A local client that stalls in any phase of a request is cut off; a
// refused client is not kept at all. Before the limits, each of these held
// its connection indefinitely, and a few hundred of them starved a
// legitimate client of descriptors.
func TestServeCutsOffStalledClients(t *testing.T) {
	addr, _ := startEndpoint(t, hostileLimits)
	t.Run("a refused client that promises a body it never sends is answered and closed", func(t *testing.T) {
		c := dial(t, addr)
		_, _ = io.WriteString(c, "GET /credentials HTTP/1.1\r\nHost: "+addr+"\r\nContent-Length: 10\r\n\r\n")
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(closeBound))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Fatalf("status %d, close %v: want 401 with Connection: close", resp.StatusCode, resp.Close)
		}
		closedByServer(t, br, c)
	})
	t.Run("an authorised body trickling one byte at a time is cut at the read limit", func(t *testing.T) {
		c := dial(t, addr)
		_, _ = io.WriteString(c, "GET /credentials HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: tok\r\nContent-Length: 100000\r\n\r\n")
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for range 100000 { // bounded: the body's promised length
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := c.Write([]byte{'x'}); err != nil {
					return
				}
			}
		}()
		closedByServer(t, c, c)
	})
	t.Run("a connection that never sends a byte is cut at the header limit", func(t *testing.T) {
		c := dial(t, addr)
		closedByServer(t, c, c)
	})
	t.Run("headers trickling forever are cut at the header limit", func(t *testing.T) {
		c := dial(t, addr)
		_, _ = io.WriteString(c, "GET /credentials HTTP/1.1\r\n")
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for range 100000 {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := io.WriteString(c, "X: y\r\n"); err != nil {
					return
				}
			}
		}()
		closedByServer(t, c, c)
	})
	t.Run("a served client's idle keep-alive is cut at the idle limit", func(t *testing.T) {
		c := dial(t, addr)
		_, _ = io.WriteString(c, "GET /credentials HTTP/1.1\r\nHost: "+addr+"\r\nAuthorization: tok\r\n\r\n")
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(closeBound))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != 200 || resp.Close {
			t.Fatalf("status %d close %v err %v: want a kept-alive 200", resp.StatusCode, resp.Close, err)
		}
		closedByServer(t, br, c)
	})
	t.Run("a legitimate client is served while many stalled ones are cut", func(t *testing.T) {
		conns := make([]net.Conn, 64)
		for i := range conns {
			conns[i] = dial(t, addr)
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+CredentialsPath, nil)
		req.Header.Set("Authorization", "tok")
		resp, err := (&http.Client{Timeout: closeBound}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for _, c := range conns {
			closedByServer(t, c, c)
		}
	})
}

// Everything a client controls is escaped before it reaches serve's log
// (the operator's terminal): a %0A cannot forge a line, an ESC cannot
// clear the screen.
func TestServeEscapesWhatClientsSend(t *testing.T) {
	addr, logs := startEndpoint(t, hostileLimits)
	paths := []string{
		"/credentials%0Astsrotator%20serve:%20GET%20/credentials%20200%20key%20ASIA%E2%80%A6FAKE",
		"/%1B%5B2J%1B%5BH",
		"/%E2%80%AEevil",
		"/%FF%FE",
	}
	for _, p := range paths {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+p, nil)
		resp, err := (&http.Client{Timeout: closeBound}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	out := logs.String()
	if n := strings.Count(out, "\n"); n != len(paths) {
		t.Fatalf("%d requests made %d log lines:\n%s", len(paths), n, out)
	}
	for _, bad := range []string{"\x1b", "\u202e", "\xff"} {
		if strings.Contains(out, bad) {
			t.Fatalf("the log carries %q raw:\n%s", bad, out)
		}
	}
	for _, want := range []string{`/credentials\nstsrotator serve: GET`, `/\x1b[2J\x1b[H`, `/\u202eevil`, `/\xff\xfe`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks the escaped form %s:\n%s", want, out)
		}
	}
}

// printable keeps ordinary text and escapes the rest, and running it twice
// changes nothing.
func TestPrintable(t *testing.T) {
	cases := []struct{ why, in, want string }{
		{"plain text, spaces, punctuation and non-ASCII letters pass", `GET /credentials 200 key ASIA…0001 "ok" \ é`, `GET /credentials 200 key ASIA…0001 "ok" \ é`},
		{"a newline cannot start a new log line", "a\nb\r\n", `a\nb\r\n`},
		{"ESC and other C0 controls are escaped", "\x1b[2J\x07\x00", `\x1b[2J\x07\x00`},
		{"DEL and C1 controls are escaped", "\x7f\u009b", `\x7f\u009b`},
		{"bidi overrides are escaped", "a\u202eb", `a\u202eb`},
		{"invalid UTF-8 bytes are escaped", "a\xffb", `a\xffb`},
	}
	for _, c := range cases {
		if got := printable(c.in); got != c.want || printable(got) != got {
			t.Errorf("%s: printable(%q) = %q, want %q (and idempotent)", c.why, c.in, got, c.want)
		}
	}
}

// The token file is what keeps clients working across a restart of
// serve, so it must be one botocore accepts and nobody else can read; a
// restart replaces the token in it.
func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	for i, tok := range []string{strings.Repeat("a", 64), strings.Repeat("b", 64)} {
		if i == 1 {
			// An earlier file of the user's with a loose mode is replaced
			// by one only they can read.
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := writeTokenFile(path, tok); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		info, _ := os.Lstat(path)
		if string(b) != tok || info.Mode() != 0o600 {
			t.Fatalf("start %d wrote %q (mode %v): want the token alone, no newline, a regular file of mode 0600", i, b, info.Mode())
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".token.*")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Chmod(filepath.Dir(open), 0o777); err != nil {
		t.Fatal(err)
	}
	sticky := filepath.Join(t.TempDir(), "sticky")
	if err := os.Chmod(filepath.Dir(sticky), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		why, path, want string
	}{
		{"a directory where the file should be is refused", dir, "not a regular file"},
		{"a world-writable directory without the sticky bit is refused", open, "sticky bit"},
		{"a world-writable directory with the sticky bit (like /tmp) is accepted", sticky, ""},
	}
	for _, c := range cases {
		err := writeTokenFile(c.path, strings.Repeat("c", 64))
		if c.want == "" && err != nil || c.want != "" && (err == nil || codeOf(err) != ExitUsage || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: err %v, want a usage error containing %q", c.why, err, c.want)
		}
	}
}

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }

// status shows what secrets' tags and metadata carry; whoever can write a
// secret must not be able to put escapes or extra lines on the operator's
// terminal through it.
func TestStatusTableEscapesSecretContent(t *testing.T) {
	var b strings.Builder
	now := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	rows := []Row{{Target: "evil\x1b[2J\nFAKE OK", RoleArn: "arn:aws:iam::123456789012:role/R\u202e", Health: HealthInvalid, Problem: "bad\rvalue"}}
	if err := writeTable(&b, rows, now, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\x1b\r\u202e") || strings.Count(out, "\n") != 2 {
		t.Fatalf("the table carries raw control characters or extra lines:\n%q", out)
	}
	for _, want := range []string{`evil\x1b[2J\nFAKE OK`, `bad\rvalue`} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks the escaped %s:\n%s", want, out)
		}
	}
}
