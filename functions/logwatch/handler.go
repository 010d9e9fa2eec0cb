package main

import (
	"context"
	"log/slog"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/logwatch"
)

// Handler serves one CloudWatch Logs subscription delivery.
type Handler struct {
	Router *logwatch.Router
	Events events.Putter
	Bus    string
	Log    *slog.Logger
}

// Handle publishes one report per target per interval for lines that
// carry ExpiredToken. Payloads it cannot read are logged and dropped:
// CloudWatch Logs would only resend the same bytes. A failed publish is
// returned so Lambda retries the delivery.
func (h *Handler) Handle(ctx context.Context, ev awsevents.CloudwatchLogsEvent) error {
	data, err := ev.AWSLogs.Parse()
	if err != nil {
		h.Log.WarnContext(ctx, "dropped payload", slog.String("reason", "not a CloudWatch Logs subscription payload: "+err.Error()))
		return nil
	}
	if data.MessageType != "DATA_MESSAGE" {
		return nil
	}
	target, ok := h.Router.Target(data.LogGroup)
	if !ok {
		h.Log.WarnContext(ctx, "dropped payload", slog.String("reason", "log group is not in any target's logGroups"), slog.String("logGroup", data.LogGroup))
		return nil
	}
	var published, suppressed int
	for _, le := range data.LogEvents {
		d, ok := logwatch.Report(target, logwatch.Line{Group: data.LogGroup, Stream: data.LogStream, Time: time.UnixMilli(le.Timestamp), Message: le.Message})
		if !ok {
			continue
		}
		if !h.Router.Allow(target) {
			suppressed++
			continue
		}
		if _, err := events.Publish(ctx, h.Events, h.Bus, d); err != nil {
			h.Router.Release(target)
			return err
		}
		published++
	}
	h.Log.InfoContext(ctx, "log lines read", slog.String("target", target), slog.String("logGroup", data.LogGroup),
		slog.Int("lines", len(data.LogEvents)), slog.Int("published", published), slog.Int("suppressed", suppressed))
	return nil
}
