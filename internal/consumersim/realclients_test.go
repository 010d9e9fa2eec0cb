package consumersim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// fixed is a source that always returns the same credentials.
type fixed struct{ c Creds }

func (f fixed) Fetch(context.Context, time.Time) (Creds, error) { return f.c, nil }

// predict is how many times a model's source runs for n requests at now
// with a copy that has left to run, whatever it fetches.
func predict(s Spec, n int, left time.Duration) int {
	now := time.Now()
	c := &Cache{Spec: s, Src: fixed{Creds{Key: "ASIAEXAMPLE", Expires: now.Add(left)}}}
	for range n {
		if _, err := c.Sign(context.Background(), now); err != nil {
			panic(err)
		}
	}
	return c.Fetches()
}

// countingProcess writes a credential_process that prints credentials
// expiring at exp and appends a line to a counter at each run; it
// returns the command and a function reading the count.
func countingProcess(t *testing.T, exp time.Time) (string, func() int) {
	t.Helper()
	dir := t.TempDir()
	counter, out := filepath.Join(dir, "runs"), filepath.Join(dir, "creds.json")
	b, _ := json.Marshal(map[string]any{"Version": 1, "AccessKeyId": "ASIAEXAMPLEKEY00001", "SecretAccessKey": "secret", "SessionToken": "token",
		"Expiration": exp.UTC().Format(time.RFC3339)})
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "counted-process")
	if err := os.WriteFile(script, fmt.Appendf(nil, "#!/bin/sh\necho run >> %q\ncat %q\n", counter, out), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, func() int {
		b, _ := os.ReadFile(counter)
		return strings.Count(string(b), "run")
	}
}

// profileEnv is an environment with one profile, "p", whose
// credential_process is proc, and nothing else to find credentials in.
func profileEnv(t *testing.T, proc, endpoint string) []string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[profile p]\nregion = %s\ncredential_process = %s\n", awstest.Region, proc), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "AWS_CONFIG_FILE=" + cfg, "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=" + awstest.Region, "AWS_DEFAULT_REGION=" + awstest.Region, "AWS_ENDPOINT_URL=" + endpoint}
}

func run(t *testing.T, env []string, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Env, cmd.Dir, cmd.Stderr = env, dir, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
}

// Issue 22 proof: botocore's 15-minute advisory window, with the real
// boto3 and the real AWS CLI v1 running a counting credential_process.
// With 17 minutes left nothing is refreshed; with 12 minutes left botocore
// re-runs the process at each request (advisory refresh, and the copy it
// gets back is still inside the window). The Botocore model must predict
// the same counts.
func TestBotocoreModelMatchesBoto3AndAWSCLI(t *testing.T) {
	env := awstest.Start(t)
	py := "import boto3\nc = boto3.Session(profile_name='p').get_credentials()\nfor _ in range(3):\n    c.get_frozen_credentials()\n"
	counts := map[string]map[time.Duration]int{"boto3": {}, "aws": {}}
	for _, left := range []time.Duration{17 * time.Minute, 12 * time.Minute} {
		proc, runs := countingProcess(t, time.Now().Add(left))
		run(t, profileEnv(t, proc, env.URL), "", "python3", "-c", py)
		counts["boto3"][left] = runs()
		if want := predict(Botocore, 3, left); runs() != want {
			t.Errorf("boto3, 3 requests with %s left: credential_process ran %d times, the model says %d", left, runs(), want)
		}
		proc, runs = countingProcess(t, time.Now().Add(left))
		run(t, profileEnv(t, proc, env.URL), "", "aws", "sts", "get-caller-identity", "--profile", "p")
		counts["aws"][left] = runs()
		if want := predict(Botocore, 1, left); runs() != want {
			t.Errorf("aws sts get-caller-identity with %s left: credential_process ran %d times, the model says %d", left, runs(), want)
		}
	}
	t.Logf("credential_process runs: %v", counts)
	for client, c := range counts {
		if c[12*time.Minute] <= c[17*time.Minute] {
			t.Errorf("%s ran credential_process %d times at 12 min and %d at 17: the window is not where the model puts it", client, c[12*time.Minute], c[17*time.Minute])
		}
	}
}

// containerEndpoint serves credentials expiring left after each request,
// like serve, and counts requests.
func containerEndpoint(t *testing.T, left time.Duration) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": "ASIAEXAMPLEKEY00002", "SecretAccessKey": "secret", "Token": "token",
			"Expiration": time.Now().Add(left).UTC().Format(time.RFC3339)})
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/creds", &hits
}

// Issue 22 proof: the AWS SDK for JavaScript v3 from the pinned lockfile
// (default provider chain, container endpoint) asks the endpoint again
// only with less than 5 minutes left, as the JSv3 model says.
func TestJSModelMatchesSDK(t *testing.T) {
	jsDir := filepath.Join(awstest.RepoRoot(t), "cmd", "stsrotator", "internal", "cli", "testdata", "js")
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@aws-sdk", "credential-providers")); err != nil {
		t.Fatalf("the pinned JS SDK is not installed (fix: npm ci in %s): %v", jsDir, err)
	}
	// Two resolutions: the second is the one that starts a refresh if
	// any; node exits only once that refresh's request is done, so the
	// count is final without waiting on a timer.
	js := "import { fromNodeProviderChain } from '@aws-sdk/credential-providers';\nconst p = fromNodeProviderChain();\nawait p();\nawait p();\n"
	counts := map[time.Duration]int{}
	for _, left := range []time.Duration{17 * time.Minute, 12 * time.Minute, 6 * time.Minute, 4 * time.Minute} {
		url, hits := containerEndpoint(t, left)
		home := t.TempDir()
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
			"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=" + awstest.Region, "AWS_CONTAINER_CREDENTIALS_FULL_URI=" + url, "AWS_CONTAINER_AUTHORIZATION_TOKEN=token"}
		run(t, env, jsDir, "node", "--input-type=module", "-e", js)
		if want := predict(JSv3, 2, left); int(hits.Load()) != want {
			t.Errorf("JS v3, 2 credential resolutions with %s left: the endpoint was asked %d times, the model says %d", left, hits.Load(), want)
		}
		counts[left] = int(hits.Load())
	}
	t.Logf("container endpoint requests for 2 resolutions: %v", counts)
	if counts[4*time.Minute] <= counts[6*time.Minute] {
		t.Errorf("JS v3 asked %d times at 4 min and %d at 6: the window is not where the model puts it", counts[4*time.Minute], counts[6*time.Minute])
	}
}

// Issue 22 proof: the AWS SDK for Go v2 in-process, through
// config.LoadDefaultConfig as a program gets it: container credentials
// are cached with a 5-minute ExpiryWindow, credential_process ones until
// they expire, as GoContainer and GoProcess say.
func TestGoModelsMatchSDK(t *testing.T) {
	ctx := context.Background()
	for _, left := range []time.Duration{12 * time.Minute, 6 * time.Minute, 4 * time.Minute} {
		url, hits := containerEndpoint(t, left)
		home := t.TempDir()
		t.Setenv("HOME", home)
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "none"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "none"))
		t.Setenv("AWS_PROFILE", "")
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url)
		t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "token")
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(awstest.Region))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if want := predict(GoContainer, 3, left); int(hits.Load()) != want {
			t.Errorf("Go v2 container, 3 retrievals with %s left: %d requests, the model says %d", left, hits.Load(), want)
		}

		proc, runs := countingProcess(t, time.Now().Add(left))
		for _, kv := range profileEnv(t, proc, "http://127.0.0.1:1") {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
		cfg, err = config.LoadDefaultConfig(ctx, config.WithSharedConfigProfile("p"))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if want := predict(GoProcess, 3, left); runs() != want {
			t.Errorf("Go v2 credential_process, 3 retrievals with %s left: %d runs, the model says %d", left, runs(), want)
		}
	}
}
