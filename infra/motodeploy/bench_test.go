package motodeploy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stsrotator/stsrotator/infra/plan/plantest"
	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/mototest"
)

// BenchmarkMotoDeploy times `cdk deploy --all` of one synthesized
// 2,000-target assembly (synth excluded) on moto as mototest starts it,
// with JSON templates parsed as JSON, against the baseline of moto's own
// parse of every template with PyYAML's pure-Python loader
// (MOTOTEST_PYYAML_TEMPLATES=1). Each iteration gets a fresh, bootstrapped
// moto; only the deploy is timed.
//
//	go test -run '^$' -bench BenchmarkMotoDeploy -benchtime 1x ./infra/motodeploy/
func BenchmarkMotoDeploy(b *testing.B) {
	root := awstest.RepoRoot(b)
	dir := b.TempDir()
	cfg := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(cfg, plantest.Config(2000), 0o600); err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(dir, "cdk.out")
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) < 4 || kv[:4] != "AWS_" {
			env = append(env, kv)
		}
	}
	env = append(env, "CDK_DISABLE_VERSION_CHECK=1", "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION=1",
		"JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=18,20")
	cdk(b, root, root, env, "synth", "--quiet", "-c", "config="+cfg, "-c", "stackName=big", "-o", out)
	for _, c := range []struct{ name, pyyaml string }{{"pyyaml-baseline", "1"}, {"json-first", ""}} {
		b.Run(c.name, func(b *testing.B) {
			b.Setenv("MOTOTEST_PYYAML_TEMPLATES", c.pyyaml)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s := mototest.Start(b)
				env := cdkEnv(s)
				cdk(b, root, b.TempDir(), env, "bootstrap", "aws://"+mototest.Account+"/"+mototest.Region)
				b.StartTimer()
				cdk(b, root, b.TempDir(), env, "deploy", "--all", "--require-approval", "never", "--app", out)
				b.StopTimer()
				s.Close()
			}
		})
	}
}
