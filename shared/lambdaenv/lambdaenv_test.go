package lambdaenv

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	file := filepath.Join(t.TempDir(), "clock")
	if err := SetDevClock(file, 41*time.Minute); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		why      string
		endpoint string
		want     time.Duration
	}{
		{"on an emulator the dev clock moves time", "http://127.0.0.1:4566", 41 * time.Minute},
		{"on AWS (no endpoint override) the dev clock is ignored", "", 0},
	}
	for _, c := range cases {
		t.Setenv(DevClockFile, file)
		t.Setenv("AWS_ENDPOINT_URL", c.endpoint)
		got := time.Until(Clock()())
		if d := got - c.want; d < -time.Minute || d > time.Minute {
			t.Errorf("%s: clock is %s ahead, want %s", c.why, got.Round(time.Minute), c.want)
		}
	}
}

func TestRotatorFor(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LAMBDA_TASK_ROOT", dir)
	t.Setenv(RotatorFunction, "")
	if _, err := RotatorFor(); err == nil {
		t.Fatal("with no routes file and no function name the reactor cannot reach a rotator: want an error")
	}
	t.Setenv(RotatorFunction, "stsrotator-rotator")
	f, err := RotatorFor()
	if err != nil || f("any") != "stsrotator-rotator" {
		t.Fatalf("without a routes file every target goes to %s: %v", RotatorFunction, err)
	}
	if err := os.WriteFile(filepath.Join(dir, RoutesFile), []byte(`{"a":"lane-1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err = RotatorFor()
	if err != nil || f("a") != "lane-1" || f("b") != "stsrotator-rotator" {
		t.Fatalf("routes file: a→%s b→%s, %v", f("a"), f("b"), err)
	}
}
