package localstack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// maxSilence is the longest a command a user runs may print nothing.
const maxSilence = 10 * time.Second

// Issue 21 §2 and §6: a warm `make local`, phase by phase, as make runs
// it: the host binaries (make local-bins, the same recipe), the --check,
// then stsrotator-local itself (supervisor, emulator, functions, the
// scripted demo; --once) from a checkout of its own. Every line the user
// reads is checked for internal paths, emulator and function log lines and
// terminal escapes, and no gap between two lines may exceed 10 s. The
// assembly is the one this package's tests synthesized with make synth,
// so there is no synth phase: a warm run has none either.
func TestMakeLocalWarmRunReadsPlainAndNeverGoesQuiet(t *testing.T) {
	root := awstest.RepoRoot(t)
	asm := synthesized(t)
	ctx := awstest.Context(t)
	bin := t.TempDir()
	build := func() time.Duration {
		start := time.Now()
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "local-bins", "LOCAL_BIN="+bin)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make local-bins: %v\n%s", err, out)
		} else if len(out) > 0 {
			t.Errorf("make local-bins printed %q; make local shows its own progress line instead", out)
		}
		return time.Since(start)
	}
	cold := build() // whatever this machine's cache held
	warm := build()

	checkout := t.TempDir()
	local := filepath.Join(bin, "stsrotator-local")
	checkStart := time.Now()
	chk := exec.CommandContext(ctx, local, "--check")
	chk.Dir = checkout
	if out, err := chk.CombinedOutput(); err != nil {
		t.Fatalf("stsrotator-local --check: %v\n%s", err, out)
	}
	check := time.Since(checkStart)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.CommandContext(ctx, local, "--once", "--bin", bin, "--assembly", asm, "--port", fmt.Sprint(port))
	cmd.Dir = checkout
	lines, err := timedLines(ctx, cmd)
	if err != nil {
		t.Fatalf("stsrotator-local --once: %v\n%s", err, joinLines(lines))
	}

	phases := map[string]time.Duration{}
	last := time.Duration(0)
	for _, l := range lines {
		if why := plainLine(l.text); why != "" {
			t.Errorf("make local printed %q: %s", l.text, why)
		}
		if gap := l.at - last; gap > maxSilence {
			t.Errorf("make local was silent for %s before %q", gap.Round(time.Millisecond), l.text)
		}
		last = l.at
		for _, p := range []string{"up: ", "first credential minted", "stopped: "} {
			if _, seen := phases[p]; !seen && strings.Contains(l.text, p) {
				phases[p] = l.at
			}
		}
	}
	// Issue 21's trial: under --once the narration pointed to an export
	// line "printed at the end" that never came. A line promising a later
	// one is followed by it.
	for i, l := range lines {
		if !strings.Contains(l.text, "printed at the end") && !strings.Contains(l.text, "export line below") {
			continue
		}
		printed := false
		for _, later := range lines[i+1:] {
			printed = printed || strings.HasPrefix(strings.TrimSpace(later.text), "export ")
		}
		if !printed {
			t.Errorf("make local --once promised an export line that it never printed: %q\n%s", l.text, joinLines(lines))
		}
	}
	for _, p := range []string{"up: ", "first credential minted", "stopped: "} {
		if _, ok := phases[p]; !ok {
			t.Errorf("make local never printed %q:\n%s", p, joinLines(lines))
		}
	}
	if warm > maxSilence {
		t.Errorf("a warm make local-bins took %s: make local would wait that long before its first line of narration", warm)
	}
	t.Logf("phases: local-bins %s (first build in this test %s), --check %s, emulator and functions up %s, first credential %s, demo done %s",
		warm.Round(time.Millisecond), cold.Round(time.Millisecond), check.Round(time.Millisecond),
		phases["up: "].Round(time.Millisecond), phases["first credential minted"].Round(time.Millisecond), phases["stopped: "].Round(time.Millisecond))
}

type timedLine struct {
	at   time.Duration
	text string
}

// timedLines runs cmd with stdout and stderr in one pipe, as a terminal
// shows them, and stamps each line with when it arrived.
func timedLines(ctx context.Context, cmd *exec.Cmd) ([]timedLine, error) {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.Env = append(os.Environ(), "TERM=dumb")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan []timedLine)
	go func() {
		var lines []timedLine
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines = append(lines, timedLine{time.Since(start), sc.Text()})
		}
		done <- lines
	}()
	err := cmd.Wait()
	_ = pw.Close()
	lines := <-done
	lines = append(lines, timedLine{time.Since(start), "(exit)"})
	return lines, err
}

func joinLines(ls []timedLine) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%6.1fs %s\n", l.at.Seconds(), l.text)
	}
	return b.String()
}
