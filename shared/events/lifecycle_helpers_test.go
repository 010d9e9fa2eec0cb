package events_test

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
)

func newBus(name string) *eventbridge.CreateEventBusInput {
	return &eventbridge.CreateEventBusInput{Name: aws.String(name)}
}
