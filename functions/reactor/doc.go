// Command reactor handles ExpiredToken events from EventBridge: it forces
// a rotation when the failing credentials are the current ones, tells
// stale consumers to re-read, and alerts a human. handler.go owns the
// Lambda contract (which errors Lambda should retry); the decisions are
// shared/reaction's, and main.go only wires.
package main
