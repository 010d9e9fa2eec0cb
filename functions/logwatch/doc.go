// Command logwatch turns ExpiredToken lines from consumers' CloudWatch
// Logs groups into "ExpiredToken Observed" reports. handler.go owns
// decoding the subscription payload; the matching and rate limit are
// shared/logwatch's, and main.go only wires.
package main
