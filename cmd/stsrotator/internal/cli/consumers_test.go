package cli

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// served is one running `stsrotator serve`.
type served struct {
	// vars are the variables serve printed to export; unset the names it
	// printed to unset.
	vars   map[string]string
	unset  []string
	stderr *syncBuffer
	stop   func()
}

// startServe runs the built CLI's serve and reads the lines it prints for
// the shell.
func startServe(t *testing.T, bin string, env []string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &served{vars: map[string]string{}, stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		if err := <-exited; err != nil {
			t.Errorf("serve did not stop cleanly on SIGINT: %v; stderr %s", err, s.stderr.String())
		}
		_, _ = awstest.Logs.Write([]byte(s.stderr.String()))
	}
	t.Cleanup(s.stop)
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		if name, ok := strings.CutPrefix(line, "unset "); ok {
			s.unset = append(s.unset, name)
			if s.vars[EnvContainerTokenFile] != "" {
				break // the last line serve prints with a token file
			}
			continue
		}
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if uq, err := unquoteShell(v); err == nil {
			v = uq
		}
		s.vars[k] = v
		if k == EnvContainerToken || k == EnvEC2MetadataEndpoint {
			break // the last line serve prints without a token file, or with --imds
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if s.vars[EnvContainerFullURI] == "" && s.vars[EnvEC2MetadataEndpoint] == "" {
		t.Fatalf("serve printed %v; stderr %s", s.vars, s.stderr.String())
	}
	return s
}

// unquoteShell undoes shellQuote's single quotes.
func unquoteShell(v string) (string, error) {
	out, err := exec.Command("sh", "-c", "printf %s "+v).Output()
	return string(out), err
}

// freePort finds a loopback port nobody listens on, for a serve that must
// come back on the same one.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// consumerEnv is a clean environment for a real AWS client: no
// credentials of its own, the region both ways the AWS CLI v1 and boto3
// read it, kumo as the endpoint.
func consumerEnv(env *awstest.Env, home string, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_DEFAULT_REGION=" + awstest.Region, "AWS_REGION=" + awstest.Region, "AWS_ENDPOINT_URL=" + env.URL,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(home, "no-config"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "no-credentials"),
	}, extra...)
}

// awsCLI runs the real AWS CLI v1 and returns its stdout, failing the test
// with its stderr if it fails.
func awsCLI(t *testing.T, env []string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("aws", args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// boto3Resolves fails unless boto3, in env, resolves want's key and token
// (for profile, or the default chain when profile is "").
func boto3Resolves(t *testing.T, env []string, profile string, want secretfmt.Value) {
	t.Helper()
	session := "boto3.Session()"
	if profile != "" {
		session = "boto3.Session(profile_name='" + profile + "')"
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("python3", "-c", "import boto3; c = "+session+".get_credentials().get_frozen_credentials(); print(c.access_key, c.token)")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("boto3: %v\n%s", err, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != want.AccessKeyID+" "+want.SessionToken {
		t.Fatalf("boto3 resolved key %s, want the secret's %s", secretfmt.Mask(strings.Fields(got + " ")[0]), want.MaskedKey())
	}
}

// profileHome is a HOME whose ~/.aws has a default profile with its own
// keys (the identity that reads secrets) and a profile `billing` whose
// credential_process is exactly the line `cdk deploy` prints as
// AwsConfig<Name> (infra/stack.ProfileLine), with stsrotator on PATH.
func profileHome(t *testing.T, secretArn string) string {
	t.Helper()
	conf := "[default]\nregion = " + awstest.Region + "\n\n[profile billing]\nregion = " + awstest.Region + "\n" +
		"credential_process = stsrotator credential-process --secret-id " + secretArn + " --region " + awstest.Region + "\n"
	return awsDir(t, conf, "[default]\naws_access_key_id = AKIAKUMOTESTKEY00000\naws_secret_access_key = kumo-test-secret\n")
}

// Issue 15 §6: `AWS_PROFILE=billing aws sts get-caller-identity`, billing's
// credential_process being the deploy's line, failed with "the profile used
// to read the secret runs stsrotator credential-process itself": the child
// inherits AWS_PROFILE. It now reads the secret with the rest of the
// default chain (here the default profile's keys). Proven with the real
// AWS CLI v1, boto3, and the AWS SDK for JavaScript v3's default chain and
// fromProcess.
func TestDeployProfileLineUnderAWSProfile(t *testing.T) {
	env, bin, arn, want, wantCreds := mintedBilling(t)
	home := profileHome(t, arn)
	shellEnv := []string{"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + home,
		"AWS_ENDPOINT_URL=" + env.URL, "AWS_EC2_METADATA_DISABLED=true"}
	underProfile := append(append([]string{}, shellEnv...), "AWS_PROFILE=billing")

	t.Run("aws sts get-caller-identity", func(t *testing.T) {
		if out := awsCLI(t, underProfile, "sts", "get-caller-identity"); !strings.Contains(out, `"Arn"`) {
			t.Fatalf("aws printed %s", out)
		}
	})
	t.Run("boto3 resolves the secret's credentials", func(t *testing.T) {
		boto3Resolves(t, underProfile, "", want)
	})
	t.Run("JavaScript v3 default chain", func(t *testing.T) {
		var got jsCreds
		node(t, underProfile, &got, "chain")
		got.same(t, "fromNodeProviderChain with AWS_PROFILE=billing", wantCreds)
	})
	t.Run("JavaScript v3 fromProcess", func(t *testing.T) {
		var got jsCreds
		node(t, shellEnv, &got, "process", "billing")
		got.same(t, "fromProcess({profile: billing})", wantCreds)
	})
	t.Run("an explicit --profile is still obeyed", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, "credential-process", "--secret-id", arn, "--profile", "billing")
		cmd.Env, cmd.Stdout, cmd.Stderr = underProfile, &stdout, &stderr
		_ = cmd.Run()
		if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(stderr.String(), "runs stsrotator credential-process itself") {
			t.Fatalf("reading billing's secret as billing must be refused as a loop: exit %d, stderr %s", cmd.ProcessState.ExitCode(), stderr.String())
		}
	})
}

// mintedBilling is a target billing minted on kumo, the built CLI, the
// secret's ARN, and its value as credentials.
func mintedBilling(t *testing.T) (*awstest.Env, string, string, secretfmt.Value, aws.Credentials) {
	t.Helper()
	env := awstest.Start(t)
	bin := buildCLI(t)
	good := target(env, "billing")
	mint(t, env, good)
	want := currentValue(t, env, good.SecretName)
	return env, bin, secretArn(t, env, good.SecretName), want,
		aws.Credentials{AccessKeyID: want.AccessKeyID, SessionToken: want.SessionToken, Expires: want.Expiration}
}

func secretArn(t *testing.T, env *awstest.Env, name string) string {
	t.Helper()
	d, err := env.Secrets.DescribeSecret(awstest.Context(t), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(d.ARN)
}

// Issue 15 §7: the AWS SDK for JavaScript v3's container providers read
// serve: fromHttp with the token or the token file, fromContainerMetadata,
// and the default chain; a refusal reaches JavaScript with its Code and
// Message, not only "Server responded with status: 401".
func TestServeForJavaScript(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	home := t.TempDir()
	good := target(env, "served-js")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	want := currentValue(t, env, good.SecretName)
	wantCreds := aws.Credentials{AccessKeyID: want.AccessKeyID, SessionToken: want.SessionToken, Expires: want.Expiration}
	tokenFile := filepath.Join(t.TempDir(), "token")

	plain := startServe(t, bin, binEnv(env, home), "--target", good.Name, "--config", cfgPath)
	withFile := startServe(t, bin, binEnv(env, home), "--target", good.Name, "--config", cfgPath, "--token-file", tokenFile)
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "AWS_REGION=" + awstest.Region}
	byToken := append(append([]string{}, base...), EnvContainerFullURI+"="+plain.vars[EnvContainerFullURI], EnvContainerToken+"="+plain.vars[EnvContainerToken])
	byFile := append(append([]string{}, base...), EnvContainerFullURI+"="+withFile.vars[EnvContainerFullURI], EnvContainerTokenFile+"="+tokenFile)

	for _, c := range []struct {
		why  string
		env  []string
		mode string
	}{
		{"fromHttp with the token", byToken, "http"},
		{"fromHttp with the token file", byFile, "http"},
		{"fromContainerMetadata with the token", byToken, "container"},
		{"the default chain with the token file", byFile, "chain"},
	} {
		t.Run(c.why, func(t *testing.T) {
			var got jsCreds
			node(t, c.env, &got, c.mode)
			got.same(t, c.why, wantCreds)
		})
	}
	t.Run("a refusal carries Code and Message to JavaScript", func(t *testing.T) {
		wrong := append(append([]string{}, base...), EnvContainerFullURI+"="+plain.vars[EnvContainerFullURI], EnvContainerToken+"=not-the-token")
		var got jsCreds
		if node(t, wrong, &got, "http") {
			t.Fatal("fromHttp accepted a wrong token")
		}
		if got.Code != "AccessDenied" || !strings.Contains(got.Message, "missing or wrong Authorization token") {
			t.Fatalf("JavaScript saw %+v; want Code AccessDenied and the reason in Message", got)
		}
	})
	plain.stop()
	withFile.stop()
	noSecrets(t, "serve stderr", plain.stderr.String()+withFile.stderr.String())
}
