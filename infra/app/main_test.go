package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/plan/plantest"
	"github.com/stsrotator/stsrotator/infra/quotacheck"
	"github.com/stsrotator/stsrotator/shared/config"
)

// root is the repository root, where make and cdk.json live.
func root(t *testing.T) string {
	t.Helper()
	r, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// makeSynth runs `make synth` exactly as a user does, with extra CDK
// arguments, and returns its combined output and how long it took.
func makeSynth(t *testing.T, cdkArgs ...string) (string, time.Duration, error) {
	t.Helper()
	out, wall, _, err := makeSynthTimed(t, cdkArgs...)
	return out, wall, err
}

// makeSynthTimed is makeSynth that also returns the CPU time (user plus
// system) of make and every process it waited for: the CDK CLI, the app
// and its jsii node runtime.
func makeSynthTimed(t *testing.T, cdkArgs ...string) (string, time.Duration, time.Duration, error) {
	t.Helper()
	args := []string{"-C", root(t), "synth"}
	if len(cdkArgs) > 0 {
		args = append(args, "CDK_ARGS="+strings.Join(cdkArgs, " "))
	}
	cmd := exec.Command("make", args...)
	// Without the user's own JSII_SILENCE_* settings, so the output shows
	// whether `make synth` keeps jsii's Node banner out by itself.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JSII_SILENCE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return out.String(), wall, cpu, err
}

// assembly reads what a synth left in outdir: the asset hashes and every
// template's content.
func assembly(t *testing.T, outdir string) (hashes []string, templates map[string]string) {
	t.Helper()
	var manifest quotacheck.Manifest
	if err := quotacheck.ReadJSON(filepath.Join(outdir, "manifest.json"), &manifest); err != nil {
		t.Fatal(err)
	}
	stackArt, ok := manifest.Artifacts[StackID]
	if !ok || stackArt.Type != "aws:cloudformation:stack" || stackArt.Properties.TemplateFile == "" {
		t.Fatalf("the manifest has no %s stack: %+v", StackID, manifest.Artifacts)
	}
	var assets quotacheck.AssetManifest
	if err := quotacheck.ReadJSON(filepath.Join(outdir, manifest.Artifacts[StackID+".assets"].Properties.File), &assets); err != nil {
		t.Fatal(err)
	}
	templates = map[string]string{}
	for hash, a := range assets.Files {
		hashes = append(hashes, hash)
		if strings.HasSuffix(a.Source.Path, ".json") {
			b, err := os.ReadFile(filepath.Join(outdir, a.Source.Path))
			if err != nil {
				t.Fatal(err)
			}
			templates[a.Source.Path] = string(b)
		}
	}
	b, err := os.ReadFile(filepath.Join(outdir, stackArt.Properties.TemplateFile))
	if err != nil {
		t.Fatal(err)
	}
	templates[stackArt.Properties.TemplateFile] = string(b)
	sort.Strings(hashes)
	return hashes, templates
}

// Proves: `make synth` — the build and the CDK CLI from package-lock.json,
// offline — produces a cloud assembly with the manifest, the root and
// shard templates and the function asset; and that a second synth of the
// unchanged tree gives the same asset hashes and identical templates.
//
// Each synth writes to its own directory (-o), so the test neither
// clobbers a user's cdk.out nor races another synth; asset hashes depend on
// content only, so the directories do not matter.
func TestMakeSynthIsReproducible(t *testing.T) {
	outdir, outdir2 := filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")
	out, took1, err := makeSynth(t, "-o", outdir)
	if err != nil {
		t.Fatalf("make synth: %v\n%s", err, out)
	}
	hashes1, templates1 := assembly(t, outdir)
	out, took2, err := makeSynth(t, "-o", outdir2)
	if err != nil {
		t.Fatalf("second make synth: %v\n%s", err, out)
	}
	hashes2, templates2 := assembly(t, outdir2)
	t.Logf("make synth of the example: %s, then %s", took1.Round(100*time.Millisecond), took2.Round(100*time.Millisecond))
	// Issue 3's budget: a warm `make synth` of the example config within
	// 60 s. The second run is the warm one (the first may compile the CDK
	// bindings on a fresh machine).
	if took2 > 60*time.Second {
		t.Errorf("warm make synth took %s, over the 60 s budget", took2.Round(100*time.Millisecond))
	}
	// --quiet synth of a valid config has nothing to say; a jsii Node
	// banner or the CLI's feature-flag nag here would greet every user of
	// `make synth` too.
	for _, noise := range []string{"Node ", "!!", "feature flags are not configured"} {
		if strings.Contains(out, noise) {
			t.Errorf("make synth printed %q:\n%s", noise, out)
		}
	}

	var code int
	for _, h := range hashes1 {
		if _, err := os.Stat(filepath.Join(outdir, "asset."+h, "bootstrap")); err == nil {
			code++
			if _, err := os.Stat(filepath.Join(outdir, "asset."+h, "stsrotator.yaml")); err != nil {
				t.Errorf("the function asset has no config next to bootstrap: %v", err)
			}
		}
	}
	// rotator (shared by every lane), reactor and log watcher
	if code != 3 || len(templates1) < 2 {
		t.Fatalf("want three function assets and the root plus shard templates; got %d function assets, templates %v", code, keys(templates1))
	}
	if strings.Join(hashes1, ",") != strings.Join(hashes2, ",") {
		t.Fatalf("asset hashes changed between two synths of the same tree:\n%v\n%v", hashes1, hashes2)
	}
	for name, body := range templates1 {
		if templates2[name] != body {
			t.Errorf("%s differs between two synths", name)
		}
	}
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Proves: a config with mistakes fails `make synth` with a non-zero exit
// and exactly the config package's file:line: field: problem (fix: …)
// messages, for every problem at once.
func TestBadConfigFailsSynth(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	src := []byte("targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 7200\n  - name: Bad_Name\n    roleArn: nope\n")
	if err := os.WriteFile(bad, src, 0o644); err != nil {
		t.Fatal(err)
	}
	_, want := config.Parse(bad, src)
	var es config.Errors
	if !errors.As(want, &es) || len(es) < 3 {
		t.Fatalf("the fixture should have at least 3 problems, got %v", want)
	}
	out, _, err := makeSynth(t, "-c", "config="+bad, "-o", filepath.Join(dir, "out"))
	if err == nil {
		t.Fatalf("synth succeeded with a bad config:\n%s", out)
	}
	for _, e := range es {
		if !strings.Contains(out, e.Error()) {
			t.Errorf("output lacks %q:\n%s", e.Error(), out)
		}
	}
}

// Proves: a config whose readers would cross the secret resource policy's
// 20,480 characters fails `make synth` with the very message `stsrotator
// validate` prints (both come from plan.Load), before any construct.
func TestReaderPolicyOverFailsSynthAsValidate(t *testing.T) {
	dir := t.TempDir()
	n := 1
	for ; ; n++ {
		if _, err := plan.Load("x.yaml", plantest.Readers(n)); err != nil {
			break
		}
	}
	over := filepath.Join(dir, "over.yaml")
	if err := os.WriteFile(over, plantest.Readers(n), 0o644); err != nil {
		t.Fatal(err)
	}
	_, want := plan.Load(over, plantest.Readers(n))
	out, _, err := makeSynth(t, "-c", "config="+over, "-o", filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(out, want.Error()) {
		t.Fatalf("synth of %d readers: err %v, output lacks %q:\n%s", n, err, want, out)
	}
}

// Proves: the app's own gate finds error annotations wherever CDK put
// them — inline in the manifest or in a stack's metadata file (where
// nested stacks' findings land) — so an unsuppressed cdk-nag finding fails
// synth even outside the CLI.
func TestAssemblyErrors(t *testing.T) {
	dir := t.TempDir()
	manifest := `{"artifacts":{"S":{"additionalMetadataFile":"S.metadata.json","metadata":{"/S/Q":[{"type":"aws:cdk:error","data":"AwsSolutions-SQS3: inline"}]}},"T":{}}}`
	meta := `{"/S/Shard01/Secret":[{"type":"aws:cdk:warning","data":"just a warning"},{"type":"aws:cdk:error","data":"AwsSolutions-SMG4: nested"}]}`
	for name, body := range map[string]string{"manifest.json": manifest, "S.metadata.json": meta} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := check(dir)
	if err == nil || !strings.Contains(err.Error(), "2 error(s)") || !strings.Contains(err.Error(), "/S/Shard01/Secret: AwsSolutions-SMG4: nested") || strings.Contains(err.Error(), "warning") {
		t.Fatalf("got %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "S.metadata.json"), []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"artifacts":{"S":{"additionalMetadataFile":"S.metadata.json"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := check(dir); err != nil {
		t.Fatalf("a clean assembly failed: %v", err)
	}
}

// Proves: a generated 2,000-target config synthesises through the same
// `make synth` (CloudFormation's per-stack limits are checked in
// infra/stack's TestTwoThousandTargets); the time is logged for
// docs/infra.md.
func TestMakeSynthTwoThousandTargets(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(cfg, plantest.Config(2000), 0o644); err != nil {
		t.Fatal(err)
	}
	out, took, err := makeSynth(t, "-c", "config="+cfg, "-o", filepath.Join(dir, "out"))
	if err != nil {
		t.Fatalf("make synth: %v\n%s", err, out)
	}
	t.Logf("make synth of 2,000 targets: %s", took.Round(100*time.Millisecond))
	_, templates := assembly(t, filepath.Join(dir, "out"))
	if len(templates) < 2 {
		t.Fatalf("templates: %v", keys(templates))
	}
	var root map[string]any
	if err := json.Unmarshal([]byte(templates["Stsrotator.template.json"]), &root); err != nil {
		t.Fatal(err)
	}
	if n := len(root["Resources"].(map[string]any)); n > 500 {
		t.Fatalf("root stack has %d resources", n)
	}
}

// Proves: stack names that CloudFormation or Lambda would reject at deploy
// time are refused at synth, with a fix; each case says why.
func TestCheckStackName(t *testing.T) {
	cases := []struct {
		why  string
		name string
		ok   bool
	}{
		{"the default is accepted", DefaultStackName, true},
		{"letters, digits and hyphens are accepted", "stsrotator-prod-2", true},
		{"a leading digit is refused, as CloudFormation does", "2prod", false},
		{"an underscore is refused, as CloudFormation does", "sts_rotator", false},
		{"a name leaving no room for -shardNNN-rotatorNN in 64 characters is refused", strings.Repeat("a", 46), false},
		{"the longest name that fits is accepted", strings.Repeat("a", 45), true},
	}
	for _, c := range cases {
		err := checkStackName(c.name)
		if (err == nil) != c.ok || err != nil && !strings.Contains(err.Error(), "fix:") {
			t.Errorf("%s: %q gave %v", c.why, c.name, err)
		}
	}
}
