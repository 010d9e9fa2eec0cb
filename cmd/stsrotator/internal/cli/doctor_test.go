package cli

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/mototest"
)

// cliSource is the credential source the real AWS CLI v1 reports with
// `aws configure list`: the access_key row's Type column, "none" for
// <not set>, or the provider its error names.
func cliSource(t *testing.T, env []string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("aws", "configure", "list")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	_ = cmd.Run()
	for _, l := range strings.Split(stdout.String(), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "access_key" {
			if f[1] == "<not" {
				return srcNone
			}
			return f[2]
		}
	}
	if m := regexp.MustCompile(`retrieving (?:token|credentials) from ([a-z-]+)`).FindStringSubmatch(stderr.String()); m != nil {
		return m[1]
	}
	if strings.Contains(stderr.String(), "refreshed credentials are still expired") && slices.ContainsFunc(env, func(v string) bool { return strings.HasPrefix(v, "AWS_CREDENTIAL_EXPIRATION=") }) {
		// botocore's EnvProvider reads AWS_CREDENTIAL_EXPIRATION and
		// refuses credentials past it.
		return srcEnv
	}
	if strings.Contains(stderr.String(), "could not be found") {
		return srcNone
	}
	t.Fatalf("aws configure list: stdout %s stderr %s", stdout.String(), stderr.String())
	return ""
}

// jwt is an unsigned OIDC-shaped token expiring at exp (STS in the
// emulator does not verify it; doctor reads only its exp claim).
func jwt(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"iss":"https://oidc.example","sub":"system:serviceaccount:a:b","aud":"sts.amazonaws.com","exp":%d}`, exp.Unix()))) + ".c2ln"
}

// Issue 20 proof: in fourteen environments built in a temporary HOME,
// doctor's source is the one the real AWS CLI v1 reports, its exit status
// says whether something is wrong, and its fix is the right one. No
// access key is ever printed in full.
func TestDoctorAgreesWithTheAWSCLI(t *testing.T) {
	env := awstest.Start(t)
	moto := mototest.Start(t)
	bin := buildCLI(t)
	good := target(env, "billing")
	mint(t, env, good)
	cfgPath := writeConfig(t, good)
	arn := secretArn(t, env, good.SecretName)
	now := time.Now()

	home := t.TempDir()
	aws := filepath.Join(home, ".aws")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(aws, "sso", "cache"), 0o700))
	r := awstest.Region
	must(os.WriteFile(filepath.Join(aws, "config"), []byte(""+
		"[default]\nregion = "+r+"\n\n"+
		"[profile billing]\nregion = "+r+"\ncredential_process = stsrotator credential-process --secret-id "+arn+" --region "+r+"\n\n"+
		"[profile admin]\nregion = "+r+"\nrole_arn = arn:aws:iam::000000000000:role/admin\nsource_profile = base\n\n"+
		"[profile base]\nregion = "+r+"\n\n"+
		"[profile cfgkeys]\nregion = "+r+"\naws_access_key_id = AKIADOCTORCONFIG0000\naws_secret_access_key = cfgsecret\n\n"+
		"[profile dev]\nregion = "+r+"\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\n\n"+
		"[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = "+r+"\n"), 0o600))
	must(os.WriteFile(filepath.Join(aws, "credentials"), []byte(""+
		"[base]\naws_access_key_id = AKIADOCTORBASE000000\naws_secret_access_key = basesecret\n\n"+
		"[default]\naws_access_key_id = AKIADOCTORDEFAULT000\naws_secret_access_key = defaultsecret\n\n"+
		"[static]\naws_access_key_id = AKIADOCTORSTATIC0000\naws_secret_access_key = staticsecret\n"), 0o600))
	// The cache file both botocore and the Go SDK read for sso_session
	// corp is named by the SHA-1 of the session name.
	out, err := exec.Command("python3", "-c", "import hashlib;print(hashlib.sha1(b'corp').hexdigest())").Output()
	must(err)
	must(os.WriteFile(filepath.Join(aws, "sso", "cache", strings.TrimSpace(string(out))+".json"),
		[]byte(`{"startUrl":"https://corp.awsapps.com/start","region":"`+r+`","accessToken":"expired-sso-token","expiresAt":"2020-01-01T00:00:00Z"}`), 0o600))
	// A profile stsrotator update keeps fresh.
	upd := exec.Command(bin, "update", "--target", good.Name, "--config", cfgPath, "--profile", "updated", "--once")
	upd.Env = binEnv(env, home)
	if o, err := upd.CombinedOutput(); err != nil {
		t.Fatalf("update: %v %s", err, o)
	}
	validToken, expiredToken := filepath.Join(home, "token"), filepath.Join(home, "old-token")
	must(os.WriteFile(validToken, []byte(jwt(now.Add(time.Hour))), 0o600))
	must(os.WriteFile(expiredToken, []byte(jwt(now.Add(-time.Hour))), 0o600))
	empty := t.TempDir()

	served := startServe(t, bin, binEnv(env, empty), "--target", good.Name, "--config", cfgPath)
	// stsrotator serve --imds answers IMDSv2 as EC2 documents it; moto's
	// instance metadata lacks the Code field aws-sdk-go-v2 requires.
	imds := startServe(t, bin, binEnv(env, empty), "--target", good.Name, "--config", cfgPath, "--imds").vars[EnvEC2MetadataEndpoint]

	base := func(h string, extra ...string) []string {
		return append([]string{"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + h,
			// aws-sdk-go-v2 builds the STS client of a role or web
			// identity profile before it reads AWS_ENDPOINT_URL, so only
			// the service's own variable reaches it.
			"AWS_ENDPOINT_URL=" + env.URL, "AWS_ENDPOINT_URL_STS=" + env.URL, "AWS_DEFAULT_REGION=" + r, "AWS_REGION=" + r}, extra...)
	}
	noIMDS := "AWS_EC2_METADATA_DISABLED=true"
	// kumo cannot parse aws-sdk-go-v2's unsigned AssumeRoleWithWebIdentity
	// (InvalidParameterValue); moto answers it.
	stale := []string{"AWS_ACCESS_KEY_ID=ASIADOCTORSTALE00000", "AWS_SECRET_ACCESS_KEY=stalesecret", "AWS_SESSION_TOKEN=staletoken",
		"AWS_CREDENTIAL_EXPIRATION=" + now.Add(-3*time.Hour).UTC().Format(time.RFC3339)}

	for _, c := range []struct {
		why    string
		env    []string
		source string
		code   int
		says   []string
	}{
		{"a stale exported session token over a good profile", base(home, append(stale, noIMDS, "AWS_PROFILE=billing")...), srcEnv, ExitUnhealthy,
			[]string{"problem: the credentials from env have expired", "shadows: env comes first, so AWS_PROFILE=billing", "fix: unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CREDENTIAL_EXPIRATION (then AWS_PROFILE=billing applies"}},
		{"AWS_PROFILE naming a stsrotator credential_process profile", base(home, noIMDS, "AWS_PROFILE=billing"), srcProcess, ExitOK,
			[]string{"managed: yes: stsrotator secret " + arn, "note: AWS accepts them"}},
		{"an SSO profile whose cached token expired", base(home, noIMDS, "AWS_PROFILE=dev"), srcSSO, ExitUnhealthy,
			[]string{"fix: aws sso login --profile dev"}},
		{"the container endpoint set (stsrotator serve)", base(empty, noIMDS, EnvContainerFullURI+"="+served.vars[EnvContainerFullURI], EnvContainerToken+"="+served.vars[EnvContainerToken]), srcContainer, ExitOK,
			[]string{"managed: probably: a loopback container endpoint"}},
		{"nothing configured", base(empty, noIMDS), srcNone, ExitUnhealthy,
			[]string{"fix: configure a source"}},
		{"web identity from the environment", base(empty, noIMDS, "AWS_WEB_IDENTITY_TOKEN_FILE="+validToken, "AWS_ROLE_ARN=arn:aws:iam::000000000000:role/irsa", "AWS_ENDPOINT_URL_STS="+moto.URL), srcWebIdentity, ExitOK,
			[]string{"note: the web identity token in " + validToken + " is valid until"}},
		{"web identity whose token expired", base(empty, noIMDS, "AWS_WEB_IDENTITY_TOKEN_FILE="+expiredToken, "AWS_ROLE_ARN=arn:aws:iam::000000000000:role/irsa", "AWS_ENDPOINT_URL_STS="+moto.URL), srcWebIdentity, ExitUnhealthy,
			[]string{"problem: the web identity token in " + expiredToken + " expired", "fix: the platform that writes"}},
		{"IMDS fallback (stsrotator serve --imds)", base(empty, "AWS_EC2_METADATA_SERVICE_ENDPOINT="+imds), srcIMDS, ExitOK,
			[]string{"source: iam-role — the EC2 instance metadata service (" + strings.TrimSuffix(imds, "/")}},
		{"IMDS answering without the Code field (moto's instance metadata): botocore takes it, aws-sdk-go-v2 does not", base(empty, "AWS_EC2_METADATA_SERVICE_ENDPOINT="+moto.URL), "", ExitUnhealthy,
			[]string{"source: none", "note: the instance metadata service:"}},
		{"static keys in the credentials file", base(home, noIMDS, "AWS_PROFILE=static"), srcCredFile, ExitOK,
			[]string{"expires: never: key AKIA…0000 is a long-term access key", "managed: no"}},
		{"a profile hides the container endpoint", base(home, noIMDS, "AWS_PROFILE=static", EnvContainerFullURI+"="+served.vars[EnvContainerFullURI], EnvContainerToken+"="+served.vars[EnvContainerToken]), srcCredFile, ExitOK,
			[]string{"shadows: shared-credentials-file comes first, so AWS_CONTAINER_CREDENTIALS_FULL_URI http://127.0.0.1:"}},
		{"static keys in the config file", base(home, noIMDS, "AWS_PROFILE=cfgkeys"), srcConfigFile, ExitOK, nil},
		{"a source_profile chain", base(home, noIMDS, "AWS_PROFILE=admin"), srcAssumeRole, ExitOK,
			[]string{"role chain: profile admin → source_profile base", "expires: "}},
		{"AWS_PROFILE naming a missing profile", base(home, noIMDS, "AWS_PROFILE=nope"), srcNone, ExitUnhealthy,
			[]string{`problem: AWS_PROFILE nope names profile "nope"`, "fix: unset AWS_PROFILE"}},
		{"a profile stsrotator update keeps fresh", base(home, noIMDS, "AWS_PROFILE=updated"), srcCredFile, ExitOK,
			[]string{"managed: yes: stsrotator update --target billing writes this profile"}},
	} {
		t.Run(c.why, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, "doctor")
			cmd.Env, cmd.Stdout, cmd.Stderr = c.env, &stdout, &stderr
			_ = cmd.Run()
			got := stdout.String()
			_, _ = awstest.Logs.Write(stdout.Bytes())
			_, _ = awstest.Logs.Write(stderr.Bytes())
			m := regexp.MustCompile(`(?m)^source: (\S+)`).FindStringSubmatch(got)
			if c.source != "" {
				if m == nil || m[1] != c.source {
					t.Fatalf("doctor's source is %v, want %s:\n%s%s", m, c.source, got, stderr.String())
				}
				if cli := cliSource(t, c.env); cli != c.source {
					t.Fatalf("aws configure list reports %s, doctor %s:\n%s", cli, c.source, got)
				}
			}
			if code := cmd.ProcessState.ExitCode(); code != c.code {
				t.Fatalf("exit %d, want %d:\n%s%s", code, c.code, got, stderr.String())
			}
			for _, s := range c.says {
				if !strings.Contains(got, s) {
					t.Errorf("doctor does not say %q:\n%s", s, got)
				}
			}
			for _, key := range []string{"AKIADOCTORBASE000000", "AKIADOCTORDEFAULT000", "AKIADOCTORSTATIC0000", "AKIADOCTORCONFIG0000", "ASIADOCTORSTALE00000", "stalesecret", "staletoken", "basesecret", "expired-sso-token"} {
				if strings.Contains(got+stderr.String(), key) {
					t.Errorf("doctor printed secret material %q", key)
				}
			}
			noSecrets(t, "doctor output", got+stderr.String())
			if c.code == ExitOK && strings.Contains(got, "problem:") || c.code != ExitOK && !strings.Contains(got, "fix: ") {
				t.Errorf("a problem without a fix, or a problem line with exit 0:\n%s", got)
			}
		})
	}
}

// --error names the kind of expiry of a pasted error with the shared
// classifier, and the exit status stays about the environment.
func TestDoctorClassifiesAPastedError(t *testing.T) {
	env := awstest.Start(t)
	home := awsDir(t, "[default]\nregion = "+awstest.Region+"\n", "[default]\naws_access_key_id = AKIAKUMOTESTKEY00000\naws_secret_access_key = kumo-test-secret\n")
	for _, c := range []struct{ text, says string }{
		{"An error occurred (ExpiredToken) when calling the GetObject operation: The provided token has expired.", "error: expired credentials (ExpiredToken GetObject)"},
		{"operation error EC2: DescribeInstances, https response error StatusCode: 400, RequestID: 7c, api error RequestExpired: Request has expired.", "error: request expired (RequestExpired EC2 DescribeInstances): either the session expired or this machine's clock"},
		{"<Error><Code>AccessDenied</Code><Message>Request has expired</Message><Expires>2026-01-01T00:00:00Z</Expires></Error>", "error: presigned URL expired"},
		{"An error occurred (ExpiredTokenException) when calling the AssumeRoleWithWebIdentity operation: Token expired: current date/time 2 must be before the expiration date/time 1", "error: web identity token expired"},
		{"An error occurred (InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid.", "error: not an expiry"},
	} {
		a, out, errb := testApp(env, time.Now, map[string]string{})
		t.Setenv("HOME", home)
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, ".aws", "config"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, ".aws", "credentials"))
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_ENDPOINT_URL", env.URL)
		r := execute(t, a, out, errb, "doctor", "--error", c.text)
		if !strings.HasPrefix(r.stdout, c.says) || r.code != ExitOK {
			t.Errorf("doctor --error %q: exit %d\n%s\nwant first line %q", c.text, r.code, r.stdout, c.says)
		}
	}
}
