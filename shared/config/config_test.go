package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const okTarget = `
targets:
  - name: app
    roleArn: arn:aws:iam::123456789012:role/App
`

func TestParseErrors(t *testing.T) {
	long := strings.Repeat("x", 2100)
	cases := []struct {
		why  string
		yaml string
		want []string // substrings that must appear, in this order, in one error
	}{
		{"a session above 1 h is refused and the message explains role chaining",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 7200\n",
			[]string{"cfg.yaml:4:", "targets[0](app).durationSeconds", "above 3600", "role chaining", "fix: set durationSeconds to 3600 or less", "or set `sourceCredentials: iam-user`", "MaxSessionDuration"}},
		{"an IAM-user session above STS's 12 hours is refused",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    sourceCredentials: iam-user\n    durationSeconds: 43201\n",
			[]string{"cfg.yaml:5:", "durationSeconds", "above 43200", "role's MaxSessionDuration"}},
		{"an unknown source of credentials names both valid ones",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    sourceCredentials: user\n",
			[]string{"cfg.yaml:4:", "targets[0](app).sourceCredentials", `"user" is not a source of credentials`, "role", "iam-user"}},
		{"a replica region that is not a region is named at its index",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    replicaRegions: [eu-west-1, Europe]\n",
			[]string{"cfg.yaml:4:", "targets[0](app).replicaRegions[1]", `"Europe" is not an AWS region`}},
		{"a replica region listed twice is refused",
			"defaults:\n  replicaRegions: [eu-west-1, eu-west-1]\n" + okTarget,
			[]string{"cfg.yaml:2:", "defaults.replicaRegions[1]", "listed twice"}},
		{"a replica key must live in the replica's region",
			okTarget + "replicaKmsKeys:\n  eu-west-1: arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\n",
			[]string{"cfg.yaml:6:", "replicaKmsKeys.eu-west-1", "is a KMS key in us-east-1 (partition aws), not in eu-west-1", "key in its own region", "fix: write alias/<name>"}},
		{"a source key age beyond AWS's 90-day advice is refused",
			okTarget + "rotator:\n  sourceKeyMaxAge: 120d\n",
			[]string{"cfg.yaml:6:", "rotator.sourceKeyMaxAge", "outside 48h–2160h", "at least every 90 days"}},
		{"a source key age shorter than the old key's grace is refused",
			okTarget + "rotator:\n  sourceKeyMaxAge: 1d\n",
			[]string{"cfg.yaml:6:", "rotator.sourceKeyMaxAge", "outside 48h–2160h"}},
		{"a session below STS's minimum is refused",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 60\n",
			[]string{"cfg.yaml:4:", "below STS's minimum of 900"}},
		{"a missing roleArn names the target's line and shows the ARN shape",
			"targets:\n  - name: app\n",
			[]string{"cfg.yaml:2:", "targets[0](app).roleArn", "is missing", "arn:aws:iam::<account-id>:role/<role-name>"}},
		{"a typo in a key suggests the real key",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    refreshBefor: 10m\n",
			[]string{"cfg.yaml:4:", "targets[0](app).refreshBefor", "unknown key", "did you mean refreshBefore?"}},
		{"upper-case names are refused because resource names derive from them",
			"targets:\n  - name: App_1\n    roleArn: arn:aws:iam::123456789012:role/App\n",
			[]string{"cfg.yaml:2:", "targets[0](App_1).name", `"App_1" is not a valid name`, "lowercase"}},
		{"duplicate names are refused with the first one's index",
			okTarget + "  - name: app\n    roleArn: arn:aws:iam::123456789012:role/B\n",
			[]string{"cfg.yaml:5:", "targets[1](app).name", "already the name of targets[0](app)"}},
		{"a duplicate name is reported even when the first target has another problem",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 7200\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/B\n",
			[]string{"cfg.yaml:5:", "targets[1](app).name", "already the name of targets[0](app)"}},
		{"48 tags fill the secret with stsrotator's own two",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    tags: {" + manyTags(49) + "}\n",
			[]string{"cfg.yaml:4:", "targets[0](app).tags", "has 49 tags", "adds 2 of its own", "keep at most 48"}},
		{"a bad email is named at its own index and line, after a non-text entry",
			okTarget + "alerts:\n  emails:\n    - [nested]\n    - not-an-address\n",
			[]string{"cfg.yaml:8:", "alerts.emails[1]", `"not-an-address" is not an email address`}},
		{"stsrotator's own tag keys are refused: a second value would fail the deploy",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    tags: {stsrotator:target: other}\n",
			[]string{"cfg.yaml:4:", "targets[0](app).tags.stsrotator:target", "prefix stsrotator:", "rename the tag"}},
		{"refreshBefore too close to the session length would write more versions than Secrets Manager keeps",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 2700\n    refreshBefore: 30m\n",
			[]string{"cfg.yaml:5:", "refreshBefore", "rewritten more often than once every 15m", "refuses new ones past 100", "fix: set refreshBefore to 28m (any value from 25m to 28m works"}},
		// Issue 15 §1: botocore re-runs credential_process on every call
		// once less than 15 minutes are left.
		{"900-second sessions cannot stay out of botocore's 15-minute window",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 900\n",
			[]string{"cfg.yaml:4:", "targets[0](app).durationSeconds", "900-second sessions are too short for stsrotator: STS accepts sessions from 900 s",
				"at least 1320 s even for consumers that re-fetch only at expiry (consumerRefreshWindow 0s), and 2520 s with this target's 15m refresh window",
				"fix: set durationSeconds to 2520 (or more))"}},
		{"1800 s with the default refreshBefore: a lower window does help, so it is offered with the least session",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 1800\n",
			[]string{"cfg.yaml:4:", "targets[0](app).durationSeconds", "1800-second sessions cannot stay out of the SDKs' 15m refresh window (consumerRefreshWindow): with rotator.jitter 2m, refreshBefore would need at least 25m to keep the window and at most 13m",
				"fix: set durationSeconds to 2520 (or more); or set consumerRefreshWindow to 7m, only if every consumer of this target re-fetches credentials less than 7m before they expire"}},
		{"2520 s, too short for the usual 26m default, gets the 25m that fits instead of an error",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 2520\n    refreshBefore: 26m\n",
			[]string{"cfg.yaml:5:", "targets[0](app).refreshBefore", "26m is too close to the session length 42m", "fix: set refreshBefore to 25m (the only value that works: at least 25m keeps"}},
		// Issue 15 §2: no window makes 900 s work, so none is suggested.
		{"900-second sessions with consumerRefreshWindow 0s give the real minimum, not a lower window",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 900\n    consumerRefreshWindow: 0s\n",
			[]string{"cfg.yaml:4:", "targets[0](app).durationSeconds", "at least 1320 s even for consumers that re-fetch only at expiry", "and 1320 s with this target's 0s refresh window",
				"fix: set durationSeconds to 1320 (or more))"}},
		{"without jitter the floor is one write interval plus the 5m minimum: 1200 s",
			"rotator: {jitter: 0s}\ntargets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 900\n    consumerRefreshWindow: 0s\n",
			[]string{"cfg.yaml:5:", "at least 1200 s even for consumers", "fix: set durationSeconds to 1200 (or more))"}},
		{"the old example's deploy-bot (refreshBefore 10m on 1800 s) is refused, naming the window and the fix",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    durationSeconds: 1800\n    refreshBefore: 10m\n",
			[]string{"cfg.yaml:5:", "targets[0](app).refreshBefore", "10m leaves consumers inside the SDKs' 15m refresh window", "sweep runs every 3m", "rotator.jitter is 2m", "at least 20m left",
				"fix: no refreshBefore works for 1800-second sessions with consumerRefreshWindow 15m and rotator.jitter 2m: keeping the window needs at least 25m, and one scheduled write per 15m allows at most 13m",
				"set durationSeconds to 2520 (or more) and refreshBefore to 25m", "; or set consumerRefreshWindow to 7m and refreshBefore to 13m, only if every consumer"}},
		{"a refresh window of the session length or more is refused",
			okTarget + "    consumerRefreshWindow: 1h\n",
			[]string{"cfg.yaml:5:", "targets[0](app).consumerRefreshWindow", "1h is not a refresh window for 1h sessions"}},
		{"the refresh window is a per-target choice, not a default",
			"defaults:\n  consumerRefreshWindow: 5m\n" + okTarget,
			[]string{"cfg.yaml:2:", "defaults.consumerRefreshWindow", "unknown key"}},
		{"an over-long session policy is refused with its length",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    sessionPolicy: '{\"Statement\":[],\"Sid\":\"" + long + "\"}'\n",
			[]string{"cfg.yaml:4:", "sessionPolicy", "STS accepts at most 2048"}},
		{"a session policy that is not JSON is refused",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    sessionPolicy: 'allow everything'\n",
			[]string{"cfg.yaml:4:", "sessionPolicy", "not valid JSON"}},
		{"more than 10 policy ARNs is refused",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    policyArns: [" + strings.TrimSuffix(strings.Repeat("arn:aws:iam::aws:policy/P,", 11), ",") + "]\n",
			[]string{"cfg.yaml:4:", "policyArns", "at most 10"}},
		{"a bad default is reported once, at the defaults line, not per target",
			"defaults:\n  durationSeconds: 600\n" + okTarget + "  - name: b\n    roleArn: arn:aws:iam::123456789012:role/B\n",
			[]string{"cfg.yaml:2:", "defaults.durationSeconds", "below STS's minimum of 900"}},
		{"a session name outside STS's pattern is refused",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    sessionName: 'has space'\n",
			[]string{"cfg.yaml:4:", "sessionName", "not a valid STS session name"}},
		{"a reader that is not a principal is refused",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    readers: ['*']\n",
			[]string{"cfg.yaml:4:", "readers[0]", "not an IAM principal"}},
		{"a log group name CloudWatch would refuse is named",
			"targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n    logGroups: ['/ecs/my app']\n",
			[]string{"cfg.yaml:4:", "logGroups[0]", "not a CloudWatch Logs group name"}},
		{"one log group cannot report for two targets",
			okTarget + "    logGroups: [/ecs/a]\n  - name: b\n    roleArn: arn:aws:iam::123456789012:role/B\n    logGroups: [/ecs/a]\n",
			[]string{"cfg.yaml:8:", "targets[1](b).logGroups", "already watched for targets[0](app)"}},
		{"an empty file says what to declare",
			"", []string{"cfg.yaml: the file is empty"}},
		{"broken YAML is reported, not panicked on",
			"targets: [\n", []string{"cfg.yaml:1: not valid YAML"}},
		{"targets must be a list",
			"targets: app\n", []string{"cfg.yaml:1:", "targets: must be a list"}},
		{"an unsupported version is refused",
			"version: 2\n" + okTarget, []string{"cfg.yaml:1:", "unsupported version"}},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			_, err := Parse("cfg.yaml", []byte(c.yaml))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("want config.Errors, got %v", err)
			}
			for _, e := range es {
				if containsInOrder(e.Error(), c.want) {
					if c.why == "a bad default is reported once, at the defaults line, not per target" && len(es) != 1 {
						t.Fatalf("want exactly one error, got %d:\n%v", len(es), err)
					}
					return
				}
			}
			t.Fatalf("no error contains %q in order; got:\n%v", c.want, err)
		})
	}
}

func containsInOrder(s string, parts []string) bool {
	for _, p := range parts {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

// Every problem is reported in one run, so users fix a config in one pass.
func TestParseReportsAllProblemsAtOnce(t *testing.T) {
	_, err := Parse("c.yaml", []byte(`
targets:
  - name: a
    roleArn: nope
    durationSeconds: 9999
  - name: B
    roleArn: arn:aws:iam::123456789012:role/B
    colour: blue
`))
	var es Errors
	if !errors.As(err, &es) || len(es) != 4 {
		t.Fatalf("want 4 problems, got %v", err)
	}
	lines := []int{4, 5, 6, 8}
	for i, e := range es {
		if e.Line != lines[i] {
			t.Errorf("problem %d on line %d, want %d: %v", i, e.Line, lines[i], e)
		}
	}
}

func TestDefaultsInheritance(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(`
defaults:
  durationSeconds: 3000
  refreshBefore: 30m
  externalId: shared-ext
  tags: {team: a, env: prod}
  sessionTags: {purpose: x}
  readers: ["123456789012"]
targets:
  - name: inherits
    roleArn: arn:aws:iam::123456789012:role/A
  - name: overrides
    roleArn: arn:aws:iam::123456789012:role/B
    durationSeconds: 3600
    refreshBefore: 1500
    externalId: own-ext
    tags: {team: b}
    readers: []
    sessionName: custom.session
    secretName: custom/creds
    stsRegion: eu-west-1
`))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := cfg.Target("inherits")
	b, _ := cfg.Target("overrides")
	checks := []struct {
		why       string
		got, want any
	}{
		{"duration inherited", a.Duration, 50 * time.Minute},
		{"refreshBefore inherited", a.RefreshBefore, 30 * time.Minute},
		{"externalId inherited", a.ExternalID, "shared-ext"},
		{"readers inherited", fmt.Sprint(a.Readers), "[123456789012]"},
		{"tags inherited, sorted", fmt.Sprint(a.Tags), "[{env prod} {team a}]"},
		{"session name derived from the target name", a.SessionName, "stsrotator-inherits"},
		{"secret name derived from the target name", a.SecretName, "stsrotator/inherits"},
		{"duration overridden", b.Duration, time.Hour},
		{"integer refreshBefore is seconds", b.RefreshBefore, 25 * time.Minute},
		{"externalId overridden", b.ExternalID, "own-ext"},
		{"an explicit empty list overrides default readers", len(b.Readers), 0},
		{"tags merge per key, target wins", fmt.Sprint(b.Tags), "[{env prod} {team b}]"},
		{"session tags inherited", fmt.Sprint(b.SessionTags), "[{purpose x}]"},
		{"sessionName kept", b.SessionName, "custom.session"},
		{"secretName kept", b.SecretName, "custom/creds"},
		{"stsRegion kept", b.STSRegion, "eu-west-1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.why, c.got, c.want)
		}
	}
}

func TestBuiltInDefaults(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(okTarget))
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	// 26m: the 15m SDK window + 2m jitter, × 1.5 for the sweep period
	// (at most a third of refreshBefore), rounded up to the minute.
	if tg.Duration != time.Hour || tg.RefreshBefore != 26*time.Minute || tg.ConsumerRefreshWindow != 15*time.Minute {
		t.Fatalf("built-in defaults: got %s/%s/%s, want 1h/26m/15m", tg.Duration, tg.RefreshBefore, tg.ConsumerRefreshWindow)
	}
	if cfg.Rotator.Concurrency != DefaultConcurrency || cfg.Rotator.Jitter != DefaultJitter {
		t.Fatalf("rotator defaults: %+v", cfg.Rotator)
	}
	if got := cfg.SweepInterval(); got != 8*time.Minute {
		t.Fatalf("sweep interval for a 26m refreshBefore: got %s, want 8m (three tries inside the window)", got)
	}
}

// sourceCredentials and replicaRegions are inherited from defaults like the
// other fields, and the config says which targets need the IAM user.
func TestLongSessionsAndReplicas(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(`
defaults:
  sourceCredentials: iam-user
  replicaRegions: [eu-west-1, ap-southeast-2]
rotator:
  sourceKeyMaxAge: 45d
replicaKmsKeys:
  eu-west-1: arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab
targets:
  - name: batch
    roleArn: arn:aws:iam::123456789012:role/Batch
    durationSeconds: 43200
  - name: web
    roleArn: arn:aws:iam::123456789012:role/Web
    sourceCredentials: role
    replicaRegions: [us-west-2]
`))
	if err != nil {
		t.Fatal(err)
	}
	batch, _ := cfg.Target("batch")
	web, _ := cfg.Target("web")
	checks := []struct {
		why       string
		got, want any
	}{
		{"iam-user inherited from defaults allows 12 h", batch.Duration, 12 * time.Hour},
		{"12 h sessions rotate with a third left by default", batch.RefreshBefore, 4 * time.Hour},
		{"a target can go back to role chaining", web.SourceCredentials, SourceRole},
		{"only iam-user targets need the user", fmt.Sprint(len(cfg.IAMUserTargets()), cfg.UsesIAMUser()), "1 true"},
		{"replica regions inherited in file order", fmt.Sprint(batch.ReplicaRegions), "[eu-west-1 ap-southeast-2]"},
		{"a target's own list replaces the default", fmt.Sprint(web.ReplicaRegions), "[us-west-2]"},
		{"every replica region of the deployment, sorted", fmt.Sprint(cfg.ReplicaRegions()), "[ap-southeast-2 eu-west-1 us-west-2]"},
		{"days are read as days", cfg.Rotator.SourceKeyMaxAge, 45 * 24 * time.Hour},
		{"a named replica key is kept per region", cfg.ReplicaKMSKeys["eu-west-1"], "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.why, c.got, c.want)
		}
	}
	plain, err := Parse("c.yaml", []byte(okTarget))
	if err != nil {
		t.Fatal(err)
	}
	if tg := plain.Targets[0]; tg.SourceCredentials != SourceRole || plain.UsesIAMUser() || plain.Rotator.SourceKeyMaxAge != DefaultSourceKeyMaxAge {
		t.Fatalf("defaults: source %q, uses user %v, key age %s; want role, false, 30 days", tg.SourceCredentials, plain.UsesIAMUser(), plain.Rotator.SourceKeyMaxAge)
	}
}

// A YAML session policy is sent to STS as compact JSON.
func TestSessionPolicyAsYAML(t *testing.T) {
	cfg, err := Parse("c.yaml", []byte(okTarget+`    sessionPolicy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: s3:GetObject
          Resource: "*"
`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}`
	if got := cfg.Targets[0].SessionPolicy; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(okTarget))
	f.Add([]byte("defaults:\n  durationSeconds: 4000\n" + okTarget))
	f.Add([]byte("targets: [{name: a, roleArn: x, tags: {a: b}, sessionPolicy: '{}'}]"))
	f.Add([]byte("version: 1\nrotator: {concurrency: 0, jitter: 1h}\nalerts: {emails: [x]}\ntargets: []"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("defaults: {sourceCredentials: iam-user, durationSeconds: 43200, replicaRegions: [eu-west-1]}\nrotator: {sourceKeyMaxAge: 30d}\nreplicaKmsKeys: {eu-west-1: 'arn:aws:kms:eu-west-1:123456789012:alias/x'}\n" + okTarget))
	if issue, err := os.ReadFile("testdata/indent-line34.yaml"); err == nil {
		f.Add(issue)
	}
	if files, err := filepath.Glob("testdata/syntax/*.yaml"); err == nil {
		for _, name := range files {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(okTarget + "\tdurationSeconds: 3600\n"))
	f.Add([]byte(okTarget + "      durationSeconds: 3600\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err == nil {
			if len(cfg.Targets) == 0 {
				t.Fatal("accepted a config with no targets")
			}
			for _, tg := range cfg.Targets {
				most := MaxDuration
				if tg.SourceCredentials == SourceIAMUser {
					most = MaxIAMUserDuration
				}
				if tg.Duration < MinDuration || tg.Duration > most || tg.RefreshBefore > tg.Duration-MinWriteInterval {
					t.Fatalf("accepted out-of-range timing: %+v", tg)
				}
			}
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Fatalf("error is not a config.Errors: %v", err)
		}
		for _, e := range es {
			if e.Problem == "" || !strings.HasPrefix(e.Error(), "f.yaml") {
				t.Fatalf("error without location or problem: %#v", e)
			}
			// A syntax error's line is a line of the file, counted as
			// YAML counts them: CR, LF and CRLF each end a line
			// (https://yaml.org/spec/1.2.2/#54-line-break-characters).
			if lines := yamlLines(data); e.Line < 0 || e.Line > lines {
				t.Fatalf("error at line %d of a %d-line file: %s", e.Line, lines, e)
			}
		}
	})
}

// yamlLines is how many lines YAML sees in data: one more than its line
// breaks, a CRLF pair counting once.
func yamlLines(data []byte) int {
	return bytes.Count(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\n")) +
		bytes.Count(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")), []byte("\r")) + 1
}

// manyTags writes n distinct tags as a YAML flow mapping's entries.
func manyTags(n int) string {
	kv := make([]string, n)
	for i := range kv {
		kv[i] = fmt.Sprintf("k%d: v", i)
	}
	return strings.Join(kv, ", ")
}
