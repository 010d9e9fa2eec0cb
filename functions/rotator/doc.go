// Command rotator is the scheduled Lambda that keeps every target's secret
// fresh. It owns the invocation contract: `{}` sweeps every target, a
// named target (optionally with force) rotates one, and anything else is
// refused with the valid names (handler.go). main.go only wires:
// configuration, clients and the handler are built once per execution
// environment; the rotation itself is shared/rotation.
package main
