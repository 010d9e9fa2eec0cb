package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/logwatch"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := config.Load(lambdaenv.ConfigFilePath())
	if err != nil {
		log.Error("load config", slog.String("error", err.Error()))
		os.Exit(1)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRetryer(func() aws.Retryer { return lambdaenv.NewRetryer() }))
	if err != nil {
		log.Error("load AWS config", slog.String("error", err.Error()))
		os.Exit(1)
	}
	h := &Handler{
		Router: logwatch.NewRouter(cfg, logwatch.DefaultInterval, lambdaenv.Clock()),
		Events: eventbridge.NewFromConfig(awsCfg),
		Bus:    os.Getenv(lambdaenv.EventBus),
		Log:    log,
	}
	lambda.Start(h.Handle)
}
