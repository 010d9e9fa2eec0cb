package plan

import (
	"testing"

	"github.com/stsrotator/stsrotator/shared/config"
)

// Proves: the stack's region comes from the flag, then AWS_REGION, then
// the CDK CLI's CDK_DEFAULT_REGION, and is unknown when none is set, so
// validate and synth refuse a replica in it whenever they can know it.
func TestStackRegionFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	cases := []struct {
		proves string
		flag   string
		env    map[string]string
		want   config.StackRegion
	}{
		{"the flag wins", "eu-west-1", map[string]string{"AWS_REGION": "us-east-1", "CDK_DEFAULT_REGION": "us-west-2"}, config.StackRegion{Name: "eu-west-1", From: "--region"}},
		{"then AWS_REGION", "", map[string]string{"AWS_REGION": "us-east-1", "CDK_DEFAULT_REGION": "us-west-2"}, config.StackRegion{Name: "us-east-1", From: "AWS_REGION"}},
		{"then the CDK CLI's default", "", map[string]string{"CDK_DEFAULT_REGION": "us-west-2"}, config.StackRegion{Name: "us-west-2", From: "CDK_DEFAULT_REGION"}},
		{"else unknown", "", nil, config.StackRegion{}},
	}
	for _, c := range cases {
		if got := StackRegionFromEnv("--region", c.flag, env(c.env)); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.proves, got, c.want)
		}
	}
	// LoadIn runs the region's checks; Load cannot.
	cfg := []byte("targets:\n  - name: web\n    roleArn: arn:aws:iam::123456789012:role/Web\n    replicaRegions: [eu-west-1]\n")
	if _, err := LoadIn("c.yaml", cfg, config.StackRegion{Name: "eu-west-1", From: "CDK_DEFAULT_REGION"}); err == nil {
		t.Error("LoadIn accepted a replica in the stack's own region")
	}
	if _, err := Load("c.yaml", cfg); err != nil {
		t.Errorf("Load, region unknown: %v", err)
	}
}
