package awstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stsrotator/stsrotator/internal/emulator"
)

// MainWithKumoPort is Main for packages whose tests need kumo to deliver
// EventBridge events to Lambda functions. kumo addresses those deliveries
// to localhost:$KUMO_PORT, read once when its packages initialise — before
// any test code runs — so the test binary re-executes itself with
// KUMO_PORT set to a free port, and ServeKumoPort later listens there.
func MainWithKumoPort(m *testing.M) {
	if os.Getenv("KUMO_PORT") != "" {
		Main(m)
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "pick a port for kumo:", err)
		os.Exit(1)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("KUMO_PORT=%d", port))
	cmd.Stdout, cmd.Stderr, cmd.Stdin = os.Stdout, os.Stderr, os.Stdin
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "re-run tests with KUMO_PORT:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// ServeKumoPort makes this Env's emulator reachable at
// localhost:$KUMO_PORT, where kumo's EventBridge delivers to Lambda.
func (e *Env) ServeKumoPort(tb testing.TB) {
	tb.Helper()
	port, err := strconv.Atoi(os.Getenv("KUMO_PORT"))
	if err != nil {
		tb.Fatal("KUMO_PORT is not set: use awstest.MainWithKumoPort in TestMain")
	}
	srv, err := emulator.ServeOn(port, e.URL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
}
