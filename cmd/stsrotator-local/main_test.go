package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/localstack"
)

// Issue 15 §6: two `make local` runs in one checkout shared .local/, and
// the second deleted the first's binaries and dev clock. The second is now
// refused with a clear message before it touches anything. The first run
// is stood in for by this test holding the claim, so no emulator or synth
// is needed.
func TestSecondRunInOneCheckoutIsRefused(t *testing.T) {
	// A plain build shares the cache `go test` just filled.
	bin := filepath.Join(t.TempDir(), "stsrotator-local")
	build := exec.Command("go", "build", "-o", bin, "./cmd/stsrotator-local")
	build.Dir = awstest.RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	checkout := t.TempDir()
	work := filepath.Join(checkout, ".local")
	release, err := localstack.ClaimWorkDir(work)
	if err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(work, "bin", "stsrotator")
	if err := os.MkdirAll(filepath.Dir(first), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first, []byte("the first run's binary"), 0o755); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "--once", "--port", "1", "--assembly", filepath.Join(checkout, "cdk.out"))
	cmd.Dir, cmd.Stdout, cmd.Stderr = checkout, &stdout, &stderr
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + checkout}
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(stderr.String(), "is held by another run (pid") || !strings.Contains(stderr.String(), "fix: stop that run") {
		t.Fatalf("second run: exit %d (%v)\nstdout %s\nstderr %s\nwant a refusal naming the first run and the fix", code, err, stdout.String(), stderr.String())
	}
	if b, err := os.ReadFile(first); err != nil || string(b) != "the first run's binary" {
		t.Fatalf("the refused run touched the first run's files: %q, %v", b, err)
	}

	// make local runs --check before its synth: refused while the first
	// run holds .local, allowed once it is gone.
	check := func() (int, string) {
		var stderr bytes.Buffer
		c := exec.Command(bin, "--check")
		c.Dir, c.Stderr, c.Env = checkout, &stderr, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + checkout}
		_ = c.Run()
		return c.ProcessState.ExitCode(), stderr.String()
	}
	if code, msg := check(); code == 0 || !strings.Contains(msg, "is held by another run") {
		t.Fatalf("--check while a run holds .local: exit %d, %q", code, msg)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if code, msg := check(); code != 0 {
		t.Fatalf("--check with .local free: exit %d, %q", code, msg)
	}
}
