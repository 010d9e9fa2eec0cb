package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/reaction"
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
	// CloudTrail reports are matched to targets by session name.
	if err := cfg.InStack(os.Getenv(lambdaenv.StackName)); err != nil {
		fail("session names for stack "+os.Getenv(lambdaenv.StackName), err)
	}
	rotatorFor, err := lambdaenv.RotatorFor()
	if err != nil {
		fail("find the rotator", err)
	}
	topic := os.Getenv(lambdaenv.TopicArn)
	if topic == "" {
		fail("read "+lambdaenv.TopicArn, errMissing(lambdaenv.TopicArn))
	}
	// The topic is the stack's own: its ARN names the stack's account,
	// the one whose reports may name any target.
	topicArn, err := arn.Parse(topic)
	if err != nil {
		fail("read "+lambdaenv.TopicArn, err)
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRetryer(func() aws.Retryer { return lambdaenv.NewRetryer() }))
	if err != nil {
		fail("load AWS config", err)
	}
	now := lambdaenv.Clock()
	emit := metrics.NewWriter(os.Stdout, now)
	h := &Handler{
		Reactor: &reaction.Reactor{
			Config:   cfg,
			Account:  topicArn.AccountID,
			Secrets:  secretsmanager.NewFromConfig(awsCfg),
			Rotator:  reaction.InvokeRotator{Lambda: awslambda.NewFromConfig(awsCfg), FunctionFor: rotatorFor},
			Topic:    sns.NewFromConfig(awsCfg),
			TopicArn: topic,
			Now:      now,
			Log:      log,
			Emit:     emit,
			// Alerts also go on the default bus, as "Alert" events.
			Events: &events.Emitter{API: eventbridge.NewFromConfig(awsCfg)},
			Claims: claims(awsCfg),
		},
		Log:  log,
		Emit: emit,
	}
	lambda.Start(h.Handle)
}

// claims is the deployment-wide alert debounce when the stack gave the
// table, else this environment's memory.
func claims(cfg aws.Config) reaction.AlertClaims {
	if table := os.Getenv(lambdaenv.AlertTable); table != "" {
		return reaction.TableClaims{DB: dynamodb.NewFromConfig(cfg), Table: table}
	}
	return nil
}

type errMissing string

func (e errMissing) Error() string { return "environment variable " + string(e) + " is not set" }
