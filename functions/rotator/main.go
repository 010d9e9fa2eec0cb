package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/sourcekey"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	fail := func(msg string, err error) {
		log.Error(msg, slog.String("error", err.Error()))
		os.Exit(1)
	}
	cfg, err := config.Load(lambdaenv.ConfigFilePath())
	if err != nil {
		fail("load config", err)
	}
	if err := cfg.InStack(os.Getenv(lambdaenv.StackName)); err != nil {
		fail("session names for stack "+os.Getenv(lambdaenv.StackName), err)
	}
	verify, err := rotation.ParseVerifyMode(os.Getenv(lambdaenv.VerifyMode))
	if err != nil {
		fail("read "+lambdaenv.VerifyMode, err)
	}
	concurrency, err := lambdaenv.Int(lambdaenv.Concurrency, cfg.Rotator.Concurrency)
	if err != nil {
		fail("read "+lambdaenv.Concurrency, err)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRetryer(func() aws.Retryer { return lambdaenv.NewRetryer() }))
	if err != nil {
		fail("load AWS config", err)
	}
	now := lambdaenv.Clock()
	emit := metrics.NewWriter(os.Stdout, now)
	stsClient, secrets := sts.NewFromConfig(awsCfg), secretsmanager.NewFromConfig(awsCfg)
	var source aws.CredentialsProvider
	keySecret := os.Getenv(lambdaenv.SourceKeySecret)
	if keySecret != "" {
		source = sourcekey.Provider{Secrets: secrets, SecretID: keySecret}
	}
	var sourceKeys *sourcekey.Rotator
	if u := os.Getenv(lambdaenv.SourceUser); u != "" {
		userArn := os.Getenv(lambdaenv.SourceUserArn)
		if verify == rotation.VerifyCaller {
			userArn = "" // the emulator answers one fixed identity
		}
		sourceKeys = &sourcekey.Rotator{
			IAM: iam.NewFromConfig(awsCfg), STS: stsClient, Secrets: secrets,
			UserName: u, UserArn: userArn, SecretID: keySecret,
			MaxAge: cfg.Rotator.SourceKeyMaxAge, Now: now, Wait: sourcekey.Wait,
			ProveAttempts: sourcekey.ProveAttempts, ProveBackoff: sourcekey.ProveBackoff, Log: log,
		}
	}
	h := &Handler{
		SourceKeys: sourceKeys,
		Engine: &rotation.Engine{
			Source:   source,
			STS:      stsClient,
			Secrets:  secrets,
			Now:      now,
			Log:      log,
			Emit:     emit,
			Verify:   verify,
			KMSKeyID: os.Getenv(lambdaenv.KMSKeyID),
			// The stack sets the bus consumers report to; each secret says it.
			ReportBus: os.Getenv(lambdaenv.EventBus),
			Jitter:    cfg.Rotator.Jitter,
			// Rotations and failures are announced on the default bus.
			Events: &events.Emitter{API: eventbridge.NewFromConfig(awsCfg)},
		},
		Config:      cfg,
		Concurrency: concurrency,
		Log:         log,
		Emit:        emit,
		Now:         now,
	}
	lambda.Start(h.Handle)
}
