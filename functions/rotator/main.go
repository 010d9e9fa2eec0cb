package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
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
	h := &Handler{
		Engine: &rotation.Engine{
			STS:      sts.NewFromConfig(awsCfg),
			Secrets:  secretsmanager.NewFromConfig(awsCfg),
			Now:      now,
			Log:      log,
			Emit:     emit,
			Verify:   verify,
			KMSKeyID: os.Getenv(lambdaenv.KMSKeyID),
			// The stack sets the bus consumers report to; each secret says it.
			ReportBus: os.Getenv(lambdaenv.EventBus),
			Jitter:    cfg.Rotator.Jitter,
		},
		Config:      cfg,
		Concurrency: concurrency,
		Log:         log,
		Emit:        emit,
		Now:         now,
	}
	lambda.Start(h.Handle)
}
