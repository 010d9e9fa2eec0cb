package reaction

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Signal sources, also the values of the metrics' Source dimension.
const (
	FromConsumer   = "consumer"
	FromLogs       = "logs"
	FromCloudTrail = "cloudtrail"
)

// DetailTypeCloudTrail is the detail-type of CloudTrail API events on
// EventBridge.
const DetailTypeCloudTrail = "AWS API Call via CloudTrail"

// CloudTrailSourcePrefix begins the source of every event an AWS service
// puts on EventBridge (aws.s3, aws.dynamodb, …). PutEvents refuses it to
// everyone else, so it is what makes a CloudTrail event unspoofable.
const CloudTrailSourcePrefix = "aws."

// Signal is one ExpiredToken observation, whatever its source.
type Signal struct {
	Source string
	// Account is the account that put the event on the bus, from the
	// EventBridge envelope: EventBridge sets it, the sender cannot.
	Account string
	// Target, SecretID and RoleArn identify the target; any may be empty.
	Target   string
	SecretID string
	RoleArn  string
	// Session is the STS session name (CloudTrail only).
	Session string
	// Key is the failing access key, masked.
	Key        string
	Service    string
	Operation  string
	Region     string
	ErrorCode  string
	Message    string
	ObservedAt time.Time
	// Observer describes who saw it, for the alert.
	Observer string
}

// ErrMalformed marks an event the reactor can never act on; retrying it
// cannot help, so the handler drops it after logging the reason.
var ErrMalformed = errors.New("malformed event")

type envelope struct {
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	DetailType string          `json:"detail-type"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
}

type cloudTrailDetail struct {
	EventSource  string    `json:"eventSource"`
	EventName    string    `json:"eventName"`
	AwsRegion    string    `json:"awsRegion"`
	EventTime    time.Time `json:"eventTime"`
	ErrorCode    string    `json:"errorCode"`
	ErrorMessage string    `json:"errorMessage"`
	UserAgent    string    `json:"userAgent"`
	SourceIP     string    `json:"sourceIPAddress"`
	UserIdentity struct {
		Type           string `json:"type"`
		Arn            string `json:"arn"`
		AccessKeyID    string `json:"accessKeyId"`
		SessionContext struct {
			SessionIssuer struct {
				Arn string `json:"arn"`
			} `json:"sessionIssuer"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
}

// ParseEvent turns an EventBridge event into a Signal. Errors wrap
// ErrMalformed and say what was expected.
func ParseEvent(raw []byte) (Signal, error) {
	var env envelope
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&env); err != nil {
		return Signal{}, fmt.Errorf("%w: not an EventBridge event: %w", ErrMalformed, err)
	}
	switch {
	case env.Source == events.Source && env.DetailType == events.DetailTypeExpiredToken:
		d, err := events.ParseExpiredToken(env.Detail)
		if err != nil {
			return Signal{}, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		s := Signal{
			Source: FromConsumer, Account: env.Account, Target: d.Target, SecretID: d.SecretID, Key: d.AccessKeyID,
			Service: d.Service, Operation: d.Operation, Region: d.Region, ErrorCode: d.ErrorCode,
			Message: d.ErrorMessage, ObservedAt: d.ObservedAt, Observer: observer(d.Observer),
		}
		if d.Observer.Via == "logs" {
			s.Source = FromLogs
		}
		if s.Region == "" {
			s.Region = env.Region
		}
		return s, nil
	case env.DetailType == DetailTypeCloudTrail:
		// Only AWS services publish with an aws.* source (PutEvents refuses
		// it), so anything else is someone's custom event dressed as
		// CloudTrail. The rules check this too; refusing here keeps a rule
		// wired without that condition from forcing rotations on a spoof.
		if !strings.HasPrefix(env.Source, CloudTrailSourcePrefix) {
			return Signal{}, fmt.Errorf("%w: %q detail-type from source %q: CloudTrail events come only from %s* sources",
				ErrMalformed, DetailTypeCloudTrail, trunc(env.Source), CloudTrailSourcePrefix)
		}
		var d cloudTrailDetail
		if err := json.Unmarshal(env.Detail, &d); err != nil {
			return Signal{}, fmt.Errorf("%w: CloudTrail detail: %w", ErrMalformed, err)
		}
		if !expiredcreds.IsCode(d.ErrorCode) {
			return Signal{}, fmt.Errorf("%w: CloudTrail errorCode %q is not one of %s (check the rule's pattern)", ErrMalformed, trunc(d.ErrorCode), strings.Join(expiredcreds.Codes(), ", "))
		}
		issuer := d.UserIdentity.SessionContext.SessionIssuer.Arn
		if issuer == "" {
			return Signal{}, fmt.Errorf("%w: CloudTrail event has no userIdentity.sessionContext.sessionIssuer.arn, so no role to match", ErrMalformed)
		}
		s := Signal{
			Source: FromCloudTrail, Account: env.Account, RoleArn: issuer, Session: sessionName(d.UserIdentity.Arn),
			// CloudTrail records the whole key; only its masked form goes on.
			Key:     maskIfWhole(d.UserIdentity.AccessKeyID),
			Service: strings.TrimSuffix(d.EventSource, ".amazonaws.com"), Operation: d.EventName,
			Region: d.AwsRegion, ErrorCode: d.ErrorCode, Message: d.ErrorMessage, ObservedAt: d.EventTime,
			Observer: strings.TrimSpace(fmt.Sprintf("CloudTrail: %s from %s", d.UserAgent, d.SourceIP)),
		}
		if s.ObservedAt.IsZero() {
			s.ObservedAt = env.Time
		}
		return s, nil
	}
	return Signal{}, fmt.Errorf("%w: source %q with detail-type %q is neither an stsrotator report (%q / %q) nor %q",
		ErrMalformed, trunc(env.Source), trunc(env.DetailType), events.Source, events.DetailTypeExpiredToken, DetailTypeCloudTrail)
}

// observer is the alert's claimed "observer" line ("APP on HOST via
// cli"), so it always starts with a noun: a report without an app
// (report-expired without --app) is "a process on HOST via cli".
func observer(o events.Observer) string {
	parts := []string{"a process"}
	if o.App != "" {
		parts[0] = o.App
	}
	if o.Host != "" {
		parts = append(parts, "on "+o.Host)
	}
	parts = append(parts, "via "+o.Via)
	return strings.Join(parts, " ")
}

// sessionName is the last part of arn:aws:sts::<acct>:assumed-role/<role>/<session>.
func sessionName(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 && strings.Contains(arn, ":assumed-role/") {
		return arn[i+1:]
	}
	return ""
}

func maskIfWhole(key string) string {
	if key == "" || strings.Contains(key, "…") {
		return key
	}
	return secretfmt.Mask(key)
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
