package credprovider_test

import (
	"context"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/shared/credprovider"
)

// The three-line use: the program's own identity reads the target's
// secret; every client built from the returned config signs with the
// rotated credentials, recovers from ExpiredToken and reports it.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}

	creds := credprovider.New(secretsmanager.NewFromConfig(cfg), "billing-reader")
	reporter := &credprovider.Reporter{API: eventbridge.NewFromConfig(cfg)}
	client := sts.NewFromConfig(credprovider.Config(cfg, creds, reporter))

	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		log.Fatal(err)
	}
}

// For one client only, add the recovery option to its own options.
func ExampleWithExpiredTokenRecovery() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	creds := credprovider.New(secretsmanager.NewFromConfig(cfg), "billing-reader")
	client := sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.Credentials = creds
		o.APIOptions = append(o.APIOptions, credprovider.WithExpiredTokenRecovery(creds, nil))
	})
	_ = client
}
