// Package localstack runs the whole of stsrotator on the embedded kumo
// emulator, derived from the synthesized cloud assembly so a local run
// proves the real rule patterns, schedules and secret names, not a copy:
// rotator lanes and the reactor as real binaries under kumo's Runtime API,
// the rules feeding the reactor, the alert topic, and a tick standing in
// for EventBridge Scheduler. `make local` narrates it; the end-to-end test
// drives the same path with a fast clock.
package localstack
