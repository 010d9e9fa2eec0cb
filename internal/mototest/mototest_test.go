package mototest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
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
