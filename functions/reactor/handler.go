package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/reaction"
)

// Handler serves the reactor's invocations.
type Handler struct {
	Reactor *reaction.Reactor
	Log     *slog.Logger
	Emit    *metrics.Writer
}

// Handle takes what Lambda delivers: in the stack, a batch of SQS
// messages from the reports queue (each body one EventBridge event the
// rules put there), answered with the messages to retry
// (ReportBatchItemFailures:
// https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting);
// elsewhere (the local stack, kumo) one EventBridge event, answered with
// an error to retry.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (*events.SQSEventResponse, error) {
	var batch events.SQSEvent
	if bytes.Contains(raw, []byte(`"Records"`)) && json.Unmarshal(raw, &batch) == nil && len(batch.Records) > 0 {
		resp := &events.SQSEventResponse{}
		for _, m := range batch.Records {
			if err := h.react(ctx, []byte(m.Body)); err != nil {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		return resp, nil
	}
	return nil, h.react(ctx, raw)
}

// react handles one EventBridge event. A malformed event is logged with
// its reason and dropped (nil): retrying it could only repeat the
// failure, and retries would amplify a bad publisher. Transient AWS
// errors are returned so the event is retried.
func (h *Handler) react(ctx context.Context, raw []byte) error {
	s, err := reaction.ParseEvent(raw)
	if err != nil {
		h.Emit.Put(metrics.RejectedEvents, 1, metrics.Count, nil)
		h.Log.WarnContext(ctx, "dropped event", slog.String("reason", err.Error()))
		return nil
	}
	_, err = h.Reactor.React(ctx, s)
	if err != nil {
		h.Log.ErrorContext(ctx, "will retry", slog.String("error", err.Error()))
	}
	return err
}
