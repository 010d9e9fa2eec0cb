package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// A credentials file as people keep them: comments, blank lines, odd
// spacing, a profile with a region, an old aws_security_token.
const keptFile = "# my credentials\n" +
	"[default]\n" +
	"aws_access_key_id=AKIADEFAULT000000000\n" +
	"aws_secret_access_key   =   defaultsecret\n" +
	"\n" +
	"; the billing one is managed\n" +
	"[billing]\n" +
	"region = eu-west-1\n" +
	"aws_access_key_id = AKIAOLD0000000000000\n" +
	"aws_secret_access_key = oldsecret\n" +
	"aws_security_token = oldtoken\n" +
	"  continued-old-token\n" +
	"# note about billing\n" +
	"output = json\n" +
	"\n" +
	"# work comes last\n" +
	"[work]\n" +
	"aws_access_key_id = AKIAWORK000000000000\n" +
	"aws_secret_access_key = worksecret\n"

var newLines = []string{"aws_access_key_id = ASIANEW", "aws_secret_access_key = newsecret", "aws_session_token = newtoken"}

// update splices its profile into the file byte for byte: what is outside
// the profile's credential lines is exactly what was there.
func TestSpliceProfile(t *testing.T) {
	for _, c := range []struct {
		why, orig, profile, eol, want string
	}{
		{"replaces the credential lines of a profile in the middle, keeping its other lines and everything around it",
			keptFile, "billing", "\n",
			"# my credentials\n[default]\naws_access_key_id=AKIADEFAULT000000000\naws_secret_access_key   =   defaultsecret\n\n; the billing one is managed\n" +
				"[billing]\naws_access_key_id = ASIANEW\naws_secret_access_key = newsecret\naws_session_token = newtoken\n" +
				"region = eu-west-1\n# note about billing\noutput = json\n" +
				"\n# work comes last\n[work]\naws_access_key_id = AKIAWORK000000000000\naws_secret_access_key = worksecret\n"},
		{"appends an absent profile after a blank line",
			"[default]\naws_access_key_id = A\n", "billing", "\n",
			"[default]\naws_access_key_id = A\n\n[billing]\naws_access_key_id = ASIANEW\naws_secret_access_key = newsecret\naws_session_token = newtoken\n"},
		{"a file without a final newline gets one before the new profile",
			"[default]\naws_access_key_id = A", "billing", "\n",
			"[default]\naws_access_key_id = A\n\n[billing]\naws_access_key_id = ASIANEW\naws_secret_access_key = newsecret\naws_session_token = newtoken\n"},
		{"an empty file holds just the profile",
			"", "billing", "\n",
			"[billing]\naws_access_key_id = ASIANEW\naws_secret_access_key = newsecret\naws_session_token = newtoken\n"},
		{"the last profile, without a final newline",
			"[a]\nx = 1\n\n[billing]\naws_access_key_id = OLD", "billing", "\n",
			"[a]\nx = 1\n\n[billing]\naws_access_key_id = ASIANEW\naws_secret_access_key = newsecret\naws_session_token = newtoken\n"},
		{"CRLF files stay CRLF",
			"[a]\r\nx = 1\r\n\r\n[billing]\r\naws_access_key_id = OLD\r\n\r\n[b]\r\ny = 2\r\n", "billing", "\r\n",
			"[a]\r\nx = 1\r\n\r\n[billing]\r\naws_access_key_id = ASIANEW\r\naws_secret_access_key = newsecret\r\naws_session_token = newtoken\r\n\r\n[b]\r\ny = 2\r\n"},
		{"a profile name that is a prefix of another is not confused with it",
			"[billing-prod]\naws_access_key_id = P\n", "billing", "\n",
			"[billing-prod]\naws_access_key_id = P\n\n[billing]\naws_access_key_id = ASIANEW\naws_secret_access_key = newsecret\naws_session_token = newtoken\n"},
	} {
		got, err := spliceProfile([]byte(c.orig), c.profile, newLines, c.eol)
		if err != nil || string(got) != c.want {
			t.Errorf("%s:\n got %q (%v)\nwant %q", c.why, got, err, c.want)
		}
		if again, _ := spliceProfile(got, c.profile, newLines, c.eol); !bytes.Equal(again, got) {
			t.Errorf("%s: a second write of the same lines changed the file:\n%q\n%q", c.why, got, again)
		}
	}
	if _, err := spliceProfile([]byte("[billing]\na = 1\n[billing]\nb = 2\n"), "billing", newLines, "\n"); err == nil || !strings.Contains(err.Error(), "appears 2 times") {
		t.Errorf("a duplicated profile must be refused (the AWS CLI refuses the file): %v", err)
	}
}

func FuzzSpliceProfile(f *testing.F) {
	f.Add(keptFile, "billing")
	f.Add("[billing]\r\naws_access_key_id = x", "billing")
	f.Add("", "p")
	f.Add("[p]\n  cont\n#c\n[q]\n", "p")
	f.Fuzz(func(t *testing.T, orig, profile string) {
		if checkProfileName(profile) != nil {
			return
		}
		got, err := spliceProfile([]byte(orig), profile, newLines, "\n")
		if err != nil {
			return
		}
		// What comes before the profile's header is never touched.
		h := strings.Index(orig, "["+profile+"]")
		if h < 0 {
			if !strings.HasPrefix(string(got), orig) {
				t.Fatalf("appending changed the file's bytes: %q -> %q", orig, got)
			}
		} else if !strings.HasPrefix(string(got), orig[:h]) {
			t.Fatalf("bytes before the profile changed: %q -> %q", orig, got)
		}
		again, err := spliceProfile(got, profile, newLines, "\n")
		if err != nil || !bytes.Equal(again, got) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", orig, got, again, err)
		}
	})
}

// outside returns s without the managed profile's section, for byte
// comparison of everything else.
func outside(t *testing.T, s, profile string) string {
	t.Helper()
	h := strings.Index(s, "["+profile+"]\n")
	if h < 0 {
		t.Fatalf("no [%s] in %q", profile, s)
	}
	end := strings.Index(s[h+1:], "\n[")
	if end < 0 {
		return s[:h]
	}
	rest := s[h+1+end:]
	// The blank and comment lines before the next header are not the
	// managed profile's.
	body := s[h : h+1+end]
	lines := strings.SplitAfter(body, "\n")
	keep := ""
	for i := len(lines) - 1; i > 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, ";") {
			break
		}
		keep = lines[i] + keep
	}
	return s[:h] + keep + rest
}

// Issue 20 proof: update --once writes the profile; the AWS CLI and boto3
// read it; every other byte of a file with other profiles and comments is
// unchanged; the file is 0600; a second run with nothing new writes
// nothing.
func TestUpdateWritesTheProfile(t *testing.T) {
	env := awstest.Start(t)
	good := target(env, "billing")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	want := currentValue(t, env, good.SecretName)
	home := t.TempDir()
	file := filepath.Join(home, "credentials")
	if err := os.WriteFile(file, []byte(keptFile), 0o644); err != nil {
		t.Fatal(err)
	}
	a, out, errb := testApp(env, time.Now, map[string]string{"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE": file})
	r := execute(t, a, out, errb, "update", "--target", good.Name, "--config", cfgPath, "--profile", "billing", "--read-profile", "work", "--once")
	if r.code != ExitOK || !strings.Contains(r.stderr, "wrote profile billing in "+file+": key "+want.MaskedKey()) {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	noSecrets(t, "update stderr", r.stderr+r.stdout)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	if outside(t, got, "billing") != outside(t, keptFile, "billing") {
		t.Fatalf("bytes outside [billing] changed:\nbefore %q\nafter  %q", outside(t, keptFile, "billing"), outside(t, got, "billing"))
	}
	for _, kept := range []string{"region = eu-west-1\n", "# note about billing\n", "output = json\n"} {
		if !strings.Contains(got, kept) {
			t.Errorf("the profile's own line %q was lost", kept)
		}
	}
	if strings.Contains(got, "oldtoken") || strings.Contains(got, "continued-old-token") {
		t.Errorf("the stale aws_security_token (botocore reads it as the session token) is still there")
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	before, _ := os.Stat(file)
	again := execute(t, a, out, errb, "update", "--target", good.Name, "--config", cfgPath, "--profile", "billing", "--read-profile", "work", "--once")
	if after, _ := os.Stat(file); again.code != ExitOK || !os.SameFile(before, after) {
		t.Errorf("a second --once with the same credentials replaced the file (exit %d)", again.code)
	}

	clientEnv := consumerEnv(env, home, "AWS_SHARED_CREDENTIALS_FILE="+file)
	t.Run("the AWS CLI reads the profile", func(t *testing.T) {
		key := strings.TrimSpace(awsCLI(t, clientEnv, "configure", "get", "aws_access_key_id", "--profile", "billing"))
		if key != want.AccessKeyID {
			t.Fatalf("aws configure get read %s, want %s", secretfmt.Mask(key), want.MaskedKey())
		}
		if arn := awsCLI(t, clientEnv, "--profile", "billing", "sts", "get-caller-identity", "--query", "Arn", "--output", "text"); !strings.Contains(arn, "arn:aws") {
			t.Fatalf("aws --profile billing sts get-caller-identity printed %q", arn)
		}
	})
	t.Run("boto3 reads the profile", func(t *testing.T) {
		boto3Resolves(t, clientEnv, "billing", want)
	})
}

// Issue 20 proof: running until stopped, update renews the profile at the
// secret's refresh hint (the rotator's time to replace it, refreshBefore
// ahead of expiry), so the file holds the new version while the old one
// still has its refreshBefore left; it sleeps on the injected clock only.
func TestUpdateRenewsAtTheRefreshHint(t *testing.T) {
	env := awstest.Start(t)
	tg := target(env, "renewed")
	start := time.Now().UTC().Truncate(time.Second)
	clock := start
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	v1 := value(1, start.Add(time.Hour), start.Add(40*time.Minute))
	v2 := value(2, start.Add(100*time.Minute), start.Add(80*time.Minute))
	putValue(t, env, tg.SecretName, tg.Name, v1)
	cfgPath := writeConfig(t, tg)
	home := t.TempDir()
	file := filepath.Join(home, "credentials")
	a, out, errb := testApp(env, now, map[string]string{"HOME": home, "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "other"), "AWS_CONFIG_FILE": filepath.Join(home, "none")})
	ctx, cancel := context.WithCancel(awstest.Context(t))
	defer cancel()
	var wakes []time.Time
	var keys []string
	a.Sleep = func(_ context.Context, d time.Duration) error {
		b, _ := os.ReadFile(file)
		keys = append(keys, profileKey(b, "renewed"))
		mu.Lock()
		clock = clock.Add(d)
		wakes = append(wakes, clock)
		mu.Unlock()
		switch len(wakes) {
		case 1: // the rotator replaces the version at its hint
			v2.Meta.Target = tg.Name
			body, _ := secretfmt.Marshal(v2)
			awstest.Remember(body)
			if _, err := env.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(tg.SecretName), SecretString: aws.String(string(body))}); err != nil {
				t.Error(err)
			}
		case 2:
			cancel()
			return ctx.Err()
		}
		return nil
	}
	r := execute(t, a, out, errb, "update", "--target", tg.Name, "--config", cfgPath, "--profile", "renewed", "--credentials-file", file)
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	if len(wakes) != 2 || !wakes[0].Equal(v1.Meta.RefreshAt) || !wakes[1].Equal(v2.Meta.RefreshAt) {
		t.Fatalf("update woke at %v; want the refresh hints %s and %s", wakes, v1.Meta.RefreshAt, v2.Meta.RefreshAt)
	}
	if keys[0] != v1.AccessKeyID || keys[1] != v2.AccessKeyID {
		t.Fatalf("the file held %v before each wake; want v1's key, then v2's", keys)
	}
	if left := v1.Expiration.Sub(wakes[0]); left < 20*time.Minute {
		t.Fatalf("renewed with %s of v1 left, want its refreshBefore (20m)", left)
	}
	if strings.Count(r.stderr, "wrote profile renewed") != 2 {
		t.Fatalf("want one write per version: %s", r.stderr)
	}
}

// Issue 20 proof: two (here eight) concurrent updates of different
// profiles of one file, while a reader keeps reading it: no write is lost
// (the advisory lock) and no read ever sees a torn file (temporary file +
// rename). The real binary, as cron or systemd would run it.
func TestUpdateConcurrentNeverTears(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	good := target(env, "shared")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	home := t.TempDir()
	file := filepath.Join(home, ".aws", "credentials")
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(keptFile), 0o600); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var reads, torn atomic.Int64
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for !stop.Load() {
			b, err := os.ReadFile(file)
			reads.Add(1)
			if err != nil || !strings.HasPrefix(string(b), "# my credentials\n[default]\n") || !strings.HasSuffix(string(b), "\n") || !strings.Contains(string(b), "[work]\naws_access_key_id = AKIAWORK000000000000\naws_secret_access_key = worksecret\n") {
				torn.Add(1)
			}
		}
	}()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "update", "--target", good.Name, "--config", cfgPath, "--profile", fmt.Sprintf("p%d", i), "--once")
			cmd.Env, cmd.Stderr = binEnv(env, home), &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Sprintf("update p%d: %v: %s", i, err, stderr.String())
			}
			_, _ = awstest.Logs.Write(stderr.Bytes())
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-readerDone
	for _, e := range errs {
		if e != "" {
			t.Error(e)
		}
	}
	b, _ := os.ReadFile(file)
	want := currentValue(t, env, good.SecretName)
	for i := range n {
		if k := profileKey(b, fmt.Sprintf("p%d", i)); k != want.AccessKeyID {
			t.Errorf("profile p%d holds %q after the concurrent updates: a write was lost", i, secretfmt.Mask(k))
		}
	}
	if !strings.HasPrefix(string(b), keptFile) {
		t.Errorf("the original profiles changed")
	}
	if torn.Load() > 0 {
		t.Fatalf("%d of %d reads saw a torn file", torn.Load(), reads.Load())
	}
	t.Logf("%d concurrent updates, %d reads during them, none torn", n, reads.Load())
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".credentials.stsrotator-*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// update refuses what would make it write somewhere unintended or write
// what the secret's owner did not intend.
func TestAbuse_UpdateFileAndSecretAttacks(t *testing.T) {
	env := awstest.Start(t)
	good := target(env, "billing")
	mint(t, env, good)
	evil := target(env, "evil")
	now := time.Now()
	v := value(7, now.Add(time.Hour), now.Add(40*time.Minute))
	v.SessionToken = "tok\n[default]\naws_access_key_id = AKIAATTACKER00000000"
	putValue(t, env, evil.SecretName, evil.Name, v)
	cfgPath := writeConfig(t, good, evil)
	home := t.TempDir()
	vars := map[string]string{"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(home, "other")}
	run := func(file string, args ...string) run {
		a, out, errb := testApp(env, time.Now, vars)
		return execute(t, a, out, errb, append([]string{"update", "--config", cfgPath, "--credentials-file", file, "--once"}, args...)...)
	}
	write := func(name, body string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("a secret whose token carries a line break and a section cannot write another profile", func(t *testing.T) {
		f := write("credentials", keptFile)
		r := run(f, "--target", evil.Name, "--profile", "billing")
		if b, _ := os.ReadFile(f); r.code != ExitInvalid || string(b) != keptFile {
			t.Fatalf("exit %d, stderr %s; file now %q", r.code, r.stderr, b)
		}
	})
	t.Run("a profile name that closes the header is refused", func(t *testing.T) {
		f := write("credentials", keptFile)
		r := run(f, "--target", good.Name, "--profile", "x]\n[default")
		if b, _ := os.ReadFile(f); r.code != ExitUsage || string(b) != keptFile {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
	})
	t.Run("a symlinked credentials file is refused, and its target untouched", func(t *testing.T) {
		real := write("elsewhere", "precious\n")
		link := filepath.Join(t.TempDir(), "credentials")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		r := run(link, "--target", good.Name, "--profile", "billing")
		if b, _ := os.ReadFile(real); r.code != ExitUsage || !strings.Contains(r.stderr, "symbolic link") || string(b) != "precious\n" {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
		if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
			t.Fatal("the link was replaced")
		}
	})
	t.Run("a file another user owns is refused", func(t *testing.T) {
		f := write("credentials", keptFile)
		if err := os.Chown(f, 65534, 65534); err != nil {
			t.Skipf("cannot give the file to another user here (not root): %v", err)
		}
		r := run(f, "--target", good.Name, "--profile", "billing")
		if b, _ := os.ReadFile(f); r.code != ExitUsage || !strings.Contains(r.stderr, "belongs to user id 65534") || string(b) != keptFile {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
	})
	t.Run("reading the secret with the profile it writes is refused", func(t *testing.T) {
		f := write("credentials", keptFile)
		a, out, errb := testApp(env, time.Now, map[string]string{"HOME": home, "AWS_CONFIG_FILE": filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE": f, "AWS_PROFILE": "billing"})
		r := execute(t, a, out, errb, "update", "--config", cfgPath, "--target", good.Name, "--profile", "billing", "--once")
		if r.code != ExitUsage || !strings.Contains(r.stderr, "AWS_PROFILE=billing: profile billing") || !strings.Contains(r.stderr, "--read-profile") {
			t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
		}
	})
}
