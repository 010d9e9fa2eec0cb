package mototest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/mototest"
)

// moto's STS is strict where kumo is lenient: credentials from AssumeRole
// identify as the assumed role, which is what the rotator's verification
// step depends on.
func TestMotoAnswersAssumedRoleIdentity(t *testing.T) {
	ctx := context.Background()
	s := mototest.Start(t)
	client := sts.NewFromConfig(s.Config(""))
	out, err := client.AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn:         aws.String("arn:aws:iam::" + mototest.Account + ":role/Probe"),
		RoleSessionName: aws.String("probe-session"),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	cfg := s.Config("")
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		c := out.Credentials
		return aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: *c.SessionToken}, nil
	})
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	want := "arn:aws:sts::" + mototest.Account + ":assumed-role/Probe/probe-session"
	if got := aws.ToString(id.Arn); got != want {
		t.Fatalf("identity = %q, want %q", got, want)
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("moto must listen on loopback only, got %s", s.URL)
	}
}

// Moving AWSCURRENT with UpdateSecretVersionStage makes the version it was
// moved to the current one, as on AWS: a label-less read returns it, and
// the next PutSecretValue leaves AWSCURRENT on the new version only, with
// AWSPREVIOUS on the one it replaced. moto 5.2.1 alone gets both wrong
// (server.py patches it; docs/local.md).
func TestStageMoveMakesTheVersionCurrent(t *testing.T) {
	ctx := context.Background()
	s := mototest.Start(t)
	sm := secretsmanager.NewFromConfig(s.Config(""))
	id := aws.String("rollback")
	v1, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: id, SecretString: aws.String("one")})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: id, SecretString: aws.String("two")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: id, VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: v1.VersionId, RemoveFromVersionId: v2.VersionId}); err != nil {
		t.Fatal(err)
	}
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: id})
	if err != nil || aws.ToString(got.SecretString) != "one" {
		t.Fatalf("a label-less read after the rollback returned %q (%v), want the rolled-back-to value", aws.ToString(got.SecretString), err)
	}
	v3, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: id, SecretString: aws.String("three")})
	if err != nil {
		t.Fatal(err)
	}
	list, err := sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: id, IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{aws.ToString(v1.VersionId): "[AWSPREVIOUS]", aws.ToString(v2.VersionId): "[]", aws.ToString(v3.VersionId): "[AWSCURRENT]"}
	for _, v := range list.Versions {
		if got := fmt.Sprint(v.VersionStages); got != want[aws.ToString(v.VersionId)] {
			t.Errorf("version %s: stages %s, want %s", aws.ToString(v.VersionId), got, want[aws.ToString(v.VersionId)])
		}
	}
}
