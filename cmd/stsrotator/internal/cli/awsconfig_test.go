package cli

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The CLI reads the standard AWS configuration, and its flags win.
func TestLoadAWS(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "config")
	if err := os.WriteFile(conf, []byte("[profile eu]\nregion = eu-west-1\n[profile bare]\noutput = json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", dir)
	t.Setenv("AWS_CONFIG_FILE", conf)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER"} {
		t.Setenv(k, "")
	}
	cases := []struct {
		why      string
		env      map[string]string
		g        Globals
		region   string
		endpoint string
		code     int
	}{
		{"--profile selects a shared-config profile and its region", nil, Globals{Profile: "eu"}, "eu-west-1", "", ExitOK},
		{"AWS_PROFILE does the same", map[string]string{"AWS_PROFILE": "eu"}, Globals{}, "eu-west-1", "", ExitOK},
		{"--region beats the profile's region", nil, Globals{Profile: "eu", Region: "ap-south-1"}, "ap-south-1", "", ExitOK},
		{"AWS_REGION is read", map[string]string{"AWS_REGION": "us-west-2"}, Globals{}, "us-west-2", "", ExitOK},
		{"AWS_ENDPOINT_URL is honoured", map[string]string{"AWS_REGION": "us-west-2", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, Globals{}, "us-west-2", "http://127.0.0.1:4566", ExitOK},
		{"--endpoint-url beats AWS_ENDPOINT_URL", map[string]string{"AWS_REGION": "us-west-2", "AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, Globals{EndpointURL: "http://127.0.0.1:9999"}, "us-west-2", "http://127.0.0.1:9999", ExitOK},
		{"no region anywhere is a usage error naming the fix", nil, Globals{Profile: "bare"}, "", "", ExitUsage},
		{"an unknown profile is a usage error", nil, Globals{Profile: "nope"}, "", "", ExitUsage},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, err := LoadAWS(context.Background(), c.g)
			if code := codeOf(err); err != nil && code != c.code || err == nil && c.code != ExitOK {
				t.Fatalf("err %v (exit %d), want exit %d", err, code, c.code)
			}
			if err != nil {
				return
			}
			if cfg.Region != c.region || aws.ToString(cfg.BaseEndpoint) != c.endpoint {
				t.Fatalf("region %q endpoint %q, want %q %q", cfg.Region, aws.ToString(cfg.BaseEndpoint), c.region, c.endpoint)
			}
		})
	}
}
