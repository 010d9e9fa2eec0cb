package localstack

import "testing"

// The line make local prints for a reactor decision reads as what happened:
// a report without a key says so (it read "(no key: not reported)", like a
// report never sent), and the rotator's outcome is named as one ("rotation
// rotated" before).
func TestDecisionDescribe(t *testing.T) {
	for _, c := range []struct {
		proves string
		d      Decision
		want   string
	}{
		{"a report with the current key that forced a rotation",
			Decision{Target: "billing-reader", Action: "force-rotation", Key: "ASIA…618c", KeyMatch: "current version", Reason: "the current credentials have only 24m57s left (refreshBefore 26m)", Rotation: "rotated", NewKey: "ASIA…1b91", Alerted: true},
			"reactor: report for billing-reader (ASIA…618c: current version) → force-rotation: the current credentials have only 24m57s left (refreshBefore 26m); rotator outcome: rotated, new key ASIA…1b91; alert sent"},
		{"a report sent from another shell without --access-key-id",
			Decision{Target: "billing-reader", Action: "stale-consumer", KeyMatch: "not reported", Reason: "the current credentials have 53m35s left, so the consumer most likely holds an older copy"},
			"reactor: report for billing-reader (no access key in the report) → stale-consumer: the current credentials have 53m35s left, so the consumer most likely holds an older copy; no alert (debounced)"},
	} {
		if got := c.d.Describe(); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.proves, got, c.want)
		}
	}
}
