package events_test

import (
	"fmt"
	"time"

	"github.com/stsrotator/stsrotator/shared/events"
)

// The detail a rotation puts on the default bus (Emitter.Emit sends
// exactly this, with source stsrotator and the detail-type): masked keys
// only, the cause, and whether the replaced version still works.
func ExampleEncode() {
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	d := events.Rotated{
		SchemaVersion: events.LifecycleSchemaVersion, Target: "billing-reader",
		SecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:stsrotator/billing-reader-AbCdEf",
		VersionID: "v-2", AccessKeyID: "ASIA…BBBB", Expiration: at.Add(time.Hour), Why: events.CauseRevoke, RotatedAt: at,
		Previous: &events.VersionRef{VersionID: "v-1", AccessKeyID: "ASIA…AAAA", Expiration: at.Add(20 * time.Minute), StillValid: false},
	}
	b, err := events.Encode(d)
	fmt.Println(d.DetailType(), err)
	fmt.Println(string(b))
	// Output:
	// Credentials Rotated <nil>
	// {"schemaVersion":1,"target":"billing-reader","secretArn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:stsrotator/billing-reader-AbCdEf","versionId":"v-2","accessKeyId":"ASIA…BBBB","expiration":"2026-11-30T10:00:00Z","why":"revoke","previous":{"versionId":"v-1","accessKeyId":"ASIA…AAAA","expiration":"2026-11-30T09:20:00Z","stillValid":false},"rotatedAt":"2026-11-30T09:00:00Z"}
}
