package credprovider_test

import (
	"context"
	"fmt"
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

// A consumer in a replica region reads the replica there: give the
// Secrets Manager client that region. The primary's ARN (from the stack's
// SecretArn output) is read in the client's region; reports still go to
// the primary region's bus, which the secret names.
func ExampleInRegion() {
	fmt.Println(credprovider.InRegion("arn:aws:secretsmanager:us-east-1:123456789012:secret:stsrotator/web-AbCdEf", "eu-west-1"))
	fmt.Println(credprovider.InRegion("stsrotator/web", "eu-west-1"))
	// Output:
	// arn:aws:secretsmanager:eu-west-1:123456789012:secret:stsrotator/web-AbCdEf
	// stsrotator/web
}
