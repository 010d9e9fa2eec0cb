// Command noop is the init baseline: the smallest Go function that polls
// the Lambda Runtime API. Function budgets report their init as a ratio
// to it, measured in the same run.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context) error { return nil })
}
