package events

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

type fakePutter struct {
	got *eventbridge.PutEventsInput
	out *eventbridge.PutEventsOutput
	err error
}

func (f *fakePutter) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.got = in
	return f.out, f.err
}

func TestPublish(t *testing.T) {
	good := ExpiredToken{Target: "billing-reader", AccessKeyID: "ASIA…7XQZ", ErrorCode: CodeExpiredToken,
		ObservedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Observer: Observer{Via: "cli"}}
	ok := &eventbridge.PutEventsOutput{Entries: []ebtypes.PutEventsResultEntry{{EventId: aws.String("ev-1")}}}
	cases := []struct {
		why     string
		detail  ExpiredToken
		put     *fakePutter
		wantID  string
		wantErr string
	}{
		{"a valid report is sent once, on the named bus, with the shared source and detail-type", good, &fakePutter{out: ok}, "ev-1", ""},
		{"a whole access key is refused before anything is sent", func() ExpiredToken { d := good; d.AccessKeyID = "ASIAABCDEFGHIJKLMNOP"; return d }(), &fakePutter{out: ok}, "", "accessKeyId is not masked"},
		{"a per-entry rejection inside a 200 is an error, not a silent drop", good, &fakePutter{out: &eventbridge.PutEventsOutput{FailedEntryCount: 1,
			Entries: []ebtypes.PutEventsResultEntry{{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")}}}}, "", "entry rejected: InternalFailure"},
		{"a whole key quoted in the error message is sent masked", func() ExpiredToken {
			d := good
			d.ErrorMessage = "ExpiredToken: ASIAQUOTEDKEYINMSG01 refused"
			return d
		}(), &fakePutter{out: ok}, "ev-1", ""},
		{"a transport error is wrapped with the bus", good, &fakePutter{err: errors.New("connection refused")}, "", "bus ops: connection refused"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			id, err := Publish(context.Background(), c.put, "ops", c.detail)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, c.wantErr)
				}
				if strings.Contains(c.wantErr, "not masked") && c.put.got != nil {
					t.Fatal("an invalid report reached PutEvents")
				}
				return
			}
			if err != nil || id != c.wantID {
				t.Fatalf("got %q, %v", id, err)
			}
			e := c.put.got.Entries[0]
			if aws.ToString(e.EventBusName) != "ops" || aws.ToString(e.Source) != Source || aws.ToString(e.DetailType) != DetailTypeExpiredToken {
				t.Fatalf("entry %+v", e)
			}
			var back ExpiredToken
			if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &back); err != nil || back.SchemaVersion != SchemaVersion {
				t.Fatalf("detail %s: %v", aws.ToString(e.Detail), err)
			}
			if want := MaskKeys(c.detail.ErrorMessage); back.ErrorMessage != want || strings.Contains(aws.ToString(e.Detail), "QUOTEDKEY") {
				t.Fatalf("errorMessage sent as %q, want %q", back.ErrorMessage, want)
			}
		})
	}
}
