package rotation

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
	"github.com/stsrotator/stsrotator/shared/sourcekey"
)

const iamUserConfig = `
targets:
  - name: nightly
    roleArn: arn:aws:iam::123456789012:role/Nightly
    sourceCredentials: iam-user
    durationSeconds: 43200
  - name: web
    roleArn: arn:aws:iam::123456789012:role/Web
`

// Issue figure: a target with sourceCredentials: iam-user is minted with
// a 12-hour session on moto, its AssumeRole signed with the IAM user's key
// from the source-key secret (which the source-key rotator put there), and
// verified with moto's strict GetCallerIdentity. A role target in the same
// sweep still signs with the rotator's own credentials.
func TestIAMUserTargetMintsTwelveHours(t *testing.T) {
	ctx := context.Background()
	s := mototest.Start(t)
	cfg := s.Config("")
	signers := map[string]string{} // AssumeRole's role ARN → signing key
	inj := faults.New(http.DefaultTransport, 1)
	inj.OnDelivered(func(c faults.Call, status int, body []byte) {
		if c.Op == "AssumeRole" {
			role := ""
			for _, r := range []string{"Nightly", "Web"} {
				if strings.Contains(string(c.Body), r) {
					role = r
				}
			}
			_, rest, _ := strings.Cut(c.Header.Get("Authorization"), "Credential=")
			key, _, _ := strings.Cut(rest, "/")
			signers[role] = key
		}
	})
	cfg.HTTPClient = &http.Client{Transport: inj}
	iamc, sm, stsc := iam.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg), sts.NewFromConfig(cfg)

	const user, keySecret = "stsrotator-source", "stsrotator/source-key"
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		t.Fatal(err)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/stsrotator-source"},"Action":"sts:AssumeRole"}]}`
	if _, err := iamc.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("Nightly"), AssumeRolePolicyDocument: aws.String(trust), MaxSessionDuration: aws.Int32(43200)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(keySecret)}); err != nil {
		t.Fatal(err)
	}
	now := time.Now
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	keys := &sourcekey.Rotator{IAM: iamc, STS: stsc, Secrets: sm, UserName: user, SecretID: keySecret,
		UserArn: "arn:aws:iam::123456789012:user/" + user, MaxAge: config.DefaultSourceKeyMaxAge, Now: now,
		Wait: func(context.Context, time.Duration) error { return nil }, ProveAttempts: 1, Log: log}
	if r := keys.Run(ctx); r.Outcome != sourcekey.Rotated {
		t.Fatalf("source key: %+v", r)
	}
	stored, err := (sourcekey.Provider{Secrets: sm, SecretID: keySecret}).Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}

	c, err := config.Parse("t.yaml", []byte(iamUserConfig))
	if err != nil {
		t.Fatal(err)
	}
	eng := &Engine{STS: stsc, Secrets: sm, Now: now, Log: log, Emit: metrics.NewWriter(io.Discard, now), Verify: VerifyIdentity,
		Source: sourcekey.Provider{Secrets: sm, SecretID: keySecret}}
	results, sum := eng.Sweep(ctx, c.Targets, 2, Request{Why: "test"})
	if !sum.OK() || len(sum.Rotated) != 2 {
		t.Fatalf("sweep: %+v", results)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("stsrotator/nightly")})
	if err != nil {
		t.Fatal(err)
	}
	v, err := secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(v.Expiration); left < 12*time.Hour-time.Minute || left > 12*time.Hour {
		t.Fatalf("session left %s, want 12 h", left)
	}
	if want := "arn:aws:sts::123456789012:assumed-role/Nightly/stsrotator-nightly"; v.Meta.Identity != want {
		t.Fatalf("identity %q, want %q", v.Meta.Identity, want)
	}
	if signers["Nightly"] != stored.AccessKeyID {
		t.Fatalf("the iam-user target's AssumeRole was signed by %s, want the stored source key %s", secretfmt.Mask(signers["Nightly"]), secretfmt.Mask(stored.AccessKeyID))
	}
	if signers["Web"] == stored.AccessKeyID || signers["Web"] == "" {
		t.Fatalf("the role target's AssumeRole was signed by %s, want the rotator's own credentials", secretfmt.Mask(signers["Web"]))
	}
	if rb := time.Until(v.Meta.RefreshAt); rb < 7*time.Hour || rb > 8*time.Hour+time.Minute {
		t.Fatalf("refreshAt in %s, want with a third (4 h) of the 12 h left, minus up to 2m jitter", rb)
	}

	// A rotator that was not given the source key says so instead of
	// falling back to role chaining, which would fail at 12 h anyway.
	eng.Source = nil
	other := c.Targets[0]
	other.SecretName = "stsrotator/nightly-elsewhere"
	r := eng.Rotate(ctx, other, Request{Why: "test"})
	if r.Outcome != Failed || !strings.Contains(r.Reason, "no source key") {
		t.Fatalf("without a source key: %+v", r)
	}
}
