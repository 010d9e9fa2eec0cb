// Budget tests time things, so they run without the race detector's
// slowdown, one package at a time: see the test target in the Makefile.

//go:build !race

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

// Issue budget: bootstrap ≤ 12 MB, init ≤ 20 ms (the example config, so
// parsing a real file is part of the measured start).
func TestBootstrapBudget(t *testing.T) {
	cfg, err := filepath.Abs(filepath.Join(awstest.RepoRoot(t), "stsrotator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg); err != nil {
		t.Fatal(err)
	}
	awstest.CheckBudget(t, "rotator", []string{lambdaenv.ConfigPath + "=" + cfg})
}
