package awstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Budgets every function binary must meet (issue figures).
const (
	MaxBootstrapBytes = 12 << 20
	MaxInit           = 20 * time.Millisecond
)

// CheckBudget builds functions/<name> for Lambda (linux/arm64, the flags of
// `make build`) and fails if it exceeds MaxBootstrapBytes; then starts the
// host build nine times under kumo's Runtime API and fails if the fastest
// start, process start to first poll, exceeds MaxInit. The fastest is the
// binary's own cost: on a 2-core machine running other test packages in
// parallel, scheduling noise only ever adds time. The median is reported.
func CheckBudget(t *testing.T, name string, env []string) {
	root := RepoRoot(t)
	arm := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", arm, "./functions/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("arm64 build: %v\n%s", err, b)
	}
	st, err := os.Stat(arm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s arm64 bootstrap: %.2f MB (budget %d MB)", name, float64(st.Size())/(1<<20), MaxBootstrapBytes>>20)
	if st.Size() > MaxBootstrapBytes {
		t.Errorf("%s bootstrap is %d bytes, over the %d budget", name, st.Size(), MaxBootstrapBytes)
	}

	e := Start(t)
	starts := func(label, bin string, env []string) []time.Duration {
		var inits []time.Duration
		for i := range 9 {
			f := e.RunFunction(t, e.Unique(fmt.Sprintf("%s-%d", label, i)), bin, env, nil)
			inits = append(inits, f.Init)
			f.Stop(t)
		}
		slices.Sort(inits)
		return inits
	}
	inits := starts(name, BuildFunction(t, root, name), env)
	base := starts("noop", BuildPackage(t, root, "./internal/awstest/testdata/noop"), nil)
	t.Logf("%s init, process start to first Runtime API poll, 9 starts: fastest %s, median %s, slowest %s (budget %s); baseline no-op function median %s, ratio %.2f",
		name, inits[0], inits[4], inits[8], MaxInit, base[4], float64(inits[4])/float64(base[4]))
	if inits[0] > MaxInit {
		t.Errorf("%s fastest init %s is over the %s budget", name, inits[0], MaxInit)
	}
}
