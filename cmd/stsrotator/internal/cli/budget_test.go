// Budget tests time things, so they run without the race detector's
// slowdown, one package at a time: see the test target in the Makefile.

//go:build !race

package cli

import (
	"bytes"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// Issue budget: credential-process end to end against kumo, process start
// included, has a median of at most 100 ms. Reported against two
// baselines run interleaved in the same loop: `true` (the cost of any
// process start) and `stsrotator version` (this binary's own start).
func TestCredentialProcessLatencyBudget(t *testing.T) {
	const runs = 21
	env := awstest.Start(t)
	bin := buildCLI(t)
	home := t.TempDir()
	good := target(env, "timed")
	mint(t, env, good)
	name, cfgPath := good.Name, writeConfig(t, good)
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatalf("the baseline needs true(1) on PATH: %v", err)
	}
	timed := func(args []string, extra ...string) (time.Duration, string) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env, cmd.Stdout, cmd.Stderr = binEnv(env, home, extra...), &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		_, _ = awstest.Logs.Write(stderr.Bytes())
		if err != nil {
			t.Fatalf("%v: %v: %s", args, err, stderr.String())
		}
		return d, stderr.String()
	}
	var noop, version, full []time.Duration
	phase := map[string][]time.Duration{}
	for range runs {
		d, _ := timed([]string{truePath})
		noop = append(noop, d)
		d, _ = timed([]string{bin, "version"})
		version = append(version, d)
		d, errOut := timed([]string{bin, "credential-process", "--target", name, "--config", cfgPath}, EnvTimings+"=1")
		full = append(full, d)
		var inProcess time.Duration
		for _, f := range strings.Fields(strings.TrimPrefix(strings.TrimSpace(errOut), "timings: ")) {
			k, v, _ := strings.Cut(f, "=")
			ms, err := strconv.ParseFloat(strings.TrimSuffix(v, "ms"), 64)
			if err != nil {
				t.Fatalf("timings line %q", errOut)
			}
			pd := time.Duration(ms * float64(time.Millisecond))
			phase[k] = append(phase[k], pd)
			inProcess += pd
		}
		phase["start"] = append(phase["start"], d-inProcess)
	}
	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	m := med(full)
	t.Logf("credential-process, %d runs: median %s (min %s, max %s); baselines: true %s (ratio %.1f), stsrotator version %s (ratio %.1f); breakdown medians: process start+exit %s, config load %s, GetSecretValue %s, print %s",
		runs, m.Round(time.Microsecond*100), slices.Min(full).Round(time.Microsecond*100), slices.Max(full).Round(time.Microsecond*100),
		med(noop).Round(time.Microsecond*100), float64(m)/float64(med(noop)), med(version).Round(time.Microsecond*100), float64(m)/float64(med(version)),
		med(phase["start"]).Round(time.Microsecond*100), med(phase["config"]).Round(time.Microsecond*10), med(phase["get"]).Round(time.Microsecond*10), med(phase["print"]).Round(time.Microsecond))
	if m > 100*time.Millisecond {
		t.Fatalf("credential-process median %s is over the 100ms budget", m)
	}
}
