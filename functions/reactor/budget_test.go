//go:build !race

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

// Issue budget: bootstrap ≤ 12 MB, init ≤ 20 ms.
func TestBootstrapBudget(t *testing.T) {
	cfg := filepath.Join(awstest.RepoRoot(t), "stsrotator.yaml")
	if _, err := os.Stat(cfg); err != nil {
		t.Fatal(err)
	}
	awstest.CheckBudget(t, "reactor", []string{lambdaenv.ConfigPath + "=" + cfg, lambdaenv.TopicArn + "=arn:aws:sns:us-east-1:000000000000:alerts", lambdaenv.RotatorFunction + "=rotator"})
}
