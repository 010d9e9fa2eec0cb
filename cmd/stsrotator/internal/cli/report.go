package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

func (a *App) reportExpired(ctx context.Context, args []string) error {
	var d events.ExpiredToken
	var bus, key, observed string
	fs := a.flags("report-expired", "--target NAME [--secret-id ID] [flags]", `
Publishes an "ExpiredToken Observed" event so the target is rotated before
the next scheduled sweep. For scripts:

  aws s3 cp s3://bucket/key . --profile billing || stsrotator report-expired --target billing-reader --service s3

An access key given with --access-key-id, and any whole access key ID in
--message, is masked before it is sent. Prints the event ID.`)
	fs.profileFor("publish the event")
	fs.StringVar(&d.Target, "target", "", "config target `name` whose credentials were refused")
	fs.StringVar(&d.SecretID, "secret-id", "", "the secret's `name or ARN`, if the target is not known")
	fs.StringVar(&key, "access-key-id", "", "the refused access `key` (sent masked)")
	fs.StringVar(&d.Service, "service", "", "AWS `service` called, e.g. s3")
	fs.StringVar(&d.Operation, "operation", "", "`operation` called, e.g. GetObject")
	fs.StringVar(&d.ErrorCode, "error-code", events.CodeExpiredToken, "the AWS error `code`: "+strings.Join(expiredcreds.Codes(), ", "))
	fs.StringVar(&d.ErrorMessage, "message", "", "the AWS error `message` (access key IDs in it are sent masked)")
	fs.StringVar(&d.Observer.App, "app", "", "the `application` or job that saw it, e.g. nightly-export")
	fs.StringVar(&d.Observer.Host, "host", "", "the `host` where it was seen (default: this host's name)")
	fs.StringVar(&d.Observer.Via, "via", events.ViaCLI, "`how` it was seen: "+events.ViaList())
	fs.StringVar(&observed, "observed-at", "", "RFC 3339 `time` of the failure (default: now)")
	fs.StringVar(&bus, "event-bus", "", "event `bus` name or ARN (default: $"+lambdaenv.EventBus+", else the bus the secret's metadata names, else "+events.DefaultBus+")")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	if d.Target == "" && d.SecretID == "" {
		return coded(ExitUsage, errors.New("name the target with --target NAME (or the secret with --secret-id ID)"))
	}
	if key != "" {
		if strings.Contains(key, "…") {
			d.AccessKeyID = key
		} else {
			d.AccessKeyID = secretfmt.Mask(key)
		}
	}
	d.ObservedAt = a.Now().UTC().Truncate(time.Second)
	if observed != "" {
		t, err := time.Parse(time.RFC3339, observed)
		if err != nil {
			return coded(ExitUsage, fmt.Errorf("--observed-at %q: want an RFC 3339 time such as 2026-11-25T10:15:29Z", observed))
		}
		d.ObservedAt = t
	}
	if d.Observer.Host == "" {
		d.Observer.Host, _ = a.Hostname()
	}
	if bus == "" {
		bus = a.Getenv(lambdaenv.EventBus)
	}
	if !events.IsVia(d.Observer.Via) {
		return coded(ExitUsage, fmt.Errorf("--via %q: want %s", d.Observer.Via, events.ViaList()))
	}
	// Error messages are pasted from SDKs and logs, which print keys
	// whole; the report carries them masked, as Publish would, and
	// validating the masked text keeps a paste from being refused for it.
	d.ErrorMessage = events.MaskKeys(d.ErrorMessage)
	d.SchemaVersion = events.SchemaVersion
	if err := d.Validate(); err != nil {
		return coded(ExitUsage, err)
	}
	cfg, err := a.LoadAWS(ctx, fs.g)
	if err != nil {
		return err
	}
	d.Region = cfg.Region
	if bus == "" {
		if bus, err = a.reportBus(ctx, secretsmanager.NewFromConfig(cfg), fs.g, d.Target, d.SecretID); err != nil {
			return err
		}
	}
	id, err := events.Publish(ctx, eventbridge.NewFromConfig(cfg), bus, d)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(a.Stdout, id)
	return err
}

// reportBus is where a report goes when no bus was given: the bus the
// secret's metadata names (the stsrotator account's default bus, which
// admits every reader account), so a consumer in another account reaches
// the reactor with no configuration. A secret written before metadata
// schema 2 names none: the default bus of the caller's account, where the
// stack also listens when consumer and stack share an account.
//
// A secret that cannot be read is an error, not a guess: publishing to
// this account's default bus would succeed and, from a reader account,
// reach nobody.
func (a *App) reportBus(ctx context.Context, sm secretReader, g Globals, target, secretID string) (string, error) {
	id := secretID
	if id == "" {
		r, err := a.resolve(g, target, "")
		if err != nil {
			return "", err
		}
		id = r.SecretID
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
	if err != nil {
		return "", fmt.Errorf("read secret %s to learn which event bus takes its reports: %w (fix: pass --event-bus with the stack's ExpiredTokenEventBusArn output, or set $%s)",
			id, err, lambdaenv.EventBus)
	}
	v, err := secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		return "", fmt.Errorf("read secret %s to learn which event bus takes its reports: %w (fix: pass --event-bus)", id, err)
	}
	if v.Meta.ReportBus == "" {
		return events.DefaultBus, nil
	}
	return v.Meta.ReportBus, nil
}
