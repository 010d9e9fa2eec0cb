// Package humantime is the one home for durations and instants shown to
// people: alerts, log reasons, the CLI and the local stack's narrator.
//
// Every function keeps the sign of what it describes. A duration that is
// shown as a bare magnitude ("25m left" when the credentials expired 25
// minutes ago, "written 25m ago" when the write is 25 minutes in the
// future) tells the reader the opposite of the truth, so the words change
// with the sign instead: "expired 25m ago", "25m in the future — check the
// clock".
package humantime
