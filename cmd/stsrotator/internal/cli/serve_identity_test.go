package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Issue 20: serve read its secret through the variables it publishes. In
// an EKS Pod Identity pod (the agent sets AWS_CONTAINER_CREDENTIALS_FULL_URI
// and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE in every pod) it adopted the
// agent's token file, and in a shell holding another serve's exports it
// read its secret signed with that serve's target's credentials. Now, seen
// at a logging proxy in front of kumo: serve reads with its own identity
// and says which; an stsrotator endpoint is never used to read, so with no
// identity of its own serve (and a nested exec) refuses instead of reading
// with another target's key; its clients keep working when the agent's
// token file is rewritten.
func TestServeReadsWithItsOwnIdentity(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	proxy := startSigningProxy(t, env.URL)
	home := t.TempDir()
	a, b := target(env, "identity-a"), target(env, "identity-b")
	mint(t, env, a)
	mint(t, env, b)
	cfgPath := writeConfig(t, a, b)
	keyA := currentValue(t, env, a.SecretName).AccessKeyID
	own := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_REGION=" + awstest.Region, "AWS_ENDPOINT_URL=" + proxy.URL,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none")}
	withKeys := append(slices.Clone(own), "AWS_ACCESS_KEY_ID=AKIAKUMOTESTKEY00000", "AWS_SECRET_ACCESS_KEY=kumo-test-secret")

	servedA := startServe(t, bin, withKeys, "--target", a.Name, "--config", cfgPath)
	exportsA := []string{EnvContainerFullURI + "=" + servedA.vars[EnvContainerFullURI], EnvContainerToken + "=" + servedA.vars[EnvContainerToken]}
	// The Pod Identity agent's token file, as kubelet projects it (0644).
	agentFile := filepath.Join(t.TempDir(), "eks-pod-identity-token")
	if err := os.WriteFile(agentFile, []byte("agent-token-one"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := append(slices.Clone(exportsA), EnvContainerTokenFile+"="+agentFile)

	t.Run("with its own keys, serve reads with them, not through the other serve", func(t *testing.T) {
		servedB := startServe(t, bin, append(slices.Clone(withKeys), pod...), "--target", b.Name, "--config", cfgPath)
		if !slices.Contains(servedB.unset, EnvContainerTokenFile) || servedB.vars[EnvContainerTokenFile] != "" || servedB.vars[EnvContainerToken] == "" {
			t.Fatalf("serve printed %v, unset %v: want its own token, and the agent's token file unset", servedB.vars, servedB.unset)
		}
		client := consumerEnv(env, home, EnvContainerFullURI+"="+servedB.vars[EnvContainerFullURI], EnvContainerToken+"="+servedB.vars[EnvContainerToken])
		if out := awsCLI(t, client, "sts", "get-caller-identity"); !strings.Contains(out, `"Arn"`) {
			t.Fatalf("aws printed %s", out)
		}
		// kubelet rewrites the agent's token.
		if err := os.WriteFile(agentFile, []byte("agent-token-two"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := awsCLI(t, client, "sts", "get-caller-identity"); !strings.Contains(out, `"Arn"`) {
			t.Fatalf("after the agent's token file changed, aws printed %s", out)
		}
		servedB.stop()
		logs := servedB.stderr.String()
		for _, want := range []string{
			"not reading the secret through " + EnvContainerFullURI + "=" + servedA.vars[EnvContainerFullURI] + ": it is an stsrotator endpoint",
			"reading " + b.SecretName + " as key AKIA…0000 (from EnvConfigCredentials)",
			"GET /credentials 200 key ",
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("serve's log lacks %q:\n%s", want, logs)
			}
		}
		readers := proxy.readersOf(b.SecretName)
		if len(readers) == 0 || slices.ContainsFunc(readers, func(k string) bool { return k != "AKIAKUMOTESTKEY00000" }) {
			t.Fatalf("%s was read with keys %v; want only serve's own AKIA…0000", b.SecretName, maskAll(readers))
		}
		noSecrets(t, "serve stderr", logs)
	})

	t.Run("with no identity but the other serve's, serve refuses to read", func(t *testing.T) {
		before := len(proxy.readersOf(b.SecretName))
		var out, errb strings.Builder
		cmd := exec.Command(bin, "serve", "--target", b.Name, "--config", cfgPath)
		cmd.Env, cmd.Stdout, cmd.Stderr = append(slices.Clone(own), pod...), &out, &errb
		err := cmd.Run()
		_, _ = awstest.Logs.Write([]byte(errb.String()))
		if err == nil || out.String() != "" || !strings.Contains(errb.String(), "is an stsrotator endpoint") || !strings.Contains(errb.String(), "fix: give this command its own identity") {
			t.Fatalf("serve with only another serve's credentials: %v, stdout %q, stderr %s", err, out.String(), errb.String())
		}
		if readers := proxy.readersOf(b.SecretName)[before:]; slices.Contains(readers, keyA) {
			t.Fatalf("%s was read with target %s's key", b.SecretName, a.Name)
		}
	})

	t.Run("an exec inside an exec does not read with the outer target's key", func(t *testing.T) {
		before := len(proxy.readersOf(b.SecretName))
		r := runExec(t, bin, withKeys, "", "--target", a.Name, "--config", cfgPath, "--", bin, "exec", "--target", b.Name, "--config", cfgPath, "--", "true")
		if r.code == 0 || !strings.Contains(r.stderr, "is an stsrotator endpoint") {
			t.Fatalf("nested exec: exit %d, stderr %s", r.code, r.stderr)
		}
		if readers := proxy.readersOf(b.SecretName)[before:]; slices.Contains(readers, keyA) {
			t.Fatalf("%s was read with target %s's key", b.SecretName, a.Name)
		}
	})

	t.Run("a stopped serve's address is not used either", func(t *testing.T) {
		servedA.stop()
		servedB := startServe(t, bin, append(slices.Clone(withKeys), exportsA...), "--target", b.Name, "--config", cfgPath)
		servedB.stop()
		if !strings.Contains(servedB.stderr.String(), "does not answer") {
			t.Fatalf("serve did not say it skipped the stopped endpoint:\n%s", servedB.stderr)
		}
	})
}

func maskAll(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = secretfmt.Mask(k)
	}
	return out
}
