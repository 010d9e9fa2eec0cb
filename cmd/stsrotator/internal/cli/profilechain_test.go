package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// Issue 20, "Also": whether a credential_process line runs stsrotator
// credential-process is decided with the quoting rules of what runs it,
// not by the line's first field. Each input is one users wrote.
func TestRunsCredentialProcess(t *testing.T) {
	env := map[string]string{"HOME": "/home/u", "TOOLS": "/opt/tools"}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		why, line, goos string
		want            bool
	}{
		{"the deploy's line", "stsrotator credential-process --secret-id ARN --region eu-west-1", "linux", true},
		{"an absolute path", "/usr/local/bin/stsrotator credential-process --target a", "linux", true},
		{"a double-quoted path with a space (aws-sdk-go-v2 #2273)", `"/opt/my tools/stsrotator" credential-process --target a`, "linux", true},
		{"a single-quoted path with a space", `'/opt/my tools/stsrotator' credential-process --target a`, "linux", true},
		{"an escaped space", `/opt/my\ tools/stsrotator credential-process --target a`, "linux", true},
		{"a Windows install under Program Files, run by cmd.exe", `"C:\Program Files\stsrotator\stsrotator.exe" credential-process --target a`, "windows", true},
		{"the same line read by POSIX rules (botocore's shlex on a shared config)", `"C:\Program Files\stsrotator\stsrotator.exe" credential-process --target a`, "linux", true},
		{"upper-case .EXE on Windows", `C:\bin\STSROTATOR.EXE credential-process`, "windows", true},
		{"a Windows argument with escaped quotes", `"C:\x\stsrotator.exe" credential-process --target "a \"b\""`, "windows", true},
		{"/usr/bin/env wrapper", "/usr/bin/env stsrotator credential-process --target a", "linux", true},
		{"env with options and assignments", "env -i -u AWS_PROFILE PATH=/opt/bin HOME=/h stsrotator credential-process --target a", "linux", true},
		{"env -S splits its argument", `/usr/bin/env -S "stsrotator credential-process --target a"`, "linux", true},
		{"env -- then assignments", "env -- A=1 stsrotator credential-process", "linux", true},
		{"sh -c wrapper", `sh -c 'exec stsrotator credential-process --target a 2>>/tmp/log'`, "linux", true},
		{"bash -lc wrapper", `bash -lc "stsrotator credential-process --target a"`, "linux", true},
		{"cmd /c wrapper on Windows", `cmd /c "C:\Program Files\stsrotator\stsrotator.exe" credential-process`, "windows", true},
		{"assignment prefix and redirection", "AWS_PROFILE= stsrotator credential-process --target a 2>/dev/null", "linux", true},
		{"a second command of the line", "cd /tmp && stsrotator credential-process --target a", "linux", true},
		{"$VAR and ~ expand from the environment", "$TOOLS/stsrotator credential-process --target a", "linux", true},
		{"a release-named binary", "~/bin/stsrotator_linux_arm64 credential-process", "linux", true},
		{"another stsrotator command is no credential process", "stsrotator env --target a", "linux", false},
		{"another tool", "aws-vault export --format=json prod", "linux", false},
		{"stsrotator only as an argument", "echo stsrotator credential-process", "linux", false},
		{"a path with stsrotator in a directory name only", "/opt/stsrotator/bin/helper credential-process", "linux", false},
		{"an unterminated quote does not parse", `"/opt/my tools/stsrotator credential-process`, "linux", false},
		{"empty", "", "linux", false},
	} {
		if got := runsCredentialProcess(c.line, c.goos, getenv); got != c.want {
			t.Errorf("%s: runsCredentialProcess(%q, %s) = %v, want %v", c.why, c.line, c.goos, got, c.want)
		}
	}
}

// windowsWords follows the Microsoft C runtime's documented examples
// (learn.microsoft.com, "Parsing C command-line arguments").
func TestWindowsWords(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{`"a b c" d e`, []string{"a b c", "d", "e"}},
		{`p "ab\"c" "\\" d`, []string{"p", `ab"c`, `\`, "d"}},
		{`p a\\\b d"e f"g h`, []string{"p", `a\\\b`, "de fg", "h"}},
		{`p a\\\"b c d`, []string{"p", `a\"b`, "c", "d"}},
		{`p a\\\\"b c" d e`, []string{"p", `a\\b c`, "d", "e"}},
		{`p a"b"" c d`, []string{"p", `ab" c d`}},
		{`"C:\Program Files\x\stsrotator.exe" credential-process`, []string{`C:\Program Files\x\stsrotator.exe`, "credential-process"}},
		{`C:\x\y.exe`, []string{`C:\x\y.exe`}},
	} {
		if got := windowsWords(c.line); strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("windowsWords(%q) = %q, want %q", c.line, got, c.want)
		}
	}
}

func FuzzWindowsWords(f *testing.F) {
	for _, s := range []string{`"C:\Program Files\s.exe" credential-process`, `p a\\\"b "" c`, "", `"`, `\`, "a\tb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := windowsWords(s)
		if !strings.ContainsAny(s, `"\`) {
			// Without quotes and backslashes the rules are plain
			// splitting at spaces and tabs.
			want := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
			if strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
				t.Fatalf("windowsWords(%q) = %q, want %q", s, got, want)
			}
		}
		_ = runsCredentialProcess(s, "windows", func(string) string { return "" })
		_ = runsCredentialProcess(s, "linux", func(string) string { return "" })
	})
}

// awsDir writes a HOME whose ~/.aws holds config and credentials.
func awsDir(t *testing.T, config, credentials string) string {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, ".aws")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte(credentials), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

// Issue 20, "Also": credential-process, run as a profile's credential
// process under AWS_PROFILE, decides which identity reads the secret from
// the profile's whole resolution, and names the chain when no identity is
// left that does not lead back to itself.
func TestRecursionGuardNamesTheChain(t *testing.T) {
	env := awstest.Start(t)
	good := target(env, "billing")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	self := "'/opt/my tools/stsrotator' credential-process --target billing"
	conf := "[profile billing]\ncredential_process = " + self + "\n\n" +
		"[profile admin]\nrole_arn = arn:aws:iam::000000000000:role/admin\nsource_profile = billing\n\n" +
		"[profile keys]\nregion = eu-west-1\n"
	keys := "[default]\naws_access_key_id = AKIAKUMOTESTKEY00000\naws_secret_access_key = kumo-test-secret\n\n[keys]\naws_access_key_id = AKIAKUMOTESTKEY00001\naws_secret_access_key = kumo-test-secret\n"
	withDefaultKeys := awsDir(t, conf, keys)
	loopingDefault := awsDir(t, conf+"\n[default]\ncredential_process = /usr/bin/env stsrotator credential-process --target billing\n", "")

	for _, c := range []struct {
		why      string
		home     string
		vars     map[string]string
		args     []string
		code     int
		stderr   []string
		unsetAWS bool
	}{
		{"AWS_PROFILE naming a single-quoted stsrotator profile: read with the default profile's keys",
			withDefaultKeys, map[string]string{"AWS_PROFILE": "billing"}, nil, ExitOK, nil, true},
		{"AWS_PROFILE naming a role whose source_profile is the stsrotator profile (botocore #1780)",
			withDefaultKeys, map[string]string{"AWS_PROFILE": "admin"}, nil, ExitOK, nil, true},
		{"AWS_DEFAULT_PROFILE is the same selector",
			withDefaultKeys, map[string]string{"AWS_DEFAULT_PROFILE": "admin"}, nil, ExitOK, nil, true},
		{"AWS_PROFILE naming a profile with its own keys is kept",
			withDefaultKeys, map[string]string{"AWS_PROFILE": "keys"}, nil, ExitOK, nil, false},
		{"--profile naming the role chain is refused, with the chain",
			withDefaultKeys, nil, []string{"--profile", "admin"}, ExitUsage,
			[]string{"runs stsrotator credential-process itself", `--profile admin: profile admin → source_profile billing → credential_process "'/opt/my tools/stsrotator' credential-process --target billing"`}, false},
		{"a default profile that is stsrotator, with nothing else: refused, naming it",
			loopingDefault, nil, nil, ExitUsage,
			[]string{"runs stsrotator credential-process itself", `the default profile default → credential_process "/usr/bin/env stsrotator credential-process --target billing"`}, false},
		{"AWS_PROFILE leads back, and so does the default profile left after it: both chains named",
			loopingDefault, map[string]string{"AWS_PROFILE": "admin"}, nil, ExitUsage,
			[]string{"AWS_PROFILE=admin: profile admin → source_profile billing", "and without it, the default profile default → credential_process"}, false},
		{"the environment's keys come before any profile in the SDK's chain",
			loopingDefault, map[string]string{"AWS_PROFILE": "admin", "AWS_ACCESS_KEY_ID": "AKIAKUMOTESTKEY00002", "AWS_SECRET_ACCESS_KEY": "x"}, nil, ExitOK, nil, false},
		{"started again by an outer stsrotator (a wrapper it could not see through): the outer identity is named",
			withDefaultKeys, map[string]string{envGuard: "AWS_PROFILE=ops"}, nil, ExitUsage,
			[]string{"runs stsrotator credential-process itself", "read its secret as AWS_PROFILE=ops"}, false},
	} {
		t.Run(c.why, func(t *testing.T) {
			vars := map[string]string{"HOME": c.home, "AWS_CONFIG_FILE": filepath.Join(c.home, ".aws", "config"),
				"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(c.home, ".aws", "credentials")}
			for k, v := range c.vars {
				vars[k] = v
			}
			a, out, errb := testApp(env, time.Now, vars)
			var unset []string
			a.Unsetenv = func(k string) error { unset = append(unset, k); return nil }
			var guard string
			a.Setenv = func(k, v string) error {
				if k == envGuard {
					guard = v
				}
				return nil
			}
			r := execute(t, a, out, errb, append([]string{"credential-process", "--target", good.Name, "--config", cfgPath}, c.args...)...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, c.code, r.stderr)
			}
			for _, s := range c.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q does not say %q", r.stderr, s)
				}
			}
			if got := strings.Join(unset, " ") == envProfile+" "+envDefaultProfile; got != c.unsetAWS {
				t.Errorf("unset %v; want AWS_PROFILE dropped: %v", unset, c.unsetAWS)
			}
			if c.code == ExitOK && guard == "" {
				t.Error("credential-process ran without setting the guard for a nested run")
			}
		})
	}
}

// Issue 20, "Also" (proof): `AWS_PROFILE=p` works for every profile whose
// resolution reaches stsrotator, exactly as `aws --profile p` does, with
// the real AWS CLI v1 and the JavaScript SDK v3 (default chain and
// fromProcess): a quoted program path with a space, a single-quoted one,
// an /usr/bin/env wrapper, and role profiles whose source_profile chain
// ends in the stsrotator profile.
func TestAWSProfileReachesStsrotator(t *testing.T) {
	env, bin, arn, _, wantCreds := mintedBilling(t)

	spaced := filepath.Join(t.TempDir(), "my tools")
	if err := os.MkdirAll(spaced, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(spaced, "stsrotator")); err != nil {
		t.Fatal(err)
	}
	args := " credential-process --secret-id " + arn + " --region " + awstest.Region + "\nregion = " + awstest.Region
	prog := filepath.Join(spaced, "stsrotator")
	conf := "[default]\nregion = " + awstest.Region + "\n\n" +
		"[profile quoted]\ncredential_process = \"" + prog + "\"" + args + "\n\n" +
		"[profile single]\ncredential_process = '" + prog + "'" + args + "\n\n" +
		"[profile wrapped]\ncredential_process = /usr/bin/env stsrotator" + args + "\n\n" +
		"[profile admin]\nrole_arn = arn:aws:iam::000000000000:role/admin\nsource_profile = quoted\nregion = " + awstest.Region + "\n\n" +
		"[profile deep]\nrole_arn = arn:aws:iam::000000000000:role/deep\nsource_profile = admin\nregion = " + awstest.Region + "\n"
	home := awsDir(t, conf, "[default]\naws_access_key_id = AKIAKUMOTESTKEY00000\naws_secret_access_key = kumo-test-secret\n")
	shellEnv := []string{"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ENDPOINT_URL=" + env.URL, "AWS_EC2_METADATA_DISABLED=true"}

	for _, p := range []string{"quoted", "single", "wrapped", "admin", "deep"} {
		under := append(append([]string{}, shellEnv...), "AWS_PROFILE="+p)
		t.Run("AWS_PROFILE="+p+" aws sts get-caller-identity", func(t *testing.T) {
			viaEnv := awsCLI(t, under, "sts", "get-caller-identity", "--query", "Arn", "--output", "text")
			viaFlag := awsCLI(t, shellEnv, "--profile", p, "sts", "get-caller-identity", "--query", "Arn", "--output", "text")
			if viaEnv != viaFlag || strings.TrimSpace(viaEnv) == "" {
				t.Fatalf("AWS_PROFILE=%s gave %q, --profile %s gave %q: want the same identity", p, viaEnv, p, viaFlag)
			}
		})
		t.Run("AWS_PROFILE="+p+" JavaScript v3 default chain", func(t *testing.T) {
			var got jsCreds
			if !node(t, under, &got, "chain") || got.AccessKeyID == "" {
				t.Fatalf("fromNodeProviderChain with AWS_PROFILE=%s: %+v", p, got)
			}
			if p != "admin" && p != "deep" {
				got.same(t, "fromNodeProviderChain with AWS_PROFILE="+p, wantCreds)
			}
		})
		t.Run("AWS_PROFILE="+p+" JavaScript v3 fromProcess", func(t *testing.T) {
			if p == "admin" || p == "deep" {
				return // role profiles have no credential_process of their own
			}
			var got jsCreds
			node(t, under, &got, "process", p)
			got.same(t, "fromProcess({profile: "+p+"}) under AWS_PROFILE", wantCreds)
		})
	}
	t.Run("stsrotator --profile naming the chain is refused, naming it", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "credential-process", "--secret-id", arn, "--profile", "deep")
		cmd.Env, cmd.Stdout, cmd.Stderr = shellEnv, &stdout, &stderr
		_ = cmd.Run()
		if cmd.ProcessState.ExitCode() != ExitUsage || stdout.Len() != 0 ||
			!strings.Contains(stderr.String(), "--profile deep: profile deep → source_profile admin → source_profile quoted → credential_process") {
			t.Fatalf("exit %d, stdout %q, stderr %s", cmd.ProcessState.ExitCode(), stdout.String(), stderr.String())
		}
	})
}
