package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/sourcekey"
)

// The source-key schedule's event rotates the IAM user's key on the one
// function that manages it, and is refused, as bad input, everywhere else.
func TestSourceKeyInvocation(t *testing.T) {
	ev, err := os.ReadFile("testdata/source-key.json")
	if err != nil {
		t.Fatal(err)
	}
	lane := newHandler(t, awstest.Start(t))
	if _, err := lane.Handle(awstest.Context(t), ev); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "SourceKeyRotator") {
		t.Fatalf("a target lane must refuse the source-key event: %v", err)
	}

	ctx := context.Background()
	s := mototest.Start(t)
	cfg := s.Config("")
	iamc, sm := iam.NewFromConfig(cfg), secretsmanager.NewFromConfig(cfg)
	if _, err := iamc.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("src")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("src-key")}); err != nil {
		t.Fatal(err)
	}
	lane.SourceKeys = &sourcekey.Rotator{IAM: iamc, STS: sts.NewFromConfig(cfg), Secrets: sm, UserName: "src", SecretID: "src-key",
		UserArn: "arn:aws:iam::123456789012:user/src", MaxAge: config.DefaultSourceKeyMaxAge, Now: time.Now,
		Wait: func(context.Context, time.Duration) error { return nil }, ProveAttempts: 1, Log: lane.Log}
	resp, err := lane.Handle(ctx, ev)
	if err != nil || resp.Mode != "source-key" || resp.SourceKey.Outcome != sourcekey.Rotated {
		t.Fatalf("first run stores the first key: %+v, %v", resp, err)
	}
	body, _ := json.Marshal(resp)
	k, err := (sourcekey.Provider{Secrets: sm, SecretID: "src-key"}).Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), k.AccessKeyID) || strings.Contains(string(body), k.SecretAccessKey) {
		t.Fatalf("the response carries key material: %s", body)
	}
	if _, err := lane.Handle(ctx, json.RawMessage(`{"sourceKey":true,"target":"alpha"}`)); !errors.Is(err, ErrBadInput) {
		t.Fatalf("sourceKey with a target is ambiguous and refused: %v", err)
	}

	// A failed run is an error (the function's Errors alarm) and names why.
	lane.SourceKeys.UserName = "nobody"
	if _, err := lane.Handle(ctx, ev); err == nil || !strings.Contains(err.Error(), "stored key stays in use") {
		t.Fatalf("a failed source-key run must fail the invocation: %v", err)
	}
}
