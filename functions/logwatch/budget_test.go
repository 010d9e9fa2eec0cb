// Budget tests time things, so they run without the race detector's
// slowdown, one package at a time: see the test target in the Makefile.

//go:build !race

package main

import (
	"path/filepath"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

// Issue budget: bootstrap ≤ 12 MB, init ≤ 20 ms.
func TestBootstrapBudget(t *testing.T) {
	awstest.CheckBudget(t, "logwatch", []string{lambdaenv.ConfigPath + "=" + filepath.Join(awstest.RepoRoot(t), "stsrotator.yaml")})
}
